"""What one flush of the writer carries: rows per table, dead letters and the messages to ack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# (station_id, metric_id, ts, value, flags, drill_id) — the column order of obs_stage.
ObsRow = tuple[int, int, datetime, float, int, int]


@dataclass(frozen=True, slots=True)
class VideoEvent:
    station_id: int
    camera: str
    ts: datetime
    online: bool | None
    snapshot_url: str | None
    stream_url: str | None
    event: str | None
    drill_id: int


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    station_id: int
    ts: datetime
    online: bool | None
    battery_v: float | None
    signal_dbm: float | None
    drill_id: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    detail: str


@dataclass(slots=True)
class Batch:
    obs: list[ObsRow] = field(default_factory=list)
    obs_days: set[int] = field(default_factory=set)  # UTC day numbers (epoch // 86400)
    drills: set[int] = field(default_factory=set)  # drill ids (not 0) among the readings
    video: list[VideoEvent] = field(default_factory=list)
    status: list[DeviceStatus] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # (station_id, drill_id, seconds ahead) of stations whose readings were refused as too far in the
    # future: their device clock is fast (the store raises a device warning).
    clock_ahead: list[tuple[int, int, float]] = field(default_factory=list)
    messages: int = 0
