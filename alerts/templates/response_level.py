"""The county emergency-response level the active flood warnings suggest (a suggestion for the commander)."""

from __future__ import annotations

from collections.abc import Iterable

from alerts.templates.render import require_one_of
from floodctl.domain.hazards import HAZARDS
from floodctl.domain.levels import LEVEL_RANK, LEVELS
from floodctl.domain.response import RESPONSE_LEVELS, RESPONSE_RANK

_COASTAL = ("typhoon", "storm_tide", "seawall_breach")
# The response one warning suggests on its own: hazard -> (blue, yellow, orange, red).
_SINGLE = {
    "typhoon": ("IV", "IV", "III", "II"),
    "seawall_breach": ("IV", "IV", "III", "II"),
    "storm_tide": ("none", "IV", "III", "II"),
}
_SINGLE_OTHER = ("none", "IV", "III", "III")


def suggest_response_level(warnings: Iterable[tuple[str, str]]) -> str:
    """The county emergency-response level that the active flood warnings suggest — a suggestion only.

    ``warnings``: (hazard, colour) of every active warning in the county (several stations may each
    have one). The suggestion is the highest level any row below gives (empty input: "none"):

    ====================================================  =====  ======  ======  =====
    one warning on its own                                blue   yellow  orange  red
    ====================================================  =====  ======  ======  =====
    typhoon, seawall_breach                               IV     IV      III     II
    storm_tide                                            none   IV      III     II
    river_flood, reservoir, rainstorm, waterlogging,      none   IV      III     III
    general
    ====================================================  =====  ======  ======  =====

    ==============================================================================  =====
    several warnings together                                                       gives
    ==============================================================================  =====
    ≥ 5 warnings yellow or above                                                    III
    ≥ 3 warnings orange or above                                                    II
    ≥ 3 red warnings                                                                II
    ≥ 3 red warnings, one of them typhoon, storm_tide or seawall_breach             I
    a red typhoon together with a red storm_tide or red seawall_breach              I
    ==============================================================================  =====

    Monotone by construction: every row depends only on counts at or above a colour and on a
    per-warning value that does not fall with the colour, so adding a warning or raising a colour
    never lowers the suggestion. This loosely follows Zhejiang practice (the typhoon signal colour
    drives the 防台风 response; river, reservoir and rain warnings drive the 防汛 response, a single
    station rarely beyond Ⅲ级); the commander decides the actual level.
    """
    if isinstance(warnings, str | bytes):
        raise ValueError("warnings must be an iterable of (hazard, level) pairs")
    best = 0
    yellow_plus = orange_plus = red = 0
    red_hazards: set[str] = set()
    for item in warnings:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"each warning must be a (hazard, level) pair, not {item!r}")
        hazard, level = item
        require_one_of("hazard", hazard, HAZARDS)
        require_one_of("level", level, LEVELS)
        rank = LEVEL_RANK[level]
        best = max(best, RESPONSE_RANK[_SINGLE.get(hazard, _SINGLE_OTHER)[rank]])
        yellow_plus += rank >= LEVEL_RANK["yellow"]
        orange_plus += rank >= LEVEL_RANK["orange"]
        if level == "red":
            red += 1
            red_hazards.add(hazard)
    if yellow_plus >= 5:
        best = max(best, RESPONSE_RANK["III"])
    if orange_plus >= 3 or red >= 3:
        best = max(best, RESPONSE_RANK["II"])
    if (red >= 3 and red_hazards & set(_COASTAL)) or (
        "typhoon" in red_hazards and red_hazards & {"storm_tide", "seawall_breach"}
    ):
        best = RESPONSE_RANK["I"]
    return RESPONSE_LEVELS[best]
