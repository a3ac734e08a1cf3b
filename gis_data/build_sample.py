"""Generate the SCHEMATIC sample layers of Xiangshan county (象山县): towns and stations.

    python -m gis_data.build_sample [OUT_DIR]      # default: the gis_data package folder

writes ``towns.geojson`` and ``stations.geojson`` (EPSG:4326). The checked-in copies are the output
of this script; ``tests/gis_data`` regenerates them and compares bytes, so edit this file and rerun
it rather than editing the GeoJSON by hand.

What is real and what is not:

* The 18 town-level divisions, their Chinese names and kinds are real. Their seats are approximate
  (from general knowledge, good to a few km). Codes follow the statistical-division pattern
  330225 + 001… for 街道, 100… for 镇, 200… for 乡; check them against the county's own list.
* Boundaries are NOT real: a hand-drawn outline of the peninsula plus 南田岛 and 高塘岛, split into
  Voronoi cells around the seats. Good enough to put stations on a map for drills, nothing more.
* Station names of seven reservoirs (岩头陈, 燕山, 兴坑, 塘岙, 南盘, 大斜桥, 上张) are real; their
  positions, and every other station, name and number, are invented but of realistic size
  (thresholds in metres, 1985 national height datum).

The county replaces all of this with its own data through ``floodctl gis load PATH``.

Determinism: one numpy Generator with a fixed seed, consumed in a fixed order, and coordinates
snapped to a 1e-6 degree grid (~0.1 m), so two runs give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

SEED = 330225  # any fixed value works; changing it reshuffles every station
OUT_DIR = Path(__file__).parent

# Geometry is built in a local plane in kilometres (equirectangular around the county), so that
# Voronoi cells, buffers and spacing mean the same distance east-west as north-south.
LON0, LAT0 = 121.85, 29.35
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(LAT0))
GRID_DEG = 1e-6  # output precision, ~0.1 m


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    name_en: str
    kind: str  # 街道 / 镇 / 乡
    short: str  # name used in station names: 高塘 rather than 高塘岛乡
    lon: float  # approximate seat
    lat: float
    river: str  # stream that river stations and reservoirs of the town sit on
    basin: str  # sea area its water drains to


# Basins: the north drains to 象山港, the east coast to 大目洋, the south-west to 三门湾 and the
# southern tip and islands to 石浦港.
TOWNS: tuple[Town, ...] = (
    Town("330225001", "丹西街道", "Danxi", "街道", "丹西", 121.855, 29.478, "西溪", "大目洋"),
    Town("330225002", "丹东街道", "Dandong", "街道", "丹东", 121.895, 29.470, "东溪", "大目洋"),
    Town("330225003", "爵溪街道", "Juexi", "街道", "爵溪", 121.960, 29.462, "爵溪", "大目洋"),
    Town("330225100", "石浦镇", "Shipu", "镇", "石浦", 121.950, 29.205, "昌国溪", "石浦港"),
    Town("330225101", "西周镇", "Xizhou", "镇", "西周", 121.705, 29.470, "西周溪", "象山港"),
    Town("330225102", "鹤浦镇", "Hepu", "镇", "鹤浦", 122.000, 29.120, "南田溪", "石浦港"),
    Town("330225103", "贤庠镇", "Xianxiang", "镇", "贤庠", 121.840, 29.575, "贤庠溪", "象山港"),
    Town("330225104", "墙头镇", "Qiangtou", "镇", "墙头", 121.790, 29.525, "墙头溪", "象山港"),
    Town("330225105", "泗洲头镇", "Sizhoutou", "镇", "泗洲头", 121.800, 29.300, "大塘港", "三门湾"),
    Town("330225106", "定塘镇", "Dingtang", "镇", "定塘", 121.870, 29.285, "大塘港", "三门湾"),
    Town("330225107", "涂茨镇", "Tuci", "镇", "涂茨", 121.940, 29.545, "涂茨溪", "大目洋"),
    Town("330225108", "大徐镇", "Daxu", "镇", "大徐", 121.790, 29.440, "大徐溪", "象山港"),
    Town("330225109", "新桥镇", "Xinqiao", "镇", "新桥", 121.755, 29.360, "大塘港", "三门湾"),
    Town("330225200", "东陈乡", "Dongchen", "乡", "东陈", 121.940, 29.370, "东陈溪", "大目洋"),
    Town("330225201", "晓塘乡", "Xiaotang", "乡", "晓塘", 121.870, 29.350, "晓塘溪", "三门湾"),
    Town("330225202", "黄避岙乡", "Huangbi'ao", "乡", "黄避岙", 121.740, 29.555, "黄避岙溪", "象山港"),
    Town("330225203", "茅洋乡", "Maoyang", "乡", "茅洋", 121.820, 29.395, "茅洋溪", "三门湾"),
    Town("330225204", "高塘岛乡", "Gaotangdao", "乡", "高塘", 121.890, 29.080, "高塘溪", "石浦港"),
)

# Rough outline (lon, lat), clockwise from the Ninghai border on 象山港. Schematic: bays and the
# many small islands are left out; only the two island townships get an island.
MAINLAND = (
    (121.655, 29.492), (121.690, 29.508), (121.712, 29.540), (121.728, 29.575),
    (121.752, 29.585), (121.770, 29.568), (121.778, 29.552), (121.795, 29.566),
    (121.812, 29.592), (121.838, 29.612), (121.868, 29.606), (121.900, 29.596),
    (121.930, 29.582), (121.962, 29.566), (121.985, 29.540), (121.982, 29.505),
    (121.992, 29.470), (121.978, 29.440), (121.962, 29.415), (121.972, 29.388),
    (121.968, 29.352), (121.958, 29.322), (121.978, 29.290), (121.990, 29.252),
    (122.003, 29.218), (121.985, 29.183), (121.952, 29.176), (121.915, 29.182),
    (121.885, 29.200), (121.858, 29.228), (121.825, 29.248), (121.790, 29.262),
    (121.752, 29.282), (121.712, 29.306), (121.702, 29.350), (121.690, 29.395),
    (121.672, 29.430), (121.660, 29.462),
)  # fmt: skip
NANTIAN = (  # 南田岛, 鹤浦镇
    (121.962, 29.160), (122.010, 29.164), (122.048, 29.142), (122.070, 29.102),
    (122.042, 29.062), (121.992, 29.058), (121.962, 29.088), (121.952, 29.128),
)  # fmt: skip
GAOTANG = (  # 高塘岛, 高塘岛乡
    (121.870, 29.110), (121.918, 29.114), (121.935, 29.090), (121.921, 29.056),
    (121.880, 29.050), (121.860, 29.072),
)  # fmt: skip

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

MIN_SPACING_KM = 0.6  # keeps markers apart on the map
EDGE_KM = 0.15  # stations stay this far inside their town, so rounding never moves them out
MISSING_SHARE = 0.05  # real registries have gaps; so does the sample


# --- geometry helpers -------------------------------------------------------------------------


def to_km(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: (xy - (LON0, LAT0)) * (KM_PER_DEG_LON, KM_PER_DEG_LAT))


def to_deg(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: xy / (KM_PER_DEG_LON, KM_PER_DEG_LAT) + (LON0, LAT0))


def land_masses() -> list[Polygon]:
    """The county as separate land masses, in km."""
    return [to_km(Polygon(ring)) for ring in (MAINLAND, NANTIAN, GAOTANG)]


def seat_km(town: Town) -> Point:
    return to_km(Point(town.lon, town.lat))


def town_cells(lands: list[Polygon]) -> dict[str, BaseGeometry]:
    """Voronoi cell of each seat, computed per land mass and clipped to it (km).

    Per land mass, so that an island goes wholly to the town whose seat is on it rather than being
    split by a Voronoi edge drawn across the water.
    """
    cells: dict[str, BaseGeometry] = {}
    for land in lands:
        seats = [t for t in TOWNS if land.contains(seat_km(t))]
        if len(seats) == 1:
            cells[seats[0].code] = land
            continue
        regions = shapely.voronoi_polygons(MultiPoint([seat_km(t) for t in seats]), extend_to=land)
        for region in regions.geoms:
            # Match by containment: the order of the regions is not the order of the seats.
            (seat,) = [t for t in seats if region.contains(seat_km(t))]
            cells[seat.code] = region.intersection(land)
    missing = [t.name for t in TOWNS if t.code not in cells]
    assert not missing, f"seats outside every land mass: {missing}"
    return cells


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    return list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]


# --- station placement ------------------------------------------------------------------------


class Placer:
    """Random points inside an area, kept apart from every point placed before."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.placed: list[Point] = []

    def _far_enough(self, p: Point, spacing: float) -> bool:
        return all(p.distance(q) >= spacing for q in self.placed)

    def in_area(self, area: BaseGeometry) -> Point:
        minx, miny, maxx, maxy = area.bounds
        spacing = MIN_SPACING_KM
        while True:  # relax the spacing if a small area is already crowded
            for _ in range(400):
                x, y = self.rng.uniform((minx, miny), (maxx, maxy))
                p = Point(x, y)
                if area.contains(p) and self._far_enough(p, spacing):
                    self.placed.append(p)
                    return p
            spacing /= 2
            assert spacing > 0.01, "area too small to place a station"

    def on_line(self, line: BaseGeometry, inner: BaseGeometry) -> Point:
        """A point near a random spot of ``line``, pulled just inside ``inner``."""
        spacing = MIN_SPACING_KM
        while True:
            for _ in range(400):
                spot = line.interpolate(self.rng.uniform(0, line.length))
                p = nearest_points(inner, spot)[0]
                if self._far_enough(p, spacing):
                    self.placed.append(p)
                    return p
            spacing /= 2
            assert spacing > 0.01, "coast too short to place a station"


def apportion(total: int, weights: dict[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over towns: ``minimum`` each, the rest by weight (largest remainder)."""
    counts = {code: minimum for code in weights}
    rest = total - minimum * len(weights)
    assert rest >= 0
    weight_sum = sum(weights.values())
    shares = {code: rest * w / weight_sum for code, w in weights.items()}
    for code, share in shares.items():
        counts[code] += int(share)
    left = total - sum(counts.values())
    # Ties broken by code so that the result never depends on dict order.
    by_remainder = sorted(shares, key=lambda c: (-(shares[c] - int(shares[c])), c))
    for code in by_remainder[:left]:
        counts[code] += 1
    return counts


# --- the generator ----------------------------------------------------------------------------


class SampleBuilder:
    """Builds both layers from one random stream; call each ``*_features`` method once."""

    def __init__(self, seed: int = SEED) -> None:
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
        return p.distance(self.coast_all)

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
        return [
            (kind, t.code) for kind in KIND_COUNTS for t in TOWNS for _ in range(counts[kind].get(t.code, 0))
        ]

    def stations(self) -> list[dict[str, Any]]:
        real: dict[str, list[tuple[str, float]]] = {town: [] for town in self.cells}
        for name, town, capacity in REAL_RESERVOIRS:
            real[town].append((name, capacity))
        made: list[dict[str, Any]] = []
        for kind, code in self.station_plan():
            town = self.towns[code]
            if kind == "river":
                attrs = self.river(town)
            elif kind == "reservoir":
                name, capacity = real[code].pop(0) if real[code] else (None, None)
                attrs = self.reservoir(town, name, capacity)
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


def geometry_json(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON geometry with coordinates rounded to the output grid (clean decimal repr)."""

    def coords(seq: Any) -> list[list[float]]:
        return [[round(x, 6), round(y, 6)] for x, y in seq]

    if isinstance(geom, Point):
        return {"type": "Point", "coordinates": coords(geom.coords)[0]}
    polygons = [
        [coords(p.exterior.coords)] + [coords(r.coords) for r in p.interiors] for p in polygon_parts(geom)
    ]
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def write_collection(path: Path, header: dict[str, Any], features: list[dict[str, Any]]) -> None:
    """Write a FeatureCollection with one feature per line: readable, and diffs stay small."""
    lines = ["{", '"type": "FeatureCollection",']
    lines += [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in header.items()]
    lines.append('"features": [')
    body = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    lines.append(",\n".join(body))
    lines += ["]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


DISCLAIMER = (
    "SCHEMATIC data for drills and demonstrations only, not survey data: {what}. "
    "Replace it with the county's own layer: floodctl gis load PATH. "
    "示意数据，仅供演练使用，请以本县实际数据替换。"
)


def build(out_dir: Path = OUT_DIR, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``towns.geojson`` and ``stations.geojson`` into ``out_dir``; return their paths."""
    builder = SampleBuilder(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    towns_path = out_dir / "towns.geojson"
    stations_path = out_dir / "stations.geojson"
    write_collection(
        towns_path,
        {
            "name": "象山县乡镇（街道）区划 — 示意 / Xiangshan county towns (schematic)",
            "description": DISCLAIMER.format(
                what="the 18 real town-level divisions with approximate seats; boundaries are "
                "Voronoi cells around the seats clipped to a rough county outline"
            ),
        },
        builder.town_features(),
    )
    write_collection(
        stations_path,
        {
            "name": "象山县水雨情监测站点 — 示意 / Xiangshan county stations (schematic)",
            "description": DISCLAIMER.format(
                what="invented stations (a few real reservoir names) with realistic thresholds in "
                "metres, 1985 national height datum"
            ),
        },
        builder.station_features(),
    )
    return towns_path, stations_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    for path in build(args.out_dir):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
