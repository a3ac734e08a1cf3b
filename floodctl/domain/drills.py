"""Drills (演练) and their isolation: drill 0 is live operations; every drill text carries the marker."""

from __future__ import annotations

from typing import Final

LIVE: Final = 0  # drill_id of live operations
DRILL_MARKER: Final = "【演练】"  # first thing in every drill text; a live gateway refuses any text with it
DRILL_NOTE_ZH: Final = "本指令为演练，请勿外传。"
DRILL_NOTE_EN: Final = "This order is a DRILL; do not forward it."


def is_drill(drill_id: int | None) -> bool:
    return bool(drill_id)


def marked(text: str) -> bool:
    """Does ``text`` carry the drill marker (anywhere: a live gateway refuses it wherever it is)?"""
    return DRILL_MARKER in text


def mark(text: str, drill_id: int | None) -> str:
    """``text`` as sent in ``drill_id``: a drill's text starts with the marker (once); a live text is unchanged."""
    if not is_drill(drill_id) or text.startswith(DRILL_MARKER):
        return text
    return DRILL_MARKER + text
