"""Read, check and load the GIS layers of floodctl: towns (polygons) and stations (points).

Both layers are GeoJSON FeatureCollections in EPSG:4326 (lon/lat, WGS 84 / CGCS2000 — the two
differ by far less than the checks here can see). The packaged sample (``DEFAULT_TOWNS``,
``DEFAULT_STATIONS``) is schematic; the county loads its own files through ``floodctl gis load``.

Checking never stops at the first problem: ``validate_towns`` / ``validate_stations`` return every
problem as one line that names the file, the feature (numbered from 1 in file order, with its
code) and the field, e.g.::

    stations.geojson: feature #12 (code 70100012): field 'grz': 2.1 must be above wrz 3.4

``load`` writes nothing unless both layers are clean. Property names follow the database columns
(SL 323 names for thresholds, metres on the 1985 national height datum); properties without a
column of their own are kept in the ``properties`` jsonb, so extra attributes of the county's data
survive the load.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.errors import GEOSException
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from floodctl.core.errors import Conflict, ValidationFailed

if TYPE_CHECKING:  # psycopg is imported where used: checking files needs only shapely
    import psycopg

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_STATIONS",
    "DEFAULT_TOWNS",
    "LAYERS",
    "STATION_KINDS",
    "LayerSpec",
    "layer_json",
    "list_layers",
    "load",
    "load_files",
    "load_layers",
    "read_geojson",
    "read_layer",
    "validate_collections",
    "validate_directory",
    "validate_files",
    "validate_layers",
    "validate_stations",
    "validate_towns",
]

DEFAULT_TOWNS = Path(__file__).parent / "towns.geojson"
DEFAULT_STATIONS = Path(__file__).parent / "stations.geojson"

STATION_KINDS = ("river", "reservoir", "tide", "rain", "weather", "camera")
TOWN_KINDS = ("街道", "镇", "乡")
TOWN_CODE = re.compile(r"[0-9]{9}")  # GB/T 2260 county code + 3 digits
STATION_CODE = re.compile(r"[0-9A-Z]{8}")  # SL 323 STCD; upper case so codes compare as written

# Longitude/latitude outside this box means the file is projected or has its axes swapped.
CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)
# Station positions are often the gauge on a river or seawall at a town border.
TOWN_TOLERANCE_M = 500.0
# Towns may touch; digitised borders may overlap a little, but not by more than this share.
MAX_OVERLAP_SHARE = 0.001
# Names under which a GeoJSON `crs` member may state lon/lat WGS 84.
LONLAT_CRS = re.compile(r"(CRS:?84|EPSG(::?|:[0-9.]+:|/0/)4326)$", re.IGNORECASE)

TOWN_COLUMNS = ("code", "name", "name_en", "seat_lon", "seat_lat")
# Thresholds with their plausible range in metres; the range is the one of the metric the
# station reports (metrics table), so a value in centimetres stands out.
WATER_RANGE = (-20.0, 2000.0)
TIDE_RANGE = (-15.0, 20.0)
THRESHOLDS: dict[str, tuple[float, float]] = {
    "wrz": WATER_RANGE,  # 警戒水位
    "grz": WATER_RANGE,  # 保证水位
    "fsltdz_meiyu": WATER_RANGE,  # 汛限水位 梅汛期
    "fsltdz_typhoon": WATER_RANGE,  # 汛限水位 台汛期
    "dsflz": WATER_RANGE,  # 设计洪水位
    "ckflz": WATER_RANGE,  # 校核洪水位
    "dam_crest": WATER_RANGE,  # 坝顶高程
    "tide_blue": TIDE_RANGE,  # 警戒潮位
    "tide_yellow": TIDE_RANGE,
    "tide_orange": TIDE_RANGE,
    "tide_red": TIDE_RANGE,
    "seawall_crest": TIDE_RANGE,  # 海塘堤顶高程
}
TEXT_FIELDS = ("river", "basin", "admin_unit")
# Columns of `stations` filled from properties of the same name (`town` goes to town_code).
STATION_COLUMNS = (*TEXT_FIELDS, "elevation_m", *THRESHOLDS)
# Not columns, but numbers that dashboards use: checked like thresholds, stored in properties.
EXTRA_NUMBERS = ("capacity_1e6m3", "spillway_crest")

Problems = list[str]


# --- reading ----------------------------------------------------------------------------------


def read_geojson(path: str | Path) -> dict[str, Any]:
    """Parse a GeoJSON FeatureCollection; raise ``ValidationFailed`` saying what is wrong."""
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValidationFailed(f"{name}: file not found ({path})") from None
    except OSError as exc:
        raise ValidationFailed(f"{name}: cannot read {path}: {exc.strerror}") from None
    try:
        # utf-8-sig: tools on Windows like to start UTF-8 files with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}); "
            "GeoJSON must be UTF-8 — was it saved as GBK?"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    problem = _collection_problem(data)
    if problem:
        raise ValidationFailed(f"{name}: {problem}")
    return data


def _collection_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        return f"expected a GeoJSON FeatureCollection, got {_show(got)}"
    if not isinstance(data.get("features"), list):
        return "member 'features' must be a list"
    return None


# --- validation: shared -----------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as it was written in the file."""
    return json.dumps(value, ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Feature:
    """One feature being checked: knows how to word a problem about itself."""

    def __init__(self, source: str, number: int, raw: Any) -> None:
        self.source = source
        self.number = number
        self.raw = raw if isinstance(raw, dict) else {}
        props = self.raw.get("properties")
        self.props: dict[str, Any] = props if isinstance(props, dict) else {}
        self.code = self.props.get("code")

    @property
    def label(self) -> str:
        code = self.code if isinstance(self.code, str) else _show(self.code)
        who = f"code {code}" if self.code is not None else "no code"
        return f"{self.source}: feature #{self.number} ({who})"

    def problem(self, field: str, text: str) -> str:
        where = "geometry" if field == "geometry" else f"field '{field}'"
        return f"{self.label}: {where}: {text}"


def _features(fc: Any, source: str, problems: Problems) -> list[_Feature]:
    """The features of a collection; structural problems go to ``problems``."""
    problem = _collection_problem(fc)
    if problem:
        problems.append(f"{source}: {problem}")
        return []
    crs = fc.get("crs")
    if crs is not None:
        crs_props = crs.get("properties") if isinstance(crs, dict) else None
        crs_name = crs_props.get("name") if isinstance(crs_props, dict) else None
        if not isinstance(crs_name, str) or not LONLAT_CRS.search(crs_name):
            problems.append(
                f"{source}: crs {_show(crs_name if crs_name else crs)} is not EPSG:4326; "
                "reproject to lon/lat WGS 84 (e.g. ogr2ogr -t_srs EPSG:4326)"
            )
            return []  # every coordinate would be reported otherwise
    if not fc["features"]:
        problems.append(f"{source}: the collection has no features")
    features = []
    for number, raw in enumerate(fc["features"], start=1):
        feature = _Feature(source, number, raw)
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            problems.append(f"{feature.label}: not a GeoJSON Feature")
            continue
        if not isinstance(raw.get("properties"), dict):
            problems.append(f"{feature.label}: member 'properties' must be an object")
            continue
        features.append(feature)
    return features


# Depth of nesting of positions per geometry type.
_DEPTH = {"Point": 0, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _positions(coords: Any, depth: int) -> Iterator[Any]:
    """Yield every position; yield None where the nesting is wrong."""
    if depth == 0:
        yield coords
        return
    if not isinstance(coords, list):
        yield None
        return
    for item in coords:
        yield from _positions(item, depth - 1)


def _geometry(feature: _Feature, allowed: tuple[str, ...], problems: Problems) -> Any:
    """The feature's geometry as shapely, or None after recording what is wrong with it."""
    geom = feature.raw.get("geometry")
    gtype = geom.get("type") if isinstance(geom, dict) else None
    if gtype not in allowed:
        want = " or ".join(allowed)
        got = _show(gtype) if geom is not None else "none"
        problems.append(feature.problem("geometry", f"must be a {want}, got {got}"))
        return None
    for pos in _positions(geom.get("coordinates"), _DEPTH[gtype]):
        if not (isinstance(pos, list) and len(pos) in (2, 3) and all(map(_is_number, pos))):
            text = f"malformed coordinates near {_show(pos)}" if pos else "malformed coordinates"
            problems.append(feature.problem("geometry", text))
            return None
        lon, lat = pos[0], pos[1]
        min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            text = (
                f"coordinate ({lon}, {lat}) is not a lon/lat position in China: the file must be "
                "EPSG:4326 (longitude first, degrees), not projected"
            )
            problems.append(feature.problem("geometry", text))
            return None
    try:
        shaped = shape(geom)
    except (ValueError, TypeError, GEOSException) as exc:
        problems.append(feature.problem("geometry", f"malformed: {exc}"))
        return None
    if shaped.is_empty:
        problems.append(feature.problem("geometry", "is empty"))
        return None
    if not shaped.is_valid:
        problems.append(feature.problem("geometry", f"invalid: {explain_validity(shaped)}"))
        return None
    return shaped


def _text(feature: _Feature, field: str, problems: Problems, *, required: bool) -> str | None:
    value = feature.props.get(field)
    if value is None or value == "":
        if required:
            problems.append(feature.problem(field, "required"))
        return None
    if not isinstance(value, str):
        # Codes exported from spreadsheets often arrive as numbers, with leading zeros lost.
        hint = " (codes are written as strings)" if field in ("code", "town") else ""
        problems.append(feature.problem(field, f"must be text, got {_show(value)}{hint}"))
        return None
    return value


def _number(feature: _Feature, field: str, problems: Problems) -> float | None:
    """An optional number: absent and null both mean "not known"."""
    value = feature.props.get(field)
    if value is None:
        return None
    if not _is_number(value):
        problems.append(feature.problem(field, f"must be a number, got {_show(value)}"))
        return None
    return float(value)


def _unique(feature: _Feature, field: str, value: str, seen: dict[str, int], problems: Problems) -> None:
    if value in seen:
        problems.append(feature.problem(field, f"{value} is already used by feature #{seen[value]}"))
    else:
        seen[value] = feature.number


def _metres_from(area: BaseGeometry, lon: float, lat: float) -> float:
    """Distance in metres from (lon, lat) to ``area``, in a local plane around the point."""
    kx = 111_320.0 * math.cos(math.radians(lat))
    ky = 110_574.0
    local = shapely.transform(area, lambda xy: (xy - (lon, lat)) * (kx, ky))
    return float(local.distance(Point(0.0, 0.0)))


def _distance_text(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


# --- validation: towns ------------------------------------------------------------------------


def _town_areas(
    towns_fc: Any, source: str, problems: Problems
) -> dict[str, tuple[_Feature, BaseGeometry | None]]:
    """Check the towns; return the usable ones by code, with their geometry if it is valid."""
    towns: dict[str, tuple[_Feature, BaseGeometry | None]] = {}
    codes: dict[str, int] = {}
    names: dict[str, int] = {}
    for f in _features(towns_fc, source, problems):
        geom = _geometry(f, ("Polygon", "MultiPolygon"), problems)
        code = _text(f, "code", problems, required=True)
        if code is not None:
            if not TOWN_CODE.fullmatch(code):
                problems.append(f.problem("code", f"{_show(code)} must be 9 digits"))
                code = None
            else:
                _unique(f, "code", code, codes, problems)
        name = _text(f, "name", problems, required=True)
        if name is not None:
            _unique(f, "name", name, names, problems)
        _text(f, "name_en", problems, required=False)
        kind = f.props.get("kind")
        if kind is not None and kind not in TOWN_KINDS:
            problems.append(f.problem("kind", f"must be one of {'/'.join(TOWN_KINDS)}, got {_show(kind)}"))
        _check_seat(f, geom, problems)
        if code is not None and code not in towns:
            towns[code] = (f, geom)
    _check_overlaps(towns, problems)
    return towns


def _check_seat(f: _Feature, geom: BaseGeometry | None, problems: Problems) -> None:
    lon = _number(f, "seat_lon", problems)
    lat = _number(f, "seat_lat", problems)
    if (lon is None) != (lat is None):
        missing = "seat_lat" if lat is None else "seat_lon"
        problems.append(f.problem(missing, "required when the other seat coordinate is given"))
    elif lon is not None and lat is not None and geom is not None:
        metres = _metres_from(geom, lon, lat)
        if metres > TOWN_TOLERANCE_M:
            text = f"seat ({lon}, {lat}) lies {_distance_text(metres)} outside the town's polygon"
            problems.append(f.problem("seat_lon", text))


def _check_overlaps(towns: dict[str, tuple[_Feature, BaseGeometry | None]], problems: Problems) -> None:
    items = [(f, g) for f, g in towns.values() if g is not None]
    if not items:
        return
    tree = shapely.STRtree([g for _, g in items])
    for i, j in zip(*tree.query([g for _, g in items], predicate="intersects"), strict=True):
        if i >= j:  # each pair once, and not a town with itself
            continue
        (fa, a), (fb, b) = items[i], items[j]
        overlap = a.intersection(b).area
        if overlap > MAX_OVERLAP_SHARE * min(a.area, b.area):
            lat = a.centroid.y
            km2 = overlap * 111.32 * math.cos(math.radians(lat)) * 110.574
            text = f"overlaps feature #{fa.number} (code {fa.code}) by {km2:.2f} km²"
            problems.append(fb.problem("geometry", text))


def validate_towns(fc: Any, *, source: str = "towns.geojson") -> list[str]:
    """Every problem of a towns layer, one line each; empty when the layer can be loaded."""
    problems: Problems = []
    _town_areas(fc, source, problems)
    return problems


# --- validation: stations ---------------------------------------------------------------------


def _check_thresholds(f: _Feature, problems: Problems) -> None:
    values: dict[str, float] = {}
    for field, (low, high) in THRESHOLDS.items():
        value = _number(f, field, problems)
        if value is None:
            continue
        if not low <= value <= high:
            text = f"{_show(value)} m is outside the plausible {low:g}…{high:g} m (not metres?)"
            problems.append(f.problem(field, text))
            continue
        values[field] = value
    for field in EXTRA_NUMBERS:
        value = _number(f, field, problems)
        if value is not None:
            values[field] = value
    capacity = values.get("capacity_1e6m3")
    if capacity is not None and capacity < 0:
        problems.append(f.problem("capacity_1e6m3", f"{_show(capacity)} must not be negative"))
    problems.extend(f.problem(field, text) for field, text in _order_problems(values))


def _order_problems(v: Mapping[str, float]) -> Iterator[tuple[str, str]]:
    """Thresholds that contradict each other; each compared with the nearest one below it."""

    def chain(steps: list[tuple[str | None, bool]]) -> Iterator[tuple[str, str]]:
        below: str | None = None
        for field, strict in steps:
            if field is None or field not in v:
                continue
            if below is not None:
                a, b = v[field], v[below]
                if strict and a <= b:
                    yield field, f"{_show(a)} must be above {below} {_show(b)}"
                elif not strict and a < b:
                    yield field, f"{_show(a)} must be at least {below} {_show(b)}"
            below = field

    yield from chain([("wrz", True), ("grz", True)])
    meiyu, typhoon = v.get("fsltdz_meiyu"), v.get("fsltdz_typhoon")
    if meiyu is not None and typhoon is not None and typhoon > meiyu:
        yield "fsltdz_typhoon", f"{_show(typhoon)} must not be above fsltdz_meiyu {_show(meiyu)}"
    # The higher flood-season limit is the one the design flood level must clear.
    limit = max(("fsltdz_meiyu", "fsltdz_typhoon"), key=lambda k: v.get(k, -math.inf))
    yield from chain([(limit, True), ("dsflz", True), ("ckflz", False), ("dam_crest", True)])
    yield from chain([("spillway_crest", True), ("dam_crest", True)])
    tide = ["tide_blue", "tide_yellow", "tide_orange", "tide_red", "seawall_crest"]
    yield from chain([(field, True) for field in tide])


def _check_station(
    f: _Feature,
    towns: dict[str, tuple[_Feature, BaseGeometry | None]],
    codes: dict[str, int],
    problems: Problems,
) -> None:
    point = _geometry(f, ("Point",), problems)
    code = _text(f, "code", problems, required=True)
    if code is not None:
        if not STATION_CODE.fullmatch(code):
            problems.append(f.problem("code", f"{_show(code)} must be 8 characters 0-9 / A-Z"))
        else:
            _unique(f, "code", code, codes, problems)
    _text(f, "name", problems, required=True)
    kind = f.props.get("kind")
    if kind is None:
        problems.append(f.problem("kind", "required"))
    elif kind not in STATION_KINDS:
        problems.append(f.problem("kind", f"must be one of {', '.join(STATION_KINDS)}, got {_show(kind)}"))
    for field in TEXT_FIELDS:
        _text(f, field, problems, required=False)
    _number(f, "elevation_m", problems)
    _check_thresholds(f, problems)

    town = _text(f, "town", problems, required=True)
    if town is None:
        return
    if town not in towns:
        problems.append(f.problem("town", f"{town} is not the code of a town in the towns layer"))
        return
    town_feature, area = towns[town]
    if point is None or area is None:
        return  # already reported
    metres = _metres_from(area, point.x, point.y)
    if metres > TOWN_TOLERANCE_M:
        text = (
            f"point ({point.x}, {point.y}) lies {_distance_text(metres)} outside its town "
            f"{town} {town_feature.props.get('name', '')} (allowed: {TOWN_TOLERANCE_M:.0f} m)"
        )
        problems.append(f.problem("geometry", text))


def validate_stations(
    fc: Any,
    towns_fc: Any,
    *,
    source: str = "stations.geojson",
    towns_source: str = "towns.geojson",
) -> list[str]:
    """Every problem of a stations layer, checked against ``towns_fc``; empty when loadable.

    Problems of the towns layer itself are not repeated here (see ``validate_towns``); stations
    of a town whose polygon is unusable are not checked for position.
    """
    problems: Problems = []
    towns = _town_areas(towns_fc, towns_source, [])
    codes: dict[str, int] = {}
    for f in _features(fc, source, problems):
        _check_station(f, towns, codes, problems)
    return problems


# --- loading ----------------------------------------------------------------------------------


def _upsert_sql(table: str, columns: tuple[str, ...], fixed: Mapping[str, str]) -> str:
    """INSERT … ON CONFLICT (code) DO UPDATE for named parameters ``columns``.

    ``fixed`` are columns set to an SQL expression rather than a parameter, on insert and update.
    """
    names = [*columns, *fixed]
    values = [f"%({c})s" for c in columns] + list(fixed.values())
    updates = [f"{c} = EXCLUDED.{c}" for c in names if c != "code"]
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT (code) DO UPDATE SET {', '.join(updates)}"
    )


TOWN_ROW = (*TOWN_COLUMNS, "geometry", "properties")
STATION_ROW = ("code", "name", "kind", "town_code", "lon", "lat", *STATION_COLUMNS, "properties")
TOWN_UPSERT = _upsert_sql("towns", TOWN_ROW, {})
# A station that is in the file is active again, even if an earlier load had retired it.
STATION_UPSERT = _upsert_sql("stations", STATION_ROW, {"active": "true", "updated_at": "now()"})
# Stations missing from the file keep their rows (and so their history) but stop being active.
DEACTIVATE = (
    "UPDATE stations SET active = false, updated_at = now() WHERE active AND NOT (code = ANY(%(codes)s))"
)


def town_row(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of ``TOWN_UPSERT`` for one valid feature (jsonb columns as plain dicts)."""
    props = feature["properties"]
    row = {column: props.get(column) for column in TOWN_COLUMNS}
    row["geometry"] = feature["geometry"]
    row["properties"] = {k: v for k, v in props.items() if k not in TOWN_COLUMNS}
    return row


def station_row(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of ``STATION_UPSERT`` for one valid feature (jsonb columns as plain dicts)."""
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    row = {column: props.get(column) for column in STATION_COLUMNS}
    own = {"code", "name", "kind", "town", *STATION_COLUMNS}
    row.update(
        code=props["code"],
        name=props["name"],
        kind=props["kind"],
        town_code=props["town"],
        lon=lon,
        lat=lat,
        properties={k: v for k, v in props.items() if k not in own},
    )
    return row


def validate_layers(
    towns_fc: Any, stations_fc: Any, *, towns_source: str = "towns.geojson",
    stations_source: str = "stations.geojson", layers: Mapping[str, Any] | None = None,
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
    others = {name: read_layer(path) for name, path in layer_files(stations_path.parent).items()
              if name in EXTRA_LAYERS}
    return validate_layers(read_geojson(towns_path), read_geojson(stations_path),
                           towns_source=towns_path.name, stations_source=stations_path.name, layers=others)


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
    import psycopg
    from psycopg.types.json import Jsonb

    problems = validate_layers(towns_fc, stations_fc, towns_source=towns_source, stations_source=stations_source)
    if problems:
        raise ValidationFailed(
            f"the GIS data has {len(problems)} problem(s); nothing was loaded", details=problems
        )

    def adapt(row: dict[str, Any]) -> dict[str, Any]:
        # The dict-valued parameters are exactly the jsonb columns (geometry, properties).
        return {k: Jsonb(v) if isinstance(v, dict) else v for k, v in row.items()}

    towns = [adapt(town_row(f)) for f in towns_fc["features"]]
    stations = [adapt(station_row(f)) for f in stations_fc["features"]]
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(TOWN_UPSERT, towns)
            cur.executemany(STATION_UPSERT, stations)
            cur.execute(DEACTIVATE, {"codes": [s["code"] for s in stations]})
            deactivated = cur.rowcount
    except psycopg.errors.IntegrityError as exc:
        # E.g. a town name that the database holds under another code (names are unique).
        detail = (exc.diag.message_detail or exc.diag.message_primary or str(exc)).rstrip(".")
        raise Conflict(f"the database refused the GIS data: {detail}; nothing was loaded") from exc
    return {"towns": len(towns), "stations": len(stations), "deactivated": deactivated}


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


# --- the other layers -------------------------------------------------------------------------
#
# Every layer besides towns and stations is checked feature by feature against its ``LayerSpec``
# (geometry type, required fields, a per-feature check) and then across layers: a village lies in
# its town, a river's stations exist and sit on it, every river and reservoir gauge lies in a
# catchment, every town has a complete duty roster. Towns and stations are the context of all of
# them: taken from the same folder when it has them, else from the packaged sample.

DEFAULT_DIR = Path(__file__).parent
ROSTER_ROLES = ("primary", "deputy", "superior")
# Mainland mobile numbers: 11 digits from 13x–19x, optionally written +86 / with spaces or hyphens.
MOBILE = re.compile(r"1[3-9][0-9]{9}")
# The sample roster's numbers: a range this project reserves for fiction (see build_sample.py).
FICTIONAL_PHONE = re.compile(r"1390000[0-9]{4}")
DESIGN_STANDARD = re.compile(r"[1-9][0-9]{0,3}年一遇")
VILLAGE_CODE = re.compile(r"[0-9]{12}")  # town code + 3 digits
RIVER_STATION_TOLERANCE_M = 1500.0  # a station listed on a river may be this far from its line
CAMERA_TOLERANCE_M = 200.0
RESERVOIR_TOLERANCE_M = 500.0
CATCHMENT_TOLERANCE_M = 200.0  # digitised catchment borders may miss a gauge on them by this much
LENGTH_TOLERANCE = 0.15  # length_km may differ this much (share) from the drawn line


def _km_length(geom: BaseGeometry) -> float:
    """Length of a lon/lat line in km (local plane around its centroid)."""
    lat = geom.centroid.y
    k = (111.320 * math.cos(math.radians(lat)), 110.574)
    return float(shapely.transform(geom, lambda xy: xy * k).length)


def _km2(geom: BaseGeometry) -> float:
    if geom.is_empty:
        return 0.0
    lat = geom.centroid.y
    return float(geom.area * 111.320 * math.cos(math.radians(lat)) * 110.574)


class _Context:
    """What a layer is checked against: towns, stations and the layers checked before it."""

    def __init__(self, towns: dict[str, tuple[_Feature, BaseGeometry | None]], towns_source: str,
                 stations_fc: Any, stations_source: str) -> None:
        self.towns = towns
        self.towns_source = towns_source
        self.stations_source = stations_source
        self.stations: dict[str, tuple[_Feature, Point | None]] = {}
        for f in _features(stations_fc, stations_source, []):
            code = f.props.get("code")
            if isinstance(code, str) and code not in self.stations:
                self.stations[code] = (f, _geometry(f, ("Point",), []))
        # Usable features of each layer checked so far: layer name -> [(feature, geometry)].
        self.checked: dict[str, list[tuple[_Feature, BaseGeometry | None]]] = {}

    def town(self, f: _Feature, field: str, problems: Problems, point: BaseGeometry | None = None,
             *, required: bool = True) -> str | None:
        """Check a town code (and that ``point`` lies in that town); return it if known."""
        town = _text(f, field, problems, required=required)
        if town is None:
            return None
        if town not in self.towns:
            problems.append(f.problem(field, f"unknown town {town}"))
            return None
        town_feature, area = self.towns[town]
        if point is not None and area is not None:
            metres = _metres_from(area, point.x, point.y)
            if metres > TOWN_TOLERANCE_M:
                problems.append(f.problem("geometry", (
                    f"({point.x}, {point.y}) lies {_distance_text(metres)} outside its town {town} "
                    f"{town_feature.props.get('name', '')} (allowed: {TOWN_TOLERANCE_M:.0f} m)")))
        return town

    def station(self, f: _Feature, field: str, kind: str, problems: Problems) -> tuple[_Feature, Point | None] | None:
        code = _text(f, field, problems, required=True)
        if code is None:
            return None
        found = self.stations.get(code)
        if found is None:
            problems.append(f.problem(field, f"unknown station {code} (not in {self.stations_source})"))
            return None
        if found[0].props.get("kind") != kind:
            problems.append(f.problem(field, f"station {code} is a {found[0].props.get('kind')} station, "
                                             f"not a {kind} station"))
            return None
        return found


def _count(f: _Feature, field: str, problems: Problems, *, minimum: float = 0, required: bool = True,
           integer: bool = False) -> float | None:
    value = f.props.get(field)
    if value is None:
        if required:
            problems.append(f.problem(field, "required"))
        return None
    if not _is_number(value) or (integer and float(value) != int(value)):
        what = "a whole number" if integer else "a number"
        problems.append(f.problem(field, f"must be {what}, got {_show(value)}"))
        return None
    if value < minimum:
        problems.append(f.problem(field, f"{_show(value)} must be at least {minimum:g}"))
        return None
    return float(value)


def _text_list(f: _Feature, field: str, problems: Problems, seen: dict[str, int] | None = None) -> list[str]:
    value = f.props.get(field)
    if value is None:
        problems.append(f.problem(field, "required (a list, may be empty)"))
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f.problem(field, f"must be a list of texts, got {_show(value)}"))
        return []
    if seen is not None:
        for item in value:
            if item in seen and seen[item] != f.number:
                problems.append(f.problem(field, f"{item} is already used by feature #{seen[item]}"))
            seen.setdefault(item, f.number)
    return value


def _check_length(f: _Feature, geom: BaseGeometry | None, problems: Problems) -> None:
    length = _count(f, "length_km", problems, required=False)
    if length is None or geom is None:
        return
    drawn = _km_length(geom)
    if abs(length - drawn) > LENGTH_TOLERANCE * max(drawn, 0.1):
        problems.append(f.problem("length_km", f"{_show(length)} km but the line is {drawn:.2f} km long"))


# -- per-layer checks: (feature, geometry or None, context, problems, per-layer state)


def _check_county(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                  state: dict[str, Any]) -> None:
    kind = f.props.get("kind")
    if kind not in ("boundary", "coastline"):
        problems.append(f.problem("kind", f"must be boundary or coastline, got {_show(kind)}"))
        return
    if geom is None:
        return
    polygonal = geom.geom_type in ("Polygon", "MultiPolygon")
    if (kind == "boundary") != polygonal:
        want = "a Polygon or MultiPolygon" if kind == "boundary" else "a LineString or MultiLineString"
        problems.append(f.problem("geometry", f"a {kind} must be {want}, got {geom.geom_type}"))
        return
    if kind == "boundary":
        for code, (town, area) in ctx.towns.items():
            if area is not None and _km2(area.difference(geom)) > 0.01 * _km2(area) + 0.05:
                problems.append(f.problem("geometry", f"town {code} {town.props.get('name', '')} "
                                                      "is not inside the county boundary"))


def _check_village(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                   state: dict[str, Any]) -> None:
    town = ctx.town(f, "town", problems, geom)
    code = f.code
    if isinstance(code, str):
        if not VILLAGE_CODE.fullmatch(code):
            problems.append(f.problem("code", f"{_show(code)} must be 12 digits (town code + 3)"))
        elif town is not None and not code.startswith(town):
            problems.append(f.problem("code", f"{code} does not start with its town's code {town}"))
    _count(f, "population", problems, integer=True, required=False)
    devices = state.setdefault("devices", {})
    _text_list(f, "led_boards", problems, devices)
    _text_list(f, "speakers", problems, devices)


def _check_shelter(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                   state: dict[str, Any]) -> None:
    town = ctx.town(f, "town", problems, geom)
    _count(f, "capacity", problems, minimum=1, integer=True)
    village = f.props.get("village")
    villages = {v.code: v for v, _ in ctx.checked.get("villages", [])}
    if village is not None and villages:
        if village not in villages:
            problems.append(f.problem("village", f"unknown village {_show(village)}"))
        elif town is not None and villages[village].props.get("town") != town:
            problems.append(f.problem("village", f"village {village} is not in town {town}"))


def _check_waterlogging(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                        state: dict[str, Any]) -> None:
    ctx.town(f, "town", problems, geom)
    value = _count(f, "threshold_mm_h", problems, minimum=1)
    if value is not None and value > 300:
        problems.append(f.problem("threshold_mm_h", f"{_show(value)} mm/h is not a plausible threshold"))


def _check_camera(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                  state: dict[str, Any]) -> None:
    ctx.town(f, "town", problems, geom, required=False)
    _text(f, "camera", problems, required=True)
    url = _text(f, "snapshot_url", problems, required=False)
    if url is not None and not re.match(r"https?://", url):
        problems.append(f.problem("snapshot_url", f"{_show(url)} must be an http(s) URL"))
    found = ctx.station(f, "station", "camera", problems)
    if found and found[1] is not None and geom is not None:
        metres = _metres_from(geom, found[1].x, found[1].y)
        if metres > CAMERA_TOLERANCE_M:
            problems.append(f.problem("geometry", f"lies {_distance_text(metres)} from its station "
                                                  f"{found[0].code} (allowed: {CAMERA_TOLERANCE_M:.0f} m)"))


def _storage_curve_problem(curve: Any) -> str | None:
    if not isinstance(curve, list) or len(curve) < 2:
        return f"must be a list of at least two [level_m, volume_1e6m3] pairs, got {_show(curve)}"
    for i, pair in enumerate(curve):
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_number, pair))):
            return f"pair #{i + 1} {_show(pair)} is not [level_m, volume_1e6m3]"
        if pair[1] < 0:
            return f"pair #{i + 1}: volume {_show(pair[1])} must not be negative"
    for i in range(1, len(curve)):
        (h0, v0), (h1, v1) = curve[i - 1], curve[i]
        if h1 <= h0:
            return f"not monotonic: level {_show(h1)} of pair #{i + 1} is not above {_show(h0)}"
        if v1 <= v0:
            return f"not monotonic: volume {_show(v1)} at {_show(h1)} m is not above {_show(v0)} at {_show(h0)} m"
    return None


def _check_reservoir(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                     state: dict[str, Any]) -> None:
    ctx.town(f, "town", problems, required=False)
    found = ctx.station(f, "station", "reservoir", problems)
    capacity = _count(f, "capacity_1e6m3", problems)
    spillway = f.props.get("spillway_crest")
    if spillway is not None and not _is_number(spillway):
        problems.append(f.problem("spillway_crest", f"must be a number, got {_show(spillway)}"))
        spillway = None
    curve = f.props.get("storage_curve")
    problem = _storage_curve_problem(curve)
    if problem:
        problems.append(f.problem("storage_curve", problem))
    else:
        low, high = curve[0][0], curve[-1][0]
        if spillway is not None and not low <= spillway <= high:
            problems.append(f.problem("spillway_crest", f"{_show(spillway)} m is outside the storage curve's "
                                                        f"levels {_show(low)}…{_show(high)} m"))
        if capacity is not None and capacity > curve[-1][1] * 1.05:
            problems.append(f.problem("capacity_1e6m3", f"{_show(capacity)} exceeds the storage curve's largest "
                                                        f"volume {_show(curve[-1][1])}"))
    if found is None:
        return
    station, point = found
    own = station.props.get("spillway_crest")
    if spillway is not None and _is_number(own) and abs(own - spillway) > 0.01:
        problems.append(f.problem("spillway_crest", f"{_show(spillway)} differs from station {station.code}'s "
                                                    f"spillway_crest {_show(own)}"))
    if point is not None and geom is not None:
        metres = _metres_from(geom, point.x, point.y)
        if metres > RESERVOIR_TOLERANCE_M:
            problems.append(f.problem("geometry", f"lies {_distance_text(metres)} from its station {station.code}"))


def _check_seawall(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                   state: dict[str, Any]) -> None:
    _text(f, "name", problems, required=True)
    crest = _count(f, "crest_m", problems, minimum=TIDE_RANGE[0])
    if crest is not None and crest > TIDE_RANGE[1]:
        problems.append(f.problem("crest_m", f"{_show(crest)} m is outside the plausible "
                                             f"{TIDE_RANGE[0]:g}…{TIDE_RANGE[1]:g} m (not metres?)"))
    standard = _text(f, "design_standard", problems, required=True)
    if standard is not None and not DESIGN_STANDARD.fullmatch(standard):
        problems.append(f.problem("design_standard", f"{_show(standard)} must read like 50年一遇"))
    _check_length(f, geom, problems)
    towns = _text_list(f, "towns", problems)
    if not towns and isinstance(f.props.get("towns"), list):
        problems.append(f.problem("towns", "must name at least one town"))
    for town in towns:
        if town not in ctx.towns:
            problems.append(f.problem("towns", f"unknown town {town}"))


def _check_catchment(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                     state: dict[str, Any]) -> None:
    _text(f, "name", problems, required=True)
    _text(f, "river", problems, required=False)


def _check_river(f: _Feature, geom: BaseGeometry | None, ctx: _Context, problems: Problems,
                 state: dict[str, Any]) -> None:
    _text(f, "name", problems, required=True)
    _count(f, "catchment_km2", problems, minimum=0, required=False)
    _check_length(f, geom, problems)
    catchment = f.props.get("catchment")
    codes = {c.code for c, _ in ctx.checked.get("catchments", [])}
    if catchment is not None and codes and catchment not in codes:
        problems.append(f.problem("catchment", f"unknown catchment {_show(catchment)}"))
    for town in _text_list(f, "towns", problems):
        if town not in ctx.towns:
            problems.append(f.problem("towns", f"unknown town {town}"))
        elif geom is not None and ctx.towns[town][1] is not None:
            metres = _metres_from(geom, *ctx.towns[town][1].representative_point().coords[0])
            if not geom.intersects(ctx.towns[town][1]) and metres > TOWN_TOLERANCE_M:
                problems.append(f.problem("towns", f"the river does not flow through town {town}"))
    for code in _text_list(f, "stations", problems):
        found = ctx.stations.get(code)
        if found is None:
            problems.append(f.problem("stations", f"unknown station {code} (not in {ctx.stations_source})"))
            continue
        station, point = found
        if station.props.get("kind") != "river":
            problems.append(f.problem("stations", f"station {code} is a {station.props.get('kind')} station, "
                                                  "not a river station"))
        elif point is not None and geom is not None:
            metres = _metres_from(geom, point.x, point.y)
            if metres > RIVER_STATION_TOLERANCE_M:
                problems.append(f.problem("stations", f"station {code} lies {_distance_text(metres)} from the "
                                                      f"river (allowed: {_distance_text(RIVER_STATION_TOLERANCE_M)})"))


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its file, what its features look like, and how each is checked."""

    name: str
    filename: str
    title: str
    geometry: tuple[str, ...]
    required: tuple[str, ...]
    check: Callable[[_Feature, BaseGeometry | None, _Context, Problems, dict[str, Any]], None] | None = None
    unique: tuple[str, ...] = ("code",)


POINT, LINES, AREAS = ("Point",), ("LineString", "MultiLineString"), ("Polygon", "MultiPolygon")
# In checking order: a layer may be checked against those before it.
LAYERS: dict[str, LayerSpec] = {spec.name: spec for spec in (
    LayerSpec("towns", "towns.geojson", "乡镇（街道）", AREAS, ("code", "name")),
    LayerSpec("stations", "stations.geojson", "监测站点", POINT, ("code", "name", "kind", "town")),
    LayerSpec("county", "county.geojson", "县界与海岸线", AREAS + LINES, ("code", "name", "kind"), _check_county),
    LayerSpec("catchments", "catchments.geojson", "流域", AREAS, ("code", "name"), _check_catchment),
    LayerSpec("rivers", "rivers.geojson", "河流", LINES, ("code", "name", "towns", "stations"), _check_river),
    LayerSpec("reservoirs", "reservoirs.geojson", "水库", AREAS + POINT,
              ("code", "station", "capacity_1e6m3", "spillway_crest", "storage_curve"), _check_reservoir),
    LayerSpec("seawalls", "seawalls.geojson", "海塘", LINES,
              ("code", "name", "crest_m", "design_standard", "towns"), _check_seawall),
    LayerSpec("villages", "villages.geojson", "行政村", POINT,
              ("code", "name", "town", "led_boards", "speakers"), _check_village),
    LayerSpec("shelters", "shelters.geojson", "避灾安置点", POINT, ("code", "name", "town", "capacity"),
              _check_shelter),
    LayerSpec("waterlogging", "waterlogging.geojson", "易涝点", POINT, ("code", "name", "town", "threshold_mm_h"),
              _check_waterlogging),
    LayerSpec("cameras", "cameras.geojson", "视频监控", POINT, ("code", "station", "snapshot_url"), _check_camera),
    LayerSpec("roster", "roster.json", "防汛责任人", (), ("town", *ROSTER_ROLES)),
)}
EXTRA_LAYERS = tuple(name for name in LAYERS if name not in ("towns", "stations"))


def _check_layer(spec: LayerSpec, fc: Any, ctx: _Context, problems: Problems, source: str) -> None:
    usable: list[tuple[_Feature, BaseGeometry | None]] = []
    seen: dict[str, dict[str, int]] = {field: {} for field in spec.unique}
    state: dict[str, Any] = {}
    for f in _features(fc, source, problems):
        geom = _geometry(f, spec.geometry, problems)
        for field in spec.required:
            if f.props.get(field) is None or f.props.get(field) == "":
                problems.append(f.problem(field, "required"))
        for field in spec.unique:
            value = f.props.get(field)
            if isinstance(value, str):
                _unique(f, field, value, seen[field], problems)
            elif value is not None:
                problems.append(f.problem(field, f"must be text, got {_show(value)}"))
        if spec.check is not None:
            spec.check(f, geom, ctx, problems, state)
        usable.append((f, geom))
    ctx.checked[spec.name] = usable


def _check_roster(doc: Any, ctx: _Context, problems: Problems, source: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("towns"), list):
        problems.append(f"{source}: expected an object with a list 'towns' of duty entries")
        return
    fictional = doc.get("fictional") is True
    seen: dict[str, int] = {}
    phones: dict[str, str] = {}
    for number, entry in enumerate(doc["towns"], start=1):
        town = entry.get("town") if isinstance(entry, dict) else None
        label = f"{source}: entry #{number} (town {town if isinstance(town, str) else _show(town)})"
        if not isinstance(entry, dict):
            problems.append(f"{label}: not an object")
            continue
        if not isinstance(town, str) or town not in ctx.towns:
            problems.append(f"{label}: field 'town': unknown town {town if isinstance(town, str) else _show(town)}")
        elif town in seen:
            problems.append(f"{label}: field 'town': {town} already has entry #{seen[town]}")
        else:
            seen[town] = number
        for role in ROSTER_ROLES:
            person = entry.get(role)
            if not isinstance(person, dict):
                problems.append(f"{label}: field '{role}': required (an object with name, title, phone)")
                continue
            for field in ("name", "title"):
                if not isinstance(person.get(field), str) or not person[field].strip():
                    problems.append(f"{label}: field '{role}.{field}': required")
            phone = person.get("phone")
            digits = re.sub(r"^\+?86|[\s-]", "", phone) if isinstance(phone, str) else None
            if digits is None or not MOBILE.fullmatch(digits):
                problems.append(f"{label}: field '{role}.phone': {_show(phone)} is not a mainland mobile number "
                                "(11 digits, 13x–19x)")
            elif fictional and not FICTIONAL_PHONE.fullmatch(digits):
                problems.append(f"{label}: field '{role}.phone': {phone} is outside the fictional range "
                                "1390000XXXX of a sample roster (\"fictional\": true)")
            elif digits in phones:
                problems.append(f"{label}: field '{role}.phone': {phone} is also {phones[digits]}'s number")
            else:
                phones[digits] = f"{town} {role}"
    for code, (town, _) in ctx.towns.items():
        if code not in seen:
            problems.append(f"{source}: town {code} {town.props.get('name', '')} has no duty entry "
                            "(primary, deputy, superior)")


def station_catchments(ctx_or_stations: Any, catchments_fc: Any) -> dict[str, str | None]:
    """Station code -> code of the catchment it lies in (within ``CATCHMENT_TOLERANCE_M``), or None."""
    stations = ctx_or_stations.stations if isinstance(ctx_or_stations, _Context) else {
        f.code: (f, _geometry(f, ("Point",), [])) for f in _features(ctx_or_stations, "stations", [])}
    areas = [(f.code, g) for f in _features(catchments_fc, "catchments", [])
             if (g := _geometry(f, AREAS, [])) is not None and isinstance(f.code, str)]
    result: dict[str, str | None] = {}
    for code, (_, point) in stations.items():
        if point is None:
            continue
        inside = next((c for c, g in areas if g.contains(point)), None)
        if inside is None and areas:
            nearest = min(areas, key=lambda item: _metres_from(item[1], point.x, point.y))
            if _metres_from(nearest[1], point.x, point.y) <= CATCHMENT_TOLERANCE_M:
                inside = nearest[0]
        result[code] = inside
    return result


def _check_station_catchments(ctx: _Context, catchments_fc: Any, source: str, problems: Problems) -> None:
    """Every river and reservoir gauge lies in a catchment; a river's listed stations lie in its own."""
    relation = station_catchments(ctx, catchments_fc)
    names = {f.code: f.props.get("name", "") for f, _ in ctx.checked.get("catchments", [])}
    areas = [(f.code, g) for f, g in ctx.checked.get("catchments", []) if g is not None]
    for code, (station, point) in ctx.stations.items():
        if station.props.get("kind") not in ("river", "reservoir") or point is None or not areas:
            continue
        if relation.get(code) is None:
            near_code, near = min(areas, key=lambda item: _metres_from(item[1], point.x, point.y))
            metres = _metres_from(near, point.x, point.y)
            problems.append(station.problem("geometry", (
                f"{station.props.get('kind')} station lies in no catchment of {source} "
                f"(nearest: {near_code} {names.get(near_code, '')}, {_distance_text(metres)} away)")))
    for river, _ in ctx.checked.get("rivers", []):
        own = river.props.get("catchment")
        listed = river.props.get("stations")
        if not isinstance(own, str) or own not in names or not isinstance(listed, list):
            continue
        for code in listed:
            where = relation.get(code) if isinstance(code, str) else None
            if where is not None and where != own:
                problems.append(river.problem("stations", f"station {code} lies in catchment {where} "
                                                          f"{names.get(where, '')}, not in the river's {own}"))


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


def validate_collections(layers: Mapping[str, Any], *, towns_fc: Any, stations_fc: Any,
                         sources: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of the given extra layers (name -> parsed file), checked against towns and stations.

    Towns and stations themselves are not re-checked here (``validate_layers`` does that).
    """
    sources = dict(sources or {})
    src = {name: sources.get(name, spec.filename) for name, spec in LAYERS.items()}
    problems: Problems = []
    ctx = _Context(_town_areas(towns_fc, src["towns"], []), src["towns"], stations_fc, src["stations"])
    for name in EXTRA_LAYERS:
        if name not in layers:
            continue
        if name == "roster":
            _check_roster(layers[name], ctx, problems, src[name])
        else:
            _check_layer(LAYERS[name], layers[name], ctx, problems, src[name])
    if "catchments" in layers:
        _check_station_catchments(ctx, layers["catchments"], src["catchments"], problems)
    unknown = sorted(set(layers) - set(LAYERS))
    problems += [f"{name}: unknown layer (known: {', '.join(LAYERS)})" for name in unknown]
    return problems


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
            problems.append(f"{path.name}: not a known layer file name "
                            f"(one of {', '.join(s.filename for s in LAYERS.values())})")
            files = {}
        else:
            files = {by_file[path.name]: path}
            files.update({n: p for n, p in layer_files(path.parent).items() if n in ("towns", "stations")
                          and n not in files})
    layers: dict[str, Any] = {}
    for name, file in files.items():
        try:
            layers[name] = read_layer(file)
        except ValidationFailed as exc:
            problems.append(exc.message)
    sources = {name: file.name for name, file in files.items()}
    return layers, sources, problems


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
        problems += validate_stations(stations_fc, towns_fc, source=sources["stations"],
                                      towns_source=sources.get("towns", "towns.geojson"))
    extra = {name: fc for name, fc in layers.items() if name in EXTRA_LAYERS}
    problems += validate_collections(extra, towns_fc=towns_fc, stations_fc=stations_fc, sources=sources)
    return problems


# --- loading the other layers -----------------------------------------------------------------

LAYER_UPSERT = (
    "INSERT INTO layers (name, title, geojson, feature_count, loaded_at) "
    "VALUES (%(name)s, %(title)s, %(geojson)s, %(feature_count)s, now()) "
    "ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title, geojson = EXCLUDED.geojson, "
    "feature_count = EXCLUDED.feature_count, loaded_at = EXCLUDED.loaded_at"
)
SET_CATCHMENT = (
    "UPDATE stations SET properties = CASE WHEN %(catchment)s::text IS NULL THEN properties - 'catchment' "
    "ELSE properties || jsonb_build_object('catchment', %(catchment)s::text) END, updated_at = now() "
    "WHERE code = %(code)s AND properties->>'catchment' IS DISTINCT FROM %(catchment)s::text"
)


def _title(name: str, doc: Any) -> str:
    given = doc.get("name") if isinstance(doc, dict) else None
    return given if isinstance(given, str) and given else LAYERS[name].title


def _feature_count(name: str, doc: Any) -> int:
    key = "towns" if name == "roster" else "features"
    return len(doc.get(key, [])) if isinstance(doc, dict) else 0


def load_layers(conn: psycopg.Connection[Any], directory: str | Path = DEFAULT_DIR) -> dict[str, int]:
    """Validate the layer files of a folder (or one layer file) and load them in one transaction.

    Towns and stations go to their tables as ``load`` does (when the folder has them); every other
    layer becomes one row of ``layers``. When catchments are loaded, each station's catchment is
    written to ``stations.properties.catchment``. Raises ``ValidationFailed`` with every problem
    before touching the database. Returns the feature count per layer loaded (and ``deactivated``
    stations, ``catchment_links`` updated).
    """
    from psycopg.types.json import Jsonb

    problems = validate_directory(directory)
    if problems:
        raise ValidationFailed(f"the GIS data has {len(problems)} problem(s); nothing was loaded", details=problems)
    layers, sources, _ = _read_directory(directory)
    counts: dict[str, int] = {}
    with conn.transaction():
        if "stations" in layers or "towns" in layers:
            towns_fc = layers.get("towns") or read_geojson(DEFAULT_TOWNS)
            stations_fc = layers.get("stations") or read_geojson(DEFAULT_STATIONS)
            counts.update(load(conn, towns_fc, stations_fc, towns_source=sources.get("towns", "towns.geojson"),
                               stations_source=sources.get("stations", "stations.geojson")))
        with conn.cursor() as cur:
            for name in EXTRA_LAYERS:
                if name not in layers:
                    continue
                doc = layers[name]
                counts[name] = _feature_count(name, doc)
                cur.execute(LAYER_UPSERT, {"name": name, "title": _title(name, doc), "geojson": Jsonb(doc),
                                           "feature_count": counts[name]})
            if "catchments" in layers:
                stations_fc = layers.get("stations") or read_geojson(DEFAULT_STATIONS)
                relation = station_catchments(stations_fc, layers["catchments"])
                cur.executemany(SET_CATCHMENT, [{"code": c, "catchment": k} for c, k in sorted(relation.items())])
                counts["catchment_links"] = sum(1 for k in relation.values() if k is not None)
    return counts


LIST_LAYERS = (
    "SELECT name, title, feature_count, loaded_at FROM layers "
    "UNION ALL SELECT 'towns', %(towns_title)s::text, count(*)::int, NULL::timestamptz FROM towns "
    "UNION ALL SELECT 'stations', %(stations_title)s::text, count(*)::int, max(updated_at) FROM stations WHERE active "
    "ORDER BY 1"
)
LAYER_BY_NAME = "SELECT geojson FROM layers WHERE name = %s"
TOWNS_GEOJSON = """
SELECT json_build_object('type', 'FeatureCollection', 'name', %(title)s::text, 'features', coalesce(json_agg(
    json_build_object('type', 'Feature', 'geometry', geometry,
        'properties', properties || jsonb_build_object('code', code, 'name', name, 'name_en', name_en,
                                                       'seat_lon', seat_lon, 'seat_lat', seat_lat))
    ORDER BY code), '[]'::json))::text
FROM towns
"""
STATIONS_GEOJSON = """
SELECT json_build_object('type', 'FeatureCollection', 'name', %(title)s::text, 'features', coalesce(json_agg(
    json_build_object('type', 'Feature', 'geometry', json_build_object('type', 'Point', 'coordinates',
        json_build_array(lon, lat)),
        'properties', jsonb_strip_nulls(properties || jsonb_build_object(
            'code', code, 'name', name, 'kind', kind, 'town', town_code, 'river', river, 'basin', basin,
            'elevation_m', elevation_m, 'admin_unit', admin_unit, 'wrz', wrz, 'grz', grz,
            'fsltdz_meiyu', fsltdz_meiyu, 'fsltdz_typhoon', fsltdz_typhoon, 'dsflz', dsflz, 'ckflz', ckflz,
            'dam_crest', dam_crest, 'tide_blue', tide_blue, 'tide_yellow', tide_yellow,
            'tide_orange', tide_orange, 'tide_red', tide_red, 'seawall_crest', seawall_crest)))
    ORDER BY code), '[]'::json))::text
FROM stations WHERE active
"""


def list_layers(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Name, title, feature_count and loaded_at (ISO text or None) of every layer in the database."""
    rows = conn.execute(LIST_LAYERS, {"towns_title": LAYERS["towns"].title,
                                      "stations_title": LAYERS["stations"].title}).fetchall()
    return [{"name": r[0], "title": r[1], "feature_count": r[2],
             "loaded_at": r[3].isoformat() if r[3] is not None else None} for r in rows]


def layer_json(conn: psycopg.Connection[Any], name: str) -> str | None:
    """One layer as JSON text (towns and stations from their tables); None when there is no such layer."""
    if name == "towns":
        row = conn.execute(TOWNS_GEOJSON, {"title": LAYERS["towns"].title}).fetchone()
    elif name == "stations":
        row = conn.execute(STATIONS_GEOJSON, {"title": LAYERS["stations"].title}).fetchone()
    else:
        row = conn.execute(LAYER_BY_NAME, (name,)).fetchone()
        if row is not None:
            return json.dumps(row[0], ensure_ascii=False)
    return str(row[0]) if row else None
