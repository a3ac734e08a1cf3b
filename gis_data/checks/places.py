"""Checks of the places on the map: the county outline, seawalls, villages, shelters, waterlogging points, cameras."""

from __future__ import annotations

import re
from typing import Any

from shapely.geometry.base import BaseGeometry

from gis_data.checks.context import Context, check_length, count_of, text_list
from gis_data.checks.stations import metric_range
from gis_data.geojson import Feature, Problems, show, text_of
from gis_data.plane import distance_text, km2, metres_from

DESIGN_STANDARD = re.compile(r"[1-9][0-9]{0,3}年一遇")
VILLAGE_CODE = re.compile(r"[0-9]{12}")  # town code + 3 digits
CAMERA_TOLERANCE_M = 200.0
TIDE_RANGE = metric_range("tide_level")  # a seawall's crest is compared with tide levels

# Per-layer checks: (feature, geometry or None, context, problems, per-layer state).


def check_county(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    kind = f.props.get("kind")
    if kind not in ("boundary", "coastline"):
        problems.append(f.problem("kind", f"must be boundary or coastline, got {show(kind)}"))
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
            if area is not None and km2(area.difference(geom)) > 0.01 * km2(area) + 0.05:
                problems.append(
                    f.problem("geometry", f"town {code} {town.props.get('name', '')} is not inside the county boundary")
                )


def check_seawall(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    text_of(f, "name", problems, required=True)
    crest = count_of(f, "crest_m", problems, minimum=TIDE_RANGE[0])
    if crest is not None and crest > TIDE_RANGE[1]:
        problems.append(
            f.problem(
                "crest_m",
                f"{show(crest)} m is outside the plausible {TIDE_RANGE[0]:g}…{TIDE_RANGE[1]:g} m (not metres?)",
            )
        )
    standard = text_of(f, "design_standard", problems, required=True)
    if standard is not None and not DESIGN_STANDARD.fullmatch(standard):
        problems.append(f.problem("design_standard", f"{show(standard)} must read like 50年一遇"))
    check_length(f, geom, problems)
    towns = text_list(f, "towns", problems)
    if not towns and isinstance(f.props.get("towns"), list):
        problems.append(f.problem("towns", "must name at least one town"))
    for town in towns:
        if town not in ctx.towns:
            problems.append(f.problem("towns", f"unknown town {town}"))


def check_village(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    town = ctx.town(f, "town", problems, geom)
    code = f.code
    if isinstance(code, str):
        if not VILLAGE_CODE.fullmatch(code):
            problems.append(f.problem("code", f"{show(code)} must be 12 digits (town code + 3)"))
        elif town is not None and not code.startswith(town):
            problems.append(f.problem("code", f"{code} does not start with its town's code {town}"))
    count_of(f, "population", problems, integer=True, required=False)
    devices = state.setdefault("devices", {})
    text_list(f, "led_boards", problems, devices)
    text_list(f, "speakers", problems, devices)


def check_shelter(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    town = ctx.town(f, "town", problems, geom)
    count_of(f, "capacity", problems, minimum=1, integer=True)
    village = f.props.get("village")
    villages = {v.code: v for v, _ in ctx.checked.get("villages", [])}
    if village is not None and villages:
        if village not in villages:
            problems.append(f.problem("village", f"unknown village {show(village)}"))
        elif town is not None and villages[village].props.get("town") != town:
            problems.append(f.problem("village", f"village {village} is not in town {town}"))


def check_waterlogging(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    ctx.town(f, "town", problems, geom)
    value = count_of(f, "threshold_mm_h", problems, minimum=1)
    if value is not None and value > 300:
        problems.append(f.problem("threshold_mm_h", f"{show(value)} mm/h is not a plausible threshold"))


def check_camera(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    ctx.town(f, "town", problems, geom, required=False)
    text_of(f, "camera", problems, required=True)
    url = text_of(f, "snapshot_url", problems, required=False)
    if url is not None and not re.match(r"https?://", url):
        problems.append(f.problem("snapshot_url", f"{show(url)} must be an http(s) URL"))
    found = ctx.station(f, "station", "camera", problems)
    if found and found[1] is not None and geom is not None:
        metres = metres_from(geom, found[1].x, found[1].y)
        if metres > CAMERA_TOLERANCE_M:
            problems.append(
                f.problem(
                    "geometry",
                    f"lies {distance_text(metres)} from its station "
                    f"{found[0].code} (allowed: {CAMERA_TOLERANCE_M:.0f} m)",
                )
            )
