"""Response orders (处警单): draft, approve, cancel; a town's acknowledgement and 已落实; the views.

Everything here runs inside the caller's transaction: approving an order writes the order's state, the
towns' 叫应 rows, every delivery (the transactional outbox, alerts/outbox.py) and the audit record at
once, and wakes the dispatchers with NOTIFY (delivered at commit). Dispatch itself is alerts/dispatch.py,
the 叫应 calls and their timers (resend, escalate, 未叫应) alerts/callout.py. Any of the town's people
acknowledges for the town: by replying to the SMS (alerts/replies.py), by the link, or on the page.

The outbox holds one row per call: (order, town, person or device, channel, round). Nothing here
records a send (an "escalated"/"resent" event) without the row that makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg.rows import dict_row

from alerts import outbox, signing
from alerts.callout import Roster, call
from alerts.templates import MSG_TYPES, render_order
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Conflict, NotFound
from floodctl.core.settings import Settings
from floodctl.domain.hazards import HAZARDS
from floodctl.domain.levels import LEVELS
from floodctl.domain.response import RESPONSE_LEVELS, RESPONSE_RANK

ChannelName = Literal["sms", "led", "speaker"]
CHANNELS: tuple[ChannelName, ...] = ("sms", "led", "speaker")
NEXT_ID = "SELECT nextval(pg_get_serial_sequence('orders', 'id'))"
INSERT_ORDER = """
INSERT INTO orders (id, drill_id, msg_type, refers_to, status, hazard, level, response_level, order_no,
                    title_zh, body_zh, title_en, body_en, sms_zh, led_zh, speaker_zh, towns, channels, warning_id,
                    source, drafted_by, ack_deadline_s, resend_after_s)
VALUES (%(id)s, %(drill_id)s, %(msg_type)s, %(refers_to)s, 'draft', %(hazard)s, %(level)s, %(response_level)s,
        %(order_no)s, %(title_zh)s, %(body_zh)s, %(title_en)s, %(body_en)s, %(sms_zh)s, %(led_zh)s, %(speaker_zh)s,
        %(towns)s, %(channels)s, %(warning_id)s, %(source)s, %(drafted_by)s, %(ack_deadline_s)s, %(resend_after_s)s)
ON CONFLICT DO NOTHING
RETURNING id
"""
LOCK_ORDER = "SELECT * FROM orders WHERE id = %s FOR UPDATE"
TOWN_NAMES = "SELECT code, name FROM towns WHERE code = ANY(%s)"
INSERT_TOWN = """
INSERT INTO order_towns (order_id, town_code, called_at, resend_at, deadline_at)
VALUES (%s, %s, now(), now() + make_interval(secs => %s), now() + make_interval(secs => %s))
"""
ACK_TOWN = """
UPDATE order_towns SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s, ack_via = %s
WHERE order_id = %s AND town_code = %s AND state IN ('pending', 'unreached')
RETURNING order_id
"""
CARRIED_OUT = """
UPDATE order_towns SET state = 'carried_out', carried_out_at = now(), carried_out_by = %s, carried_out_text = %s,
       people_moved = %s,
       acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, %s),
       ack_via = coalesce(ack_via, %s)
WHERE order_id = %s AND town_code = %s AND state IN ('pending', 'unreached', 'acknowledged', 'carried_out')
RETURNING order_id
"""
LINK = """
SELECT l.id, l.order_id, l.town_code, l.recipient, l.person, l.expires_at, l.used_at, l.expires_at < now() AS expired
FROM ack_links l WHERE l.id = %s
"""
USE_LINK = "UPDATE ack_links SET used_at = now() WHERE id = %s AND used_at IS NULL RETURNING id"

CANCEL_PENDING = """
UPDATE deliveries SET state = 'cancelled', updated_at = now(), last_error = 'order cancelled'
WHERE order_id = %s AND state = 'pending'
"""
CANCEL_TOWNS = "UPDATE order_towns SET state = 'cancelled' WHERE order_id = %s AND state = 'pending'"

ORDER_VIEW = """
SELECT o.*, r.order_no AS refers_to_no FROM orders o LEFT JOIN orders r ON r.id = o.refers_to WHERE o.id = %s
"""
TOWNS_VIEW = """
SELECT ot.town_code, t.name AS town_name, ot.state, ot.contact_rank, ot.escalations, ot.called_at, ot.resend_at,
       ot.deadline_at, ot.resent, ot.acknowledged_at, ot.acknowledged_by, ot.ack_via, ot.carried_out_at,
       ot.carried_out_by, ot.carried_out_text, ot.people_moved,
       greatest(0, extract(epoch FROM ot.deadline_at - now()))::int AS seconds_left
FROM order_towns ot JOIN towns t ON t.code = ot.town_code
WHERE ot.order_id = %s ORDER BY ot.town_code
"""
DELIVERIES_VIEW = """
SELECT d.id, d.town_code, d.recipient, d.recipient_name, d.channel, d.address, d.round, d.state, d.attempts,
       d.provider_id, d.last_error, d.created_at, d.sent_at, d.updated_at, s.status AS provider_status,
       s.error_code AS provider_error
FROM deliveries d LEFT JOIN sms_status s ON d.channel = 'sms' AND s.sid = d.provider_id
WHERE d.order_id = %s ORDER BY d.town_code, d.channel, d.recipient, d.round
"""
EVENTS_VIEW = "SELECT town_code, at, kind, actor, detail FROM order_events WHERE order_id = %s ORDER BY id"
LIST = """
SELECT o.id, o.drill_id, o.msg_type, o.refers_to, o.status, o.hazard, o.level, o.response_level, o.order_no,
       o.title_zh, o.title_en, o.towns, o.source, o.drafted_by, o.drafted_at, o.approved_by, o.approved_at,
       o.auto_approved, o.cancelled_at, o.warning_id,
       count(ot.town_code) AS towns_total,
       count(ot.town_code) FILTER (WHERE ot.state IN ('acknowledged', 'carried_out')) AS towns_acknowledged,
       count(ot.town_code) FILTER (WHERE ot.state = 'carried_out') AS towns_carried_out,
       count(ot.town_code) FILTER (WHERE ot.state = 'unreached') AS towns_unreached,
       count(ot.town_code) FILTER (WHERE ot.state = 'pending') AS towns_pending
FROM orders o LEFT JOIN order_towns ot ON ot.order_id = o.id
WHERE o.drill_id = %(drill)s AND (%(status)s::text IS NULL OR o.status = %(status)s)
GROUP BY o.id ORDER BY o.id DESC LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a duty officer (or a rule) asks for."""

    hazard: str
    towns: Sequence[str]
    level: str | None = None
    msg_type: str = "alert"
    refers_to: int | None = None
    response_level: str | None = None
    extra: str | None = None
    drill_id: int = 0
    channels: Sequence[str] = CHANNELS
    warning_id: int | None = None
    subject: str | None = None  # e.g. the station's name
    observed: str | None = None  # e.g. "水位 3.62 m，超警戒 0.32 m"
    ack_deadline_s: int | None = None
    resend_after_s: int | None = None


def _order_no(order_id: int, drill_id: int, when: datetime, settings: Settings) -> str:
    year = when.astimezone(settings.tz).year
    return f"象防指{'演' if drill_id else ''}〔{year}〕{order_id}号"


def _check(req: OrderRequest) -> None:
    if req.hazard not in HAZARDS:
        raise BadRequest(f"unknown hazard {req.hazard!r}; one of {', '.join(HAZARDS)}")
    if req.level is not None and req.level not in LEVELS:
        raise BadRequest(f"unknown level {req.level!r}; one of {', '.join(LEVELS)}")
    if req.msg_type not in MSG_TYPES:
        raise BadRequest(f"unknown msg_type {req.msg_type!r}; one of {', '.join(MSG_TYPES)}")
    if req.msg_type != "alert" and req.refers_to is None:
        raise BadRequest(f"a {req.msg_type} order must name the order it refers to (refers_to)")
    if req.response_level is not None and req.response_level not in RESPONSE_LEVELS:
        raise BadRequest(f"unknown response level {req.response_level!r}; one of {', '.join(RESPONSE_LEVELS)}")
    if not req.towns:
        raise BadRequest("an order needs at least one town")
    bad = [c for c in req.channels if c not in CHANNELS]
    if bad or not req.channels:
        raise BadRequest(f"channels must be some of {', '.join(CHANNELS)}, got {list(req.channels)}")


def _town_names(conn: psycopg.Connection, towns: list[str]) -> dict[str, str]:
    """The towns' names by code; BadRequest naming any unknown code."""
    names: dict[str, str] = dict(conn.execute(TOWN_NAMES, (towns,)).fetchall())
    unknown = [t for t in towns if t not in names]
    if unknown:
        raise BadRequest(f"unknown town code(s): {', '.join(unknown)}")
    return names


def _referred_order_no(conn: psycopg.Connection, req: OrderRequest) -> str | None:
    """The number of the order an update/cancel/all-clear refers to (of the same drill), or None."""
    if req.refers_to is None:
        return None
    ref = conn.execute("SELECT order_no, drill_id, status FROM orders WHERE id = %s", (req.refers_to,)).fetchone()
    if ref is None:
        raise BadRequest(f"refers_to: no order {req.refers_to}")
    if ref[1] != req.drill_id:
        raise BadRequest("refers_to: an order of another drill (or of live operations)")
    return str(ref[0])


def draft(
    conn: psycopg.Connection, req: OrderRequest, *, actor: str, settings: Settings, source: str = "officer"
) -> int | None:
    """Write a draft order; returns its id (None when the rule engine already drafted this one)."""
    _check(req)
    towns = list(dict.fromkeys(req.towns))
    names = _town_names(conn, towns)
    if req.drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (req.drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {req.drill_id} is not registered")
    refers_no = _referred_order_no(conn, req)
    order_id = int(conn.execute(NEXT_ID).fetchone()[0])  # type: ignore[index]
    now = datetime.now(UTC)
    order_no = _order_no(order_id, req.drill_id, now, settings)
    extra = req.extra
    if refers_no and req.msg_type in ("update", "cancel", "allclear"):
        extra = (f"（涉及{refers_no}）" + (extra or "")) if req.msg_type == "update" else extra
    text = render_order(
        hazard=req.hazard,
        level=req.level,
        msg_type=req.msg_type,
        town_names=[names[t] for t in towns],
        subject=req.subject,
        observed=req.observed,
        response_level=req.response_level,
        order_no=refers_no if req.msg_type in ("cancel", "allclear") else order_no,
        extra=extra,
        drill=bool(req.drill_id),
    )
    row = conn.execute(
        INSERT_ORDER,
        dict(
            id=order_id,
            drill_id=req.drill_id,
            msg_type=req.msg_type,
            refers_to=req.refers_to,
            hazard=req.hazard,
            level=req.level,
            response_level=req.response_level,
            order_no=order_no,
            title_zh=text.title_zh,
            body_zh=text.body_zh,
            title_en=text.title_en,
            body_en=text.body_en,
            sms_zh=text.sms_zh,
            led_zh=text.led_zh,
            speaker_zh=text.speaker_zh,
            towns=towns,
            channels=list(req.channels),
            warning_id=req.warning_id,
            source=source,
            drafted_by=actor,
            ack_deadline_s=req.ack_deadline_s or settings.ack_deadline,
            resend_after_s=req.resend_after_s or settings.ack_resend_after,
        ),
    ).fetchone()
    if row is None:
        return None
    outbox.record_event(conn, order_id, None, "drafted", actor, order_no)
    if req.warning_id is not None:
        conn.execute(LINK_WARNING, (order_id, req.warning_id))
    audit.record(
        conn,
        actor,
        "order.draft",
        f"order:{order_id}",
        {
            "hazard": req.hazard,
            "level": req.level,
            "msg_type": req.msg_type,
            "towns": towns,
            "source": source,
            "warning_id": req.warning_id,
        },
        drill_id=req.drill_id,
    )
    return order_id


LINK_WARNING = "INSERT INTO order_warnings (order_id, warning_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
FIND_DRAFT = """
SELECT id FROM orders
WHERE drill_id = %s AND hazard = %s AND level IS NOT DISTINCT FROM %s AND msg_type = 'alert' AND status = 'draft'
  AND source = 'rule' AND drafted_at > now() - interval '6 hours'
ORDER BY id DESC LIMIT 1
FOR UPDATE
"""


def merge_into_draft(conn: psycopg.Connection, req: OrderRequest, *, actor: str, settings: Settings) -> int | None:
    """While a rule's draft for the same hazard and level awaits approval, a further warning adds its
    towns to it (one order for the commander to approve, not one per gauge); returns that order's id,
    or None when there is no such draft."""
    row = conn.execute(FIND_DRAFT, (req.drill_id, req.hazard, req.level)).fetchone()
    if row is None:
        return None
    order_id = int(row[0])
    order = conn.execute("SELECT towns, order_no, response_level FROM orders WHERE id = %s", (order_id,)).fetchone()
    assert order is not None
    towns = list(dict.fromkeys([*order[0], *req.towns]))
    names: dict[str, str] = dict(conn.execute(TOWN_NAMES, (towns,)).fetchall())
    response_level = _higher_response(order[2], req.response_level)
    text = render_order(
        hazard=req.hazard,
        level=req.level,
        msg_type="alert",
        town_names=[names[t] for t in towns],
        response_level=response_level,
        order_no=order[1],
        drill=bool(req.drill_id),
    )
    conn.execute(
        "UPDATE orders SET towns = %s, response_level = %s, title_zh = %s, body_zh = %s, title_en = %s, "
        "body_en = %s, sms_zh = %s, led_zh = %s, speaker_zh = %s WHERE id = %s",
        (
            towns,
            response_level,
            text.title_zh,
            text.body_zh,
            text.title_en,
            text.body_en,
            text.sms_zh,
            text.led_zh,
            text.speaker_zh,
            order_id,
        ),
    )
    if req.warning_id is not None:
        conn.execute(LINK_WARNING, (order_id, req.warning_id))
    detail = f"{req.subject or ''}{req.observed or ''}".strip() or "another warning"
    outbox.record_event(conn, order_id, None, "merged", actor, f"warning {req.warning_id}: {detail}")
    return order_id


def _higher_response(a: str | None, b: str | None) -> str | None:
    known = [x for x in (a, b) if x in RESPONSE_RANK]
    return max(known, key=lambda x: RESPONSE_RANK[x]) if known else None


def approve(
    conn: psycopg.Connection, order_id: int, *, actor: str, settings: Settings, auto: bool = False
) -> dict[str, Any]:
    """Approve a draft and queue every delivery: SMS to each town's first person, text to its villages'
    LED boards and loudspeakers. Approving an approved order again is a no-op (idempotent)."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(LOCK_ORDER, (order_id,)).fetchone()
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order["status"] == "approved":
        return view(conn, order_id)
    if order["status"] != "draft":
        raise Conflict(f"order {order_id} is {order['status']}; only a draft can be approved")
    conn.execute(
        "UPDATE orders SET status = 'approved', approved_by = %s, approved_at = now(), auto_approved = %s "
        "WHERE id = %s",
        (actor, auto, order_id),
    )
    if order["msg_type"] in ("update", "cancel", "allclear") and order["refers_to"] is not None:
        _stop_calling(conn, order["refers_to"])
    roster = Roster.load(conn)
    for town in order["towns"]:
        conn.execute(INSERT_TOWN, (order_id, town, order["resend_after_s"], order["ack_deadline_s"]))
        if "sms" in order["channels"] and call(conn, settings, order, town, 0, roster, 1) is None:
            outbox.record_event(conn, order_id, town, "no_roster", None, "本乡镇无防汛责任人名单，无法短信叫应")
        for channel, devices, text in (
            ("led", roster.leds.get(town, []), order["led_zh"]),
            ("speaker", roster.speakers.get(town, []), order["speaker_zh"]),
        ):
            if channel in order["channels"]:
                for device in devices:
                    outbox.queue_delivery(
                        conn,
                        order_id=order_id,
                        drill_id=order["drill_id"],
                        town=town,
                        recipient=device,
                        recipient_name=None,
                        channel=channel,
                        address=device,
                        round_=1,
                        body=text,
                    )
    outbox.record_event(conn, order_id, None, "auto_approved" if auto else "approved", actor, "")
    audit.record(
        conn,
        actor,
        "order.approve",
        f"order:{order_id}",
        {"auto": auto, "towns": order["towns"]},
        drill_id=order["drill_id"],
    )
    outbox.wake_dispatchers(conn, str(order_id))
    return view(conn, order_id)


def _stop_calling(conn: psycopg.Connection, order_id: int) -> None:
    conn.execute(CANCEL_PENDING, (order_id,))
    conn.execute(CANCEL_TOWNS, (order_id,))


def cancel(conn: psycopg.Connection, order_id: int, *, actor: str, reason: str, settings: Settings) -> dict[str, Any]:
    """Cancel an order. A draft is simply withdrawn. An approved one stops its pending deliveries and
    叫应, and a 撤销 (cancel) message goes to the same towns at once, approved by the canceller."""
    if not reason or not reason.strip():
        raise BadRequest("a reason is required to cancel an order")
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(LOCK_ORDER, (order_id,)).fetchone()
    if order is None:
        raise NotFound(f"no order {order_id}")
    if order["status"] == "cancelled":
        raise Conflict(f"order {order_id} is already cancelled")
    was_approved = order["status"] == "approved"
    conn.execute(
        "UPDATE orders SET status = 'cancelled', cancelled_by = %s, cancelled_at = now(), cancel_reason = %s "
        "WHERE id = %s",
        (actor, reason.strip(), order_id),
    )
    _stop_calling(conn, order_id)
    outbox.record_event(conn, order_id, None, "cancelled", actor, reason.strip())
    audit.record(
        conn, actor, "order.cancel", f"order:{order_id}", {"reason": reason.strip()}, drill_id=order["drill_id"]
    )
    result: dict[str, Any] = {"cancelled": order_id, "cancel_order": None}
    if was_approved and order["msg_type"] != "cancel":
        notice = draft(
            conn,
            OrderRequest(
                hazard=order["hazard"],
                towns=order["towns"],
                level=order["level"],
                msg_type="cancel",
                refers_to=order_id,
                extra=reason.strip(),
                drill_id=order["drill_id"],
                channels=order["channels"],
            ),
            actor=actor,
            settings=settings,
        )
        if notice is not None:
            approve(conn, notice, actor=actor, settings=settings)
            result["cancel_order"] = notice
    return result


def acknowledge(conn: psycopg.Connection, order_id: int, town: str, *, by: str, via: str) -> bool:
    """The town has the order (叫应 answered). False when there was nothing pending to acknowledge."""
    row = conn.execute(ACK_TOWN, (by, via, order_id, town)).fetchone()
    if row is None:
        return False
    outbox.record_event(conn, order_id, town, "acknowledged", by, via)
    drill_id = conn.execute("SELECT drill_id FROM orders WHERE id = %s", (order_id,)).fetchone()[0]  # type: ignore[index]
    audit.record(conn, by, "order.acknowledge", f"order:{order_id}", {"town": town, "via": via}, drill_id=drill_id)
    return True


def carried_out(
    conn: psycopg.Connection, order_id: int, town: str, *, by: str, via: str, text: str, people_moved: int | None
) -> bool:
    """已落实: the town reports what it has done (free text, people moved)."""
    if people_moved is not None and people_moved < 0:
        raise BadRequest("people_moved must not be negative")
    row = conn.execute(CARRIED_OUT, (by, text.strip(), people_moved, by, via, order_id, town)).fetchone()
    if row is None:
        return False
    detail = text.strip() + (f"（转移{people_moved}人）" if people_moved is not None else "")
    outbox.record_event(conn, order_id, town, "carried_out", by, detail)
    drill_id = conn.execute("SELECT drill_id FROM orders WHERE id = %s", (order_id,)).fetchone()[0]  # type: ignore[index]
    audit.record(
        conn,
        by,
        "order.carried_out",
        f"order:{order_id}",
        {"town": town, "text": text.strip(), "people_moved": people_moved},
        drill_id=drill_id,
    )
    return True


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    order_id: int
    town_code: str
    recipient: str
    person: str | None
    used: bool
    expired: bool


def resolve_link(conn: psycopg.Connection, settings: Settings, token: str) -> Link | None:
    link_id = signing.link_id_of(settings.secret_key.get_secret_value(), token)
    if link_id is None:
        return None
    row = conn.execute(LINK, (link_id,)).fetchone()
    if row is None:
        return None
    return Link(row[0], row[1], row[2], row[3], row[4], used=row[6] is not None, expired=bool(row[7]))


def use_link(conn: psycopg.Connection, link: Link) -> bool:
    """Single use: True only for the first acknowledgement through this link."""
    if link.expired or conn.execute(USE_LINK, (link.id,)).fetchone() is None:
        return False
    acknowledge(conn, link.order_id, link.town_code, by=link.person or link.recipient, via="link")
    return True


def view(conn: psycopg.Connection, order_id: int) -> dict[str, Any]:
    """One order with each town's 叫应 state, every delivery and the order's events."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(ORDER_VIEW, (order_id,)).fetchone()
        if order is None:
            raise NotFound(f"no order {order_id}")
        order["towns_status"] = cur.execute(TOWNS_VIEW, (order_id,)).fetchall()
        order["deliveries"] = cur.execute(DELIVERIES_VIEW, (order_id,)).fetchall()
        order["events"] = cur.execute(EVENTS_VIEW, (order_id,)).fetchall()
    encoded: dict[str, Any] = jsonable_encoder(order)
    return encoded


def list_orders(
    conn: psycopg.Connection, *, drill: int = 0, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST, dict(drill=drill, status=status, limit=limit)).fetchall()
    encoded: list[dict[str, Any]] = jsonable_encoder(rows)
    return encoded
