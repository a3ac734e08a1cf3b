"""叫应 (call and respond): whom a town's call goes to, queueing one call, and the timers that chase it.

For each town of an approved order the roster's first person (primary) is texted a signed link;
without an acknowledgement, the same person gets the order again after ``resend_after_s``; at
``ack_deadline_s`` the call escalates to the next person (deputy, then superior) and the HQ sees an
``escalated`` event (and its duty phones a 【叫应提醒】); after the last person the town is 未叫应
(``unreached``). ``callout_tick`` runs these timers; any number of alerts processes may run it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts import outbox, signing
from floodctl.core.settings import Settings
from floodctl.domain.drills import DRILL_MARKER, is_drill, mark

RANKS = ("primary", "deputy", "superior")  # the roster's order of escalation
RANK_ZH = {"primary": "第一责任人", "deputy": "第二责任人", "superior": "联系县领导"}

LAYER = "SELECT geojson FROM layers WHERE name = %s"
INSERT_LINK = """
INSERT INTO ack_links (id, order_id, town_code, recipient, person, expires_at)
VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s))
"""
# SKIP LOCKED: any number of alerts processes may run the tick.
DUE_RESENDS = """
SELECT ot.order_id, ot.town_code, ot.contact_rank, o.drill_id, o.sms_zh
FROM order_towns ot JOIN orders o ON o.id = ot.order_id
WHERE ot.state = 'pending' AND NOT ot.resent AND ot.resend_at <= now() AND o.status = 'approved'
  AND 'sms' = ANY(o.channels)
FOR UPDATE OF ot SKIP LOCKED
"""
DUE_DEADLINES = """
SELECT ot.order_id, ot.town_code, ot.contact_rank, o.drill_id, o.sms_zh, o.ack_deadline_s, o.resend_after_s,
       o.order_no, o.channels
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


@dataclass(slots=True)
class Roster:
    """Per town, the people to call in order (from the ``roster`` layer) and the village devices."""

    people: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # town -> [(rank, person)]
    leds: dict[str, list[str]] = field(default_factory=dict)
    speakers: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: psycopg.Connection) -> Roster:
        roster = cls()
        row = conn.execute(LAYER, ("roster",)).fetchone()
        for entry in row[0].get("towns", []) if row else []:
            roster.people[entry["town"]] = [(rank, entry[rank]) for rank in RANKS if entry.get(rank)]
        row = conn.execute(LAYER, ("villages",)).fetchone()
        for feature in row[0].get("features", []) if row else []:
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


def _sms_body(settings: Settings, drill_id: int, sms_zh: str, token: str) -> str:
    body = f"{sms_zh} 回复1确认收到，或打开 {settings.public_url.rstrip('/')}/a/{token}"
    if is_drill(drill_id) and not body.startswith(DRILL_MARKER):  # templates guarantee it; never send otherwise
        raise AssertionError(f"drill SMS must start with {DRILL_MARKER}")
    return body


@dataclass(frozen=True, slots=True)
class Call:
    """One 叫应 SMS to a town's person: who, and whether this call wrote its outbox row (False: the very
    same call, same town, person and round, was already queued — nothing new was sent)."""

    name: str
    queued: bool


def call(
    conn: psycopg.Connection,
    settings: Settings,
    order: dict[str, Any],
    town: str,
    rank_index: int,
    roster: Roster,
    round_: int,
) -> Call | None:
    """Queue the SMS to the town's person of this rank, with its signed link (None: nobody there).
    ``order`` needs its ``id``, ``drill_id`` and ``sms_zh``."""
    found = roster.person(town, rank_index)
    if found is None:
        return None
    rank, person = found
    link_id, token = signing.new_link_token(settings.secret_key.get_secret_value())
    body = _sms_body(settings, order["drill_id"], order["sms_zh"], token)
    queued = outbox.queue_delivery(
        conn,
        order_id=order["id"],
        drill_id=order["drill_id"],
        town=town,
        recipient=rank,
        recipient_name=person.get("name"),
        channel="sms",
        address=e164(str(person["phone"])),
        round_=round_,
        body=body,
    )
    if queued:
        conn.execute(INSERT_LINK, (link_id, order["id"], town, rank, person.get("name"), settings.ack_link_ttl_s))
    return Call(str(person.get("name") or rank), queued=queued)


@dataclass(frozen=True, slots=True)
class TickResult:
    resent: int = 0
    escalated: int = 0
    unreached: int = 0


def callout_tick(conn: psycopg.Connection, settings: Settings) -> TickResult:
    """One pass of the 叫应 timers (resend, escalate, 未叫应). Run it every second or so."""
    with conn.cursor(row_factory=dict_row) as cur:
        due_resends = cur.execute(DUE_RESENDS).fetchall()
        due_deadlines = cur.execute(DUE_DEADLINES).fetchall()
    if not (due_resends or due_deadlines):
        return TickResult()
    roster = Roster.load(conn)
    resent = sum(_resend(conn, settings, row, roster) for row in due_resends)
    escalated = sum(_at_deadline(conn, settings, row, roster) for row in due_deadlines)
    result = TickResult(resent, escalated, len(due_deadlines) - escalated)
    if result != TickResult():
        outbox.wake_dispatchers(conn, "callout")
    return result


def _order_of(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["order_id"], "drill_id": row["drill_id"], "sms_zh": row["sms_zh"]}


def _resend(conn: psycopg.Connection, settings: Settings, row: dict[str, Any], roster: Roster) -> bool:
    """The same person once more, before the deadline; True when a new SMS was queued."""
    conn.execute(MARK_RESENT, (row["order_id"], row["town_code"]))
    again = call(conn, settings, _order_of(row), row["town_code"], row["contact_rank"], roster, 2)
    if again is None or not again.queued:
        return False
    outbox.record_event(conn, row["order_id"], row["town_code"], "resent", "system", "")
    return True


def _at_deadline(conn: psycopg.Connection, settings: Settings, row: dict[str, Any], roster: Roster) -> bool:
    """The deadline passed unanswered: call the next person (True), or, the roster done, 未叫应 (False)."""
    town, rank_index = row["town_code"], row["contact_rank"]
    current = roster.person(town, rank_index)
    missed = f"{RANK_ZH.get(current[0], current[0])}{current[1].get('name', '')}" if current else "责任人"
    late = f"{missed}未在{round(row['ack_deadline_s'] / 60, 1):g}分钟内确认{row['order_no']}，"
    nxt = roster.person(town, rank_index + 1)
    if nxt is None or "sms" not in row["channels"]:
        conn.execute(UNREACHED, (row["order_id"], town))
        detail = late + "名单已叫完：未叫应"
        outbox.record_event(conn, row["order_id"], town, "unreached", "system", detail)
        _tell_hq(conn, settings, row, town, "unreached", detail)
        return False
    conn.execute(ESCALATE, (rank_index + 1, row["resend_after_s"], row["ack_deadline_s"], row["order_id"], town))
    escalation = call(conn, settings, _order_of(row), town, rank_index + 1, roster, 1)
    assert escalation is not None  # nxt is that person
    detail = late + (
        f"已转{RANK_ZH[nxt[0]]}{escalation.name}"
        if escalation.queued
        else f"转{RANK_ZH[nxt[0]]}{escalation.name}的短信此前已排队，未重发"
    )
    outbox.record_event(conn, row["order_id"], town, "escalated", "system", detail)
    _tell_hq(conn, settings, row, town, f"escalated-{rank_index}", detail)
    return True


def _tell_hq(
    conn: psycopg.Connection, settings: Settings, row: dict[str, Any], town: str, what: str, detail: str
) -> None:
    """叫应 trouble goes to the HQ duty phones (FLOOD_HQ_PHONES) as well as onto the wall."""
    name = conn.execute("SELECT name FROM towns WHERE code = %s", (town,)).fetchone()
    body = mark(f"【叫应提醒】{name[0] if name else town}：{detail}", row["drill_id"])
    for phone in settings.hq_phone_list():
        outbox.queue_delivery(
            conn,
            order_id=row["order_id"],
            drill_id=row["drill_id"],
            town=town,
            recipient=f"hq:{phone}:{town}:{what}",
            recipient_name="县防指值班室",
            channel="sms",
            address=e164(phone),
            round_=1,
            body=body,
        )
