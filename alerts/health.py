"""What ``/healthz`` says of the alerting side: is a rule engine active, is the outbox moving.

Read from the database (the lease row of alerts/engine.py, the outbox of alerts/dispatch.py), so any
API process can answer for engines and dispatchers running on other hosts.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alerts.lease import LEASE_NAME

LEASE = """
SELECT holder, extract(epoch FROM expires_at - now())::float8 FROM engine_lease WHERE name = %s
"""
# A delivery due for more than a minute and not taken: no dispatcher is running (or all are stuck).
OUTBOX = """
SELECT count(*) FILTER (WHERE next_attempt_at < now() - interval '60 seconds'
                          AND (state = 'pending' OR lease_until < now() - interval '60 seconds')),
       count(*)
FROM deliveries WHERE state IN ('pending', 'sending')
"""


def alerting_health(conn: psycopg.Connection) -> dict[str, Any]:
    """``{"rule_engine": {...}, "dispatch": {...}, "ok": bool}``."""
    lease = conn.execute(LEASE, (LEASE_NAME,)).fetchone()
    if lease is not None and lease[1] > 0:
        engine = {"status": "active", "holder": lease[0], "lease_left_s": round(lease[1], 1)}
    else:
        engine = {"status": "none", "detail": "no rule engine holds the lease: run `floodctl alerts`"}
    overdue, open_ = conn.execute(OUTBOX).fetchone()  # type: ignore[misc]
    dispatch = {"status": "ok" if overdue == 0 else "stalled", "open": open_, "overdue": overdue}
    return {"rule_engine": engine, "dispatch": dispatch, "ok": engine["status"] == "active" and overdue == 0}
