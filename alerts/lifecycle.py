"""The warning (alarm) state machine: one warning per (rule, station or area), driven by decisions.

    (none) --level reached--> active --level reached again--> active (refreshed: last_seen moves)
                                 |  --higher level--> active (escalated at once; needs a fresh ack)
                                 |  --hold level below the warning's level for clear_after_s-->
                                 |        active (de-escalated to the hold level) or cleared (hold level none)
                              cleared --level reached--> a new warning (raised); the cleared one is history

    acknowledged is orthogonal: active/cleared × acknowledged/unacknowledged are all valid states.

Pure: ``step`` takes the current warning (or None), a Decision from ``alerts.rules.evaluate``, the event
time and the rule, and returns the new warning and the events the caller persists. Hysteresis lives in
the decision's ``hold_level`` (grade trigger minus the rule's ``clear_deadband``) plus the rule's
``clear_after_s`` here, so a value hovering at a threshold raises once and does not flap.
Decisions older than what a warning has already seen are ignored by ``step`` (late data never reopens
or lowers a situation already judged). Late data is judged by ``step_late`` (within an active warning's
life: a higher level escalates it) and ``replay`` (a past stretch no warning covers: the warnings it
implies, each closed by the end of the stretch, which the caller records as history, 补录).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from alerts.rules import Decision, Rule
from floodctl.domain.levels import LEVEL_RANK

ACTIVE = "active"
CLEARED = "cleared"
EVENT_KINDS = ("raised", "escalated", "de-escalated", "refreshed", "cleared")


@dataclass(frozen=True, slots=True)
class Warning:
    key: tuple[str, str]  # (rule id, station code or area id)
    category: str  # flood | device
    state: str  # active | cleared
    acknowledged: bool
    level: str
    raised_at: float
    last_seen: float  # the latest event time the condition held (or was judged)
    level_history: tuple[tuple[float, str], ...]
    cleared_at: float | None = None
    below_since: float | None = None  # when the hold level first fell below ``level``
    acknowledged_at: float | None = None
    value: float | None = None  # the latest judged value and its trigger
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # one of EVENT_KINDS
    key: tuple[str, str]
    at: float
    level: str | None  # the warning's level after the event
    previous_level: str | None
    decision: Decision


def _rank(level: str | None) -> int:
    return -1 if level is None else LEVEL_RANK[level]


def step(warning: Warning | None, decision: Decision, now: float, rule: Rule) -> tuple[Warning | None, list[Event]]:
    """Advance one warning by one decision judged at event time ``now``."""
    key = (decision.rule_id, decision.station)
    if warning is not None and warning.key != key:
        raise ValueError(f"decision for {key} given warning {warning.key}")

    def event(kind: str, w: Warning, previous: str | None) -> Event:
        return Event(kind, key, now, w.level, previous, decision)

    if warning is None or warning.state == CLEARED:
        if warning is not None and warning.cleared_at is not None and now <= warning.cleared_at:
            return warning, []  # late data about a situation already over
        if decision.level is None:
            return warning, []
        new = Warning(
            key=key,
            category=decision.category,
            state=ACTIVE,
            acknowledged=False,
            level=decision.level,
            raised_at=now,
            last_seen=now,
            level_history=((now, decision.level),),
            value=decision.value,
            threshold=decision.threshold,
        )
        return new, [event("raised", new, None)]

    if now < warning.last_seen:
        return warning, []  # older than what this warning has already judged

    seen: dict[str, Any] = dict(last_seen=now, value=decision.value, threshold=decision.threshold)
    if decision.level is not None and _rank(decision.level) > _rank(warning.level):
        new = replace(
            warning,
            level=decision.level,
            acknowledged=False,
            acknowledged_at=None,
            below_since=None,
            level_history=warning.level_history + ((now, decision.level),),
            **seen,
        )
        return new, [event("escalated", new, warning.level)]

    if _rank(decision.hold_level) >= _rank(warning.level):
        new = replace(warning, below_since=None, **seen)
        return new, [event("refreshed", new, warning.level)] if decision.condition else []

    # Below the warning's clear line: wait clear_after_s before lowering or clearing.
    below_since = warning.below_since if warning.below_since is not None else now
    if now - below_since >= rule.clear_after_s:
        if decision.hold_level is None:
            new = replace(warning, state=CLEARED, cleared_at=now, below_since=None, **seen)
            return new, [event("cleared", new, warning.level)]
        lower = decision.hold_level
        new = replace(
            warning, level=lower, below_since=None, level_history=warning.level_history + ((now, lower),), **seen
        )
        return new, [event("de-escalated", new, warning.level)]
    new = replace(warning, below_since=below_since, **seen)
    return new, [event("refreshed", new, warning.level)] if decision.condition else []


def level_at(warning: Warning, at: float) -> str | None:
    """The level the warning had at event time ``at`` (None before it was raised)."""
    level = None
    for t, lvl in warning.level_history:
        if t <= at:
            level = lvl
    return level


def peak_level(warning: Warning) -> str:
    """The highest level the warning reached over its life."""
    return max((lvl for _, lvl in warning.level_history), key=_rank, default=warning.level)


def step_late(warning: Warning, decision: Decision, at: float) -> tuple[Warning, list[Event]]:
    """A decision about event time ``at`` in an active warning's situation but older than what it has judged
    (its data arrived late). A level higher than the warning had at ``at`` escalates it; late data never
    lowers, refreshes or clears a warning."""
    if warning.state != ACTIVE or decision.level is None:
        return warning, []
    if _rank(decision.level) <= _rank(level_at(warning, at)) or _rank(decision.level) <= _rank(warning.level):
        return warning, []
    new = replace(
        warning,
        level=decision.level,
        acknowledged=False,
        acknowledged_at=None,
        below_since=None,
        level_history=tuple(sorted(warning.level_history + ((at, decision.level),))),
    )
    return new, [Event("escalated", warning.key, at, new.level, warning.level, decision)]


def replay(decisions: Iterable[tuple[float, Decision]], rule: Rule, end: float) -> list[tuple[Warning, list[Event]]]:
    """The warnings a stretch of decisions implies on its own, in event-time order, each with its events; one
    still active at ``end`` (the stretch's last judged time) is cleared there: late data about a stretch no
    warning covered becomes history, never a live warning."""
    episodes: list[tuple[Warning, list[Event]]] = []
    current: Warning | None = None
    events: list[Event] = []
    last: Decision | None = None
    for at, decision in decisions:
        last = decision
        new, evs = step(current, decision, at, rule)
        if any(e.kind == "raised" for e in evs) and current is not None:
            episodes.append((current, events))
            events = []
        current = new
        events += evs
    if current is None or last is None:
        return episodes
    if current.state == ACTIVE:
        current = replace(current, state=CLEARED, cleared_at=end, below_since=None)
        events.append(Event("cleared", current.key, end, current.level, current.level, last))
    episodes.append((current, events))
    return episodes


def acknowledge(warning: Warning, at: float) -> Warning:
    """A duty officer has seen it: the state (active or cleared) does not change."""
    if warning.acknowledged:
        return warning
    return replace(warning, acknowledged=True, acknowledged_at=at)
