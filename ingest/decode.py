"""Decode one MQTT message into batch rows, or a dead letter saying why not.

Topic ``flood/v1/{station}/{kind}``; the kind picks the parser (``obs``, ``video``, ``status``,
one module each). What is checked here is common to all kinds: topic shape, UTF-8 JSON object,
known station, known drill, and timestamps (offset required, at most ``future_tolerance_s`` ahead;
older than ``late_after_s`` when received means late, flagged not refused — for a drill, older than
that behind the newest reading of the same drill, since a replay runs on storm time).

Decoding is total: whatever the bytes, :meth:`Decoder.add` ends a message as rows or a dead letter
(an unexpected exception while decoding becomes reason ``decode_error``), so no payload can crash a
worker. Only :class:`~floodctl.core.errors.ServiceUnavailable` from a registry look-up (the database is
down) escapes: the batch then waits for the database.

What a reading may cost is bounded too: an observation older than the retention horizon
(``FLOOD_RETENTION_DAYS``) is refused (``expired_timestamp``), and so is a message whose readings
cover more UTC days than ``FLOOD_MAX_BACKFILL_DAYS`` (``backfill_span``): neither gets partitions.
A reading too far in the future says the device's clock is fast: besides the dead letter, the batch
notes the station (``Batch.clock_ahead``) and the store raises a device warning for it.

A message with some good and some bad readings keeps the good ones and dead-letters the rest
(one dead letter per message, listing every problem).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from floodctl.core.errors import ServiceUnavailable
from floodctl.domain.topics import parse_station_topic, station_topic
from ingest.batch import Batch, DeadLetter


class Reject(Exception):
    """A payload problem with a machine-readable reason (stored in ``dead_letters.reason``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class ClockAhead(Reject):
    """A timestamp beyond the future tolerance: the device's clock is fast by ``ahead_s``."""

    def __init__(self, detail: str, ahead_s: float) -> None:
        super().__init__("future_timestamp", detail)
        self.ahead_s = ahead_s


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
    now: float  # epoch seconds at decode
    late_after_s: float
    future_tolerance_s: float
    problems: list[Reject]
    drill_clocks: dict[int, float]  # drill id -> newest reading time seen (a drill's "now")
    first_day: int = -(10**9)  # UTC day number (epoch // 86400) of the oldest day kept
    max_span_days: int = 10**9  # at most this many UTC days in one message's readings


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
    try:
        epoch = ts.timestamp()
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise Reject("bad_timestamp", f"{where}: {value!r} is out of range") from None
    if epoch - ctx.now > ctx.future_tolerance_s:
        raise ClockAhead(
            f"{where}: {value} is more than {int(ctx.future_tolerance_s)} s in the future (device clock ahead)",
            epoch - ctx.now,
        )
    if ctx.drill_id:
        # A drill replays storm time at its own speed: late means behind the drill's own clock.
        clock = max(ctx.drill_clocks.get(ctx.drill_id, epoch), epoch)
        ctx.drill_clocks[ctx.drill_id] = clock
        return ts, clock - epoch > ctx.late_after_s
    return ts, ctx.now - epoch > ctx.late_after_s


def finite_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject("bad_value", f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        digits = int(int(value).bit_length() * 0.30103) + 1  # str() of a huge int may itself refuse
        raise Reject("out_of_range", f"{where}: an integer of about {digits} digits is out of range") from None
    if not math.isfinite(number):
        raise Reject("non_finite", f"{where}: {value!r} is not finite")
    return number


def _lenient_json(payload: bytes, error: Exception) -> Any:
    """Error path only: devices that write NaN, Infinity or 1e400 sent JSON that strict parsers
    refuse; read it leniently so the value is refused as non-finite and the rest is kept."""
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise Reject("malformed_json", f"not valid UTF-8 JSON: {error}") from None


def checked_text(value: str, where: str, max_chars: int) -> str:
    """A text field PostgreSQL can hold: no NUL, valid UTF-8 (no lone surrogate), at most max_chars."""
    if len(value) > max_chars:
        raise Reject("bad_text", f"{where}: longer than {max_chars} characters ({len(value)})")
    if "\x00" in value:
        raise Reject("bad_text", f"{where}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Reject("bad_text", f"{where}: not valid UTF-8 (a lone surrogate)") from None
    return value


Parser = Callable[[Context, dict[str, Any], Batch], None]


class Decoder:
    """Turns (topic, payload) into rows appended to a :class:`Batch`."""

    def __init__(
        self,
        registry: Registry,
        parsers: Mapping[str, Parser],
        *,
        late_after_s: float,
        future_tolerance_s: float,
        retention_days: int = 0,
        max_backfill_days: int = 10**9,
        on_unknown_station: Callable[[str], int | None] | None = None,
        on_unknown_drill: Callable[[int], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.parsers = parsers
        self.late_after_s = late_after_s
        self.future_tolerance_s = future_tolerance_s
        self.retention_days = retention_days  # 0 keeps everything
        self.max_backfill_days = max_backfill_days
        self._horizon_now = float("nan")
        self._first_day = -(10**9)
        # Called on a registry miss (a station added since start-up); returns its id or None.
        self.on_unknown_station = on_unknown_station
        # Likewise for a drill registered since start-up; returns whether it exists now.
        self.on_unknown_drill = on_unknown_drill
        self.drill_clocks: dict[int, float] = {}

    def _known_drill(self, drill_id: Any) -> bool:
        if drill_id.__class__ is not int:  # not a bool, a float (0.0) or an int subclass
            return False
        if drill_id in self.registry.drills:
            return True
        return self.on_unknown_drill is not None and self.on_unknown_drill(drill_id)

    def add(self, batch: Batch, topic: str, payload: bytes, now: float) -> None:
        """Decode one message into ``batch``; never raises but ServiceUnavailable (see the module doc)."""
        batch.messages += 1
        ctx: Context | None = None
        obs_before = len(batch.obs)
        try:
            parsed = parse_station_topic(topic)
            if parsed is None:
                raise Reject("bad_topic", f"topic {topic!r} is not {station_topic('{station}', '{kind}')}")
            code, kind = parsed
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
            if (drill_id.__class__ is not int or drill_id) and not self._known_drill(drill_id):
                raise Reject("unknown_drill", f"drill_id {drill_id!r} is not a registered drill")
            if now != self._horizon_now:  # the first day kept, once per batch (one ``now`` per batch)
                self._horizon_now = now
                self._first_day = int(now // 86400) - self.retention_days if self.retention_days else -(10**9)
            ctx = Context(
                station_id,
                drill_id,
                now,
                self.late_after_s,
                self.future_tolerance_s,
                [],
                self.drill_clocks,
                self._first_day,
                self.max_backfill_days,
            )
            parser(ctx, doc, batch)
        except ServiceUnavailable:
            del batch.obs[obs_before:]
            raise
        except Reject as reject:
            del batch.obs[obs_before:]
            self._dead(batch, topic, payload, ctx, [reject])
            return
        except Exception as exc:  # a bug or a payload nobody thought of: this message only
            del batch.obs[obs_before:]
            detail = f"{type(exc).__name__} while decoding: {exc}"
            batch.dead.append(DeadLetter(topic, payload, "decode_error", detail[:1000]))
            return
        if ctx.problems:
            self._dead(batch, topic, payload, ctx, ctx.problems)

    @staticmethod
    def _dead(batch: Batch, topic: str, payload: bytes, ctx: Context | None, problems: list[Reject]) -> None:
        first = problems[0]
        batch.dead.append(DeadLetter(topic, payload, first.reason, "; ".join(p.detail for p in problems)))
        if ctx is not None:
            ahead = [p.ahead_s for p in problems if isinstance(p, ClockAhead)]
            if ahead:
                batch.clock_ahead.append((ctx.station_id, ctx.drill_id, max(ahead)))
