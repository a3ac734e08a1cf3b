"""Which towns a station's situation concerns, from the county's layers (towns, catchments)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from alerts.rules import Station
from floodctl.domain.geodesy import KM_PER_DEGREE

NEAR_COAST_KM = 5.0
TOWNS = "SELECT code, geometry FROM towns WHERE geometry IS NOT NULL"
CATCHMENTS = "SELECT geojson FROM layers WHERE name = 'catchments'"


class Geography:
    """Which towns a station's situation concerns: its own town, the towns of its catchment, and for
    tide stations the towns within NEAR_COAST_KM of it."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.codes: list[str] = []
        shapes = []
        for code, geometry in conn.execute(TOWNS):
            self.codes.append(code)
            shapes.append(shape(geometry))
        self.town_shapes = shapes
        self.tree = STRtree(shapes) if shapes else None
        row = conn.execute(CATCHMENTS).fetchone()
        self.catchments = [
            shape(f["geometry"]) for f in (row[0].get("features", []) if row else []) if f.get("geometry")
        ]
        self._cache: dict[str, list[str]] = {}

    def affected(self, station: Station, lon: float, lat: float) -> list[str]:
        if station.code in self._cache:
            return self._cache[station.code]
        towns = [station.town] if station.town else []
        if self.tree is not None:
            point = Point(lon, lat)
            areas = [c for c in self.catchments if c.contains(point)]
            if station.kind == "tide":
                areas.append(point.buffer(NEAR_COAST_KM / KM_PER_DEGREE))
            for area in areas:
                for index in self.tree.query(area, predicate="intersects"):
                    code = self.codes[int(index)]
                    if code not in towns and self.town_shapes[int(index)].intersection(area).area > 1e-6:
                        towns.append(code)
        self._cache[station.code] = towns
        return towns


@dataclass(frozen=True, slots=True)
class Subject:
    """What a decision is about, as a warning and an order need it."""

    kind: str  # station | area
    town: str | None
    name: str
    towns: Callable[[], list[str]]  # the towns an order about it goes to (computed when needed)
