"""The metric vocabulary of the MQTT contract (mirrors the ``metrics`` table) and observation flags."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    id: int
    name: str
    unit: str
    low: float  # physically possible range; outside it a value is refused
    high: float


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(1, "water_level", "m", -20, 2000),
        Metric(2, "rainfall", "mm", 0, 500),
        Metric(3, "flow", "m3/s", -100_000, 100_000),
        Metric(4, "inflow", "m3/s", 0, 100_000),
        Metric(5, "outflow", "m3/s", 0, 100_000),
        Metric(6, "storage", "1e6 m3", 0, 100_000),
        Metric(7, "tide_level", "m", -15, 20),
        Metric(8, "wind_speed", "m/s", 0, 120),
        Metric(9, "wind_dir", "deg", 0, 360),
        Metric(10, "pressure", "hPa", 850, 1090),
        Metric(11, "wave_height", "m", 0, 40),
        Metric(12, "battery_v", "V", 0, 60),
    )
}
METRICS_BY_ID: dict[int, Metric] = {m.id: m for m in METRICS.values()}

# Observation flag bits.
FLAG_LATE = 1

# How users read each metric (zh, en).
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "water_level": ("水位", "water level"),
    "rainfall": ("雨量", "rainfall"),
    "flow": ("流量", "flow"),
    "inflow": ("入库流量", "inflow"),
    "outflow": ("出库流量", "outflow"),
    "storage": ("蓄水量", "storage"),
    "tide_level": ("潮位", "tide level"),
    "wind_speed": ("风速", "wind speed"),
    "wind_dir": ("风向", "wind direction"),
    "pressure": ("气压", "pressure"),
    "wave_height": ("浪高", "wave height"),
    "battery_v": ("电池电压", "battery voltage"),
}
METRIC_ZH: dict[str, str] = {name: zh for name, (zh, _) in METRIC_LABELS.items()}
