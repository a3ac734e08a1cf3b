"""The county response level (应急响应等级): what is in force, and the one path that sets it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from floodctl.core import audit
from floodctl.core.errors import BadRequest
from floodctl.domain.response import RESPONSE_LEVEL_LABEL_ZH, RESPONSE_LEVELS

MAX_REASON = 2000
IN_FORCE = """
SELECT level, reason, decided_by, decided_at FROM response_levels
WHERE drill_id = %s AND decided_at <= coalesce(%s::timestamptz, 'infinity') ORDER BY id DESC LIMIT 1
"""
INSERT = "INSERT INTO response_levels (drill_id, level, reason, decided_by) VALUES (%s, %s, %s, %s) RETURNING id"


def response_level_in_force(
    conn: psycopg.Connection, drill: int, recorded_by: datetime | None = None
) -> dict[str, Any]:
    """The county response level in force: the newest decision (made by ``recorded_by``, when given)."""
    row = conn.execute(IN_FORCE, (drill, recorded_by)).fetchone()
    if row is None:
        return {
            "drill_id": drill,
            "level": "none",
            "label_zh": RESPONSE_LEVEL_LABEL_ZH.get("none", "无"),
            "reason": None,
            "decided_by": None,
            "decided_at": None,
        }
    return {
        "drill_id": drill,
        "level": row[0],
        "label_zh": RESPONSE_LEVEL_LABEL_ZH.get(row[0], row[0]),
        "reason": row[1],
        "decided_by": row[2],
        "decided_at": row[3],
    }


def apply_response_level(
    conn: psycopg.Connection,
    *,
    drill_id: int,
    level: str,
    reason: str,
    actor: str,
    context: dict[str, Any] | None = None,
) -> int:
    """Set the county response level and audit it, in the caller's transaction: the one path for
    ``POST /response-level`` and a consultation's decision (``context`` joins the audit details, e.g. the
    consultation id). Returns the new ``response_levels`` row's id."""
    reason = reason.strip()
    if level not in RESPONSE_LEVELS:
        raise BadRequest(f"response level {level!r} is not one of {', '.join(RESPONSE_LEVELS)}")
    if not reason or len(reason) > MAX_REASON:
        raise BadRequest(f"a reason is required (at most {MAX_REASON} characters)")
    if drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {drill_id} is not registered")
    before = response_level_in_force(conn, drill_id)["level"]
    row = conn.execute(INSERT, (drill_id, level, reason, actor)).fetchone()
    assert row is not None
    audit.record(
        conn,
        actor,
        "response_level.set",
        f"response_level:{drill_id}",
        {"from": before, "to": level, "reason": reason, **(context or {})},
        drill_id=drill_id,
    )
    return int(row[0])
