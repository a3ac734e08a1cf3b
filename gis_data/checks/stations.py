"""Checks of the stations layer: codes, kinds, thresholds in plausible order, points inside their town."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND, RESERVOIR_PROPERTIES, STATION_KINDS, THRESHOLDS
from gis_data.checks.towns import TOWN_TOLERANCE_M, TownAreas, town_areas
from gis_data.geojson import Feature, Problems, check_unique, features_of, geometry_of, number_of, show, text_of
from gis_data.plane import distance_text, metres_from

STATION_CODE = re.compile(r"[0-9A-Z]{8}")  # SL 323 STCD; upper case so codes compare as written
TEXT_FIELDS = ("river", "basin", "admin_unit")
TIDE_THRESHOLDS = tuple(t.name for t in THRESHOLDS if "tide" in t.kinds)  # ascending


def metric_range(metric: str) -> tuple[float, float]:
    """The physically possible range of a metric (as in the metrics table)."""
    return float(METRICS[metric].low), float(METRICS[metric].high)


# Thresholds with their plausible range in metres; the range is the one of the metric the
# station reports (metrics table), so a value in centimetres stands out.
THRESHOLD_RANGES = {t.name: metric_range(DEFAULT_METRIC_BY_KIND[t.kinds[0]]) for t in THRESHOLDS}


def _check_thresholds(f: Feature, problems: Problems) -> None:
    values: dict[str, float] = {}
    for field, (low, high) in THRESHOLD_RANGES.items():
        value = number_of(f, field, problems)
        if value is None:
            continue
        if not low <= value <= high:
            text = f"{show(value)} m is outside the plausible {low:g}…{high:g} m (not metres?)"
            problems.append(f.problem(field, text))
            continue
        values[field] = value
    for field in RESERVOIR_PROPERTIES:
        value = number_of(f, field, problems)
        if value is not None:
            values[field] = value
    capacity = values.get("capacity_1e6m3")
    if capacity is not None and capacity < 0:
        problems.append(f.problem("capacity_1e6m3", f"{show(capacity)} must not be negative"))
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
                    yield field, f"{show(a)} must be above {below} {show(b)}"
                elif not strict and a < b:
                    yield field, f"{show(a)} must be at least {below} {show(b)}"
            below = field

    yield from chain([("wrz", True), ("grz", True)])
    meiyu, typhoon = v.get("fsltdz_meiyu"), v.get("fsltdz_typhoon")
    if meiyu is not None and typhoon is not None and typhoon > meiyu:
        yield "fsltdz_typhoon", f"{show(typhoon)} must not be above fsltdz_meiyu {show(meiyu)}"
    # The higher flood-season limit is the one the design flood level must clear.
    limit = max(("fsltdz_meiyu", "fsltdz_typhoon"), key=lambda k: v.get(k, -math.inf))
    yield from chain([(limit, True), ("dsflz", True), ("ckflz", False), ("dam_crest", True)])
    yield from chain([("spillway_crest", True), ("dam_crest", True)])
    yield from chain([(field, True) for field in TIDE_THRESHOLDS])


def _check_station(
    f: Feature,
    towns: TownAreas,
    codes: dict[str, int],
    problems: Problems,
) -> None:
    point = geometry_of(f, ("Point",), problems)
    code = text_of(f, "code", problems, required=True)
    if code is not None:
        if not STATION_CODE.fullmatch(code):
            problems.append(f.problem("code", f"{show(code)} must be 8 characters 0-9 / A-Z"))
        else:
            check_unique(f, "code", code, codes, problems)
    text_of(f, "name", problems, required=True)
    kind = f.props.get("kind")
    if kind is None:
        problems.append(f.problem("kind", "required"))
    elif not isinstance(kind, str) or kind not in STATION_KINDS:
        problems.append(f.problem("kind", f"must be one of {', '.join(STATION_KINDS)}, got {show(kind)}"))
    for field in TEXT_FIELDS:
        text_of(f, field, problems, required=False)
    number_of(f, "elevation_m", problems)
    _check_thresholds(f, problems)

    town = text_of(f, "town", problems, required=True)
    if town is None:
        return
    if town not in towns:
        problems.append(f.problem("town", f"{town} is not the code of a town in the towns layer"))
        return
    town_feature, area = towns[town]
    if point is None or area is None:
        return  # already reported
    metres = metres_from(area, point.x, point.y)
    if metres > TOWN_TOLERANCE_M:
        text = (
            f"point ({point.x}, {point.y}) lies {distance_text(metres)} outside its town "
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
    towns = town_areas(towns_fc, towns_source, [])
    codes: dict[str, int] = {}
    for f in features_of(fc, source, problems):
        _check_station(f, towns, codes, problems)
    return problems
