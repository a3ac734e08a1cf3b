"""``status`` payloads: device health. The device's MQTT will is ``{"online": false}`` (no ts).

{"ts": "...", "online": true, "battery_v": 12.6, "signal_dbm": -71}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from floodctl.domain.metrics import METRICS
from ingest.batch import Batch, DeviceStatus
from ingest.decode import Context, Reject, finite_number, parse_ts

SIGNAL_RANGE_DBM = (-150.0, 0.0)


def parse(ctx: Context, doc: dict[str, Any], batch: Batch) -> None:
    if "ts" in doc:
        ts, _late = parse_ts(doc["ts"], ctx)
    else:  # a will message carries no time: it happened when the broker published it
        ts = datetime.fromtimestamp(ctx.now, UTC)
    online = doc.get("online")
    if online is not None and not isinstance(online, bool):
        raise Reject("bad_schema", f"online: expected true/false, got {online!r}")
    battery = _optional(doc, "battery_v", METRICS["battery_v"].low, METRICS["battery_v"].high)
    signal = _optional(doc, "signal_dbm", *SIGNAL_RANGE_DBM)
    if online is None and battery is None and signal is None:
        raise Reject("bad_schema", "status carries none of online, battery_v, signal_dbm")
    batch.status.append(DeviceStatus(ctx.station_id, ts, online, battery, signal, ctx.drill_id))


def _optional(doc: dict[str, Any], key: str, low: float, high: float) -> float | None:
    if doc.get(key) is None:
        return None
    value = finite_number(doc[key], key)
    if not low <= value <= high:
        raise Reject("out_of_range", f"{key}: {value:g} is outside {low:g}..{high:g}")
    return value
