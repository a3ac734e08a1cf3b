"""Fault profiles do what they promise, the same way for the same seed."""

from __future__ import annotations

import numpy as np

from simulators.faults import PROFILES, FaultProfile, Message, apply_faults

TIMES = np.arange(0, 48 * 3600, 300, dtype=float) + 1.6e9
STATIONS = [f"S{i:07d}" for i in range(120)]


def clean() -> list[Message]:
    return [Message(t, s, "obs", ((t, {"water_level": 1.0 + (t - TIMES[0]) / 1e5}),)) for s in STATIONS for t in TIMES]


def readings_of(messages: list[Message]) -> list[tuple[str, float, float]]:
    return [(m.station, ts, v["water_level"]) for m in messages for ts, v in m.readings]


def test_none_changes_nothing() -> None:
    out, report = apply_faults(clean(), PROFILES["none"], 1, TIMES)
    assert readings_of(out) == readings_of(sorted(clean(), key=lambda m: (m.publish_at, m.station)))
    assert report.spikes == report.duplicates == 0


def test_same_seed_same_messages_and_another_seed_differs() -> None:
    a, _ = apply_faults(clean(), PROFILES["harsh"], 7, TIMES)
    b, _ = apply_faults(clean(), PROFILES["harsh"], 7, TIMES)
    c, _ = apply_faults(clean(), PROFILES["harsh"], 8, TIMES)
    assert a == b and a != c


def test_each_fault_kind_is_there() -> None:
    profile = FaultProfile(
        "test",
        "all of them",
        dropout_rate=0.1,
        stuck_rate=0.1,
        spike_rate=0.001,
        late_rate=0.1,
        duplicate_rate=0.02,
        skew_rate=0.1,
    )
    out, report = apply_faults(clean(), profile, 3, TIMES)
    by_station: dict[str, list[tuple[float, float]]] = {}
    for station, ts, value in readings_of(out):
        by_station.setdefault(station, []).append((ts, value))
    # dropout: nothing inside the window, ever (where the clean series had readings)
    assert report.dropout, "no station dropped out: the dropout check below would check nothing"
    for station, (start, end) in report.dropout.items():
        assert any(start <= t < end for t in TIMES), (station, start, end)
        skew = report.skew_s.get(station, 0.0)
        assert not [ts for ts, _ in by_station[station] if start <= ts - skew < end]
    # stuck: one value through the window
    stuck_only = {s: w for s, w in report.stuck.items() if s not in report.dropout and s not in report.late}
    assert stuck_only, "no station stuck on its own: the stuck check below would check nothing"
    for station, (start, end) in stuck_only.items():
        skew = report.skew_s.get(station, 0.0)
        inside = {v for ts, v in by_station[station] if start <= ts - skew < end}
        assert len(inside) == 1
    # late: the window's readings arrive in one batch, published when the window ends
    batches = [m for m in out if len(m.readings) > 1]
    assert {m.station for m in batches} <= set(report.late)
    assert all(m.publish_at >= max(ts for ts, _ in m.readings) for m in batches)
    assert batches
    # duplicates and spikes
    published = {(m.station, m.publish_at, m.readings[0][0]) for m in out}
    assert report.duplicates > 0 and len(out) - len(published) == report.duplicates
    assert report.spikes > 0
    # skew stays inside ingest's tolerance
    assert report.skew_s and all(abs(s) <= 300 for s in report.skew_s.values())
