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
Decisions older than what a warning has already seen are ignored (late data never reopens or lowers
a situation already judged; the caller treats a warning raised from late data as history).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from alerts.rules import LEVEL_RANK, Decision, Rule

ACTIVE = "active"
CLEARED = "cleared"
EVENT_KINDS = ("raised", "escalated", "de-escalated", "refreshed", "cleared")


@dataclass(frozen=True, slots=True)
class Warning:
    key: tuple[str, str]                       # (rule id, station code or area id)
    category: str                              # flood | device
    state: str                                 # active | cleared
    acknowledged: bool
    level: str
    raised_at: float
    last_seen: float                           # the latest event time the condition held (or was judged)
    level_history: tuple[tuple[float, str], ...]
    cleared_at: float | None = None
    below_since: float | None = None           # when the hold level first fell below ``level``
    acknowledged_at: float | None = None
    value: float | None = None                 # the latest judged value and its trigger
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str                                  # one of EVENT_KINDS
    key: tuple[str, str]
    at: float
    level: str | None                          # the warning's level after the event
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
            return warning, []                 # late data about a situation already over
        if decision.level is None:
            return warning, []
        new = Warning(key=key, category=decision.category, state=ACTIVE, acknowledged=False,
                      level=decision.level, raised_at=now, last_seen=now,
                      level_history=((now, decision.level),), value=decision.value, threshold=decision.threshold)
        return new, [event("raised", new, None)]

    if now < warning.last_seen:
        return warning, []                     # older than what this warning has already judged

    seen = dict(last_seen=now, value=decision.value, threshold=decision.threshold)
    if _rank(decision.level) > _rank(warning.level):
        new = replace(warning, level=decision.level, acknowledged=False, acknowledged_at=None, below_since=None,
                      level_history=warning.level_history + ((now, decision.level),), **seen)
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
        new = replace(warning, level=lower, below_since=None,
                      level_history=warning.level_history + ((now, lower),), **seen)
        return new, [event("de-escalated", new, warning.level)]
    new = replace(warning, below_since=below_since, **seen)
    return new, [event("refreshed", new, warning.level)] if decision.condition else []


def acknowledge(warning: Warning, at: float) -> Warning:
    """A duty officer has seen it: the state (active or cleared) does not change."""
    if warning.acknowledged:
        return warning
    return replace(warning, acknowledged=True, acknowledged_at=at)
