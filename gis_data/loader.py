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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.errors import GEOSException
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from floodctl.errors import Conflict, ValidationFailed

if TYPE_CHECKING:  # psycopg is imported where used: checking files needs only shapely
    import psycopg

__all__ = [
    "DEFAULT_STATIONS",
    "DEFAULT_TOWNS",
    "STATION_KINDS",
    "load",
    "load_files",
    "read_geojson",
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
_DEPTH = {"Point": 0, "Polygon": 2, "MultiPolygon": 3}


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
    stations_source: str = "stations.geojson",
) -> list[str]:
    """Every problem of both layers (stations are checked against the towns as given)."""
    return validate_towns(towns_fc, source=towns_source) + validate_stations(
        stations_fc, towns_fc, source=stations_source, towns_source=towns_source
    )


def validate_files(towns_path: str | Path = DEFAULT_TOWNS, stations_path: str | Path = DEFAULT_STATIONS) -> list[str]:
    """``read_geojson`` both files (raising on unreadable ones) and ``validate_layers`` them."""
    towns_path, stations_path = Path(towns_path), Path(stations_path)
    return validate_layers(read_geojson(towns_path), read_geojson(stations_path),
                           towns_source=towns_path.name, stations_source=stations_path.name)


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
