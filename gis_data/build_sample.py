"""Generate the SCHEMATIC sample layers of Xiangshan county (象山县): towns, stations and the rest.

    python -m gis_data.build_sample [OUT_DIR]      # default: the gis_data package folder

writes ``towns.geojson`` and ``stations.geojson`` (EPSG:4326), and from a second random stream (so
stations never move) ``county``, ``catchments``, ``rivers``, ``reservoirs``, ``seawalls``,
``villages``, ``shelters``, ``waterlogging``, ``cameras`` (.geojson) and ``roster.json``. Each file's
``description`` says what it is made from; all of it is schematic, the roster's people are invented
and its phone numbers lie in 1390000XXXX, a range this project declares fictional. The checked-in copies are the output
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
import shapely.affinity
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, substring

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
    if isinstance(geom, LineString):
        return {"type": "LineString", "coordinates": coords(geom.coords)}
    if isinstance(geom, MultiLineString):
        return {"type": "MultiLineString", "coordinates": [coords(part.coords) for part in geom.geoms]}
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


# --- the other layers -------------------------------------------------------------------------

# Villages, shelters and the rest come from a second random stream, so that adding a layer never
# moves a station; they are drawn after the stations and keep their distance from them.
LAYER_STREAM = 1
VILLAGE_COUNT = 120
RIVER_STATION_KM = 1.0  # a river station this close to a river's line is "on" it
WATERLOGGING_NAMES = (
    "丹河路与靖南大街交叉口", "天安路下穿通道", "象山港路与新华路交叉口", "丹峰路农贸市场",
    "来薰路与建设路交叉口", "东谷湖隧道口", "靖南大街汽车站路段", "丹阳路与丹河路口", "新丰路低洼段",
    "县人民医院急诊通道", "白鹤路与天安路交叉口", "石碶头小区", "城东农贸市场地下车库",
)  # fmt: skip
COUNTY_SEAT_TOWNS = ("330225001", "330225002")  # 丹城: 丹西 and 丹东 街道
# Synthetic people: common surnames and given-name characters, combined at random.
_FAMILY = "王陈林张李周蒋钱胡吴郑叶史俞朱徐杨黄"
_GIVEN = "建国海军志强伟明华平丽芳敏静军勇磊洋斌杰涛超红霞燕"
# Phone numbers of the sample roster: 1390000 + 4 digits, a range this project declares fictional.
FICTIONAL_PHONE_PREFIX = "1390000"
ROLE_TITLES = {
    "primary": {"街道": "街道办事处主任", "镇": "镇长", "乡": "乡长"},
    "deputy": {"街道": "分管副主任", "镇": "分管副镇长", "乡": "分管副乡长"},
    "superior": {"街道": "联系县领导", "镇": "联系县领导", "乡": "联系县领导"},
}
DESIGN_STANDARDS = ("20年一遇", "50年一遇", "100年一遇")


def _to_output(geom: BaseGeometry) -> BaseGeometry:
    """km plane → lon/lat on the output grid."""
    return shapely.set_precision(to_deg(geom), GRID_DEG)


def _feature(props: dict[str, Any], geom: BaseGeometry) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry_json(geom)}


class LayerBuilder:
    """The layers that hang off towns and stations: built from a ``SampleBuilder`` whose stations exist."""

    def __init__(self, base: SampleBuilder, station_features: list[dict[str, Any]], seed: int = SEED) -> None:
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
            _feature({"code": "330225", "name": "象山县", "kind": "boundary",
                      "area_km2": round(boundary.area, 1)}, shapely.orient_polygons(_to_output(boundary))),
            _feature({"code": "330225-coast", "name": "象山县海岸线", "kind": "coastline",
                      "length_km": round(coast.length, 1)}, _to_output(coast)),
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
                s["code"] for s in self.stations
                if s["kind"] == "river" and s.get("river") == river
                and s["point"].distance(line) <= RIVER_STATION_KM
            ]
            basin = next(t.basin for t in TOWNS if t.river == river)
            code = f"HL{i:02d}"
            rivers.append(_feature({
                "code": code, "name": river, "catchment": f"LY{i:02d}", "basin": basin,
                "length_km": round(line.length, 2), "catchment_km2": round(area.area, 1),
                "towns": self.towns_along(line, 0.05), "stations": on_it,
            }, _to_output(line)))
            geom = shapely.orient_polygons(_to_output(area))
            catchments.append(_feature({
                "code": f"LY{i:02d}", "name": f"{river}流域", "river": code, "basin": basin,
                "area_km2": round(area.area, 1),
            }, geom))
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
            features.append(_feature({
                "code": s["code"], "name": s["name"], "station": s["code"], "town": s["town"],
                "capacity_1e6m3": capacity, "spillway_crest": spillway, "dam_crest": crest,
                "normal_storage_1e6m3": round(normal, 4), "pool_area_km2": round(pool.area, 3),
                "storage_curve": curve,
            }, shapely.orient_polygons(_to_output(pool))))
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
            crests = [s["seawall_crest"] for s in self.stations
                      if s["kind"] == "tide" and s["town"] == t.code and s.get("seawall_crest")]
            for k in range(count):
                length = min(self.uniform(1.5, 5.0), slot * 0.9)
                start = k * slot + self.uniform(0.0, slot - length)
                wall = substring(line, start, start + length)
                crest = (sum(crests) / len(crests) if crests else self.uniform(5.6, 7.2)) + self.uniform(-0.3, 0.3)
                standard = "50年一遇" if t.kind == "街道" or t.code == "330225100" else (
                    DESIGN_STANDARDS[int(self.rng.integers(2))])
                features.append(_feature({
                    "code": f"HT{self.base.index[t.code]:02d}{k + 1:02d}",
                    "name": f"{self.base.village()}海塘",
                    "crest_m": round(crest, 2),
                    "design_standard": standard,
                    "length_km": round(wall.length, 2),
                    "towns": self.towns_along(wall) or [t.code],
                }, _to_output(wall)))
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
                    "code": code, "name": f"{self.base.village()}村", "town": t.code, "population": population,
                    "led_boards": [f"LED-{code}-{n}" for n in range(1, boards + 1)],
                    "speakers": [f"SPK-{code}-{n}" for n in range(1, speakers + 1)],
                }
                self.village_points.append({**props, "point": p})
                features.append(_feature(props, _to_output(p)))
        return features

    def shelter_features(self) -> list[dict[str, Any]]:
        features = []
        for t in TOWNS:
            cell = self.cells[t.code].buffer(-EDGE_KM)
            near_seat = cell.intersection(seat_km(t).buffer(1.5))
            p = self.placer.in_area(near_seat if near_seat.area > 0.05 else cell)
            n = self.base.index[t.code]
            features.append(_feature({
                "code": f"BZ{n:02d}01", "name": f"{t.name}中心避灾安置点", "town": t.code, "village": None,
                "level": "乡镇", "capacity": int(round(self.uniform(300, 1500), -1)),
            }, _to_output(p)))
            villages = sorted((v for v in self.village_points if v["town"] == t.code),
                              key=lambda v: (-v["population"], v["code"]))[:2]
            for k, v in enumerate(villages, start=2):
                near = cell.intersection(v["point"].buffer(0.4))
                spot = self.placer.in_area(near) if near.area > 0.01 else v["point"]
                features.append(_feature({
                    "code": f"BZ{n:02d}{k:02d}", "name": f"{v['name']}文化礼堂避灾安置点", "town": t.code,
                    "village": v["code"], "level": "村",
                    "capacity": int(round(min(v["population"] * self.uniform(0.1, 0.25), 400), -1)) + 30,
                }, _to_output(spot)))
        return features

    def waterlogging_features(self) -> list[dict[str, Any]]:
        seat = shapely.union_all([seat_km(self.base.towns[c]).buffer(2.5) for c in COUNTY_SEAT_TOWNS])
        town = shapely.union_all([self.cells[c].buffer(-EDGE_KM) for c in COUNTY_SEAT_TOWNS])
        area = seat.intersection(town)
        features = []
        for i, name in enumerate(WATERLOGGING_NAMES, start=1):
            p = self.placer.in_area(area)
            features.append(_feature({
                "code": f"YL{i:02d}", "name": name, "town": self.town_at(p),
                "threshold_mm_h": int(round(self.uniform(25, 55) / 5) * 5),
            }, _to_output(p)))
        return features

    def camera_features(self) -> list[dict[str, Any]]:
        features = []
        for s in self.stations:
            if s["kind"] != "camera":
                continue
            features.append(_feature({
                "code": f"CAM-{s['code']}", "camera": "CAM01", "station": s["code"], "name": s["name"],
                "town": s["town"], "target": s.get("target"),
                "snapshot_url": f"http://127.0.0.1/cameras/{s['code']}/CAM01.jpg",
            }, _to_output(s["point"])))
        return features

    def person(self) -> str:
        family = _FAMILY[int(self.rng.integers(len(_FAMILY)))]
        given = "".join(_GIVEN[int(i)] for i in self.rng.integers(len(_GIVEN), size=int(self.rng.integers(1, 3))))
        return family + given

    def roster(self) -> list[dict[str, Any]]:
        entries = []
        for t in TOWNS:
            n = self.base.index[t.code]
            entry: dict[str, Any] = {"town": t.code, "town_name": t.name}
            for k, role in enumerate(("primary", "deputy", "superior"), start=1):
                entry[role] = {"name": self.person(), "title": ROLE_TITLES[role][t.kind],
                               "phone": f"{FICTIONAL_PHONE_PREFIX}{n:02d}{k:02d}"}
            entries.append(entry)
        return entries


SCHEMATIC_SOURCE = "generated by gis_data/build_sample.py from the town seats and the county outline"
LAYER_HEADERS: dict[str, tuple[str, str]] = {
    "county": ("象山县县界与海岸线 — 示意 / Xiangshan county boundary and coastline (schematic)",
               "a hand-drawn outline of the peninsula, 南田岛 and 高塘岛; bays and small islands left out"),
    "villages": ("行政村（LED屏、高音喇叭）— 示意 / villages with LED boards and loudspeakers (schematic)",
                 "invented villages with 12-digit codes under their town, population and device ids"),
    "reservoirs": ("水库（库容曲线）— 示意 / reservoirs with storage curves (schematic)",
                   "pools drawn upstream of each reservoir station; level–storage curves [level m, 1e6 m³] "
                   "are a power law through the station's spillway crest and capacity"),
    "seawalls": ("海塘 — 示意 / seawalls (schematic)",
                 "stretches of the schematic coast with crest elevation (m, 1985 datum) and design standard"),
    "rivers": ("河流 — 示意 / rivers and streams (schematic)",
               "lines through each stream's gauges to the sea; towns and stations computed with shapely"),
    "catchments": ("流域 — 示意 / catchments (schematic)",
                   "Voronoi cells of the river and reservoir gauges, dissolved by stream"),
    "waterlogging": ("城区易涝点 — 示意 / urban waterlogging points (schematic)",
                     "13 invented points in the county seat (丹城) with a rain intensity threshold in mm/h"),
    "shelters": ("避灾安置点 — 示意 / emergency shelters (schematic)",
                 "one town shelter near each seat and village shelters, capacity in people"),
    "cameras": ("视频监控 — 示意 / cameras (schematic)",
                "one camera per camera station; snapshot URLs are placeholders on 127.0.0.1"),
}


def _header(layer: str) -> dict[str, Any]:
    title, what = LAYER_HEADERS[layer]
    return {"name": title, "description": DISCLAIMER.format(what=f"{what}; source: {SCHEMATIC_SOURCE}")}


def write_roster(path: Path, entries: list[dict[str, Any]]) -> None:
    doc = {
        "type": "DutyRoster",
        "name": "乡镇防汛责任人叫应名单 — 示意 / duty roster per town (synthetic people)",
        "description": DISCLAIMER.format(
            what="synthetic people (invented names) as primary, deputy and superior of each town; "
            f"source: {SCHEMATIC_SOURCE}. Phone numbers are FICTIONAL: all lie in {FICTIONAL_PHONE_PREFIX}XXXX, "
            "a range this project reserves for sample data; they belong to nobody here and must only ever reach "
            "the stub SMS gateway"
        ),
        "fictional": True,
        "phone_range": f"{FICTIONAL_PHONE_PREFIX}XXXX",
        "towns": entries,
    }
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in doc.items() if k != "towns"]
    lines.append('"towns": [')
    lines.append(",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in entries))
    lines += ["]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_all(out_dir: Path = OUT_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write every sample layer into ``out_dir``; return {layer name: path}."""
    builder = SampleBuilder(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.geojson" for name in ("towns", "stations", *LAYER_HEADERS)}
    paths["roster"] = out_dir / "roster.json"
    write_collection(
        paths["towns"],
        {
            "name": "象山县乡镇（街道）区划 — 示意 / Xiangshan county towns (schematic)",
            "description": DISCLAIMER.format(
                what="the 18 real town-level divisions with approximate seats; boundaries are "
                "Voronoi cells around the seats clipped to a rough county outline"
            ),
        },
        builder.town_features(),
    )
    stations = builder.station_features()
    write_collection(
        paths["stations"],
        {
            "name": "象山县水雨情监测站点 — 示意 / Xiangshan county stations (schematic)",
            "description": DISCLAIMER.format(
                what="invented stations (a few real reservoir names) with realistic thresholds in "
                "metres, 1985 national height datum"
            ),
        },
        stations,
    )
    layers = LayerBuilder(builder, stations, seed)
    rivers, catchments = layers.water_features()
    made = {
        "county": layers.county_features(),
        "catchments": catchments,
        "rivers": rivers,
        "reservoirs": layers.reservoir_features(),
        "seawalls": layers.seawall_features(),
        "villages": layers.village_features(),
        "shelters": layers.shelter_features(),
        "waterlogging": layers.waterlogging_features(),
        "cameras": layers.camera_features(),
    }
    for name, features in made.items():
        write_collection(paths[name], _header(name), features)
    write_roster(paths["roster"], layers.roster())
    return paths


def build(out_dir: Path = OUT_DIR, seed: int = SEED) -> tuple[Path, Path]:
    """Write every sample layer (see ``build_all``); return the paths of towns and stations."""
    paths = build_all(out_dir, seed)
    return paths["towns"], paths["stations"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    for path in build_all(args.out_dir).values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
