"""The invariants that must hold after the fault drill, each checked against the stack's database and stubs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from floodctl.domain.levels import LEVEL_RANK, highest, rank
from simulators.fault_drill.people import Replies
from simulators.fault_drill.reference import WarningKey
from simulators.fault_drill.stack import Stack

FINAL = ("sent", "delivered", "undelivered", "acked", "failed", "cancelled")
SMS_SENT = ("sent", "delivered", "undelivered", "acked")
# Every level a drill's warning reached over its life: its present level and the levels of its events.
WARNING_LEVELS = """
SELECT w.rule_id, w.subject, w.level FROM warnings w WHERE w.drill_id = %(d)s UNION ALL
SELECT w.rule_id, w.subject, e.level FROM warning_events e JOIN warnings w ON w.id = e.warning_id
WHERE w.drill_id = %(d)s AND e.level IS NOT NULL
"""


@dataclass(slots=True)
class Invariant:
    name: str
    ok: bool
    detail: str


def check_invariants(
    stack: Stack, drill_id: int, plan: Any, replies: Replies, reference: Mapping[WarningKey, str]
) -> list[Invariant]:
    with psycopg.connect(stack.dsn) as conn:
        return [
            readings_once(conn, drill_id, plan),
            warnings_raised(conn, drill_id, reference),
            orders_delivered(conn, drill_id, stack),
            no_forged_ack(conn, drill_id, replies),
            back_to_normal(conn, stack),
        ]


def readings_once(conn: psycopg.Connection, drill_id: int, plan: Any) -> Invariant:
    expected = {
        (m.station, metric, int(ts))
        for m in plan.messages
        if m.kind == "obs"
        for ts, values in m.readings
        for metric in values
    }
    rows = conn.execute(
        "SELECT s.code, m.name, extract(epoch FROM o.ts)::bigint FROM observations o "
        "JOIN stations s ON s.id = o.station_id JOIN metrics m ON m.id = o.metric_id WHERE o.drill_id = %s",
        (drill_id,),
    ).fetchall()
    stored = [(c, m, int(t)) for c, m, t in rows]
    missing = expected - set(stored)
    extra = set(stored) - expected
    twice = len(stored) - len(set(stored))
    ok = not missing and not extra and not twice
    return Invariant(
        "every acknowledged reading stored once",
        ok,
        f"{len(expected):,} published, {len(set(stored)):,} stored, {len(missing)} missing, "
        f"{len(extra)} unexpected, {twice} twice",
    )


def missed_warnings(reference: Mapping[WarningKey, str], actual: Mapping[WarningKey, str]) -> list[WarningKey]:
    """The warnings not raised at the level the readings imply (no warning at all ranks below blue)."""
    return sorted(key for key, level in reference.items() if rank(actual.get(key)) < rank(level))


def warnings_raised(conn: psycopg.Connection, drill_id: int, reference: Mapping[WarningKey, str]) -> Invariant:
    actual: dict[WarningKey, str] = {}
    for rule, subject, level in conn.execute(WARNING_LEVELS, {"d": drill_id}):
        if level in LEVEL_RANK:
            actual[(rule, subject)] = highest([actual.get((rule, subject)), level]) or level
    missed = missed_warnings(reference, actual)
    return Invariant(
        "every warning the readings imply raised",
        not missed,
        f"{len(reference)} implied by the stored readings, {len(reference) - len(missed)} raised "
        f"at their level" + (f"; missed {missed[:5]}" if missed else ""),
    )


def orders_delivered(conn: psycopg.Connection, drill_id: int, stack: Stack) -> Invariant:
    approved = conn.execute(
        "SELECT id, towns, channels FROM orders WHERE drill_id = %s AND status <> 'draft'", (drill_id,)
    ).fetchall()
    problems = _towns_without_sms(conn, approved)
    rows = conn.execute(
        "SELECT id, channel, state, provider_id, last_error FROM deliveries WHERE drill_id = %s", (drill_id,)
    ).fetchall()
    with stack.drill_gateway.lock:
        at_gateway = [dict(m) for m in stack.drill_gateway.messages.values()]
    live = len(stack.live_gateway.messages)
    problems += _delivery_problems(rows, at_gateway, live)
    return Invariant(
        "every approved order delivered once per recipient and channel",
        not problems,
        f"{len(approved)} orders, {len(rows)} deliveries ({_delivery_summary(rows)}); "
        f"{len(at_gateway)} SMS at the drill gateway, {live} at the live one"
        + (f"; {'; '.join(problems)}" if problems else ""),
    )


def _towns_without_sms(conn: psycopg.Connection, approved: list[tuple[Any, ...]]) -> list[str]:
    """Orders sent by SMS where a town's first responsible person got none."""
    problems: list[str] = []
    for order_id, towns, channels in approved:
        if "sms" not in channels:
            continue
        reached = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT town_code FROM deliveries WHERE order_id = %s AND "
                "channel = 'sms' AND recipient = 'primary'",
                (order_id,),
            )
        }
        lost = set(towns) - reached
        if lost:
            problems.append(f"order {order_id}: no SMS to the first person of {len(lost)} town(s)")
    return problems


def _delivery_problems(rows: list[tuple[Any, ...]], at_gateway: list[dict[str, Any]], live: int) -> list[str]:
    """Deliveries (id, channel, state, provider id, last error) against what the drill gateway received."""
    unfinished = [r for r in rows if r[2] not in FINAL]
    no_reason = [r for r in rows if r[2] == "failed" and not r[4]]
    sms_sent = [r for r in rows if r[1] == "sms" and r[2] in SMS_SENT]
    by_body: dict[tuple[str, str], int] = {}
    for m in at_gateway:
        by_body[(m["to"], m["body"])] = by_body.get((m["to"], m["body"]), 0) + 1
    twice = sum(n - 1 for n in by_body.values() if n > 1)
    sids = {m["sid"] for m in at_gateway}
    unknown = [r for r in sms_sent if r[3] not in sids]
    problems: list[str] = []
    if unfinished:
        problems.append(f"{len(unfinished)} deliveries not finished")
    if no_reason:
        problems.append(f"{len(no_reason)} failed without a reason")
    if twice:
        problems.append(f"{twice} SMS sent twice")
    if unknown:
        problems.append(f"{len(unknown)} SMS recorded as sent but unknown to the gateway")
    if live:
        problems.append(f"{live} drill SMS reached the LIVE gateway")
    return problems


def _delivery_summary(rows: list[tuple[Any, ...]]) -> str:
    """How many deliveries ended in each state, and why the failed ones failed."""
    states: dict[str, int] = {}
    for r in rows:
        states[r[2]] = states.get(r[2], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    reasons: dict[str, int] = {}
    for r in rows:
        if r[2] == "failed":
            reason = f"{r[1]}: {(r[4] or '')[:60]}"
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        summary += "; failed with: " + "; ".join(f"{n} × {why}" for why, n in sorted(reasons.items()))
    return summary


def no_forged_ack(conn: psycopg.Connection, drill_id: int, replies: Replies) -> Invariant:
    by_sms = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT ot.town_code FROM order_towns ot JOIN orders o ON o.id = ot.order_id "
            "WHERE o.drill_id = %s AND ot.ack_via = 'sms'",
            (drill_id,),
        )
    }
    unearned = by_sms - replies.answered
    ok = not unearned and replies.forged_accepted == 0
    return Invariant(
        "no forged acknowledgement accepted",
        ok,
        f"{len(replies.answered)} towns replied, {len(by_sms)} acknowledged by SMS; "
        f"{replies.forged_refused} forged refused, {replies.forged_accepted} forged accepted, "
        f"{replies.replayed} replayed" + (f"; acknowledged without a reply: {sorted(unearned)}" if unearned else ""),
    )


def back_to_normal(conn: psycopg.Connection, stack: Stack) -> Invariant:
    down = [name for name, c in stack.children.items() if not c.alive()]
    try:
        health = httpx.get(f"{stack.api}/healthz", timeout=5, trust_env=False).json().get("status", "?")
    except (httpx.HTTPError, ValueError):
        health = "unreachable"
    row = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'sending' AND lease_until < now()").fetchone()
    stuck = int(row[0]) if row else 0
    ok = not down and health == "ok" and stuck == 0
    return Invariant(
        "back to normal without a hand on it",
        ok,
        f"components down: {', '.join(down) or 'none'}; /healthz {health}; {stuck} deliveries stuck in sending",
    )
