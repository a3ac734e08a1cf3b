"""Which order a warning calls for, as the rule engine drafts it (the commander approves it; alerts/orders.py)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from alerts import orders, warnings
from alerts.geography import Subject
from alerts.lifecycle import ACTIVE, Event
from alerts.templates import suggest_response_level
from floodctl.core.settings import Settings
from floodctl.domain.levels import LEVEL_RANK

log = logging.getLogger("floodctl.alerts.engine")

FLOOD_ACTIVE = (
    "SELECT hazard, level FROM warnings WHERE drill_id = %s AND state = 'active' AND category = 'flood' "
    "AND NOT late AND hazard IS NOT NULL"
)


def order_for(
    conn: psycopg.Connection,
    settings: Settings,
    events: list[Event],
    tracked: warnings.Tracked,
    rule: Any,
    subject: Subject,
    observed: str,
    late: bool,
    fresh: bool,
) -> tuple[int, bool] | None:
    """The order a warning's events call for: drafted (or merged into the draft of its hazard awaiting a
    commander: then None), auto-approved from the rule's level; none for late data or device warnings."""
    if late or tracked.late or rule.order_from is None or rule.category != "flood":
        return None
    w = tracked.warning
    if w.state != ACTIVE or LEVEL_RANK[w.level] < LEVEL_RANK[rule.order_from]:
        return None
    if not fresh and not any(e.kind in ("raised", "escalated") for e in events):
        return None
    towns = subject.towns()
    if not towns:
        log.warning("rule %s at %s: no town to send an order to", rule.id, w.key[1])
        return None
    active = [tuple(r) for r in conn.execute(FLOOD_ACTIVE, (tracked.drill_id,)).fetchall()]
    suggested = suggest_response_level(active)
    request = orders.OrderRequest(
        hazard=rule.hazard or "general",
        towns=towns,
        level=w.level,
        drill_id=tracked.drill_id,
        warning_id=tracked.id,
        subject=subject.name if subject.kind == "station" else None,
        observed=observed if subject.kind == "station" else None,
        response_level=suggested if suggested != "none" else None,
    )
    actor = f"rule:{rule.id}"
    auto = rule.auto_approve_from is not None and LEVEL_RANK[w.level] >= LEVEL_RANK[rule.auto_approve_from]
    if not auto and orders.merge_into_draft(conn, request, actor=actor, settings=settings):
        return None  # added to the draft awaiting a commander
    order_id = orders.draft(conn, request, actor=actor, settings=settings, source="rule")
    if order_id is None:
        return None
    log.info(
        "order %s drafted by rule %s for %s (%s)%s",
        order_id,
        rule.id,
        w.key[1],
        w.level,
        ", auto-approved" if auto else "",
    )
    return order_id, auto
