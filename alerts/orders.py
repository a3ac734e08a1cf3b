"""Response orders (处警单): draft, approve, cancel; 叫应 per town; the outbox rows they produce.

Everything here runs inside the caller's transaction: approving an order writes the order's state, the
towns' 叫应 rows, every delivery (the transactional outbox) and the audit record at once, and wakes
the dispatchers with NOTIFY (delivered at commit). Dispatch itself is alerts/dispatch.py.

叫应 (call and respond) for each town: the roster's first person (primary) is texted a signed link;
without an acknowledgement, the same person gets the order again after ``resend_after_s``; at
``ack_deadline_s`` the call escalates to the next person (deputy, then superior) and the HQ sees an
``escalated`` event; after the last person the town is 未叫应 (``unreached``). Any of the town's people
acknowledges for the town: by replying to the SMS, by the link, or on the page. A reply counts once
(by its MessageSid) and answers the newest order of its own side (live or drill gateway) texted to that
number as a town's roster person; the HQ duty phones' 【叫应提醒】 are not calls and their replies answer
nothing.

The outbox holds one row per call: (order, town, person or device, channel, round). Nothing here
records a send (an "escalated"/"resent" event) without the row that makes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg.rows import dict_row

from alerts import signing
from alerts.templates import HAZARDS, MSG_TYPES, RESPONSE_LEVELS, render_order
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Conflict, NotFound
from floodctl.core.settings import Settings

RANKS = ("primary", "deputy", "superior")          # the roster's order of escalation
RANK_ZH = {"primary": "第一责任人", "deputy": "第二责任人", "superior": "联系县领导"}
CHANNELS = ("sms", "led", "speaker")
LEVELS = ("blue", "yellow", "orange", "red")
DRILL_MARK = "【演练】"
OUTBOX_CHANNEL = "floodctl_outbox"
ACK_WORDS = re.compile(r"^\s*(1|收到|确认|已收到|收|ok|OK|好)\s*[。.!！]?\s*$")
DONE_WORDS = re.compile(r"^\s*(2|已落实|落实)")
PEOPLE = re.compile(r"(\d{1,7})\s*人")

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
LAYER = "SELECT geojson FROM layers WHERE name = %s"
INSERT_TOWN = """
INSERT INTO order_towns (order_id, town_code, called_at, resend_at, deadline_at)
VALUES (%s, %s, now(), now() + make_interval(secs => %s), now() + make_interval(secs => %s))
"""
# One row per call: (order, town, person or device, channel, round). A conflict means this very call is
# already in the outbox (a repeated tick): nothing is written, and the caller claims no new send.
INSERT_DELIVERY = """
INSERT INTO deliveries (order_id, drill_id, town_code, recipient, recipient_name, channel, address, round, body)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (order_id, town_code, recipient, channel, round) DO NOTHING
RETURNING id
"""
INSERT_LINK = """
INSERT INTO ack_links (id, order_id, town_code, recipient, person, expires_at)
VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))
"""
INSERT_EVENT = "INSERT INTO order_events (order_id, town_code, kind, actor, detail) VALUES (%s, %s, %s, %s, %s)"
NOTIFY = f"SELECT pg_notify('{OUTBOX_CHANNEL}', %s)"

# 叫应 timers. SKIP LOCKED: any number of alerts processes may run the tick.
DUE_RESENDS = """
SELECT ot.order_id, ot.town_code, ot.contact_rank, o.drill_id, o.sms_zh
FROM order_towns ot JOIN orders o ON o.id = ot.order_id
WHERE ot.state = 'pending' AND NOT ot.resent AND ot.resend_at <= now() AND o.status = 'approved'
  AND 'sms' = ANY(o.channels)
FOR UPDATE OF ot SKIP LOCKED
"""
DUE_DEADLINES = """
SELECT ot.order_id, ot.town_code, ot.contact_rank, o.drill_id, o.sms_zh, o.ack_deadline_s, o.resend_after_s,
       o.order_no
FROM order_towns ot JOIN orders o ON o.id = ot.order_id
WHERE ot.state = 'pending' AND ot.deadline_at <= now() AND o.status = 'approved'
FOR UPDATE OF ot SKIP LOCKED
"""
MARK_RESENT = "UPDATE order_towns SET resent = true WHERE order_id = %s AND town_code = %s"
ESCALATE = """
UPDATE order_towns SET contact_rank = %s, escalations = escalations + 1, resent = false, called_at = now(),
       resend_at = now() + make_interval(secs => %s), deadline_at = now() + make_interval(secs => %s)
WHERE order_id = %s AND town_code = %s
"""
UNREACHED = "UPDATE order_towns SET state = 'unreached' WHERE order_id = %s AND town_code = %s"

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
# A reply answers the newest order of its side (live or drill) that was texted to the sender as one of a
# town's roster people (never as the HQ duty phone: its rows are 'hq:…'), for every town of that order
# the sender was called for, newest first.
REPLY_CALLS = """
WITH answered AS (
    SELECT d.order_id
    FROM deliveries d
    JOIN order_towns ot ON ot.order_id = d.order_id AND ot.town_code = d.town_code
    JOIN orders o ON o.id = d.order_id
    WHERE d.channel = 'sms' AND d.address = %(phone)s AND d.recipient = ANY(%(ranks)s)
      AND o.status = 'approved' AND (o.drill_id <> 0) = %(drill)s AND ot.state = ANY(%(states)s)
    ORDER BY d.created_at DESC, d.id DESC
    LIMIT 1
)
SELECT d.order_id, d.town_code, d.recipient, d.recipient_name
FROM deliveries d
JOIN answered a ON a.order_id = d.order_id
JOIN order_towns ot ON ot.order_id = d.order_id AND ot.town_code = d.town_code
WHERE d.channel = 'sms' AND d.address = %(phone)s AND d.recipient = ANY(%(ranks)s) AND ot.state = ANY(%(states)s)
ORDER BY d.created_at DESC, d.id DESC
"""
# Replies by MessageSid: the first post of a reply inserts its row; a replay finds it and changes nothing.
REMEMBER_REPLY = """
INSERT INTO sms_replies (message_sid, gateway, from_phone, body) VALUES (%s, %s, %s, %s)
ON CONFLICT (message_sid) DO NOTHING
RETURNING message_sid
"""
REPLAYED_REPLY = "SELECT outcome, answer_zh FROM sms_replies WHERE message_sid = %s"
ANSWERED_REPLY = "UPDATE sms_replies SET order_id = %s, towns = %s, outcome = %s, answer_zh = %s WHERE message_sid = %s"
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
SMS_STATUS_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3, "received": 4,
                   "delivered": 5, "undelivered": 5, "failed": 5, "read": 6, "canceled": 5}
UPSERT_SMS_STATUS = """
INSERT INTO sms_status AS s (sid, status, error_code) VALUES (%(sid)s, %(status)s, %(error)s)
ON CONFLICT (sid) DO UPDATE SET status = excluded.status, error_code = excluded.error_code, updated_at = now()
WHERE %(rank)s >= coalesce((SELECT r FROM (VALUES {ranks}) v(k, r) WHERE v.k = s.status), -1)
""".format(ranks=", ".join(f"('{k}', {v})" for k, v in SMS_STATUS_RANK.items()))


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
    subject: str | None = None          # e.g. the station's name
    observed: str | None = None         # e.g. "水位 3.62 m，超警戒 0.32 m"
    ack_deadline_s: int | None = None
    resend_after_s: int | None = None


@dataclass(slots=True)
class Roster:
    """Per town, the people to call in order (from the ``roster`` layer) and the village devices."""

    people: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)   # town -> [(rank, person)]
    leds: dict[str, list[str]] = field(default_factory=dict)
    speakers: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: psycopg.Connection) -> Roster:
        roster = cls()
        row = conn.execute(LAYER, ("roster",)).fetchone()
        for entry in (row[0].get("towns", []) if row else []):
            roster.people[entry["town"]] = [(rank, entry[rank]) for rank in RANKS if entry.get(rank)]
        row = conn.execute(LAYER, ("villages",)).fetchone()
        for feature in (row[0].get("features", []) if row else []):
            props = feature.get("properties", {})
            roster.leds.setdefault(props.get("town"), []).extend(props.get("led_boards") or [])
            roster.speakers.setdefault(props.get("town"), []).extend(props.get("speakers") or [])
        return roster

    def person(self, town: str, rank_index: int) -> tuple[str, dict[str, Any]] | None:
        people = self.people.get(town, [])
        return people[rank_index] if rank_index < len(people) else None


def e164(phone: str) -> str:
    """Mainland numbers as E.164 (+86…); numbers already with + are kept."""
    digits = re.sub(r"[\s-]", "", phone)
    return digits if digits.startswith("+") else "+86" + digits.lstrip("0")


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


def draft(conn: psycopg.Connection, req: OrderRequest, *, actor: str, settings: Settings,
          source: str = "officer") -> int | None:
    """Write a draft order; returns its id (None when the rule engine already drafted this one)."""
    _check(req)
    towns = list(dict.fromkeys(req.towns))
    names = dict(conn.execute(TOWN_NAMES, (towns,)).fetchall())
    unknown = [t for t in towns if t not in names]
    if unknown:
        raise BadRequest(f"unknown town code(s): {', '.join(unknown)}")
    if req.drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (req.drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {req.drill_id} is not registered")
    refers_no = None
    if req.refers_to is not None:
        ref = conn.execute("SELECT order_no, drill_id, status FROM orders WHERE id = %s", (req.refers_to,)).fetchone()
        if ref is None:
            raise BadRequest(f"refers_to: no order {req.refers_to}")
        if ref[1] != req.drill_id:
            raise BadRequest("refers_to: an order of another drill (or of live operations)")
        refers_no = ref[0]
    order_id = int(conn.execute(NEXT_ID).fetchone()[0])  # type: ignore[index]
    now = datetime.now(UTC)
    order_no = _order_no(order_id, req.drill_id, now, settings)
    extra = req.extra
    if refers_no and req.msg_type in ("update", "cancel", "allclear"):
        extra = (f"（涉及{refers_no}）" + (extra or "")) if req.msg_type == "update" else extra
    text = render_order(hazard=req.hazard, level=req.level, msg_type=req.msg_type,
                        town_names=[names[t] for t in towns], subject=req.subject, observed=req.observed,
                        response_level=req.response_level, order_no=refers_no if req.msg_type in ("cancel", "allclear")
                        else order_no, extra=extra, drill=bool(req.drill_id))
    row = conn.execute(INSERT_ORDER, dict(
        id=order_id, drill_id=req.drill_id, msg_type=req.msg_type, refers_to=req.refers_to, hazard=req.hazard,
        level=req.level, response_level=req.response_level, order_no=order_no, title_zh=text.title_zh,
        body_zh=text.body_zh, title_en=text.title_en, body_en=text.body_en, sms_zh=text.sms_zh, led_zh=text.led_zh,
        speaker_zh=text.speaker_zh, towns=towns, channels=list(req.channels), warning_id=req.warning_id,
        source=source, drafted_by=actor, ack_deadline_s=req.ack_deadline_s or settings.ack_deadline,
        resend_after_s=req.resend_after_s or settings.ack_resend_after)).fetchone()
    if row is None:
        return None
    conn.execute(INSERT_EVENT, (order_id, None, "drafted", actor, order_no))
    if req.warning_id is not None:
        conn.execute(LINK_WARNING, (order_id, req.warning_id))
    audit.record(conn, actor, "order.draft", f"order:{order_id}",
                 {"hazard": req.hazard, "level": req.level, "msg_type": req.msg_type, "towns": towns,
                  "source": source, "warning_id": req.warning_id}, drill_id=req.drill_id)
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
    names = dict(conn.execute(TOWN_NAMES, (towns,)).fetchall())
    response_level = _higher_response(order[2], req.response_level)
    text = render_order(hazard=req.hazard, level=req.level, msg_type="alert", town_names=[names[t] for t in towns],
                        response_level=response_level, order_no=order[1], drill=bool(req.drill_id))
    conn.execute("UPDATE orders SET towns = %s, response_level = %s, title_zh = %s, body_zh = %s, title_en = %s, "
                 "body_en = %s, sms_zh = %s, led_zh = %s, speaker_zh = %s WHERE id = %s",
                 (towns, response_level, text.title_zh, text.body_zh, text.title_en, text.body_en, text.sms_zh,
                  text.led_zh, text.speaker_zh, order_id))
    if req.warning_id is not None:
        conn.execute(LINK_WARNING, (order_id, req.warning_id))
    detail = f"{req.subject or ''}{req.observed or ''}".strip() or "another warning"
    conn.execute(INSERT_EVENT, (order_id, None, "merged", actor, f"warning {req.warning_id}: {detail}"))
    return order_id


def _higher_response(a: str | None, b: str | None) -> str | None:
    rank = {level: i for i, level in enumerate(RESPONSE_LEVELS)}
    known = [x for x in (a, b) if x in rank]
    return max(known, key=lambda x: rank[x]) if known else None


def _sms_body(settings: Settings, drill_id: int, sms_zh: str, token: str) -> str:
    body = f"{sms_zh} 回复1确认收到，或打开 {settings.public_url.rstrip('/')}/a/{token}"
    if drill_id and not body.startswith(DRILL_MARK):
        raise AssertionError("drill SMS must start with 【演练】")   # templates guarantee it; never send otherwise
    return body


@dataclass(frozen=True, slots=True)
class Call:
    """One 叫应 SMS to a town's person: who, and whether this call wrote its outbox row (False: the very
    same call, same town, person and round, was already queued — nothing new was sent)."""

    name: str
    queued: bool


def _call(conn: psycopg.Connection, settings: Settings, order: dict[str, Any], town: str, rank_index: int,
          roster: Roster, round_: int) -> Call | None:
    """Queue the SMS to the town's person of this rank, with its signed link (None: nobody there)."""
    found = roster.person(town, rank_index)
    if found is None:
        return None
    rank, person = found
    link_id, token = signing.new_link_token(settings.secret_key.get_secret_value())
    body = _sms_body(settings, order["drill_id"], order["sms_zh"], token)
    row = conn.execute(INSERT_DELIVERY, (order["id"], order["drill_id"], town, rank, person.get("name"), "sms",
                                         e164(str(person["phone"])), round_, body)).fetchone()
    if row is not None:
        conn.execute(INSERT_LINK, (link_id, order["id"], town, rank, person.get("name"), settings.ack_link_ttl_s))
    return Call(str(person.get("name") or rank), queued=row is not None)


def approve(conn: psycopg.Connection, order_id: int, *, actor: str, settings: Settings,
            auto: bool = False) -> dict[str, Any]:
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
    conn.execute("UPDATE orders SET status = 'approved', approved_by = %s, approved_at = now(), auto_approved = %s "
                 "WHERE id = %s", (actor, auto, order_id))
    if order["msg_type"] in ("update", "cancel", "allclear") and order["refers_to"] is not None:
        _stop_calling(conn, order["refers_to"])
    roster = Roster.load(conn)
    for town in order["towns"]:
        conn.execute(INSERT_TOWN, (order_id, town, order["resend_after_s"], order["ack_deadline_s"]))
        if "sms" in order["channels"] and _call(conn, settings, order, town, 0, roster, 1) is None:
            conn.execute(INSERT_EVENT, (order_id, town, "no_roster", None, "本乡镇无防汛责任人名单，无法短信叫应"))
        for channel, devices, text in (("led", roster.leds.get(town, []), order["led_zh"]),
                                       ("speaker", roster.speakers.get(town, []), order["speaker_zh"])):
            if channel in order["channels"]:
                for device in devices:
                    conn.execute(INSERT_DELIVERY, (order_id, order["drill_id"], town, device, None, channel, device,
                                                   1, text))
    conn.execute(INSERT_EVENT, (order_id, None, "auto_approved" if auto else "approved", actor, ""))
    audit.record(conn, actor, "order.approve", f"order:{order_id}", {"auto": auto, "towns": order["towns"]},
                 drill_id=order["drill_id"])
    conn.execute(NOTIFY, (str(order_id),))
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
    conn.execute("UPDATE orders SET status = 'cancelled', cancelled_by = %s, cancelled_at = now(), cancel_reason = %s "
                 "WHERE id = %s", (actor, reason.strip(), order_id))
    _stop_calling(conn, order_id)
    conn.execute(INSERT_EVENT, (order_id, None, "cancelled", actor, reason.strip()))
    audit.record(conn, actor, "order.cancel", f"order:{order_id}", {"reason": reason.strip()},
                 drill_id=order["drill_id"])
    result: dict[str, Any] = {"cancelled": order_id, "cancel_order": None}
    if was_approved and order["msg_type"] != "cancel":
        notice = draft(conn, OrderRequest(hazard=order["hazard"], towns=order["towns"], level=order["level"],
                                          msg_type="cancel", refers_to=order_id, extra=reason.strip(),
                                          drill_id=order["drill_id"], channels=order["channels"]),
                       actor=actor, settings=settings)
        if notice is not None:
            approve(conn, notice, actor=actor, settings=settings)
            result["cancel_order"] = notice
    return result


def acknowledge(conn: psycopg.Connection, order_id: int, town: str, *, by: str, via: str) -> bool:
    """The town has the order (叫应 answered). False when there was nothing pending to acknowledge."""
    row = conn.execute(ACK_TOWN, (by, via, order_id, town)).fetchone()
    if row is None:
        return False
    conn.execute(INSERT_EVENT, (order_id, town, "acknowledged", by, via))
    drill_id = conn.execute("SELECT drill_id FROM orders WHERE id = %s", (order_id,)).fetchone()[0]  # type: ignore[index]
    audit.record(conn, by, "order.acknowledge", f"order:{order_id}", {"town": town, "via": via}, drill_id=drill_id)
    return True


def carried_out(conn: psycopg.Connection, order_id: int, town: str, *, by: str, via: str, text: str,
                people_moved: int | None) -> bool:
    """已落实: the town reports what it has done (free text, people moved)."""
    if people_moved is not None and people_moved < 0:
        raise BadRequest("people_moved must not be negative")
    row = conn.execute(CARRIED_OUT, (by, text.strip(), people_moved, by, via, order_id, town)).fetchone()
    if row is None:
        return False
    detail = text.strip() + (f"（转移{people_moved}人）" if people_moved is not None else "")
    conn.execute(INSERT_EVENT, (order_id, town, "carried_out", by, detail))
    drill_id = conn.execute("SELECT drill_id FROM orders WHERE id = %s", (order_id,)).fetchone()[0]  # type: ignore[index]
    audit.record(conn, by, "order.carried_out", f"order:{order_id}",
                 {"town": town, "text": text.strip(), "people_moved": people_moved}, drill_id=drill_id)
    return True


@dataclass(frozen=True, slots=True)
class Reply:
    matched: bool
    message_zh: str
    replayed: bool = False       # this MessageSid was seen before: nothing was done, the first answer given


REPLY_ACKED = "已确认收到。落实后请回复“已落实”及转移人数，如：已落实 转移120人。"
REPLY_RECORDED = "已记录落实情况，谢谢。"
REPLY_NOTHING_TO_ACK = "未找到待确认的指令。"
REPLY_NOTHING_TO_REPORT = "未找到需要反馈的指令。"
REPLY_HELP = "回复1确认收到；落实后回复“已落实 转移N人”。"


def sms_reply(conn: psycopg.Connection, phone: str, body: str, *, message_sid: str, drill: bool) -> Reply:
    """An inbound SMS, once per ``message_sid``: "1"/"收到" acknowledges the order it answers — the newest
    order of its side (``drill``: it came through the drill gateway) texted to this number as a town's
    roster person — for each of that order's towns the sender was called for; "2"/"已落实 … N人" reports
    the newest such town carried out. The HQ duty phone's 【叫应提醒】 are not calls: its replies answer
    nothing. A replayed ``message_sid`` changes nothing and gets the first answer again."""
    phone = e164(phone)
    if conn.execute(REMEMBER_REPLY, (message_sid, "drill" if drill else "live", phone, body)).fetchone() is None:
        seen = conn.execute(REPLAYED_REPLY, (message_sid,)).fetchone()
        assert seen is not None
        return Reply(seen[0] in ("acknowledged", "carried_out"), seen[1], replayed=True)
    text = body.strip()
    order_id: int | None = None
    towns: list[str] = []
    if DONE_WORDS.match(text):
        calls = conn.execute(REPLY_CALLS, dict(phone=phone, ranks=list(RANKS), drill=drill,
                                               states=["pending", "acknowledged", "unreached"])).fetchall()
        if calls:
            order_id, town, rank, name = calls[0]
            people = PEOPLE.search(text)
            carried_out(conn, order_id, town, by=name or rank, via="sms", text=text,
                        people_moved=int(people[1]) if people else None)
            towns = [town]
        outcome, answer = ("carried_out", REPLY_RECORDED) if calls else ("unmatched", REPLY_NOTHING_TO_REPORT)
    elif ACK_WORDS.match(text):
        calls = conn.execute(REPLY_CALLS, dict(phone=phone, ranks=list(RANKS), drill=drill,
                                               states=["pending", "unreached"])).fetchall()
        for order_id, town, rank, name in calls:
            if town not in towns and acknowledge(conn, order_id, town, by=name or rank, via="sms"):
                towns.append(town)
        outcome, answer = ("acknowledged", REPLY_ACKED) if towns else ("unmatched", REPLY_NOTHING_TO_ACK)
    else:
        outcome, answer = "help", REPLY_HELP
    conn.execute(ANSWERED_REPLY, (order_id, towns, outcome, answer, message_sid))
    return Reply(outcome in ("acknowledged", "carried_out"), answer)


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


def record_sms_status(conn: psycopg.Connection, sid: str, status: str, error: str | None) -> None:
    rank = SMS_STATUS_RANK.get(status, 0)
    conn.execute(UPSERT_SMS_STATUS, dict(sid=sid, status=status, error=error, rank=rank))


@dataclass(frozen=True, slots=True)
class TickResult:
    resent: int = 0
    escalated: int = 0
    unreached: int = 0


def callout_tick(conn: psycopg.Connection, settings: Settings) -> TickResult:
    """One pass of the 叫应 timers (resend, escalate, 未叫应). Run it every second or so."""
    resent = escalated = unreached = 0
    roster: Roster | None = None
    with conn.cursor(row_factory=dict_row) as cur:
        due_resends = cur.execute(DUE_RESENDS).fetchall()
        due_deadlines = cur.execute(DUE_DEADLINES).fetchall()
    if due_resends or due_deadlines:
        roster = Roster.load(conn)
    for row in due_resends:
        assert roster is not None
        order = {"id": row["order_id"], "drill_id": row["drill_id"], "sms_zh": row["sms_zh"]}
        conn.execute(MARK_RESENT, (row["order_id"], row["town_code"]))
        call = _call(conn, settings, order, row["town_code"], row["contact_rank"], roster, 2)
        if call is not None and call.queued:
            resent += 1
            conn.execute(INSERT_EVENT, (row["order_id"], row["town_code"], "resent", "system", ""))
    for row in due_deadlines:
        assert roster is not None
        order = {"id": row["order_id"], "drill_id": row["drill_id"], "sms_zh": row["sms_zh"]}
        town, rank_index = row["town_code"], row["contact_rank"]
        current = roster.person(town, rank_index)
        missed = f"{RANK_ZH.get(current[0], current[0])}{current[1].get('name', '')}" if current else "责任人"
        minutes = round(row["ack_deadline_s"] / 60, 1)
        nxt = roster.person(town, rank_index + 1)
        if nxt is not None and "sms" in _channels(conn, row["order_id"]):
            conn.execute(ESCALATE, (rank_index + 1, row["resend_after_s"], row["ack_deadline_s"],
                                    row["order_id"], town))
            call = _call(conn, settings, order, town, rank_index + 1, roster, 1)
            assert call is not None                      # nxt is that person
            detail = f"{missed}未在{minutes:g}分钟内确认{row['order_no']}，" + (
                f"已转{RANK_ZH[nxt[0]]}{call.name}" if call.queued
                else f"转{RANK_ZH[nxt[0]]}{call.name}的短信此前已排队，未重发")
            conn.execute(INSERT_EVENT, (row["order_id"], town, "escalated", "system", detail))
            _tell_hq(conn, settings, row, town, f"escalated-{rank_index}", detail)
            escalated += 1
        else:
            conn.execute(UNREACHED, (row["order_id"], town))
            detail = f"{missed}未在{minutes:g}分钟内确认{row['order_no']}，名单已叫完：未叫应"
            conn.execute(INSERT_EVENT, (row["order_id"], town, "unreached", "system", detail))
            _tell_hq(conn, settings, row, town, "unreached", detail)
            unreached += 1
    if resent or escalated or unreached:
        conn.execute(NOTIFY, ("callout",))
    return TickResult(resent, escalated, unreached)


def _tell_hq(conn: psycopg.Connection, settings: Settings, row: dict[str, Any], town: str, what: str,
             detail: str) -> None:
    """叫应 trouble goes to the HQ duty phones (FLOOD_HQ_PHONES) as well as onto the wall."""
    name = conn.execute("SELECT name FROM towns WHERE code = %s", (town,)).fetchone()
    prefix = DRILL_MARK if row["drill_id"] else ""
    body = f"{prefix}【叫应提醒】{name[0] if name else town}：{detail}"
    for phone in settings.hq_phone_list():
        conn.execute(INSERT_DELIVERY, (row["order_id"], row["drill_id"], town, f"hq:{phone}:{town}:{what}",
                                       "县防指值班室", "sms", e164(phone), 1, body))


def _channels(conn: psycopg.Connection, order_id: int) -> list[str]:
    return list(conn.execute("SELECT channels FROM orders WHERE id = %s", (order_id,)).fetchone()[0])  # type: ignore[index]


def view(conn: psycopg.Connection, order_id: int) -> dict[str, Any]:
    """One order with each town's 叫应 state, every delivery and the order's events."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute(ORDER_VIEW, (order_id,)).fetchone()
        if order is None:
            raise NotFound(f"no order {order_id}")
        order["towns_status"] = cur.execute(TOWNS_VIEW, (order_id,)).fetchall()
        order["deliveries"] = cur.execute(DELIVERIES_VIEW, (order_id,)).fetchall()
        order["events"] = cur.execute(EVENTS_VIEW, (order_id,)).fetchall()
    return jsonable_encoder(order)


def list_orders(conn: psycopg.Connection, *, drill: int = 0, status: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return jsonable_encoder(cur.execute(LIST, dict(drill=drill, status=status, limit=limit)).fetchall())
