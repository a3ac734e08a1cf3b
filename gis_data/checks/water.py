"""Checks of the water layers: catchments, rivers, reservoirs, and which catchment each gauge lies in."""

from __future__ import annotations

from typing import Any

from shapely.geometry.base import BaseGeometry

from gis_data.checks.context import Context, check_length, count_of, text_list
from gis_data.checks.towns import TOWN_TOLERANCE_M
from gis_data.geojson import AREAS, Feature, Problems, features_of, geometry_of, is_number, show, text_of
from gis_data.plane import distance_text, metres_from

RIVER_STATION_TOLERANCE_M = 1500.0  # a station listed on a river may be this far from its line
RESERVOIR_TOLERANCE_M = 500.0
CATCHMENT_TOLERANCE_M = 200.0  # digitised catchment borders may miss a gauge on them by this much
GAUGE_KINDS = ("river", "reservoir")  # the station kinds that must lie in a catchment


def check_catchment(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    text_of(f, "name", problems, required=True)
    text_of(f, "river", problems, required=False)


def check_river(f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]) -> None:
    text_of(f, "name", problems, required=True)
    count_of(f, "catchment_km2", problems, minimum=0, required=False)
    check_length(f, geom, problems)
    catchment = f.props.get("catchment")
    codes = {c.code for c, _ in ctx.checked.get("catchments", [])}
    if catchment is not None and codes and catchment not in codes:
        problems.append(f.problem("catchment", f"unknown catchment {show(catchment)}"))
    for town in text_list(f, "towns", problems):
        if town not in ctx.towns:
            problems.append(f.problem("towns", f"unknown town {town}"))
            continue
        area = ctx.towns[town][1]
        if geom is not None and area is not None:
            metres = metres_from(geom, *area.representative_point().coords[0])
            if not geom.intersects(area) and metres > TOWN_TOLERANCE_M:
                problems.append(f.problem("towns", f"the river does not flow through town {town}"))
    for code in text_list(f, "stations", problems):
        found = ctx.stations.get(code)
        if found is None:
            problems.append(f.problem("stations", f"unknown station {code} (not in {ctx.stations_source})"))
            continue
        station, point = found
        if station.props.get("kind") != "river":
            problems.append(
                f.problem("stations", f"station {code} is a {station.props.get('kind')} station, not a river station")
            )
        elif point is not None and geom is not None:
            metres = metres_from(geom, point.x, point.y)
            if metres > RIVER_STATION_TOLERANCE_M:
                problems.append(
                    f.problem(
                        "stations",
                        f"station {code} lies {distance_text(metres)} from the "
                        f"river (allowed: {distance_text(RIVER_STATION_TOLERANCE_M)})",
                    )
                )


def _storage_curve_problem(curve: Any) -> str | None:
    if not isinstance(curve, list) or len(curve) < 2:
        return f"must be a list of at least two [level_m, volume_1e6m3] pairs, got {show(curve)}"
    for i, pair in enumerate(curve):
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(is_number, pair))):
            return f"pair #{i + 1} {show(pair)} is not [level_m, volume_1e6m3]"
        if pair[1] < 0:
            return f"pair #{i + 1}: volume {show(pair[1])} must not be negative"
    for i in range(1, len(curve)):
        (h0, v0), (h1, v1) = curve[i - 1], curve[i]
        if h1 <= h0:
            return f"not monotonic: level {show(h1)} of pair #{i + 1} is not above {show(h0)}"
        if v1 <= v0:
            return f"not monotonic: volume {show(v1)} at {show(h1)} m is not above {show(v0)} at {show(h0)} m"
    return None


def check_reservoir(
    f: Feature, geom: BaseGeometry | None, ctx: Context, problems: Problems, state: dict[str, Any]
) -> None:
    ctx.town(f, "town", problems, required=False)
    found = ctx.station(f, "station", "reservoir", problems)
    capacity = count_of(f, "capacity_1e6m3", problems)
    spillway = f.props.get("spillway_crest")
    if spillway is not None and not is_number(spillway):
        problems.append(f.problem("spillway_crest", f"must be a number, got {show(spillway)}"))
        spillway = None
    curve = f.props.get("storage_curve")
    problem = _storage_curve_problem(curve)
    if problem:
        problems.append(f.problem("storage_curve", problem))
    elif isinstance(curve, list):  # as _storage_curve_problem made sure
        low, high = curve[0][0], curve[-1][0]
        if spillway is not None and not low <= spillway <= high:
            problems.append(
                f.problem(
                    "spillway_crest",
                    f"{show(spillway)} m is outside the storage curve's levels {show(low)}…{show(high)} m",
                )
            )
        if capacity is not None and capacity > curve[-1][1] * 1.05:
            problems.append(
                f.problem(
                    "capacity_1e6m3",
                    f"{show(capacity)} exceeds the storage curve's largest volume {show(curve[-1][1])}",
                )
            )
    if found is None:
        return
    station, point = found
    own = station.props.get("spillway_crest")
    if spillway is not None and is_number(own) and abs(own - spillway) > 0.01:
        problems.append(
            f.problem(
                "spillway_crest", f"{show(spillway)} differs from station {station.code}'s spillway_crest {show(own)}"
            )
        )
    if point is not None and geom is not None:
        metres = metres_from(geom, point.x, point.y)
        if metres > RESERVOIR_TOLERANCE_M:
            problems.append(f.problem("geometry", f"lies {distance_text(metres)} from its station {station.code}"))


def station_catchments(ctx_or_stations: Any, catchments_fc: Any) -> dict[str, str | None]:
    """Station code -> code of the catchment it lies in (within ``CATCHMENT_TOLERANCE_M``), or None."""
    stations = (
        ctx_or_stations.stations
        if isinstance(ctx_or_stations, Context)
        else {f.code: (f, geometry_of(f, ("Point",), [])) for f in features_of(ctx_or_stations, "stations", [])}
    )
    areas = [
        (f.code, g)
        for f in features_of(catchments_fc, "catchments", [])
        if (g := geometry_of(f, AREAS, [])) is not None and isinstance(f.code, str)
    ]
    result: dict[str, str | None] = {}
    for code, (_, point) in stations.items():
        if point is None:
            continue
        inside = next((c for c, g in areas if g.contains(point)), None)
        if inside is None and areas:
            nearest = min(areas, key=lambda item: metres_from(item[1], point.x, point.y))
            if metres_from(nearest[1], point.x, point.y) <= CATCHMENT_TOLERANCE_M:
                inside = nearest[0]
        result[code] = inside
    return result


def check_station_catchments(ctx: Context, catchments_fc: Any, source: str, problems: Problems) -> None:
    """Every river and reservoir gauge lies in a catchment; a river's listed stations lie in its own."""
    relation = station_catchments(ctx, catchments_fc)
    names = {f.code: f.props.get("name", "") for f, _ in ctx.checked.get("catchments", [])}
    areas = [(f.code, g) for f, g in ctx.checked.get("catchments", []) if g is not None]
    for code, (station, point) in ctx.stations.items():
        if station.props.get("kind") not in GAUGE_KINDS or point is None or not areas:
            continue
        if relation.get(code) is None:
            near_code, near = min(areas, key=lambda item: metres_from(item[1], point.x, point.y))
            metres = metres_from(near, point.x, point.y)
            problems.append(
                station.problem(
                    "geometry",
                    (
                        f"{station.props.get('kind')} station lies in no catchment of {source} "
                        f"(nearest: {near_code} {names.get(near_code, '')}, {distance_text(metres)} away)"
                    ),
                )
            )
    for river, _ in ctx.checked.get("rivers", []):
        own = river.props.get("catchment")
        listed = river.props.get("stations")
        if not isinstance(own, str) or own not in names or not isinstance(listed, list):
            continue
        for code in listed:
            where = relation.get(code) if isinstance(code, str) else None
            if where is not None and where != own:
                problems.append(
                    river.problem(
                        "stations",
                        f"station {code} lies in catchment {where} {names.get(where, '')}, not in the river's {own}",
                    )
                )
