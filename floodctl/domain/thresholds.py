"""Station kinds and their thresholds (SL 323 names, as in the stations table), with how users read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str  # the stations column and the name rules use
    zh: str
    en: str
    kinds: tuple[str, ...]  # the station kinds that have it


THRESHOLDS: Final[tuple[Threshold, ...]] = (  # in the stations table's column order
    Threshold("wrz", "警戒水位", "warning level", ("river", "reservoir")),
    Threshold("grz", "保证水位", "guarantee level", ("river",)),
    Threshold("fsltdz_meiyu", "梅汛期汛限水位", "Meiyu flood-season limit", ("reservoir",)),
    Threshold("fsltdz_typhoon", "台汛期汛限水位", "typhoon flood-season limit", ("reservoir",)),
    Threshold("dsflz", "设计洪水位", "design flood level", ("reservoir",)),
    Threshold("ckflz", "校核洪水位", "check flood level", ("reservoir",)),
    Threshold("dam_crest", "坝顶高程", "dam crest", ("reservoir",)),
    Threshold("tide_blue", "蓝色警戒潮位", "blue warning tide", ("tide",)),
    Threshold("tide_yellow", "黄色警戒潮位", "yellow warning tide", ("tide",)),
    Threshold("tide_orange", "橙色警戒潮位", "orange warning tide", ("tide",)),
    Threshold("tide_red", "红色警戒潮位", "red warning tide", ("tide",)),
    Threshold("seawall_crest", "海塘堤顶高程", "seawall crest", ("tide",)),
)
THRESHOLD_NAMES: Final[tuple[str, ...]] = tuple(t.name for t in THRESHOLDS)
THRESHOLD_LABELS: Final[dict[str, tuple[str, str]]] = {t.name: (t.zh, t.en) for t in THRESHOLDS}
# Reservoir properties kept beside the thresholds in the county's data (not judged by any rule).
RESERVOIR_PROPERTIES: Final[tuple[str, ...]] = ("capacity_1e6m3", "spillway_crest")

STATION_KINDS: Final[dict[str, tuple[str, str]]] = {
    "river": ("河道水位站", "river gauge"),
    "reservoir": ("水库水位站", "reservoir gauge"),
    "tide": ("潮位站", "tide gauge"),
    "rain": ("雨量站", "rain gauge"),
    "weather": ("气象站", "weather station"),
    "camera": ("视频监控", "camera"),
}
DEFAULT_METRIC_BY_KIND: Final[dict[str, str]] = {
    "river": "water_level",
    "reservoir": "water_level",
    "tide": "tide_level",
    "rain": "rainfall",
    "weather": "wind_speed",
    "camera": "water_level",
}
# What each kind of station measures (the drill's gauges publish these).
KIND_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "rain": ("rainfall",),
    "river": ("water_level", "rainfall", "flow"),
    "reservoir": ("water_level", "inflow", "outflow", "storage", "rainfall"),
    "tide": ("tide_level", "wave_height", "wind_speed"),
    "weather": ("wind_speed", "wind_dir", "pressure", "rainfall"),
    "camera": (),
}
