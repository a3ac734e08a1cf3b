"""Checks of the towns layer: codes, names, seats inside their polygon, polygons that do not overlap."""

from __future__ import annotations

import re
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from gis_data.geojson import Feature, Problems, check_unique, features_of, geometry_of, number_of, show, text_of
from gis_data.plane import distance_text, metres_from, square_km

TOWN_KINDS = ("街道", "镇", "乡")
TOWN_CODE = re.compile(r"[0-9]{9}")  # GB/T 2260 county code + 3 digits
# Station positions are often the gauge on a river or seawall at a town border.
TOWN_TOLERANCE_M = 500.0
# Towns may touch; digitised borders may overlap a little, but not by more than this share.
MAX_OVERLAP_SHARE = 0.001

TownAreas = dict[str, tuple[Feature, BaseGeometry | None]]


def town_areas(towns_fc: Any, source: str, problems: Problems) -> TownAreas:
    """Check the towns; return the usable ones by code, with their geometry if it is valid."""
    towns: TownAreas = {}
    codes: dict[str, int] = {}
    names: dict[str, int] = {}
    for f in features_of(towns_fc, source, problems):
        geom = geometry_of(f, ("Polygon", "MultiPolygon"), problems)
        code = text_of(f, "code", problems, required=True)
        if code is not None:
            if not TOWN_CODE.fullmatch(code):
                problems.append(f.problem("code", f"{show(code)} must be 9 digits"))
                code = None
            else:
                check_unique(f, "code", code, codes, problems)
        name = text_of(f, "name", problems, required=True)
        if name is not None:
            check_unique(f, "name", name, names, problems)
        text_of(f, "name_en", problems, required=False)
        kind = f.props.get("kind")
        if kind is not None and kind not in TOWN_KINDS:
            problems.append(f.problem("kind", f"must be one of {'/'.join(TOWN_KINDS)}, got {show(kind)}"))
        _check_seat(f, geom, problems)
        if code is not None and code not in towns:
            towns[code] = (f, geom)
    _check_overlaps(towns, problems)
    return towns


def _check_seat(f: Feature, geom: BaseGeometry | None, problems: Problems) -> None:
    lon = number_of(f, "seat_lon", problems)
    lat = number_of(f, "seat_lat", problems)
    if (lon is None) != (lat is None):
        missing = "seat_lat" if lat is None else "seat_lon"
        problems.append(f.problem(missing, "required when the other seat coordinate is given"))
    elif lon is not None and lat is not None and geom is not None:
        metres = metres_from(geom, lon, lat)
        if metres > TOWN_TOLERANCE_M:
            text = f"seat ({lon}, {lat}) lies {distance_text(metres)} outside the town's polygon"
            problems.append(f.problem("seat_lon", text))


def _check_overlaps(towns: TownAreas, problems: Problems) -> None:
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
            km2 = square_km(overlap, a.centroid.y)
            text = f"overlaps feature #{fa.number} (code {fa.code}) by {km2:.2f} km²"
            problems.append(fb.problem("geometry", text))


def validate_towns(fc: Any, *, source: str = "towns.geojson") -> list[str]:
    """Every problem of a towns layer, one line each; empty when the layer can be loaded."""
    problems: Problems = []
    town_areas(fc, source, problems)
    return problems
