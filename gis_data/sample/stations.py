"""The sample's stations (and the towns layer they sit in): kinds, counts, names and realistic thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gis_data.sample.county import GRID_DEG, TOWNS, Town, land_masses, seat_km, to_deg, town_cells
from gis_data.sample.output import geometry_json
from gis_data.sample.placement import Placer, apportion

# Station counts per kind: about the size and mix of a county monitoring network.
KIND_COUNTS = {"river": 30, "reservoir": 25, "tide": 20, "rain": 55, "weather": 12, "camera": 20}
# Third digit of the 8-digit code: 70 K TT NNN = region 70, kind K, town index TT, sequence NNN.
KIND_DIGIT = {"river": 1, "reservoir": 2, "tide": 3, "rain": 4, "weather": 5, "camera": 6}
# Property order in the output: identity first, thresholds and extras after.
HEAD_FIELDS = ("code", "name", "kind", "town", "river", "basin", "elevation_m")
ADMIN_UNIT = {
    "river": "象山县水利局",
    "reservoir": "象山县水利局",
    "tide": "象山县水利局",
    "rain": "象山县水利局",
    "weather": "象山县气象局",
    "camera": "象山县水利局",
}
# Real reservoir names, placed in plausible towns with plausible sizes (capacity in 1e6 m³).
REAL_RESERVOIRS = (
    ("燕山水库", "330225001", 6.2),
    ("岩头陈水库", "330225108", 4.8),
    ("兴坑水库", "330225104", 2.9),
    ("塘岙水库", "330225101", 3.6),
    ("南盘水库", "330225109", 2.3),
    ("大斜桥水库", "330225203", 5.4),
    ("上张水库", "330225202", 1.7),
)
# The county's national weather station stands at the county seat.
NATIONAL_WEATHER_TOWN = "330225001"
# Invented village names: prefix × suffix, plus a few whole names. Drawn without replacement, so
# station names never repeat.
_PREFIXES = "上下东西南北前后里外大小新黄石沙竹松桃梅青白龙马金杨柳樟"
_SUFFIXES = "岙洋塘坑湾浦岭桥田埠山"
_SURNAMES = "王陈林张李周蒋钱胡吴郑叶"
_EXTRA_VILLAGES = ("塘头", "溪头", "岭头", "桥头", "埠头", "岙头", "湾头", "溪口", "港口", "闸口")
EDGE_KM = 0.15  # stations stay this far inside their town, so rounding never moves them out
MISSING_SHARE = 0.05  # real registries have gaps; so does the sample


class SampleBuilder:
    """Builds both layers from one random stream; call each ``*_features`` method once."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.lands = land_masses()
        self.cells = town_cells(self.lands)
        self.towns = {t.code: t for t in TOWNS}
        self.index = {t.code: i + 1 for i, t in enumerate(TOWNS)}
        self.coast_all = shapely.union_all([land.exterior for land in self.lands])
        self.placer = Placer(self.rng)
        self.villages = self._village_pool()
        self.sequence: dict[tuple[str, str], int] = {}

    # -- helpers

    def _village_pool(self) -> list[str]:
        names = [p + s for p in _PREFIXES for s in _SUFFIXES]
        names += [n + "家" + s for n in _SURNAMES for s in "岙岭山塘洋埠"]
        names += list(_EXTRA_VILLAGES)
        taken = {t.short for t in TOWNS} | {t.river for t in TOWNS}
        names = [n for n in names if n not in taken]
        return [names[i] for i in self.rng.permutation(len(names))]

    def village(self) -> str:
        return self.villages.pop()

    def code(self, kind: str, town: str) -> str:
        key = (kind, town)
        self.sequence[key] = self.sequence.get(key, 0) + 1
        return f"70{KIND_DIGIT[kind]}{self.index[town]:02d}{self.sequence[key]:03d}"

    def coast_of(self, town: str) -> BaseGeometry:
        """The part of the town's boundary that is sea shore (km)."""
        shore = self.cells[town].boundary.intersection(self.coast_all.buffer(1e-6))
        return shapely.line_merge(shore) if not shore.is_empty else shore

    def coast_km(self, p: Point) -> float:
        return float(p.distance(self.coast_all))

    def inland(self, town: str, km: float) -> BaseGeometry:
        """The town's area at least ``km`` from the sea and ``EDGE_KM`` from its border."""
        cell = self.cells[town]
        area = cell.buffer(-EDGE_KM).difference(self.coast_all.buffer(km))
        return area if area.area > 0.3 else cell.buffer(-EDGE_KM)

    def terrain_m(self, p: Point, relief: float = 380.0) -> float:
        """Schematic ground height: a coastal plain a few metres high, hills a few km inland."""
        rise = (1.0 - math.exp(-self.coast_km(p) / 5.0)) ** 2
        return 2.2 + relief * rise * (0.7 + 0.6 * self.rng.random())

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    # -- per kind

    def river(self, town: Town) -> dict[str, Any]:
        p = self.placer.in_area(self.inland(town.code, 0.4))
        bank = self.terrain_m(p, relief=35.0)  # gauges sit on valley floors, not on the hills
        wrz = max(bank - self.uniform(1.0, 1.8), 1.6)
        grz = wrz + self.uniform(0.5, 1.1)
        if ("river", town.code) in self.sequence:
            name = f"{town.river}{self.village()}水位站"
        elif town.river == town.short:  # 爵溪: "爵溪水位站", not "爵溪爵溪水位站"
            name = f"{town.river}水位站"
        else:
            name = f"{town.river}{town.short}水位站"  # 大徐溪大徐水位站
        return {
            "point": p,
            "name": name,
            "river": town.river,
            "basin": town.basin,
            "elevation_m": round(bank, 2),
            "wrz": round(wrz, 2),
            "grz": round(grz, 2),
        }

    def reservoir(self, town: Town, name: str | None, capacity: float | None) -> dict[str, Any]:
        island = not self.lands[0].contains(seat_km(town))  # lands[0] is the mainland
        p = self.placer.in_area(self.inland(town.code, 0.7 if island else 1.5))
        spillway = self.terrain_m(p) + self.uniform(5.0, 25.0)
        gated = self.rng.random() < 0.3
        # An ungated spillway holds the 梅汛 limit at its crest; gates allow pre-release below it.
        meiyu = spillway - (self.uniform(0.3, 1.5) if gated else 0.0)
        typhoon = meiyu - self.uniform(0.0, 1.5)  # 台汛 limit is never above 梅汛
        dsflz = spillway + self.uniform(1.0, 2.5)
        ckflz = dsflz + self.uniform(0.2, 0.9)
        dam = ckflz + self.uniform(0.5, 1.5)
        if capacity is None:
            # Mostly 小(二)型 / 小(一)型, occasionally a larger one.
            capacity = float(np.exp(self.rng.uniform(math.log(0.12), math.log(8.0))))
        return {
            "point": p,
            "name": name or f"{self.village()}水库",
            "river": town.river,
            "basin": town.basin,
            "elevation_m": round(dam, 2),
            "fsltdz_meiyu": round(meiyu, 2),
            "fsltdz_typhoon": round(typhoon, 2),
            "dsflz": round(dsflz, 2),
            "ckflz": round(ckflz, 2),
            "dam_crest": round(dam, 2),
            "capacity_1e6m3": round(capacity, 3),
            "spillway_crest": round(spillway, 2),
        }

    def tide(self, town: Town) -> dict[str, Any]:
        inner = self.cells[town.code].buffer(-EDGE_KM - 0.05)
        p = self.placer.on_line(self.coast_of(town.code), inner)
        # The south (三门湾, 石浦港) has the larger tidal range, hence higher warning levels.
        south = 0.25 if town.basin in ("三门湾", "石浦港") else 0.0
        blue = self.uniform(2.6, 2.75) + south * self.rng.random()
        yellow = blue + self.uniform(0.3, 0.4)
        orange = yellow + self.uniform(0.3, 0.4)
        red = orange + self.uniform(0.25, 0.35)
        crest = red + self.uniform(1.0, 2.2)
        first = ("tide", town.code) not in self.sequence
        name = f"{town.short}潮位站" if first else f"{self.village()}海塘潮位站"
        return {
            "point": p,
            "name": name,
            "basin": town.basin,
            "elevation_m": round(crest, 2),
            "tide_blue": round(blue, 2),
            "tide_yellow": round(yellow, 2),
            "tide_orange": round(orange, 2),
            "tide_red": round(red, 2),
            "seawall_crest": round(crest, 2),
        }

    def rain(self, town: Town) -> dict[str, Any]:
        p = self.placer.in_area(self.cells[town.code].buffer(-EDGE_KM))
        first = ("rain", town.code) not in self.sequence
        place = town.short if first else self.village()
        return {
            "point": p,
            "name": f"{place}雨量站",
            "basin": town.basin,
            "elevation_m": round(self.terrain_m(p), 1),
        }

    def weather(self, town: Town) -> dict[str, Any]:
        p = self.placer.in_area(self.cells[town.code].buffer(-EDGE_KM))
        if town.code == NATIONAL_WEATHER_TOWN and ("weather", town.code) not in self.sequence:
            name = "象山国家基本气象站"
        else:
            name = f"{self.village()}自动气象站"
        return {
            "point": p,
            "name": name,
            "basin": town.basin,
            "elevation_m": round(self.terrain_m(p), 1),
        }

    def camera(self, town: Town, reservoirs: list[dict[str, Any]]) -> dict[str, Any]:
        p = self.placer.in_area(self.cells[town.code].buffer(-EDGE_KM))
        # What a camera watches follows from where it stands.
        dam = next((r for r in reservoirs if r["point"].distance(p) < 2.0), None)
        if self.coast_km(p) < 0.8:
            fishing = town.basin == "石浦港"
            target = "渔港" if fishing and self.rng.random() < 0.5 else "海塘"
            name = f"{self.village()}{target}视频监控"
        elif dam is not None:
            target = "水库大坝"
            name = f"{dam['name']}大坝视频监控"
        else:
            target = "河道" if self.rng.random() < 0.6 else "易涝点"
            name = f"{self.village()}{target}视频监控"
        return {
            "point": p,
            "name": name,
            "basin": town.basin,
            "elevation_m": round(self.terrain_m(p), 1),
            "target": target,
        }

    # -- assembling

    def station_plan(self) -> list[tuple[str, str]]:
        """(kind, town code) for every station, in generation order."""
        area = {code: cell.area for code, cell in self.cells.items()}
        hills = {code: self.inland(code, 1.0).area for code in self.cells}
        coast = {code: self.coast_of(code).length for code in self.cells}
        coastal = {code: length for code, length in coast.items() if length > 1.0}
        pinned_reservoirs: dict[str, int] = {}
        for _, town, _ in REAL_RESERVOIRS:
            pinned_reservoirs[town] = pinned_reservoirs.get(town, 0) + 1
        pinned = {"reservoir": pinned_reservoirs, "weather": {NATIONAL_WEATHER_TOWN: 1}}
        spread = {
            "river": apportion(KIND_COUNTS["river"], area, minimum=1),
            "reservoir": apportion(KIND_COUNTS["reservoir"] - len(REAL_RESERVOIRS), hills),
            "tide": apportion(KIND_COUNTS["tide"], coastal, minimum=1),
            "rain": apportion(KIND_COUNTS["rain"], area, minimum=2),
            "weather": apportion(KIND_COUNTS["weather"] - 1, area),
            "camera": apportion(KIND_COUNTS["camera"], area),
        }
        counts = {
            kind: {code: spread[kind].get(code, 0) + pinned.get(kind, {}).get(code, 0) for code in self.cells}
            for kind in KIND_COUNTS
        }
        return [(kind, t.code) for kind in KIND_COUNTS for t in TOWNS for _ in range(counts[kind].get(t.code, 0))]

    def stations(self) -> list[dict[str, Any]]:
        real: dict[str, list[tuple[str, float]]] = {code: [] for code in self.cells}
        for reservoir_name, reservoir_town, reservoir_capacity in REAL_RESERVOIRS:
            real[reservoir_town].append((reservoir_name, reservoir_capacity))
        made: list[dict[str, Any]] = []
        for kind, code in self.station_plan():
            town = self.towns[code]
            if kind == "river":
                attrs = self.river(town)
            elif kind == "reservoir":
                pinned: tuple[str | None, float | None] = real[code].pop(0) if real[code] else (None, None)
                attrs = self.reservoir(town, *pinned)
            elif kind == "tide":
                attrs = self.tide(town)
            elif kind == "rain":
                attrs = self.rain(town)
            elif kind == "weather":
                attrs = self.weather(town)
            else:
                dams = [s for s in made if s["kind"] == "reservoir" and s["town"] == code]
                attrs = self.camera(town, dams)
            made.append({"code": self.code(kind, code), "kind": kind, "town": code, **attrs})
        self._punch_gaps(made)
        return made

    def _punch_gaps(self, stations: list[dict[str, Any]]) -> None:
        """Leave a threshold out on ~5 % of the stations, as null or as a missing key."""
        droppable = {
            "river": ("grz", "wrz"),
            "reservoir": ("fsltdz_typhoon", "ckflz", "dsflz"),
            "tide": ("tide_blue", "seawall_crest"),
        }
        candidates = [i for i, s in enumerate(stations) if s["kind"] in droppable]
        n = round(MISSING_SHARE * len(stations))
        for k, i in enumerate(sorted(self.rng.choice(candidates, size=n, replace=False))):
            fields = droppable[stations[i]["kind"]]
            field = fields[int(self.rng.integers(len(fields)))]
            if k % 2:
                del stations[i][field]
            else:
                stations[i][field] = None

    def town_features(self) -> list[dict[str, Any]]:
        features = []
        for t in TOWNS:
            geom = shapely.set_precision(to_deg(self.cells[t.code]), GRID_DEG)
            geom = shapely.orient_polygons(geom)  # RFC 7946: exterior rings counter-clockwise
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "code": t.code,
                        "name": t.name,
                        "name_en": t.name_en,
                        "kind": t.kind,
                        "seat_lon": t.lon,
                        "seat_lat": t.lat,
                    },
                    "geometry": geometry_json(geom),
                }
            )
        return features

    def station_features(self) -> list[dict[str, Any]]:
        features = []
        for s in self.stations():
            point = shapely.set_precision(to_deg(s.pop("point")), GRID_DEG)
            head = {key: s.pop(key) for key in HEAD_FIELDS if key in s}
            head["admin_unit"] = ADMIN_UNIT[head["kind"]]
            features.append(
                {
                    "type": "Feature",
                    "properties": {**head, **s},
                    "geometry": geometry_json(point),
                }
            )
        return features
