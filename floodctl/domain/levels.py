"""Warning levels (预警等级): four colours, blue lowest, red highest (GB/T 40101 and the county's plan)."""

from __future__ import annotations

from typing import Final, Literal

LevelName = Literal["blue", "yellow", "orange", "red"]

LEVELS: Final[tuple[LevelName, ...]] = ("blue", "yellow", "orange", "red")  # ascending severity
LEVELS_DESC: Final[tuple[LevelName, ...]] = tuple(reversed(LEVELS))
LEVEL_RANK: Final[dict[str, int]] = {name: i for i, name in enumerate(LEVELS)}  # blue 0 … red 3

LEVEL_ZH: Final[dict[str, str]] = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_EN: Final[dict[str, str]] = {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"}
# Shown beside the colour so that a level never depends on colour vision alone.
LEVEL_SHAPE: Final[dict[str, str]] = {"blue": "●", "yellow": "▲", "orange": "◆", "red": "■"}
LEVEL_NUMERAL: Final[dict[str, str]] = {"blue": "Ⅳ", "yellow": "Ⅲ", "orange": "Ⅱ", "red": "Ⅰ"}
LEVEL_COLOUR: Final[dict[str, str]] = {"blue": "#1e6fd9", "yellow": "#f2c200", "orange": "#f57c00", "red": "#d32f2f"}

# How a level reads in CAP 1.2 (urgency, severity, certainty). Severity follows the usual colour/CAP pairing
# of the Chinese warning systems (red Extreme, orange Severe, yellow Moderate, blue Minor); urgency and
# certainty say how close and how sure: a red order is issued on an observed, immediate threat, a blue one
# is a heads-up about something possible in the future.
LEVEL_CAP: Final[dict[str, tuple[str, str, str]]] = {
    "red": ("Immediate", "Extreme", "Observed"),
    "orange": ("Expected", "Severe", "Likely"),
    "yellow": ("Expected", "Moderate", "Likely"),
    "blue": ("Future", "Minor", "Possible"),
}


def rank(level: str | None) -> int:
    """The level's rank (blue 0 … red 3); -1 for none."""
    return -1 if level is None else LEVEL_RANK[level]


def highest(levels: list[str | None]) -> str | None:
    """The most severe of ``levels`` (None when there is none)."""
    present = [lv for lv in levels if lv is not None]
    return max(present, key=rank) if present else None


def sql_rank(column: str) -> str:
    """A SQL expression ranking ``column`` like ``rank`` (1-based, NULL for no level), for ORDER BY."""
    return f"array_position(ARRAY[{', '.join(repr(lv) for lv in LEVELS)}]::text[], {column})"
