"""The deliveries outbox (transactional): rows queued with an order's writes, claimed and settled by dispatchers.

Queueing (alerts.orders, alerts.callout) runs in the caller's transaction, together with the order
events that account for the rows, and wakes the dispatchers with NOTIFY (delivered at commit). The
claim and the fenced result updates are alerts.dispatch's (its module docstring tells the states).
"""

from __future__ import annotations

import psycopg

OUTBOX_CHANNEL = "floodctl_outbox"  # LISTEN/NOTIFY channel of the dispatchers

# One row per call: (order, town, person or device, channel, round). A conflict means this very call is
# already in the outbox (a repeated tick): nothing is written, and the caller claims no new send.
INSERT_DELIVERY = """
INSERT INTO deliveries (order_id, drill_id, town_code, recipient, recipient_name, channel, address, round, body)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (order_id, town_code, recipient, channel, round) DO NOTHING
RETURNING id
"""
INSERT_EVENT = "INSERT INTO order_events (order_id, town_code, kind, actor, detail) VALUES (%s, %s, %s, %s, %s)"
NOTIFY = f"SELECT pg_notify('{OUTBOX_CHANNEL}', %s)"

# Pending rows that are due, and sending rows whose holder's lease expired (in doubt). A claimed row's
# next_attempt_at is its lease end, so one index range (deliveries_due_idx) finds both kinds.
CLAIM_SQL = """
WITH due AS (
    SELECT d.id, d.state AS was, o.status AS order_status,
           extract(epoch FROM least(d.created_at + make_interval(secs => o.ack_deadline_s), ot.deadline_at)
                              - now())::float8 AS deadline_in_s
      FROM deliveries d
      JOIN orders o ON o.id = d.order_id
      LEFT JOIN order_towns ot ON ot.order_id = d.order_id AND ot.town_code = d.town_code
     WHERE d.state IN ('pending', 'sending')
       AND d.next_attempt_at <= now()
       AND (d.state = 'pending' OR d.lease_until IS NULL OR d.lease_until < now())
       AND d.channel = ANY(%(channels)s)
     ORDER BY d.next_attempt_at, d.id
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
   SET state = CASE due.order_status WHEN 'approved' THEN 'sending'
                                     WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END,
       attempts = d.attempts + (due.order_status = 'approved')::int,
       in_doubt = d.in_doubt OR due.was = 'sending',
       lease_until = CASE WHEN due.order_status = 'approved' THEN now() + make_interval(secs => %(lease)s) END,
       next_attempt_at = CASE WHEN due.order_status = 'approved' THEN now() + make_interval(secs => %(lease)s)
                              ELSE d.next_attempt_at END,
       last_error = CASE due.order_status WHEN 'approved' THEN d.last_error
                                          WHEN 'cancelled' THEN 'order cancelled'
                                          ELSE 'order not approved (' || due.order_status || ')' END,
       updated_at = now()
  FROM due
 WHERE d.id = due.id
RETURNING d.id, d.order_id, d.drill_id, d.town_code, d.recipient, d.channel, d.address, d.round, d.body,
          d.attempts, d.created_at, d.in_doubt, d.state, due.deadline_in_s
"""

# The fence of every result: the row is still ours (sending, at our attempt).
_MINE = "id = %(id)s AND state = 'sending' AND attempts = %(attempts)s"

EXTEND_SQL = f"""
UPDATE deliveries
   SET lease_until = now() + make_interval(secs => %(secs)s),
       next_attempt_at = now() + make_interval(secs => %(secs)s),
       updated_at = now()
 WHERE {_MINE}
RETURNING id
"""

# A status callback may already have moved the row on (delivered): the fence leaves it alone.
SENT_SQL = f"""
UPDATE deliveries
   SET state = 'sent', provider_id = %(provider_id)s, sent_at = now(), lease_until = NULL, in_doubt = false,
       updated_at = now()
 WHERE {_MINE}
"""

RETRY_SQL = f"""
UPDATE deliveries
   SET state = 'pending', next_attempt_at = now() + make_interval(secs => %(delay)s), lease_until = NULL,
       in_doubt = %(in_doubt)s, last_error = %(error)s, updated_at = now()
 WHERE {_MINE}
"""

FAIL_SQL = f"""
UPDATE deliveries
   SET state = 'failed', lease_until = NULL, in_doubt = %(in_doubt)s, last_error = %(error)s, updated_at = now()
 WHERE {_MINE}
"""

# Stopping before the gateway was called: the row goes back untouched, for any dispatcher to take.
RELEASE_SQL = f"""
UPDATE deliveries
   SET state = 'pending', attempts = attempts - 1, next_attempt_at = now(), lease_until = NULL, updated_at = now()
 WHERE {_MINE}
"""


def queue_delivery(
    conn: psycopg.Connection,
    *,
    order_id: int,
    drill_id: int,
    town: str,
    recipient: str,
    recipient_name: str | None,
    channel: str,
    address: str,
    round_: int,
    body: str,
) -> bool:
    """Queue one call; False when this very call (order, town, recipient, channel, round) is already queued."""
    row = conn.execute(
        INSERT_DELIVERY, (order_id, drill_id, town, recipient, recipient_name, channel, address, round_, body)
    ).fetchone()
    return row is not None


def record_event(
    conn: psycopg.Connection, order_id: int, town: str | None, kind: str, actor: str | None, detail: str | None
) -> None:
    """An order's event (drafted, approved, escalated, …), for the HQ's view and the 叫应 record."""
    conn.execute(INSERT_EVENT, (order_id, town, kind, actor, detail))


def wake_dispatchers(conn: psycopg.Connection, payload: str) -> None:
    """NOTIFY the dispatchers (delivered when the caller's transaction commits)."""
    conn.execute(NOTIFY, (payload,))
