"""The sample county's ground: the 18 real towns with approximate seats, a rough outline, the town cells.

Geometry is built in a local plane in kilometres (equirectangular around the county), so that
Voronoi cells, buffers and spacing mean the same distance east-west as north-south; ``to_deg`` takes
it back to lon/lat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gis_data.plane import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR

LON0, LAT0 = 121.85, 29.35  # origin of the km plane
KM_PER_DEG_LON = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(LAT0))
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


# --- the plane and the towns' cells -----------------------------------------------------------


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
