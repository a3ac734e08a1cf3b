"""Telemetry faults for drills: what real gauges do to a clean simulated stream.

A drill's readings are turned into *messages* (what a station publishes and when). A
:class:`FaultProfile` then, deterministically for a seed:

* **dropout** — a station goes silent for a window (nothing published, nothing arrives later);
* **stuck** — a sensor repeats its last value for a window;
* **spike** — a single reading jumps by a plausible but wrong amount (the data-quality rules'
  business, not ingest's: spikes stay inside the physical range);
* **late** — a station's link fails for a window; it stores and forwards: the window's readings
  arrive in one ``readings`` batch when the link returns;
* **duplicate** — a message is published twice (the store ignores the second);
* **skew** — a station's clock runs a few minutes off (within ingest's 10-minute tolerance).

Messages are :class:`Message` records in storm time; the drill runner publishes them in
``publish_at`` order. Everything here is pure: numbers in, messages out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

SPIKE_BY_METRIC = {
    "water_level": 2.5,
    "tide_level": 1.5,
    "rainfall": 25.0,
    "wind_speed": 15.0,
    "flow": 150.0,
    "inflow": 150.0,
    "outflow": 100.0,
    "pressure": -15.0,
}


@dataclass(frozen=True, slots=True)
class Message:
    publish_at: float  # storm time (epoch seconds) when the station sends it
    station: str
    kind: str  # "obs" or "video"
    readings: tuple[tuple[float, dict[str, float]], ...]  # (reading time, values); >1 = batch
    extra: dict[str, object] = field(default_factory=dict)  # video payload fields


@dataclass(frozen=True, slots=True)
class FaultProfile:
    name: str
    description: str
    dropout_rate: float = 0.0  # share of stations with one silent window
    stuck_rate: float = 0.0  # share of stations with one stuck window
    spike_rate: float = 0.0  # share of readings with a spike
    late_rate: float = 0.0  # share of stations with one store-and-forward window
    duplicate_rate: float = 0.0  # share of messages sent twice
    skew_rate: float = 0.0  # share of stations whose clock is off
    window_steps: tuple[int, int] = (6, 36)  # a fault window lasts this many 5-min steps
    max_skew_s: float = 300.0


PROFILES: dict[str, FaultProfile] = {
    p.name: p
    for p in (
        FaultProfile("none", "clean telemetry"),
        FaultProfile(
            "realistic",
            "what a typhoon does to a county network",
            dropout_rate=0.05,
            stuck_rate=0.03,
            spike_rate=0.0005,
            late_rate=0.05,
            duplicate_rate=0.01,
            skew_rate=0.03,
        ),
        FaultProfile(
            "harsh",
            "a network in trouble: many outages and bad sensors",
            dropout_rate=0.2,
            stuck_rate=0.1,
            spike_rate=0.003,
            late_rate=0.2,
            duplicate_rate=0.05,
            skew_rate=0.1,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class FaultReport:
    """What was injected, so tests and drill organisers can check it."""

    dropout: dict[str, tuple[float, float]]  # station -> (from, to) storm time
    stuck: dict[str, tuple[float, float]]
    late: dict[str, tuple[float, float]]
    skew_s: dict[str, float]
    spikes: int
    duplicates: int


def _windows(
    rng: np.random.Generator, stations: list[str], rate: float, times: np.ndarray, steps: tuple[int, int]
) -> dict[str, tuple[float, float]]:
    chosen = [s for s in stations if rng.random() < rate]
    out: dict[str, tuple[float, float]] = {}
    for station in chosen:
        length = int(rng.integers(steps[0], steps[1] + 1))
        start = int(rng.integers(0, max(1, len(times) - length)))
        end = min(start + length, len(times) - 1)
        out[station] = (float(times[start]), float(times[end]))
    return out


def apply_faults(
    messages: list[Message], profile: FaultProfile, seed: int, times: np.ndarray
) -> tuple[list[Message], FaultReport]:
    """Inject the profile's faults into clean single-reading messages; returns them sorted."""
    if profile.name == "none":
        return sorted(messages, key=_order), FaultReport({}, {}, {}, {}, 0, 0)
    rng = np.random.default_rng(seed + 0x5EED)
    stations = sorted({m.station for m in messages if m.kind == "obs"})
    dropout = _windows(rng, stations, profile.dropout_rate, times, profile.window_steps)
    stuck = _windows(rng, stations, profile.stuck_rate, times, profile.window_steps)
    late = _windows(rng, stations, profile.late_rate, times, profile.window_steps)
    skew = {
        s: float(rng.uniform(-profile.max_skew_s, profile.max_skew_s))
        for s in stations
        if rng.random() < profile.skew_rate
    }

    out: list[Message] = []
    held: dict[str, list[tuple[float, dict[str, float]]]] = {}
    stuck_value: dict[str, dict[str, float]] = {}
    spikes = 0
    for message in sorted(messages, key=_order):
        if message.kind != "obs":
            out.append(message)
            continue
        station = message.station
        ts, values = message.readings[0]
        if _inside(dropout.get(station), ts):
            continue
        spike_roll = rng.random()
        if _inside(stuck.get(station), ts):
            values = stuck_value.setdefault(station, dict(values))  # a stuck sensor repeats itself
        elif spike_roll < profile.spike_rate:
            name = next((n for n in values if n in SPIKE_BY_METRIC), None)
            if name is not None:
                values = {**values, name: max(0.0, values[name] + SPIKE_BY_METRIC[name])}
                spikes += 1
        ts_sent = ts + skew.get(station, 0.0)
        window = late.get(station)
        if _inside(window, ts):
            held.setdefault(station, []).append((ts_sent, values))
            continue
        if station in held:  # the link is back: the stored readings go first, in one batch
            assert window is not None
            out.append(Message(window[1], station, "obs", tuple(held.pop(station))))
        out.append(replace(message, readings=((ts_sent, values),)))
    for station, readings in held.items():
        out.append(Message(late[station][1], station, "obs", tuple(readings)))
    duplicates = [m for m in out if rng.random() < profile.duplicate_rate]
    out.extend(duplicates)
    out.sort(key=_order)
    return out, FaultReport(dropout, stuck, late, skew, spikes, len(duplicates))


def _inside(window: tuple[float, float] | None, ts: float) -> bool:
    return window is not None and window[0] <= ts < window[1]


def _order(message: Message) -> tuple[float, str]:
    return (message.publish_at, message.station)
