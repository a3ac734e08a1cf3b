"""What comes back from the towns by SMS: replies (1/收到 acknowledges, 已落实 reports) and status callbacks.

A reply counts once (by its MessageSid) and answers the newest order of its own side (live or drill
gateway) texted to that number as a town's roster person; the HQ duty phones' 【叫应提醒】 are not
calls and their replies answer nothing. Runs in the caller's transaction (alerts/routes/hooks.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from alerts.callout import RANKS, e164
from alerts.orders import acknowledge, carried_out

ACK_WORDS = re.compile(r"^\s*(1|收到|确认|已收到|收|ok|OK|好)\s*[。.!！]?\s*$")
DONE_WORDS = re.compile(r"^\s*(2|已落实|落实)")
PEOPLE = re.compile(r"(\d{1,7})\s*人")

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
SMS_STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "read": 6,
    "canceled": 5,
}
UPSERT_SMS_STATUS = """
INSERT INTO sms_status AS s (sid, status, error_code) VALUES (%(sid)s, %(status)s, %(error)s)
ON CONFLICT (sid) DO UPDATE SET status = excluded.status, error_code = excluded.error_code, updated_at = now()
WHERE %(rank)s >= coalesce((SELECT r FROM (VALUES {ranks}) v(k, r) WHERE v.k = s.status), -1)
""".format(ranks=", ".join(f"('{k}', {v})" for k, v in SMS_STATUS_RANK.items()))


@dataclass(frozen=True, slots=True)
class Reply:
    matched: bool
    message_zh: str
    replayed: bool = False  # this MessageSid was seen before: nothing was done, the first answer given


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
        calls = conn.execute(
            REPLY_CALLS,
            dict(phone=phone, ranks=list(RANKS), drill=drill, states=["pending", "acknowledged", "unreached"]),
        ).fetchall()
        if calls:
            order_id, town, rank, name = calls[0]
            people = PEOPLE.search(text)
            carried_out(
                conn,
                order_id,
                town,
                by=name or rank,
                via="sms",
                text=text,
                people_moved=int(people[1]) if people else None,
            )
            towns = [town]
        outcome, answer = ("carried_out", REPLY_RECORDED) if calls else ("unmatched", REPLY_NOTHING_TO_REPORT)
    elif ACK_WORDS.match(text):
        calls = conn.execute(
            REPLY_CALLS, dict(phone=phone, ranks=list(RANKS), drill=drill, states=["pending", "unreached"])
        ).fetchall()
        for order_id, town, rank, name in calls:
            if town not in towns and acknowledge(conn, order_id, town, by=name or rank, via="sms"):
                towns.append(town)
        outcome, answer = ("acknowledged", REPLY_ACKED) if towns else ("unmatched", REPLY_NOTHING_TO_ACK)
    else:
        outcome, answer = "help", REPLY_HELP
    conn.execute(ANSWERED_REPLY, (order_id, towns, outcome, answer, message_sid))
    return Reply(outcome in ("acknowledged", "carried_out"), answer)


def record_sms_status(conn: psycopg.Connection, sid: str, status: str, error: str | None) -> None:
    rank = SMS_STATUS_RANK.get(status, 0)
    conn.execute(UPSERT_SMS_STATUS, dict(sid=sid, status=status, error=error, rank=rank))
