"""The warnings store: persists the lifecycle (alerts/lifecycle.py) and serves the warnings API.

The rule engine is the only writer of a warning's state; duty officers only acknowledge. Times in the
lifecycle are epoch seconds of event time; here they become timestamptz.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg.rows import dict_row

from alerts.lifecycle import Event, Warning, peak_level
from floodctl.core import audit
from floodctl.core.errors import NotFound
from floodctl.domain.levels import LEVEL_RANK, sql_rank

# Active warnings, and the newest cleared one of each key within two days (late data about a situation
# already over must not reopen it, see lifecycle.step).
LOAD_OPEN = """
SELECT DISTINCT ON (rule_id, subject, drill_id)
       id, rule_id, subject, drill_id, town_code, category, hazard, state, level, acknowledged,
       extract(epoch FROM raised_at) AS raised_at, extract(epoch FROM last_seen) AS last_seen,
       extract(epoch FROM cleared_at) AS cleared_at, extract(epoch FROM below_since) AS below_since,
       extract(epoch FROM acknowledged_at) AS acknowledged_at, value, threshold, late, level_history
FROM warnings
WHERE state = 'active' OR cleared_at > now() - interval '2 days'
   OR drill_id IN (SELECT id FROM drills WHERE id <> 0 AND ended_at IS NULL)
ORDER BY rule_id, subject, drill_id, (state = 'active') DESC, id DESC
"""
INSERT = """
INSERT INTO warnings (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state, level,
                      acknowledged, raised_at, last_seen, cleared_at, below_since, value, threshold,
                      message_zh, message_en, late, level_history)
VALUES (%(rule_id)s, %(subject)s, %(subject_kind)s, %(town_code)s, %(drill_id)s, %(category)s, %(hazard)s,
        %(state)s, %(level)s, %(acknowledged)s, %(raised_at)s, %(last_seen)s, %(cleared_at)s, %(below_since)s,
        %(value)s, %(threshold)s, %(message_zh)s, %(message_en)s, %(late)s, %(level_history)s)
RETURNING id
"""
UPDATE = """
UPDATE warnings SET state = %(state)s, level = %(level)s,
       acknowledged = acknowledged AND NOT %(escalated)s,
       acknowledged_at = CASE WHEN %(escalated)s THEN NULL ELSE acknowledged_at END,
       acknowledged_by = CASE WHEN %(escalated)s THEN NULL ELSE acknowledged_by END,
       last_seen = %(last_seen)s, cleared_at = %(cleared_at)s, below_since = %(below_since)s, value = %(value)s,
       threshold = %(threshold)s, message_zh = %(message_zh)s, message_en = %(message_en)s,
       level_history = %(level_history)s, updated_at = now()
WHERE id = %(id)s
"""
# The levels warnings of one rule and subject reached over a stretch of event time (late data about it).
COVERING = """
SELECT level_history FROM warnings
 WHERE drill_id = %s AND rule_id = %s AND subject = %s
   AND raised_at <= to_timestamp(%s) AND coalesce(cleared_at, 'infinity') >= to_timestamp(%s)
"""
INSERT_EVENT = """
INSERT INTO warning_events (warning_id, kind, at, level, previous_level, value, threshold, actor)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
LIST = f"""
SELECT w.id, w.rule_id, w.subject, w.subject_kind, s.name AS subject_name, w.town_code, t.name AS town_name,
       w.drill_id, w.category, w.hazard, w.state, w.level, w.acknowledged, w.acknowledged_by, w.acknowledged_at,
       w.raised_at, w.last_seen, w.cleared_at, w.value, w.threshold, w.message_zh, w.message_en, w.late,
       w.level_history,
       (SELECT max(o.id) FROM order_warnings ow JOIN orders o ON o.id = ow.order_id
        WHERE ow.warning_id = w.id AND o.status <> 'cancelled') AS order_id
FROM warnings w
LEFT JOIN stations s ON w.subject_kind = 'station' AND s.code = w.subject
LEFT JOIN towns t ON t.code = w.town_code
WHERE w.drill_id = %(drill)s
  AND (%(active)s::boolean IS NULL OR (w.state = 'active') = %(active)s)
  AND (%(category)s::text IS NULL OR w.category = %(category)s)
  AND (%(acknowledged)s::boolean IS NULL OR w.acknowledged = %(acknowledged)s)
ORDER BY (w.state = 'active') DESC,
         {sql_rank("w.level")} DESC NULLS LAST, w.last_seen DESC
LIMIT %(limit)s
"""
LOCK_ONE = "SELECT id, state, level, acknowledged, drill_id, rule_id, subject FROM warnings WHERE id = %s FOR UPDATE"
ACK = (
    "UPDATE warnings SET acknowledged = true, acknowledged_by = %s, acknowledged_at = now(), updated_at = now() "
    "WHERE id = %s"
)
EVENTS = (
    "SELECT kind, at, level, previous_level, value, threshold, actor FROM warning_events "
    "WHERE warning_id = %s ORDER BY id"
)


@dataclass(slots=True)
class Tracked:
    """A warning as the engine holds it: the lifecycle value plus what the database needs."""

    id: int
    drill_id: int
    town_code: str | None
    hazard: str | None
    late: bool
    warning: Warning


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def load_open(conn: psycopg.Connection) -> dict[tuple[int, str, str], Tracked]:
    """Warnings the engine must keep judging, by (drill, rule, subject)."""
    out: dict[tuple[int, str, str], Tracked] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for r in cur.execute(LOAD_OPEN):
            history = tuple((float(t), str(level)) for t, level in r["level_history"])
            w = Warning(
                key=(r["rule_id"], r["subject"]),
                category=r["category"],
                state=r["state"],
                acknowledged=r["acknowledged"],
                level=r["level"],
                raised_at=float(r["raised_at"]),
                last_seen=float(r["last_seen"]),
                level_history=history,
                cleared_at=_f(r["cleared_at"]),
                below_since=_f(r["below_since"]),
                acknowledged_at=_f(r["acknowledged_at"]),
                value=r["value"],
                threshold=r["threshold"],
            )
            out[(r["drill_id"], r["rule_id"], r["subject"])] = Tracked(
                r["id"], r["drill_id"], r["town_code"], r["hazard"], r["late"], w
            )
    return out


def _row(w: Warning, message_zh: str, message_en: str) -> dict[str, Any]:
    return dict(
        state=w.state,
        level=w.level,
        acknowledged=w.acknowledged,
        raised_at=_ts(w.raised_at),
        last_seen=_ts(w.last_seen),
        cleared_at=_ts(w.cleared_at),
        below_since=_ts(w.below_since),
        value=w.value,
        threshold=w.threshold,
        message_zh=message_zh,
        message_en=message_en,
        level_history=orjson.dumps([list(x) for x in w.level_history]).decode(),
    )


def insert(cur: psycopg.Cursor, t: Tracked, subject_kind: str, message_zh: str, message_en: str) -> int:
    w = t.warning
    params = _row(w, message_zh, message_en) | dict(
        rule_id=w.key[0],
        subject=w.key[1],
        subject_kind=subject_kind,
        town_code=t.town_code,
        drill_id=t.drill_id,
        category=w.category,
        hazard=t.hazard,
        late=t.late,
    )
    row = cur.execute(INSERT, params).fetchone()
    assert row is not None
    return int(row[0])


def update(cur: psycopg.Cursor, t: Tracked, message_zh: str, message_en: str, *, escalated: bool) -> None:
    """Persist the engine's view; an acknowledgement given meanwhile survives unless the warning escalated."""
    cur.execute(UPDATE, _row(t.warning, message_zh, message_en) | {"id": t.id, "escalated": escalated})


def record_events(cur: psycopg.Cursor, warning_id: int, events: list[Event]) -> None:
    rows = [
        (warning_id, e.kind, _ts(e.at), e.level, e.previous_level, e.decision.value, e.decision.threshold, None)
        for e in events
        if e.kind != "refreshed"
    ]
    if rows:
        cur.executemany(INSERT_EVENT, rows)


def record_past(cur: psycopg.Cursor, t: Tracked, subject_kind: str, events: list[Event]) -> bool:
    """Record a past warning that late data implies (补录: ``t.late``, already cleared), unless a warning of
    its rule and subject over the same stretch reached its peak level already. True when recorded."""
    w = t.warning
    assert w.cleared_at is not None
    covering = cur.execute(COVERING, (t.drill_id, w.key[0], w.key[1], w.cleared_at, w.raised_at)).fetchall()
    reached = [LEVEL_RANK[level] for (history,) in covering for _, level in history]
    peak = peak_level(w)
    if reached and max(reached) >= LEVEL_RANK[peak]:
        return False
    at_peak = next(e.decision for e in events if e.level == peak)
    t.id = insert(cur, t, subject_kind, at_peak.message_zh, at_peak.message_en)
    record_events(cur, t.id, events)
    return True


def list_warnings(
    conn: psycopg.Connection,
    *,
    drill: int = 0,
    active: bool | None = None,
    category: str | None = None,
    acknowledged: bool | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            LIST, dict(drill=drill, active=active, category=category, acknowledged=acknowledged, limit=limit)
        ).fetchall()
    return list(jsonable_encoder(rows))


def events(conn: psycopg.Connection, warning_id: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(jsonable_encoder(cur.execute(EVENTS, (warning_id,)).fetchall()))


def acknowledge_warning(conn: psycopg.Connection, warning_id: int, actor: str) -> dict[str, Any]:
    """A duty officer has seen the warning. Acknowledging twice is harmless (the first one stands)."""
    row = conn.execute(LOCK_ONE, (warning_id,)).fetchone()
    if row is None:
        raise NotFound(f"no warning {warning_id}")
    _, state, level, acknowledged, drill_id, rule_id, subject = row
    if not acknowledged:
        conn.execute(ACK, (actor, warning_id))
        conn.execute(INSERT_EVENT, (warning_id, "acknowledged", datetime.now(UTC), level, None, None, None, actor))
        audit.record(
            conn,
            actor,
            "warning.acknowledge",
            f"warning:{warning_id}",
            {"rule": rule_id, "subject": subject, "level": level, "state": state},
            drill_id=drill_id,
        )
    with conn.cursor(row_factory=dict_row) as cur:
        result = cur.execute(
            "SELECT id, state, level, acknowledged, acknowledged_by, acknowledged_at FROM warnings WHERE id = %s",
            (warning_id,),
        ).fetchone()
    assert result is not None
    return dict(jsonable_encoder(result))
