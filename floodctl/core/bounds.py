"""Bounds on the times a request may ask for, checked where the input enters.

A time outside ``EARLIEST``..``LATEST`` is refused as a clear 400: no reading, drill or storm of the
county lies there, and date arithmetic near year 1 or 9999 overflows (a year-1 map export was a 500).
"""

from __future__ import annotations

from datetime import UTC, datetime

from floodctl.core.errors import InvalidQuery

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_time(value: datetime, name: str) -> datetime:
    """``value`` (timezone-aware) when it lies within the bounds; InvalidQuery naming ``name`` otherwise."""
    try:
        inside = EARLIEST <= value <= LATEST
    except (OverflowError, ValueError):  # an offset that pushes it past datetime's own range
        inside = False
    if not inside:
        raise InvalidQuery(
            f"{name}: {value.isoformat()} is outside {EARLIEST.year}-{LATEST.year - 1}; "
            "give a time like 2021-07-25T12:00:00+08:00"
        )
    return value
