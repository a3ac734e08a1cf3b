"""What the layers besides towns and stations are checked against, and the field readers they share.

Towns and stations are the context of every other layer: a village lies in its town, a camera stands
at its camera station. ``Context.checked`` holds the usable features of each layer checked so far,
so a layer can also be checked against those before it (shelters against villages).
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gis_data.checks.towns import TOWN_TOLERANCE_M, TownAreas
from gis_data.geojson import Feature, Problems, features_of, geometry_of, is_number, show, text_of
from gis_data.plane import distance_text, km_length, metres_from

LENGTH_TOLERANCE = 0.15  # length_km may differ this much (share) from the drawn line


class Context:
    """What a layer is checked against: towns, stations and the layers checked before it."""

    def __init__(self, towns: TownAreas, towns_source: str, stations_fc: Any, stations_source: str) -> None:
        self.towns = towns
        self.towns_source = towns_source
        self.stations_source = stations_source
        self.stations: dict[str, tuple[Feature, Point | None]] = {}
        for f in features_of(stations_fc, stations_source, []):
            code = f.props.get("code")
            if isinstance(code, str) and code not in self.stations:
                self.stations[code] = (f, geometry_of(f, ("Point",), []))
        # Usable features of each layer checked so far: layer name -> [(feature, geometry)].
        self.checked: dict[str, list[tuple[Feature, BaseGeometry | None]]] = {}

    def town(
        self, f: Feature, field: str, problems: Problems, point: BaseGeometry | None = None, *, required: bool = True
    ) -> str | None:
        """Check a town code (and that ``point`` lies in that town); return it if known."""
        town = text_of(f, field, problems, required=required)
        if town is None:
            return None
        if town not in self.towns:
            problems.append(f.problem(field, f"unknown town {town}"))
            return None
        town_feature, area = self.towns[town]
        if point is not None and area is not None:
            metres = metres_from(area, point.x, point.y)
            if metres > TOWN_TOLERANCE_M:
                problems.append(
                    f.problem(
                        "geometry",
                        (
                            f"({point.x}, {point.y}) lies {distance_text(metres)} outside its town {town} "
                            f"{town_feature.props.get('name', '')} (allowed: {TOWN_TOLERANCE_M:.0f} m)"
                        ),
                    )
                )
        return town

    def station(self, f: Feature, field: str, kind: str, problems: Problems) -> tuple[Feature, Point | None] | None:
        code = text_of(f, field, problems, required=True)
        if code is None:
            return None
        found = self.stations.get(code)
        if found is None:
            problems.append(f.problem(field, f"unknown station {code} (not in {self.stations_source})"))
            return None
        if found[0].props.get("kind") != kind:
            problems.append(
                f.problem(field, f"station {code} is a {found[0].props.get('kind')} station, not a {kind} station")
            )
            return None
        return found


def count_of(
    f: Feature, field: str, problems: Problems, *, minimum: float = 0, required: bool = True, integer: bool = False
) -> float | None:
    value = f.props.get(field)
    if value is None:
        if required:
            problems.append(f.problem(field, "required"))
        return None
    if not is_number(value) or (integer and float(value) != int(value)):
        what = "a whole number" if integer else "a number"
        problems.append(f.problem(field, f"must be {what}, got {show(value)}"))
        return None
    if value < minimum:
        problems.append(f.problem(field, f"{show(value)} must be at least {minimum:g}"))
        return None
    return float(value)


def text_list(f: Feature, field: str, problems: Problems, seen: dict[str, int] | None = None) -> list[str]:
    value = f.props.get(field)
    if value is None:
        problems.append(f.problem(field, "required (a list, may be empty)"))
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f.problem(field, f"must be a list of texts, got {show(value)}"))
        return []
    if seen is not None:
        for item in value:
            if item in seen and seen[item] != f.number:
                problems.append(f.problem(field, f"{item} is already used by feature #{seen[item]}"))
            seen.setdefault(item, f.number)
    return value


def check_length(f: Feature, geom: BaseGeometry | None, problems: Problems) -> None:
    length = count_of(f, "length_km", problems, required=False)
    if length is None or geom is None:
        return
    drawn = km_length(geom)
    if abs(length - drawn) > LENGTH_TOLERANCE * max(drawn, 0.1):
        problems.append(f.problem("length_km", f"{show(length)} km but the line is {drawn:.2f} km long"))
