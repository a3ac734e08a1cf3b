"""The sample's layers that hang off towns and stations: county, water, coast, villages, shelters, cameras.

They come from a second random stream, so that adding a layer never moves a station; they are drawn
after the stations and keep their distance from them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, MultiLineString, MultiPoint, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, substring

from gis_data.sample.county import TOWNS, seat_km, to_km
from gis_data.sample.output import feature, to_output
from gis_data.sample.placement import Placer, apportion
from gis_data.sample.stations import EDGE_KM, SampleBuilder

LAYER_STREAM = 1  # the second stream: numpy.random.default_rng([seed, LAYER_STREAM])
VILLAGE_COUNT = 120
RIVER_STATION_KM = 1.0  # a river station this close to a river's line is "on" it
WATERLOGGING_NAMES = (
    "丹河路与靖南大街交叉口", "天安路下穿通道", "象山港路与新华路交叉口", "丹峰路农贸市场",
    "来薰路与建设路交叉口", "东谷湖隧道口", "靖南大街汽车站路段", "丹阳路与丹河路口", "新丰路低洼段",
    "县人民医院急诊通道", "白鹤路与天安路交叉口", "石碶头小区", "城东农贸市场地下车库",
)  # fmt: skip
COUNTY_SEAT_TOWNS = ("330225001", "330225002")  # 丹城: 丹西 and 丹东 街道
DESIGN_STANDARDS = ("20年一遇", "50年一遇", "100年一遇")


class LayerBuilder:
    """The layers that hang off towns and stations: built from a ``SampleBuilder`` whose stations exist."""

    def __init__(self, base: SampleBuilder, station_features: list[dict[str, Any]], seed: int) -> None:
        self.base = base
        self.rng = np.random.default_rng([seed, LAYER_STREAM])
        self.stations = [
            {**f["properties"], "point": to_km(Point(f["geometry"]["coordinates"]))} for f in station_features
        ]
        self.placer = Placer(self.rng)
        self.placer.placed = list(base.placer.placed)  # keep clear of the stations
        self.lands = base.lands
        self.cells = base.cells
        self.rivers = list(dict.fromkeys(t.river for t in TOWNS))  # in town order
        self.village_points: list[dict[str, Any]] = []

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def towns_along(self, line: BaseGeometry, min_km: float = 0.1) -> list[str]:
        """Codes of the towns a line runs through (or along, for a coast line), in town order."""
        return [t.code for t in TOWNS if self.cells[t.code].buffer(0.05).intersection(line).length > min_km]

    def town_at(self, p: Point) -> str:
        return next(t.code for t in TOWNS if self.cells[t.code].contains(p))

    # -- county

    def county_features(self) -> list[dict[str, Any]]:
        boundary = shapely.union_all(self.lands)
        coast = MultiLineString([land.exterior for land in self.lands])
        return [
            feature(
                {"code": "330225", "name": "象山县", "kind": "boundary", "area_km2": round(boundary.area, 1)},
                shapely.orient_polygons(to_output(boundary)),
            ),
            feature(
                {
                    "code": "330225-coast",
                    "name": "象山县海岸线",
                    "kind": "coastline",
                    "length_km": round(coast.length, 1),
                },
                to_output(coast),
            ),
        ]

    # -- water: catchments, rivers, reservoirs

    def catchment_areas(self) -> dict[str, BaseGeometry]:
        """Voronoi cells of the river and reservoir stations, dissolved by river, per land mass."""
        gauges = [s for s in self.stations if s["kind"] in ("river", "reservoir")]
        parts: dict[str, list[BaseGeometry]] = {r: [] for r in self.rivers}
        for land in self.lands:
            here = [s for s in gauges if land.contains(s["point"])]
            if not here:  # no gauge on this land: it drains with the town whose seat is on it
                seat = next(t for t in TOWNS if land.contains(seat_km(t)))
                parts[seat.river].append(land)
                continue
            if len(here) == 1:
                parts[here[0]["river"]].append(land)
                continue
            regions = shapely.voronoi_polygons(MultiPoint([s["point"] for s in here]), extend_to=land)
            for region in regions.geoms:
                (owner,) = [s for s in here if region.contains(s["point"])]
                parts[owner["river"]].append(region.intersection(land))
        return {r: shapely.union_all(p) for r, p in parts.items() if p}

    def river_line(self, river: str) -> LineString:
        """From the gauge farthest from the sea, through the river's gauges, to the nearest shore."""
        mine = [s for s in self.stations if s.get("river") == river and s["kind"] in ("river", "reservoir")]
        coast = self.base.coast_all
        source = max(mine, key=lambda s: self.base.coast_km(s["point"]))
        left = [s for s in mine if s["kind"] == "river" and s is not source]
        path = [source["point"]]
        while left:  # nearest neighbour, downstream
            nxt = min(left, key=lambda s: s["point"].distance(path[-1]))
            left.remove(nxt)
            path.append(nxt["point"])
        path.append(nearest_points(coast, path[-1])[0])
        if len(path) == 2 and path[0].distance(path[1]) < 0.3:  # a gauge at the mouth: draw a short reach
            path.insert(0, Point(path[0].x + 0.8, path[0].y + 0.8))
        return LineString([(p.x, p.y) for p in path])

    def water_features(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(rivers, catchments)."""
        areas = self.catchment_areas()
        rivers, catchments = [], []
        for i, river in enumerate(self.rivers, start=1):
            line = self.river_line(river)
            area = areas[river]
            on_it = [
                s["code"]
                for s in self.stations
                if s["kind"] == "river" and s.get("river") == river and s["point"].distance(line) <= RIVER_STATION_KM
            ]
            basin = next(t.basin for t in TOWNS if t.river == river)
            code = f"HL{i:02d}"
            rivers.append(
                feature(
                    {
                        "code": code,
                        "name": river,
                        "catchment": f"LY{i:02d}",
                        "basin": basin,
                        "length_km": round(line.length, 2),
                        "catchment_km2": round(area.area, 1),
                        "towns": self.towns_along(line, 0.05),
                        "stations": on_it,
                    },
                    to_output(line),
                )
            )
            geom = shapely.orient_polygons(to_output(area))
            catchments.append(
                feature(
                    {
                        "code": f"LY{i:02d}",
                        "name": f"{river}流域",
                        "river": code,
                        "basin": basin,
                        "area_km2": round(area.area, 1),
                    },
                    geom,
                )
            )
        return rivers, catchments

    def reservoir_features(self) -> list[dict[str, Any]]:
        features = []
        for s in self.stations:
            if s["kind"] != "reservoir":
                continue
            dam: Point = s["point"]
            capacity = float(s["capacity_1e6m3"])
            depth = self.uniform(8.0, 14.0) + 3.0 * math.log1p(capacity)
            pool_km2 = capacity / depth  # 1e6 m³ / m = km²
            a = math.sqrt(pool_km2 / math.pi * 2.0)  # semi-axes a × a/2 give the pool's area
            shore = nearest_points(self.base.coast_all, dam)[0]
            dx, dy = dam.x - shore.x, dam.y - shore.y
            norm = math.hypot(dx, dy) or 1.0
            ux, uy = dx / norm, dy / norm  # uphill, away from the sea
            ellipse = shapely.affinity.scale(Point(0, 0).buffer(1.0, 6), a, a / 2)
            ellipse = shapely.affinity.rotate(ellipse, math.degrees(math.atan2(uy, ux)), origin=(0, 0))
            pool = shapely.affinity.translate(ellipse, dam.x + ux * a * 0.9, dam.y + uy * a * 0.9)
            pool = pool.intersection(self.cells[s["town"]].buffer(-0.02))
            spillway = float(s["spillway_crest"])
            crest = float(s["dam_crest"])
            bed = round(spillway - depth, 2)
            ref = s.get("ckflz") or crest  # 总库容 is the storage at the 校核 flood level
            exponent = 2.4
            normal = capacity / ((ref - bed) / (spillway - bed)) ** exponent
            levels = sorted({bed, *(round(bed + (crest - bed) * k / 8, 2) for k in range(1, 9)), round(spillway, 2)})
            curve = [[h, round(normal * ((h - bed) / (spillway - bed)) ** exponent, 4)] for h in levels]
            features.append(
                feature(
                    {
                        "code": s["code"],
                        "name": s["name"],
                        "station": s["code"],
                        "town": s["town"],
                        "capacity_1e6m3": capacity,
                        "spillway_crest": spillway,
                        "dam_crest": crest,
                        "normal_storage_1e6m3": round(normal, 4),
                        "pool_area_km2": round(pool.area, 3),
                        "storage_curve": curve,
                    },
                    shapely.orient_polygons(to_output(pool)),
                )
            )
        return features

    # -- coast

    def seawall_features(self) -> list[dict[str, Any]]:
        features = []
        for t in TOWNS:
            shore = self.base.coast_of(t.code)
            if shore.is_empty or shore.length <= 1.0:
                continue
            line = max(getattr(shore, "geoms", [shore]), key=lambda g: g.length)
            count = 1 + (line.length > 8.0) + (line.length > 20.0)
            slot = line.length / count
            crests = [
                s["seawall_crest"]
                for s in self.stations
                if s["kind"] == "tide" and s["town"] == t.code and s.get("seawall_crest")
            ]
            for k in range(count):
                length = min(self.uniform(1.5, 5.0), slot * 0.9)
                start = k * slot + self.uniform(0.0, slot - length)
                wall = substring(line, start, start + length)
                crest = (sum(crests) / len(crests) if crests else self.uniform(5.6, 7.2)) + self.uniform(-0.3, 0.3)
                standard = (
                    "50年一遇"
                    if t.kind == "街道" or t.code == "330225100"
                    else (DESIGN_STANDARDS[int(self.rng.integers(2))])
                )
                features.append(
                    feature(
                        {
                            "code": f"HT{self.base.index[t.code]:02d}{k + 1:02d}",
                            "name": f"{self.base.village()}海塘",
                            "crest_m": round(crest, 2),
                            "design_standard": standard,
                            "length_km": round(wall.length, 2),
                            "towns": self.towns_along(wall) or [t.code],
                        },
                        to_output(wall),
                    )
                )
        return features

    # -- people and places

    def village_features(self) -> list[dict[str, Any]]:
        area = {code: cell.area for code, cell in self.cells.items()}
        counts = apportion(VILLAGE_COUNT, area, minimum=4)
        features = []
        for t in TOWNS:
            for k in range(counts[t.code]):
                p = self.placer.in_area(self.cells[t.code].buffer(-EDGE_KM))
                code = f"{t.code}{200 + k + 1:03d}"
                population = int(round(math.exp(self.uniform(math.log(400), math.log(4200))), -1))
                coastal = self.base.coast_km(p) < 1.5
                boards = 1 + (population > 1500) + coastal
                speakers = 2 + population // 1000 + coastal
                props = {
                    "code": code,
                    "name": f"{self.base.village()}村",
                    "town": t.code,
                    "population": population,
                    "led_boards": [f"LED-{code}-{n}" for n in range(1, boards + 1)],
                    "speakers": [f"SPK-{code}-{n}" for n in range(1, speakers + 1)],
                }
                self.village_points.append({**props, "point": p})
                features.append(feature(props, to_output(p)))
        return features

    def shelter_features(self) -> list[dict[str, Any]]:
        features = []
        for t in TOWNS:
            cell = self.cells[t.code].buffer(-EDGE_KM)
            near_seat = cell.intersection(seat_km(t).buffer(1.5))
            p = self.placer.in_area(near_seat if near_seat.area > 0.05 else cell)
            n = self.base.index[t.code]
            features.append(
                feature(
                    {
                        "code": f"BZ{n:02d}01",
                        "name": f"{t.name}中心避灾安置点",
                        "town": t.code,
                        "village": None,
                        "level": "乡镇",
                        "capacity": int(round(self.uniform(300, 1500), -1)),
                    },
                    to_output(p),
                )
            )
            villages = sorted(
                (v for v in self.village_points if v["town"] == t.code), key=lambda v: (-v["population"], v["code"])
            )[:2]
            for k, v in enumerate(villages, start=2):
                near = cell.intersection(v["point"].buffer(0.4))
                spot = self.placer.in_area(near) if near.area > 0.01 else v["point"]
                features.append(
                    feature(
                        {
                            "code": f"BZ{n:02d}{k:02d}",
                            "name": f"{v['name']}文化礼堂避灾安置点",
                            "town": t.code,
                            "village": v["code"],
                            "level": "村",
                            "capacity": int(round(min(v["population"] * self.uniform(0.1, 0.25), 400), -1)) + 30,
                        },
                        to_output(spot),
                    )
                )
        return features

    def waterlogging_features(self) -> list[dict[str, Any]]:
        seat = shapely.union_all([seat_km(self.base.towns[c]).buffer(2.5) for c in COUNTY_SEAT_TOWNS])
        town = shapely.union_all([self.cells[c].buffer(-EDGE_KM) for c in COUNTY_SEAT_TOWNS])
        area = seat.intersection(town)
        features = []
        for i, name in enumerate(WATERLOGGING_NAMES, start=1):
            p = self.placer.in_area(area)
            features.append(
                feature(
                    {
                        "code": f"YL{i:02d}",
                        "name": name,
                        "town": self.town_at(p),
                        "threshold_mm_h": int(round(self.uniform(25, 55) / 5) * 5),
                    },
                    to_output(p),
                )
            )
        return features

    def camera_features(self) -> list[dict[str, Any]]:
        features = []
        for s in self.stations:
            if s["kind"] != "camera":
                continue
            features.append(
                feature(
                    {
                        "code": f"CAM-{s['code']}",
                        "camera": "CAM01",
                        "station": s["code"],
                        "name": s["name"],
                        "town": s["town"],
                        "target": s.get("target"),
                        "snapshot_url": f"http://127.0.0.1/cameras/{s['code']}/CAM01.jpg",
                    },
                    to_output(s["point"]),
                )
            )
        return features
