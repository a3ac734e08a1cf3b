"""``obs`` payloads: one reading time, or a store-and-forward batch of them.

    {"ts": "2021-07-25T12:00:00+08:00", "values": {"water_level": 3.42}, "seq": 1042}
    {"readings": [{"ts": "...", "values": {...}}, ...]}

Each value must be a finite number inside its metric's physical range. Bad readings or values are
reported to the context (dead-lettered with the message) while the good ones are kept.
"""

from __future__ import annotations

from typing import Any

from floodctl.domain.metrics import FLAG_LATE, METRICS
from ingest.batch import Batch
from ingest.decode import Context, Reject, finite_number, parse_ts

MAX_READINGS_PER_MESSAGE = 10_000


def parse(ctx: Context, doc: dict[str, Any], batch: Batch) -> None:
    readings = doc.get("readings")
    if readings is None:
        day = _reading(ctx, doc, batch, "")
        if day is not None:
            batch.obs_days.add(day)
            if ctx.drill_id:
                batch.drills.add(ctx.drill_id)
        return
    if not isinstance(readings, list) or not readings:
        raise Reject("bad_schema", "'readings' must be a non-empty list")
    if len(readings) > MAX_READINGS_PER_MESSAGE:
        raise Reject("bad_schema", f"more than {MAX_READINGS_PER_MESSAGE} readings in one message")
    days: set[int] = set()
    for i, reading in enumerate(readings):
        where = f"readings[{i}]."
        if not isinstance(reading, dict):
            ctx.problems.append(Reject("bad_schema", f"readings[{i}]: expected an object"))
            continue
        try:
            day = _reading(ctx, reading, batch, where)
        except Reject as reject:
            ctx.problems.append(reject)
            continue
        if day is not None:
            days.add(day)
    if not days:
        return
    covered = max(days) - min(days) + 1
    if covered > ctx.max_span_days:
        # A reset or wandering clock: its readings would each cost a partition. Refuse the message
        # (the caller drops the rows already taken from it).
        raise Reject(
            "backfill_span",
            f"readings cover {covered} days, more than FLOOD_MAX_BACKFILL_DAYS ({ctx.max_span_days}) in one message",
        )
    batch.obs_days |= days
    if ctx.drill_id:
        batch.drills.add(ctx.drill_id)


def _reading(ctx: Context, reading: dict[str, Any], batch: Batch, where: str) -> int | None:
    """Append the rows of one reading; returns its UTC day number, or None if no value was kept."""
    values = reading.get("values")
    if not isinstance(values, dict) or not values:
        raise Reject("bad_schema", f"{where}values: expected a non-empty object of metric: number")
    ts, late = parse_ts(reading.get("ts"), ctx, f"{where}ts")
    flags = FLAG_LATE if late else 0
    day = int(ts.timestamp()) // 86400
    if day < ctx.first_day:
        raise Reject(
            "expired_timestamp",
            f"{where}ts: {ts.isoformat()} is older than the retention horizon (FLOOD_RETENTION_DAYS)",
        )
    station_id, drill_id = ctx.station_id, ctx.drill_id
    rows = batch.obs
    added = False
    for name, raw in values.items():
        metric = METRICS.get(name)
        try:
            if metric is None:
                raise Reject("unknown_metric", f"{where}values.{name!r}: unknown metric")
            value = finite_number(raw, f"{where}values.{name}")
            if not metric.low <= value <= metric.high:
                raise Reject(
                    "out_of_range",
                    f"{where}values.{name}: {value:g} {metric.unit} is outside "
                    f"the possible range {metric.low:g}..{metric.high:g}",
                )
        except Reject as reject:
            ctx.problems.append(reject)
            continue
        rows.append((station_id, metric.id, ts, value, flags, drill_id))
        added = True
    return day if added else None
