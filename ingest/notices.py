"""The notification from ingest to the rule engine: which stations got readings, for which time range.

Sent with ``pg_notify`` in the transaction that commits a batch (so the engine only ever hears of
committed data) on ``CHANNEL``; one encoder (``encode``) and one decoder (``decode``) of the payload,
compact JSON ``[[drill, station, first, last], …]`` with whole epoch seconds that enclose the readings.
A payload stays far below PostgreSQL's 8000-byte limit: ``MAX_PER_PAYLOAD`` ranges each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import orjson

CHANNEL: Final = "floodctl_obs"
MAX_PER_PAYLOAD: Final = 150  # a range takes at most 48 bytes: 7,200 of the 8,000 allowed


@dataclass(frozen=True, slots=True)
class ObsRange:
    drill_id: int
    station_id: int
    first: float  # epoch seconds, at or before the station's oldest reading of the batch
    last: float  # at or after its newest


def encode(ranges: Iterable[ObsRange]) -> list[str]:
    """The payloads that name ``ranges``, MAX_PER_PAYLOAD per payload."""
    items = [[r.drill_id, r.station_id, math.floor(r.first), math.ceil(r.last)] for r in ranges]
    return [orjson.dumps(items[i : i + MAX_PER_PAYLOAD]).decode() for i in range(0, len(items), MAX_PER_PAYLOAD)]


def decode(payload: str) -> list[ObsRange]:
    """The ranges a payload names; ValueError for one that is not ingest's."""
    try:
        items = orjson.loads(payload) if payload else []
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not a readings notification: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("not a readings notification: not a list")
    out = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not all(isinstance(x, int | float) for x in item)
            or isinstance(item[0], bool)
            or not float(item[2]) <= float(item[3])
        ):
            raise ValueError(f"not a readings notification item: {item!r}")
        out.append(ObsRange(int(item[0]), int(item[1]), float(item[2]), float(item[3])))
    return out
