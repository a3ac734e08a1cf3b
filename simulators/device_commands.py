"""The command contract of the village LED boards and loudspeakers: command topics, payloads, bad commands.

Command payload (UTF-8 JSON object)::

    {"command_id": "ord-42-LED-330225001201-1",   # required, non-empty string (<= 128 chars)
     "text": "【演练】台风红色预警，请立即转移",      # required string: what the board shows / the speaker says
     "drill_id": 0,                                 # optional, 0 (default) = real operations, N = drill N
     "priority": "normal",                          # optional, "normal" (default) or "urgent"
     "repeat": 1}                                   # optional, times the speaker plays the text (1..10)

A payload that is not a valid command still yields its ``command_id`` (and ``drill_id``) when they can be
read (:func:`salvage`), so that the device can answer ``failed`` with the reason ``bad command``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import orjson

from floodctl.domain.topics import DEVICE_KINDS, device_topic

MAX_REPEAT = 10
MAX_COMMAND_ID = 128
BAD_COMMAND = "bad command"
_COMMAND_ID_RE = re.compile(rb'"command_id"\s*:\s*"((?:[^"\\]|\\.){1,128})"')


class BadCommand(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    text: str
    drill_id: int
    priority: str
    repeat: int


def parse_command(payload: bytes) -> Command:
    """The command in ``payload``, or BadCommand saying what is wrong."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadCommand("not JSON") from None
    if not isinstance(data, dict):
        raise BadCommand("not a JSON object")
    command_id = data.get("command_id")
    if not isinstance(command_id, str) or not command_id or len(command_id) > MAX_COMMAND_ID:
        raise BadCommand("command_id missing or not a string of 1..128 characters")
    text = data.get("text")
    if not isinstance(text, str):
        raise BadCommand("text missing or not a string")
    drill_id = data.get("drill_id", 0)
    if drill_id is None:
        drill_id = 0
    if isinstance(drill_id, bool) or not isinstance(drill_id, int) or drill_id < 0:
        raise BadCommand("drill_id must be 0 or a drill number")
    priority = data.get("priority", "normal")
    if priority not in ("normal", "urgent"):
        raise BadCommand("priority must be normal or urgent")
    repeat = data.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise BadCommand(f"repeat must be 1..{MAX_REPEAT}")
    return Command(command_id, text, drill_id, priority, repeat)


def command_address(topic: str) -> tuple[str, str, bool] | None:
    """(device kind, device id, on the drill topic?) of a command topic; None for any other topic."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[-3] not in DEVICE_KINDS:
        return None
    kind, device_id = parts[-3], parts[-2]
    for drill_topic in (False, True):
        if topic == device_topic(kind, device_id, drill_topic):
            return kind, device_id, drill_topic
    return None


def salvage(payload: bytes) -> tuple[str | None, int | None]:
    """command_id (and drill_id) of a bad command, when they can be read at all."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        command_id = data.get("command_id")
        drill_id = data.get("drill_id", 0)
        ok_id = isinstance(command_id, str) and 0 < len(command_id) <= MAX_COMMAND_ID
        ok_drill = isinstance(drill_id, int) and not isinstance(drill_id, bool) and drill_id >= 0
        return (command_id if ok_id else None), (drill_id if ok_drill else None)
    match = _COMMAND_ID_RE.search(payload)
    if match is None:
        return None, None
    try:
        return json.loads(b'"' + match.group(1) + b'"'), None
    except ValueError:
        return None, None
