"""The MQTT topics of the contract (DESIGN.md): readings up, device commands down and their acks.

flood/v1/{station}/{kind}                 kind: obs, video, status (device → system)
flood/v1/{led|speaker}/{device}/cmd       commands to village boards and loudspeakers (live)
flood/v1/drill/{led|speaker}/{device}/cmd the same for drills (real devices' ACLs exclude it)
…/ack                                     the device's answer, in the namespace of the command
"""

from __future__ import annotations

from typing import Final

TOPIC_ROOT: Final = "flood/v1"
DRILL_SEGMENT: Final = "drill"
STATION_KINDS: Final[tuple[str, ...]] = ("obs", "video", "status")
DEVICE_KINDS: Final[tuple[str, ...]] = ("led", "speaker")
SUBSCRIPTION: Final = f"{TOPIC_ROOT}/+/+"  # everything stations publish
OBS_SUBSCRIPTION: Final = f"{TOPIC_ROOT}/+/obs"


def station_topic(station: str, kind: str = "obs") -> str:
    return f"{TOPIC_ROOT}/{station}/{kind}"


def parse_station_topic(topic: str) -> tuple[str, str] | None:
    """(station, kind) of ``flood/v1/{station}/{kind}``, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT or not parts[2] or not parts[3]:
        return None
    return parts[2], parts[3]


def device_topic(kind: str, device: str, drill: bool, leaf: str = "cmd") -> str:
    """``flood/v1/{kind}/{device}/{leaf}`` live, ``flood/v1/drill/{kind}/{device}/{leaf}`` in drills."""
    return f"{TOPIC_ROOT}/{DRILL_SEGMENT + '/' if drill else ''}{kind}/{device}/{leaf}"


def device_filters(leaf: str, *, drill: bool | None = None) -> tuple[str, ...]:
    """Subscription filters for every device kind's ``leaf`` (live, drill, or both when None)."""
    spaces = (False, True) if drill is None else (drill,)
    return tuple(device_topic(kind, "+", d, leaf) for d in spaces for kind in DEVICE_KINDS)
