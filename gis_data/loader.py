"""Read, check and load the GIS layers of floodctl: the public interface of ``gis_data``.

Towns (polygons), stations (points) and the other layers (``LAYERS``: county, catchments, rivers,
reservoirs, seawalls, villages, shelters, waterlogging points, cameras, the duty roster) are GeoJSON
FeatureCollections in EPSG:4326 (lon/lat, WGS 84 / CGCS2000 — the two differ by far less than the
checks here can see), the roster plain JSON. The packaged sample (``DEFAULT_DIR``) is schematic;
the county loads its own files through ``floodctl gis load``.

Checking never stops at the first problem: every problem is one line that names the file, the
feature (numbered from 1 in file order, with its code) and the field, e.g.::

    stations.geojson: feature #12 (code 70100012): field 'grz': 2.1 must be above wrz 3.4

``load`` / ``load_layers`` write nothing unless the layers are clean. Property names follow the
database columns (SL 323 names for thresholds, metres on the 1985 national height datum);
properties without a column of their own are kept in the ``properties`` jsonb, so extra attributes
of the county's data survive the load.

Where things live: ``geojson`` (reading files and features), ``checks`` (one module per layer
concern), ``layers`` (the layer table and the cross-layer check), ``store`` (the SQL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floodctl.core.errors import ValidationFailed
from gis_data import store
from gis_data.checks.stations import validate_stations
from gis_data.checks.towns import validate_towns
from gis_data.checks.water import station_catchments
from gis_data.geojson import Problems, read_geojson
from gis_data.layers import EXTRA_LAYERS, LAYERS, LayerSpec, validate_collections
from gis_data.store import STATION_ROW, layer_json, list_layers, station_row

if TYPE_CHECKING:  # psycopg is imported where used: checking files needs only shapely
    import psycopg

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_STATIONS",
    "DEFAULT_TOWNS",
    "LAYERS",
    "STATION_ROW",
    "LayerSpec",
    "layer_files",
    "layer_json",
    "list_layers",
    "load",
    "load_files",
    "load_layers",
    "read_geojson",
    "read_layer",
    "station_row",
    "validate_collections",
    "validate_directory",
    "validate_files",
    "validate_layers",
    "validate_stations",
    "validate_towns",
]

DEFAULT_DIR = Path(__file__).parent
DEFAULT_TOWNS = DEFAULT_DIR / "towns.geojson"
DEFAULT_STATIONS = DEFAULT_DIR / "stations.geojson"


# --- reading a folder -------------------------------------------------------------------------


def read_layer(path: str | Path) -> Any:
    """A layer file: GeoJSON for every layer, plain JSON for the roster."""
    path = Path(path)
    if path.name != LAYERS["roster"].filename:
        return read_geojson(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ValidationFailed(f"{path.name}: file not found ({path})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{path.name}: not UTF-8 JSON: {exc}") from None


def layer_files(directory: str | Path) -> dict[str, Path]:
    """The layer files present in ``directory``: layer name -> path."""
    directory = Path(directory)
    return {name: directory / spec.filename for name, spec in LAYERS.items() if (directory / spec.filename).is_file()}


def _read_directory(path: str | Path) -> tuple[dict[str, Any], dict[str, str], Problems]:
    """(layers by name incl. towns/stations context, sources, read problems) for a folder or one file."""
    path = Path(path)
    problems: Problems = []
    if path.is_dir():
        files = layer_files(path)
        if not files:
            names = ", ".join(spec.filename for spec in LAYERS.values())
            problems.append(f"{path}: no layer files (expected any of {names})")
    else:
        by_file = {spec.filename: name for name, spec in LAYERS.items()}
        if path.name not in by_file:
            problems.append(
                f"{path.name}: not a known layer file name (one of {', '.join(s.filename for s in LAYERS.values())})"
            )
            files = {}
        else:
            files = {by_file[path.name]: path}
            files.update(
                {n: p for n, p in layer_files(path.parent).items() if n in ("towns", "stations") and n not in files}
            )
    layers: dict[str, Any] = {}
    for name, file in files.items():
        try:
            layers[name] = read_layer(file)
        except ValidationFailed as exc:
            problems.append(exc.message)
    sources = {name: file.name for name, file in files.items()}
    return layers, sources, problems


# --- checking ---------------------------------------------------------------------------------


def validate_layers(
    towns_fc: Any,
    stations_fc: Any,
    *,
    towns_source: str = "towns.geojson",
    stations_source: str = "stations.geojson",
    layers: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every problem of both layers (stations are checked against the towns as given), and of the
    other ``layers`` (name -> parsed file, see ``LAYERS``) when given."""
    problems = validate_towns(towns_fc, source=towns_source) + validate_stations(
        stations_fc, towns_fc, source=stations_source, towns_source=towns_source
    )
    if layers:
        sources = {"towns": towns_source, "stations": stations_source}
        problems += validate_collections(layers, towns_fc=towns_fc, stations_fc=stations_fc, sources=sources)
    return problems


def validate_files(towns_path: str | Path = DEFAULT_TOWNS, stations_path: str | Path = DEFAULT_STATIONS) -> list[str]:
    """``read_geojson`` both files (raising on unreadable ones) and ``validate_layers`` them, with the
    other layer files that lie next to the stations file."""
    towns_path, stations_path = Path(towns_path), Path(stations_path)
    others = {
        name: read_layer(path) for name, path in layer_files(stations_path.parent).items() if name in EXTRA_LAYERS
    }
    return validate_layers(
        read_geojson(towns_path),
        read_geojson(stations_path),
        towns_source=towns_path.name,
        stations_source=stations_path.name,
        layers=others,
    )


def validate_directory(path: str | Path = DEFAULT_DIR) -> list[str]:
    """Every problem of the layer files in a folder (or of one layer file), one line each.

    Towns and stations come from the folder when it has them, else from the packaged sample; they
    are checked themselves only when they are in the folder.
    """
    layers, sources, problems = _read_directory(path)
    own = {name for name in layers}
    towns_fc = layers.get("towns") or read_geojson(DEFAULT_TOWNS)
    stations_fc = layers.get("stations") or read_geojson(DEFAULT_STATIONS)
    if "towns" in own:
        problems += validate_towns(towns_fc, source=sources["towns"])
    if "stations" in own:
        problems += validate_stations(
            stations_fc, towns_fc, source=sources["stations"], towns_source=sources.get("towns", "towns.geojson")
        )
    extra = {name: fc for name, fc in layers.items() if name in EXTRA_LAYERS}
    problems += validate_collections(extra, towns_fc=towns_fc, stations_fc=stations_fc, sources=sources)
    return problems


# --- loading ----------------------------------------------------------------------------------


def _refuse(problems: Problems) -> None:
    if problems:
        raise ValidationFailed(f"the GIS data has {len(problems)} problem(s); nothing was loaded", details=problems)


def load(
    conn: psycopg.Connection[Any],
    towns_fc: dict[str, Any],
    stations_fc: dict[str, Any],
    *,
    towns_source: str = "towns.geojson",
    stations_source: str = "stations.geojson",
) -> dict[str, int]:
    """Upsert towns, then stations, in one transaction; deactivate stations not in the file.

    Validates first and raises ``ValidationFailed`` (with every problem in ``details``) before
    touching the database. Returns ``{"towns": n, "stations": n, "deactivated": n}``. Runs in a
    transaction of its own, or in a savepoint if the caller already has one open.
    """
    _refuse(validate_layers(towns_fc, stations_fc, towns_source=towns_source, stations_source=stations_source))
    return store.write_towns_and_stations(conn, towns_fc, stations_fc)


def load_files(
    conn: psycopg.Connection[Any],
    towns_path: str | Path = DEFAULT_TOWNS,
    stations_path: str | Path = DEFAULT_STATIONS,
) -> dict[str, int]:
    """``read_geojson`` both files and ``load`` them, naming the files in every problem."""
    towns_path, stations_path = Path(towns_path), Path(stations_path)
    return load(
        conn,
        read_geojson(towns_path),
        read_geojson(stations_path),
        towns_source=towns_path.name,
        stations_source=stations_path.name,
    )


def load_layers(conn: psycopg.Connection[Any], directory: str | Path = DEFAULT_DIR) -> dict[str, int]:
    """Validate the layer files of a folder (or one layer file) and load them in one transaction.

    Towns and stations go to their tables as ``load`` does (when the folder has them); every other
    layer becomes one row of ``layers``. When catchments are loaded, each station's catchment is
    written to ``stations.properties.catchment``. Raises ``ValidationFailed`` with every problem
    before touching the database. Returns the feature count per layer loaded (and ``deactivated``
    stations, ``catchment_links`` updated).
    """
    _refuse(validate_directory(directory))
    layers, sources, _ = _read_directory(directory)
    counts: dict[str, int] = {}
    with conn.transaction():
        if "stations" in layers or "towns" in layers:
            towns_fc = layers.get("towns") or read_geojson(DEFAULT_TOWNS)
            stations_fc = layers.get("stations") or read_geojson(DEFAULT_STATIONS)
            counts.update(
                load(
                    conn,
                    towns_fc,
                    stations_fc,
                    towns_source=sources.get("towns", "towns.geojson"),
                    stations_source=sources.get("stations", "stations.geojson"),
                )
            )
        catchments = None
        if "catchments" in layers:
            stations_fc = layers.get("stations") or read_geojson(DEFAULT_STATIONS)
            catchments = station_catchments(stations_fc, layers["catchments"])
        extra = {name: layers[name] for name in EXTRA_LAYERS if name in layers}
        counts.update(store.write_layers(conn, extra, catchments))
    return counts
