"""Decode one MQTT message into batch rows, or a dead letter saying why not.

Topic ``flood/v1/{station}/{kind}``; the kind picks the parser (``obs``, ``video``, ``status``,
one module each). What is checked here is common to all kinds: topic shape, UTF-8 JSON object,
known station, known drill, and timestamps (offset required, at most ``future_tolerance_s`` ahead;
older than ``late_after_s`` when received means late, flagged not refused — for a drill, older than
that behind the newest reading of the same drill, since a replay runs on storm time).

A message with some good and some bad readings keeps the good ones and dead-letters the rest
(one dead letter per message, listing every problem).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingest.batch import Batch, DeadLetter

TOPIC_ROOT = ("flood", "v1")


class Reject(Exception):
    """A payload problem with a machine-readable reason (stored in ``dead_letters.reason``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Registry:
    """What decoding needs from the database: station ids by code, and known drills."""

    stations: dict[str, int] = field(default_factory=dict)
    drills: set[int] = field(default_factory=lambda: {0})


@dataclass(slots=True)
class Context:
    """Per-batch values handed to the kind parsers."""

    station_id: int
    drill_id: int
    now: float                  # epoch seconds at decode
    late_after_s: float
    future_tolerance_s: float
    problems: list[Reject]
    drill_clocks: dict[int, float]   # drill id -> newest reading time seen (a drill's "now")


def parse_ts(value: Any, ctx: Context, where: str = "ts") -> tuple[datetime, bool]:
    """Parse an ISO 8601 timestamp with offset; returns (ts, late). Raises Reject."""
    if not isinstance(value, str):
        raise Reject("bad_timestamp", f"{where}: expected an ISO 8601 string, got {value!r}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise Reject("bad_timestamp", f"{where}: not an ISO 8601 time: {value!r}") from None
    if ts.tzinfo is None:
        raise Reject("bad_timestamp", f"{where}: {value!r} has no UTC offset")
    epoch = ts.timestamp()
    if epoch - ctx.now > ctx.future_tolerance_s:
        raise Reject("future_timestamp", f"{where}: {value} is more than "
                     f"{int(ctx.future_tolerance_s)} s in the future")
    if ctx.drill_id:
        # A drill replays storm time at its own speed: late means behind the drill's own clock.
        clock = max(ctx.drill_clocks.get(ctx.drill_id, epoch), epoch)
        ctx.drill_clocks[ctx.drill_id] = clock
        return ts, clock - epoch > ctx.late_after_s
    return ts, ctx.now - epoch > ctx.late_after_s


def finite_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject("bad_value", f"{where}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise Reject("non_finite", f"{where}: {value!r} is not finite")
    return number


def _lenient_json(payload: bytes, error: Exception) -> Any:
    """Error path only: devices that write NaN, Infinity or 1e400 sent JSON that strict parsers
    refuse; read it leniently so the value is refused as non-finite and the rest is kept."""
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Reject("malformed_json", f"not valid UTF-8 JSON: {error}") from None


Parser = Callable[[Context, dict[str, Any], Batch], None]


class Decoder:
    """Turns (topic, payload) into rows appended to a :class:`Batch`."""

    def __init__(self, registry: Registry, parsers: dict[str, Parser], *,
                 late_after_s: float, future_tolerance_s: float,
                 on_unknown_station: Callable[[str], int | None] | None = None,
                 on_unknown_drill: Callable[[int], bool] | None = None) -> None:
        self.registry = registry
        self.parsers = parsers
        self.late_after_s = late_after_s
        self.future_tolerance_s = future_tolerance_s
        # Called on a registry miss (a station added since start-up); returns its id or None.
        self.on_unknown_station = on_unknown_station
        # Likewise for a drill registered since start-up; returns whether it exists now.
        self.on_unknown_drill = on_unknown_drill
        self.drill_clocks: dict[int, float] = {}

    def _known_drill(self, drill_id: Any) -> bool:
        if isinstance(drill_id, bool) or not isinstance(drill_id, int):
            return False
        if drill_id in self.registry.drills:
            return True
        return self.on_unknown_drill is not None and self.on_unknown_drill(drill_id)

    def add(self, batch: Batch, topic: str, payload: bytes, now: float) -> None:
        batch.messages += 1
        ctx: Context | None = None
        try:
            parts = topic.split("/")
            if len(parts) != 4 or parts[0] != "flood" or parts[1] != "v1":
                raise Reject("bad_topic", f"topic {topic!r} is not flood/v1/{{station}}/{{kind}}")
            code, kind = parts[2], parts[3]
            parser = self.parsers.get(kind)
            if parser is None:
                raise Reject("unknown_kind", f"kind {kind!r} is not one of {', '.join(self.parsers)}")
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                doc = _lenient_json(payload, exc)
            if not isinstance(doc, dict):
                raise Reject("malformed_json", f"expected a JSON object, got {type(doc).__name__}")
            station_id = self.registry.stations.get(code)
            if station_id is None and self.on_unknown_station is not None:
                station_id = self.on_unknown_station(code)
            if station_id is None:
                raise Reject("unknown_station", f"station {code!r} is not in the registry")
            drill_id = doc.get("drill_id", 0)
            if drill_id != 0 and not self._known_drill(drill_id):
                raise Reject("unknown_drill", f"drill_id {drill_id!r} is not a registered drill")
            ctx = Context(station_id, drill_id, now, self.late_after_s, self.future_tolerance_s, [],
                          self.drill_clocks)
            parser(ctx, doc, batch)
        except Reject as reject:
            batch.dead.append(DeadLetter(topic, payload, reject.reason, reject.detail))
            return
        if ctx.problems:
            first = ctx.problems[0]
            batch.dead.append(DeadLetter(topic, payload, first.reason,
                                         "; ".join(p.detail for p in ctx.problems)))
