"""The audit log: who did what, to what, when.

:func:`record` inserts in the caller's transaction, so the audit row commits or rolls back with the
change it describes: call it on the same connection, before the commit. ``subject`` names what was
acted on as ``kind:id`` (``user:alice``, ``order:12``) so :func:`recent` can filter by it.
Details never carry secrets: keys that look like one (password, token, secret) are masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

MASK = "********"
MAX_LIMIT = 10_000
_SECRET_KEYS = ("password", "secret", "token")


def _masked(details: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (details or {}).items():
        name = str(key)
        lowered = name.lower()
        secret = any(word in lowered for word in _SECRET_KEYS) and not lowered.endswith("_version")
        out[name] = MASK if secret and value is not None else value
    return out


def record(
    conn: psycopg.Connection,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    drill_id: int = 0,
) -> None:
    """Insert one audit row in the caller's transaction (no commit here)."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, subject, drill_id, details) VALUES (%s, %s, %s, %s, %s)",
        (actor, action, subject, drill_id, Jsonb(_masked(details))),
    )


def recent(conn: psycopg.Connection, limit: int = 100, subject: str | None = None) -> list[dict[str, Any]]:
    """The newest rows first (optionally only those about ``subject``)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    where, params = ("WHERE subject = %s", [subject]) if subject is not None else ("", [])
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, at, actor, action, subject, drill_id, details FROM audit_log "
            f"{where} ORDER BY at DESC, id DESC LIMIT %s",
            [*params, limit],
        )
        return cur.fetchall()
