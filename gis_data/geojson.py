"""GeoJSON primitives: read a FeatureCollection, and read the features, geometries and fields of one.

Each reader records what is wrong in a list of problems, one line per problem, naming the file, the
feature (numbered from 1 in file order, with its code) and the field; it never stops at the first.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.validation import explain_validity

from floodctl.core.errors import ValidationFailed

Problems = list[str]

# Longitude/latitude outside this box means the file is projected or has its axes swapped.
CHINA_BBOX = (73.0, 3.0, 136.0, 54.0)
# Names under which a GeoJSON `crs` member may state lon/lat WGS 84.
LONLAT_CRS = re.compile(r"(CRS:?84|EPSG(::?|:[0-9.]+:|/0/)4326)$", re.IGNORECASE)
# Geometry types a layer may hold.
POINT, LINES, AREAS = ("Point",), ("LineString", "MultiLineString"), ("Polygon", "MultiPolygon")
# Depth of nesting of positions per geometry type.
_DEPTH = {"Point": 0, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


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
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}); GeoJSON must be UTF-8 — was it saved as GBK?"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    problem = collection_problem(data)
    if problem:
        raise ValidationFailed(f"{name}: {problem}")
    return cast("dict[str, Any]", data)  # collection_problem made sure it is one


def collection_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        return f"expected a GeoJSON FeatureCollection, got {show(got)}"
    if not isinstance(data.get("features"), list):
        return "member 'features' must be a list"
    return None


def show(value: Any) -> str:
    """A value as it was written in the file."""
    return json.dumps(value, ensure_ascii=False)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Feature:
    """One feature being checked: knows how to word a problem about itself."""

    def __init__(self, source: str, number: int, raw: Any) -> None:
        self.source = source
        self.number = number
        self.raw = raw if isinstance(raw, dict) else {}
        props = self.raw.get("properties")
        self.props: dict[str, Any] = props if isinstance(props, dict) else {}
        self.code: Any = self.props.get("code")  # as the file has it: text if valid

    @property
    def label(self) -> str:
        code = self.code if isinstance(self.code, str) else show(self.code)
        who = f"code {code}" if self.code is not None else "no code"
        return f"{self.source}: feature #{self.number} ({who})"

    def problem(self, field: str, text: str) -> str:
        where = "geometry" if field == "geometry" else f"field '{field}'"
        return f"{self.label}: {where}: {text}"


def features_of(fc: Any, source: str, problems: Problems) -> list[Feature]:
    """The features of a collection; structural problems go to ``problems``."""
    problem = collection_problem(fc)
    if problem:
        problems.append(f"{source}: {problem}")
        return []
    crs = fc.get("crs")
    if crs is not None:
        crs_props = crs.get("properties") if isinstance(crs, dict) else None
        crs_name = crs_props.get("name") if isinstance(crs_props, dict) else None
        if not isinstance(crs_name, str) or not LONLAT_CRS.search(crs_name):
            problems.append(
                f"{source}: crs {show(crs_name if crs_name else crs)} is not EPSG:4326; "
                "reproject to lon/lat WGS 84 (e.g. ogr2ogr -t_srs EPSG:4326)"
            )
            return []  # every coordinate would be reported otherwise
    if not fc["features"]:
        problems.append(f"{source}: the collection has no features")
    features = []
    for number, raw in enumerate(fc["features"], start=1):
        feature = Feature(source, number, raw)
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            problems.append(f"{feature.label}: not a GeoJSON Feature")
            continue
        if not isinstance(raw.get("properties"), dict):
            problems.append(f"{feature.label}: member 'properties' must be an object")
            continue
        features.append(feature)
    return features


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


def geometry_of(feature: Feature, allowed: tuple[str, ...], problems: Problems) -> Any:
    """The feature's geometry as shapely, or None after recording what is wrong with it."""
    geom = feature.raw.get("geometry")
    gtype = geom.get("type") if isinstance(geom, dict) else None
    if gtype not in allowed or not isinstance(geom, dict):
        want = " or ".join(allowed)
        got = show(gtype) if geom is not None else "none"
        problems.append(feature.problem("geometry", f"must be a {want}, got {got}"))
        return None
    for pos in _positions(geom.get("coordinates"), _DEPTH[gtype]):
        if not (isinstance(pos, list) and len(pos) in (2, 3) and all(map(is_number, pos))):
            text = f"malformed coordinates near {show(pos)}" if pos else "malformed coordinates"
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


def text_of(feature: Feature, field: str, problems: Problems, *, required: bool) -> str | None:
    value = feature.props.get(field)
    if value is None or value == "":
        if required:
            problems.append(feature.problem(field, "required"))
        return None
    if not isinstance(value, str):
        # Codes exported from spreadsheets often arrive as numbers, with leading zeros lost.
        hint = " (codes are written as strings)" if field in ("code", "town") else ""
        problems.append(feature.problem(field, f"must be text, got {show(value)}{hint}"))
        return None
    return value


def number_of(feature: Feature, field: str, problems: Problems) -> float | None:
    """An optional number: absent and null both mean "not known"."""
    value = feature.props.get(field)
    if value is None:
        return None
    if not is_number(value):
        problems.append(feature.problem(field, f"must be a number, got {show(value)}"))
        return None
    return float(value)


def check_unique(feature: Feature, field: str, value: str, seen: dict[str, int], problems: Problems) -> None:
    if value in seen:
        problems.append(feature.problem(field, f"{value} is already used by feature #{seen[value]}"))
    else:
        seen[value] = feature.number
