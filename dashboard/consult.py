"""Consultations (会商): the county HQ's meetings in front of the wall — attendees, frozen situation snapshots and
the decisions taken, each decision through the same code path (and audit trail) as the ordinary API.

    open ──close──▶ closed          attendees, snapshots and decisions only while open (else Conflict)

Decisions:
- ``response_level``: ``alerts.response.apply_response_level`` (what ``POST /api/v1/response-level`` does);
- ``approve_order``: ``alerts.orders.approve`` (what ``POST /api/v1/orders/{id}/approve`` does), only for a
  draft of the consultation's own drill (live or the same drill);
- ``note``: the text alone.
Each one also writes a ``consultation.decide`` audit entry (subject ``consultation:{id}``) whose id the
decision keeps, and the response level's own audit entry carries the consultation id in its details.

A snapshot is what the wall shows, read through ``dashboard.queries`` (never the full stations GeoJSON:
per-level station counts and the stations at yellow or above). Plain functions on a psycopg connection, in
the caller's transaction; roles are the API's business (``DECISION_ROLES`` says which).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts import orders
from alerts.response import apply_response_level
from alerts.rules import RuleSet
from dashboard import queries
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Conflict, NotFound
from floodctl.core.settings import Settings
from floodctl.domain.levels import LEVEL_RANK, LEVELS, rank

KINDS = ("response_level", "approve_order", "note")
# Who may take each decision: the roles of the underlying routes (admin holds every right).
DECISION_ROLES = {
    "response_level": ("commander",),
    "approve_order": ("commander",),
    "note": ("duty_officer", "commander"),
}
RAISED = LEVELS[LEVEL_RANK["yellow"] :]  # stations listed one by one in a snapshot: yellow and above
SNAPSHOT_WARNINGS = 1_000  # active warnings kept in a snapshot (counts say when cut)
SNAPSHOT_ORDERS = 100
SNAPSHOT_REPORTS = 30
MAX_TITLE, MAX_NAME, MAX_UNIT, MAX_TEXT = 200, 100, 200, 4_000
MAX_LIST = 1_000
PAYLOAD_VERSION = 1

INSERT = """
INSERT INTO consultations (drill_id, title, started_by, notes) VALUES (%s, %s, %s, %s) RETURNING id
"""
LOCK = "SELECT id, drill_id, state, ended_by, ended_at, notes FROM consultations WHERE id = %s FOR UPDATE"
GET = """
SELECT c.id, c.drill_id, d.name AS drill_name, c.title, c.state, c.started_by, c.started_at, c.ended_by, c.ended_at,
       c.notes
FROM consultations c JOIN drills d ON d.id = c.drill_id WHERE c.id = %s
"""
LIST = """
SELECT c.id, c.drill_id, c.title, c.state, c.started_by, c.started_at, c.ended_by, c.ended_at,
       (SELECT count(*) FROM consultation_attendees a WHERE a.consultation_id = c.id) AS attendees,
       (SELECT count(*) FROM consultation_snapshots s WHERE s.consultation_id = c.id) AS snapshots,
       (SELECT count(*) FROM consultation_decisions x WHERE x.consultation_id = c.id) AS decisions
FROM consultations c
WHERE c.drill_id = %(drill)s AND (%(state)s::text IS NULL OR c.state = %(state)s)
ORDER BY c.id DESC LIMIT %(limit)s
"""
CLOSE = "UPDATE consultations SET state = 'closed', ended_by = %s, ended_at = now(), notes = %s WHERE id = %s"

INSERT_ATTENDEE = """
INSERT INTO consultation_attendees (consultation_id, name, unit, added_by) VALUES (%s, %s, %s, %s)
ON CONFLICT (consultation_id, name) DO NOTHING
RETURNING id, name, unit, joined_at, added_by
"""
ATTENDEES = """
SELECT id, name, unit, joined_at, added_by FROM consultation_attendees WHERE consultation_id = %s ORDER BY id
"""

INSERT_SNAPSHOT = """
INSERT INTO consultation_snapshots (consultation_id, at, taken_by, payload) VALUES (%s, %s, %s, %s)
RETURNING id, at, taken_at, taken_by, payload->'summary' AS summary
"""
SNAPSHOTS = """
SELECT id, at, taken_at, taken_by, payload->'summary' AS summary {payload}
FROM consultation_snapshots WHERE consultation_id = %s ORDER BY id
"""
LATEST_SNAPSHOT = """
SELECT id, at, taken_at, taken_by, payload FROM consultation_snapshots WHERE consultation_id = %s
ORDER BY id DESC LIMIT 1
"""

NEXT_DECISION = "SELECT nextval(pg_get_serial_sequence('consultation_decisions', 'id'))"
LAST_AUDIT = "SELECT currval(pg_get_serial_sequence('audit_log', 'id'))"
LOCK_ORDER = "SELECT id, drill_id, status, approved_by FROM orders WHERE id = %s FOR UPDATE"
INSERT_DECISION = """
INSERT INTO consultation_decisions (id, consultation_id, kind, text, decided_by, response_level_id, order_id, audit_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
# Each decision with what it did: the level it set, the order it approved (number, title, towns' 叫应 now).
DECISIONS = """
SELECT x.id, x.kind, x.text, x.decided_by, x.decided_at, x.audit_id,
       x.response_level_id, rl.level, rl.reason,
       x.order_id, o.order_no, o.title_zh AS order_title_zh, o.title_en AS order_title_en, o.status AS order_status
FROM consultation_decisions x
LEFT JOIN response_levels rl ON rl.id = x.response_level_id
LEFT JOIN orders o ON o.id = x.order_id
WHERE x.consultation_id = %s {where}
ORDER BY x.id
"""


# --- consultations ----------------------------------------------------------------------------------


def _text(value: str | None, what: str, limit: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise BadRequest(f"{what} is required")
    if len(text) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    return text


def start(conn: psycopg.Connection, *, title: str, drill_id: int, actor: str, notes: str | None = None) -> int:
    """Open a consultation for live operations (``drill_id`` 0) or a drill; returns its id."""
    title = _text(title, "a title", MAX_TITLE)
    notes = _text(notes, "notes", MAX_TEXT, required=False)
    if drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {drill_id} is not registered")
    row = conn.execute(INSERT, (drill_id, title, actor, notes)).fetchone()
    assert row is not None
    consultation_id = int(row[0])
    audit.record(
        conn, actor, "consultation.start", f"consultation:{consultation_id}", {"title": title}, drill_id=drill_id
    )
    return consultation_id


def _lock_open(conn: psycopg.Connection, consultation_id: int) -> dict[str, Any]:
    """The consultation, locked against a concurrent close; Conflict when it is closed already."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(LOCK, (consultation_id,)).fetchone()
    if row is None:
        raise NotFound(f"no consultation {consultation_id}")
    if row["state"] != "open":
        raise Conflict(
            f"consultation {consultation_id} was closed by {row['ended_by']} at "
            f"{row['ended_at']:%Y-%m-%d %H:%M:%S %z}; start a new one to record more"
        )
    return row


def close(conn: psycopg.Connection, consultation_id: int, *, actor: str, notes: str | None = None) -> dict[str, Any]:
    """Close it (``notes``, when given, replace the consultation's notes: its conclusions)."""
    consultation = _lock_open(conn, consultation_id)
    text = consultation["notes"] if notes is None else _text(notes, "notes", MAX_TEXT, required=False)
    conn.execute(CLOSE, (actor, text, consultation_id))
    audit.record(
        conn,
        actor,
        "consultation.close",
        f"consultation:{consultation_id}",
        {"notes": text},
        drill_id=consultation["drill_id"],
    )
    return get(conn, consultation_id)


def get(conn: psycopg.Connection, consultation_id: int, *, full: bool = False) -> dict[str, Any]:
    """The consultation with its attendees, snapshots (their payload only when ``full``) and decisions."""
    with conn.cursor(row_factory=dict_row) as cur:
        consultation = cur.execute(GET, (consultation_id,)).fetchone()
        if consultation is None:
            raise NotFound(f"no consultation {consultation_id}")
        consultation["attendees"] = cur.execute(ATTENDEES, (consultation_id,)).fetchall()
        consultation["snapshots"] = cur.execute(
            SNAPSHOTS.format(payload=", payload" if full else ""), (consultation_id,)
        ).fetchall()
        consultation["decisions"] = cur.execute(DECISIONS.format(where=""), (consultation_id,)).fetchall()
    return consultation


def list_consultations(
    conn: psycopg.Connection, *, drill: int = 0, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Consultations of live operations or of a drill, newest first, with how many attendees, snapshots and
    decisions each has."""
    if state is not None and state not in ("open", "closed"):
        raise BadRequest(f"state {state!r} is not open or closed")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST, {"drill": drill, "state": state, "limit": max(1, min(limit, MAX_LIST))}).fetchall()


# --- attendees --------------------------------------------------------------------------------------


def add_attendee(
    conn: psycopg.Connection, consultation_id: int, *, name: str, unit: str | None, actor: str
) -> dict[str, Any]:
    """Record someone present (name, and role or unit such as 县水利局); the same name twice is a Conflict."""
    consultation = _lock_open(conn, consultation_id)
    name = _text(name, "a name", MAX_NAME)
    unit = _text(unit, "the unit", MAX_UNIT, required=False)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(INSERT_ATTENDEE, (consultation_id, name, unit, actor)).fetchone()
    if row is None:
        raise Conflict(f"{name} is already on the attendance list of consultation {consultation_id}")
    audit.record(
        conn,
        actor,
        "consultation.attendee",
        f"consultation:{consultation_id}",
        {"name": name, "unit": unit},
        drill_id=consultation["drill_id"],
    )
    return row


# --- snapshots --------------------------------------------------------------------------------------


def _station_counts(geojson: str) -> dict[str, Any]:
    """Per-level counts and the stations at yellow or above, from the wall's stations GeoJSON."""
    features = orjson.loads(geojson).get("features") or []
    by_level: Counter[str] = Counter()
    offline = 0
    raised = []
    for feature in features:
        p = feature.get("properties") or {}
        level = p.get("level")
        by_level[level if level in LEVELS else "normal"] += 1
        offline += p.get("online") is False
        if level in RAISED:
            raised.append(
                {
                    "code": p.get("code"),
                    "name": p.get("name"),
                    "kind": p.get("kind"),
                    "town": p.get("town"),
                    "town_en": p.get("town_en"),
                    "level": level,
                    "metric": p.get("metric"),
                    "value": p.get("value"),
                }
            )
    raised.sort(key=lambda s: (-rank(s["level"]), str(s["code"])))
    return {
        "total": len(features),
        "by_level": {name: by_level[name] for name in ("normal", *LEVELS)},
        "offline": offline,
        "raised": raised,
    }


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: row.get(key) for key in keys}


WARNING_KEYS = (
    "id",
    "rule_id",
    "subject",
    "subject_kind",
    "subject_name",
    "town_name",
    "town_name_en",
    "hazard",
    "level",
    "acknowledged",
    "acknowledged_by",
    "raised_at",
    "last_seen",
    "value",
    "threshold",
    "message_zh",
    "message_en",
)
ORDER_KEYS = (
    "id",
    "order_no",
    "status",
    "msg_type",
    "hazard",
    "level",
    "response_level",
    "title_zh",
    "title_en",
    "drafted_at",
    "approved_at",
    "towns_total",
    "acknowledged",
    "carried_out",
    "pending",
    "unreached",
    "escalated",
    "next_deadline",
    "unreached_towns",
    "unreached_towns_en",
)
REPORT_KEYS = (
    "id",
    "kind",
    "town_name",
    "town_name_en",
    "text",
    "people_affected",
    "reported_by",
    "reported_at",
    "warning_level",
)


def situation(conn: psycopg.Connection, drill_id: int, rules: RuleSet) -> dict[str, Any]:
    """What the wall shows now for live operations or a drill, as JSON-ready values (the snapshot's payload)."""
    clock = queries.clock(conn, drill_id)
    stations = _station_counts(queries.stations_state(conn, drill_id))
    level = queries.response_level(conn, drill_id)
    warnings = queries.active_warnings(conn, drill_id, SNAPSHOT_WARNINGS)
    season, limit_column = queries.season_column(rules, clock.at)
    season_rule = rules.season_at(clock.at.timestamp()) if season else None
    reservoirs = queries.reservoirs_over_limit(conn, drill_id, limit_column)
    order_rows = queries.orders_with_calls(conn, drill_id, SNAPSHOT_ORDERS)
    reports = queries.field_reports(conn, drill_id, SNAPSHOT_REPORTS)
    rain = queries.rain_ranking(conn, drill_id, clock.at)
    warnings_by_level = Counter(w.get("level") for w in warnings)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "drill_id": drill_id,
        "at": clock.at,
        "newest_reading": clock.newest,
        "response_level": level,
        "stations": stations,
        "warnings": {
            "by_level": {name: warnings_by_level[name] for name in LEVELS},
            "total": len(warnings),
            "cut": len(warnings) >= SNAPSHOT_WARNINGS,
            "items": [_pick(w, WARNING_KEYS) for w in warnings],
        },
        "rain": rain,
        "reservoirs": {
            "season": season,
            "season_zh": season_rule.label_zh if season_rule else None,
            "limit_column": limit_column,
            "items": [
                _pick(r, ("code", "name", "town", "town_en", "level", "ts", "flood_limit", "excess"))
                for r in reservoirs
            ],
        },
        "orders": [_pick(o, ORDER_KEYS) for o in order_rows],
        "reports": [_pick(r, REPORT_KEYS) for r in reports],
    }
    payload["summary"] = {
        "response_level": level.get("level"),
        "stations_by_level": stations["by_level"],
        "warnings_by_level": payload["warnings"]["by_level"],
        "warnings": len(warnings),
        "reservoirs_over_limit": len(reservoirs),
        "orders": len(order_rows),
        "unreached_towns": sum(int(o.get("unreached") or 0) for o in order_rows),
    }
    return jsonable_encoder(payload)  # type: ignore[no-any-return]


def take_snapshot(conn: psycopg.Connection, consultation_id: int, *, actor: str, rules: RuleSet) -> dict[str, Any]:
    """Freeze the situation as the wall shows it now; ``at`` is the situation time (a drill's clock)."""
    consultation = _lock_open(conn, consultation_id)
    payload = situation(conn, consultation["drill_id"], rules)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(INSERT_SNAPSHOT, (consultation_id, payload["at"], actor, Jsonb(payload))).fetchone()
    assert row is not None
    audit.record(
        conn,
        actor,
        "consultation.snapshot",
        f"consultation:{consultation_id}",
        {"snapshot_id": row["id"], "at": payload["at"], **payload["summary"]},
        drill_id=consultation["drill_id"],
    )
    return row


def latest_snapshot(conn: psycopg.Connection, consultation_id: int) -> dict[str, Any] | None:
    """The newest snapshot with its payload (None before the first one)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LATEST_SNAPSHOT, (consultation_id,)).fetchone()


# --- decisions --------------------------------------------------------------------------------------


def _scope(drill_id: int) -> str:
    return f"drill {drill_id}" if drill_id else "live operations"


def _approvable(conn: psycopg.Connection, order_id: int, drill_id: int) -> None:
    """The order exists, belongs to the consultation's drill (or live operations) and awaits approval."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(LOCK_ORDER, (order_id,)).fetchone()
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order["drill_id"] != drill_id:
        raise BadRequest(
            f"order {order_id} belongs to {_scope(order['drill_id'])}, this consultation to "
            f"{_scope(drill_id)}; it cannot be approved here"
        )
    if order["status"] == "approved":
        raise Conflict(f"order {order_id} was already approved by {order['approved_by']}; nothing to decide")


def record_decision(
    conn: psycopg.Connection,
    consultation_id: int,
    *,
    kind: str,
    actor: str,
    settings: Settings,
    text: str | None = None,
    level: str | None = None,
    reason: str | None = None,
    order_id: int | None = None,
) -> dict[str, Any]:
    """Take a decision in the consultation: set the response level, approve a draft order, or note something.

    Returns ``{"decision": …, "response_level" | "order": …}`` (the latter what the ordinary route returns).
    The roles are the caller's to check (``DECISION_ROLES``).
    """
    if kind not in KINDS:
        raise BadRequest(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    consultation = _lock_open(conn, consultation_id)
    drill_id = consultation["drill_id"]
    text = _text(text, "the decision's text", MAX_TEXT, required=kind == "note")
    row = conn.execute(NEXT_DECISION).fetchone()
    assert row is not None
    decision_id = int(row[0])
    link = {"consultation_id": consultation_id, "decision_id": decision_id}
    result: dict[str, Any] = {}
    response_level_id: int | None = None
    approved_order: int | None = None
    if kind == "response_level":
        if level is None:
            raise BadRequest("level is required for a response_level decision (none, IV, III, II or I)")
        if not (reason or text).strip():
            raise BadRequest("a response_level decision needs a reason (or its text as the reason)")
        response_level_id = apply_response_level(
            conn, drill_id=drill_id, level=level, reason=reason or text, actor=actor, context=link
        )
        result["response_level"] = queries.response_level(conn, drill_id)
    elif kind == "approve_order":
        if order_id is None:
            raise BadRequest("order_id is required for an approve_order decision")
        _approvable(conn, order_id, drill_id)
        result["order"] = orders.approve(conn, order_id, actor=actor, settings=settings)
        approved_order = order_id
    details: dict[str, Any] = {"decision_id": decision_id, "kind": kind, "text": text}
    if response_level_id is not None:
        details |= {"response_level_id": response_level_id, "level": level}
    if approved_order is not None:
        details["order_id"] = approved_order
    audit.record(conn, actor, "consultation.decide", f"consultation:{consultation_id}", details, drill_id=drill_id)
    audit_row = conn.execute(LAST_AUDIT).fetchone()
    assert audit_row is not None
    conn.execute(
        INSERT_DECISION,
        (decision_id, consultation_id, kind, text, actor, response_level_id, approved_order, audit_row[0]),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        result["decision"] = cur.execute(
            DECISIONS.format(where="AND x.id = %s"), (consultation_id, decision_id)
        ).fetchone()
    return result


__all__ = [
    "DECISION_ROLES",
    "KINDS",
    "add_attendee",
    "close",
    "get",
    "latest_snapshot",
    "list_consultations",
    "record_decision",
    "situation",
    "start",
    "take_snapshot",
]
