"""``video`` payloads: camera metadata and detected events (overtopping, water over marker, …).

{"ts": "...", "camera": "CAM01", "online": true, "snapshot_url": "...", "stream_url": "...",
 "event": "overtopping"}
"""

from __future__ import annotations

from typing import Any

from ingest.batch import Batch, VideoEvent
from ingest.decode import Context, Reject, checked_text, parse_ts

MAX_TEXT = 2_000  # characters of a URL or an event name
MAX_CAMERA = 200  # the camera id is part of the table's primary key (a btree key: ~2.7 kB at most)


def _text(doc: dict[str, Any], key: str, *, required: bool = False, max_chars: int = MAX_TEXT) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise Reject("bad_schema", f"{key}: expected a text of 1..{max_chars} characters, got {value!r:.200}")
    return checked_text(value, key, max_chars)


def parse(ctx: Context, doc: dict[str, Any], batch: Batch) -> None:
    ts, _late = parse_ts(doc.get("ts"), ctx)
    online = doc.get("online")
    if online is not None and not isinstance(online, bool):
        raise Reject("bad_schema", f"online: expected true/false, got {online!r}")
    batch.video.append(
        VideoEvent(
            station_id=ctx.station_id,
            camera=_text(doc, "camera", required=True, max_chars=MAX_CAMERA) or "",
            ts=ts,
            online=online,
            snapshot_url=_text(doc, "snapshot_url"),
            stream_url=_text(doc, "stream_url"),
            event=_text(doc, "event"),
            drill_id=ctx.drill_id,
        )
    )
