"""Typhoon drill replay (演练): simulate a storm over the county and publish it through the broker.

    scenario track ──hazard model──> readings (stations × 5-min steps)
        ──messages (+ camera events)──> fault profile ──> publish in storm-time order, paced

Every message carries the drill's id (registered in ``drills``), so ingest stores the drill's
readings apart from live ones and everything the drill causes downstream is tagged. Times are the
storm's own (a replay of In-Fa publishes July 2021 readings); ``--speed 600`` publishes ten minutes
of storm per second, ``max`` as fast as the broker acknowledges. Same seed, same readings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
import psycopg

from floodctl.domain.thresholds import THRESHOLD_NAMES
from floodctl.domain.topics import station_topic
from simulators.faults import PROFILES, FaultReport, Message, apply_faults
from simulators.tracks import Track

STEP_S = 300  # 5-minute cadence, as county gauges report
CST = timezone(timedelta(hours=8))
CAMERA_EVERY_STEPS = 6  # a camera reports every 30 minutes
PUBLISH_WINDOW = 1_000


@dataclass(frozen=True, slots=True)
class DrillSummary:
    drill_id: int
    scenario: str
    messages: int
    readings: int
    storm_start: datetime
    storm_end: datetime
    generate_s: float
    publish_s: float
    faults: FaultReport


def register_drill(conn: psycopg.Connection, scenario: str, name: str, track: Track | None = None) -> int:
    """A new drill id; every reading and message of the drill carries it. The storm's track is recorded
    with it (``storm_fixes``), for the typhoon signal and the map, with the wind radii of the drill's own
    wind model at each fix (so the map's circles match what the virtual gauges feel)."""
    from simulators.hazard import wind_radii_km

    fixes = [] if track is None else [(f, *wind_radii_km(f.pressure_hpa, f.wind_ms, f.lat)) for f in track.fixes]
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO drills (name, scenario) VALUES (%s, %s) RETURNING id", (name, scenario)
        ).fetchone()
        assert row is not None
        if track is not None:
            conn.cursor().executemany(
                "INSERT INTO storm_fixes (drill_id, storm, at, lat, lon, max_wind_ms, pressure_hpa, source, "
                "r7_km, r10_km, r12_km) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (row[0], track.name, f.time, f.lat, f.lon, f.wind_ms, f.pressure_hpa, track.source, r7, r10, r12)
                    for f, r7, r10, r12 in fixes
                ],
            )
    return int(row[0])


def end_drill(conn: psycopg.Connection, drill_id: int) -> None:
    with conn.transaction():
        conn.execute("UPDATE drills SET ended_at = now() WHERE id = %s", (drill_id,))


def drill_times(track: Track, start: datetime | None = None, end: datetime | None = None) -> np.ndarray:
    """Epoch seconds on the 5-minute grid covering the track (or the given span)."""
    first = (start or track.start).timestamp()
    last = (end or track.end).timestamp()
    first = np.ceil(first / STEP_S) * STEP_S
    return np.arange(first, last + 1, STEP_S, dtype=float)


def messages_from_arrays(codes: list[str], metrics: dict[str, np.ndarray], times: np.ndarray) -> list[Message]:
    """One single-reading ``obs`` message per station and step with the metrics it measures, in
    publishing order (time, then station code)."""
    names = list(metrics)
    stacked = np.round(np.stack([metrics[n] for n in names]), 3)  # metric × station × time
    measured = ~np.isnan(stacked)
    stamps = [float(ts) for ts in times]
    per_station: list[list[Message | None]] = []
    for s in np.argsort(np.asarray(codes), kind="stable"):
        code = codes[s]
        used = [m for m in range(len(names)) if measured[m, s].any()]
        if not used:
            continue
        keys = [names[m] for m in used]
        columns = [stacked[m, s].tolist() for m in used]
        gaps = not measured[used, s].all()
        row: list[Message | None] = []
        for ts, values in zip(stamps, zip(*columns, strict=True), strict=True):
            reading = dict(zip(keys, values, strict=True))
            if gaps:  # a metric the station measures only part of the time (NaN elsewhere)
                reading = {k: v for k, v in reading.items() if v == v}
            row.append(Message(ts, code, "obs", ((ts, reading),)) if reading else None)
        per_station.append(row)
    return [m for t in range(len(stamps)) for row in per_station if (m := row[t]) is not None]


def camera_messages(cameras: list[str], times: np.ndarray, trigger: np.ndarray | None) -> list[Message]:
    """Camera metadata every 30 minutes; ``trigger`` (cameras × times, bool) marks water over the marker."""
    out: list[Message] = []
    for c, code in enumerate(cameras):
        for t in range(0, len(times), CAMERA_EVERY_STEPS):
            event = "water_over_marker" if trigger is not None and bool(trigger[c, t]) else None
            out.append(
                Message(
                    float(times[t]),
                    code,
                    "video",
                    ((float(times[t]), {}),),
                    extra={
                        "camera": f"{code}-CAM1",
                        "online": True,
                        "snapshot_url": f"http://127.0.0.1/cameras/{code}/latest.jpg",
                        "stream_url": None,
                        "event": event,
                    },
                )
            )
    return out


def payload(message: Message, drill_id: int) -> bytes:
    """The MQTT payload of a message (the contract's obs / video shapes, plus the drill id)."""

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, CST).isoformat()

    if message.kind == "video":
        ts = message.readings[0][0]
        return orjson.dumps({"ts": iso(ts), **message.extra, "drill_id": drill_id})
    if len(message.readings) == 1:
        ts, values = message.readings[0]
        return orjson.dumps({"ts": iso(ts), "values": values, "drill_id": drill_id})
    return orjson.dumps(
        {"readings": [{"ts": iso(ts), "values": v} for ts, v in message.readings], "drill_id": drill_id}
    )


def publish_messages(
    publisher: Any,
    messages: list[Message],
    drill_id: int,
    *,
    speed: float | None,
    on_progress: Callable[[float, int], None] | None = None,
) -> float:
    """Publish in storm-time order; ``speed`` storm seconds per real second (None: as fast as it goes).
    Returns the seconds spent."""
    started = time.perf_counter()
    if not messages:
        return 0.0
    storm0 = messages[0].publish_at
    last_report = 0.0
    for i, message in enumerate(messages):
        if speed is not None:
            due = (message.publish_at - storm0) / speed
            wait = due - (time.perf_counter() - started)
            if wait > 0:
                time.sleep(wait)
        publisher.publish(station_topic(message.station, message.kind), payload(message, drill_id))
        now = time.perf_counter()
        if on_progress is not None and now - last_report > 0.1:
            on_progress(message.publish_at, i + 1)
            last_report = now
    publisher.flush()
    if on_progress is not None:
        on_progress(messages[-1].publish_at, len(messages))
    return time.perf_counter() - started


def faulted(
    messages: list[Message], profile_name: str, seed: int, times: np.ndarray
) -> tuple[list[Message], FaultReport]:
    if profile_name not in PROFILES:
        raise KeyError(f"unknown fault profile {profile_name!r}; one of: {', '.join(PROFILES)}")
    return apply_faults(messages, PROFILES[profile_name], seed, times)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


STATION_COLUMNS = (
    "code",
    "name",
    "kind",
    "town_code",
    "lon",
    "lat",
    "elevation_m",
    "river",
    *THRESHOLD_NAMES,
    "properties",
)


def stations_collection(conn: psycopg.Connection) -> dict[str, Any]:
    """The active stations as a FeatureCollection in the layout of ``gis_data/stations.geojson``."""
    rows = conn.execute(f"SELECT {', '.join(STATION_COLUMNS)} FROM stations WHERE active ORDER BY code").fetchall()
    features = []
    for row in rows:
        record = dict(zip(STATION_COLUMNS, row, strict=True))
        extra = record.pop("properties") or {}
        record["town"] = record.pop("town_code")
        lon, lat = record.pop("lon"), record.pop("lat")
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {**extra, **{k: v for k, v in record.items() if v is not None}},
            }
        )
    return {"type": "FeatureCollection", "features": features}


WINDOW_BEFORE = timedelta(hours=48)  # the replay covers the storm's approach ...
WINDOW_AFTER = timedelta(hours=24)  # ... and its passage: 72 h around landfall


@dataclass(frozen=True, slots=True)
class DrillPlan:
    scenario: str
    track: Track
    times: np.ndarray  # epoch seconds, 5-min grid
    messages: list[Message]
    faults: FaultReport
    readings: int
    generate_s: float


def plan_drill(
    scenario_name: str, stations_fc: dict[str, Any], *, seed: int, faults: str, n_times: int | None = None
) -> DrillPlan:
    """Everything a drill will publish, computed up front (deterministic for the seed)."""
    from simulators import hazard
    from simulators.scenarios import get_scenario

    started = time.perf_counter()
    scenario = get_scenario(scenario_name)
    track = scenario.load()
    centre = scenario.landfall or track.start
    times = drill_times(track, max(track.start, centre - WINDOW_BEFORE), min(track.end, centre + WINDOW_AFTER))
    if n_times is not None:
        times = times[:n_times]
    stations = hazard.StationSet.from_geojson(stations_fc, seed=seed)
    result = hazard.simulate(stations, track, times.astype("datetime64[s]"), seed=seed)
    metrics = result.values
    codes = [str(c) for c in stations.codes]
    messages = messages_from_arrays(codes, metrics, times)
    readings = sum(len(m.readings[0][1]) for m in messages)
    kinds = np.asarray(stations.kinds)
    cameras = [c for c, k in zip(codes, kinds, strict=True) if k == "camera"]
    messages += camera_messages(cameras, times, _camera_trigger(codes, kinds, metrics, cameras))
    messages, report = faulted(messages, faults, seed, times)
    return DrillPlan(scenario_name, track, times, messages, report, readings, time.perf_counter() - started)


def _camera_trigger(
    codes: list[str], kinds: np.ndarray, metrics: dict[str, np.ndarray], cameras: list[str]
) -> np.ndarray | None:
    """Water over the marker when the county's heaviest 5-min rain is intense (a schematic rule)."""
    rain = metrics.get("rainfall")
    if rain is None or not cameras:
        return None
    heavy = np.nanmax(np.nan_to_num(rain, nan=0.0), axis=0) >= 5.0  # ≥ 60 mm/h somewhere
    return np.repeat(heavy[None, :], len(cameras), axis=0)
