"""SMS replies (the inbound webhook) over the real HTTP server, signed the Twilio way: a reply counts once
(its MessageSid is remembered), only from a roster person the order was sent to (never the HQ duty
phone that got a 【叫应提醒】), and only on its own side: a reply through the live gateway never
acknowledges a drill order, a reply through the drill gateway never a live one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from alerts import callout
from alerts.dispatch import Dispatcher
from alerts.signing import twilio_signature
from floodctl.api.app import create_app
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

TOWN = "330225100"  # 石浦镇: primary 陈敏 …401, deputy 徐红勇 …402, superior 周国 …403
OTHER_TOWN = "330225001"  # 丹西街道: primary 徐勇国 …101
PRIMARY, DEPUTY = "+8613900000401", "+8613900000402"
OTHER_PRIMARY = "+8613900000101"
HQ_PHONE = "+8613900009999"
DRILL_SID, DRILL_TOKEN = "AC" + "d" * 32, "drill-gateway-token-0123456789"
INBOUND = "/api/v1/hooks/sms/inbound"


def sid() -> str:
    return "SM" + uuid.uuid4().hex


@dataclass
class Hq:
    base: str
    settings: Settings
    database_url: str
    live: Any
    drill: Any
    http: httpx.Client
    duty: dict[str, str]
    commander: dict[str, str]

    def order(self, towns: list[str] | None = None, **body: Any) -> int:
        body = {
            "hazard": "typhoon",
            "level": "orange",
            "towns": towns or [TOWN],
            "channels": ["sms"],
            "ack_deadline_s": 600,
            "resend_after_s": 600,
        } | body
        r = self.http.post("/api/v1/orders", json=body, headers=self.duty)
        assert r.status_code == 201, r.text
        r = self.http.post(f"/api/v1/orders/{r.json()['id']}/approve", headers=self.commander)
        assert r.status_code == 200, r.text
        return int(r.json()["id"])

    def state(self, order_id: int, town: str = TOWN) -> str:
        r = self.http.get(f"/api/v1/orders/{order_id}", headers=self.duty)
        return str(next(t["state"] for t in r.json()["towns_status"] if t["town_code"] == town))

    def reply(
        self,
        phone: str,
        body: str,
        *,
        message_sid: str | None = None,
        drill: bool = False,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A reply as the live (or drill) gateway posts it: signed with that gateway's token."""
        account, token = (DRILL_SID, DRILL_TOKEN) if drill else (DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN)
        form = (
            params
            if params is not None
            else {
                "From": phone,
                "To": "floodctl",
                "Body": body,
                "AccountSid": account,
                "MessageSid": message_sid or sid(),
            }
        )
        return self.post_signed(form, token)

    def post_signed(self, form: dict[str, str], token: str) -> httpx.Response:
        return self.http.post(
            INBOUND,
            content=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(token, self.settings.public_url + INBOUND, form),
            },
        )

    def drill_id(self) -> int:
        with psycopg.connect(self.database_url) as conn:
            return int(
                conn.execute(
                    "INSERT INTO drills (name, scenario) VALUES ('reply drill', 'in-fa-2106') RETURNING id"
                ).fetchone()[0]
            )  # type: ignore[index]


@pytest.fixture
def hq(
    settings: Settings, database_url: str, serve_app: Any, account_headers: Callable[..., dict[str, str]]
) -> Iterator[Hq]:
    live = create_sms_app(
        SmsGatewayConfig(account_sid=DEV_SMS_ACCOUNT_SID, auth_token=DEV_SMS_AUTH_TOKEN, callback_delay_ms=10)
    )
    drill = create_sms_app(SmsGatewayConfig(account_sid=DRILL_SID, auth_token=DRILL_TOKEN, callback_delay_ms=10))
    api = create_app(settings, database_url)
    stop = threading.Event()
    with serve_app(live) as live_url, serve_app(drill) as drill_url, serve_app(api) as base:
        s = settings.model_copy(
            update=dict(
                public_url=base,
                sms_base_url=live_url,
                drill_sms_base_url=drill_url,
                drill_sms_account_sid=DRILL_SID,
                drill_sms_auth_token=SecretStr(DRILL_TOKEN),
                dispatch_backoff_s=0.2,
                sms_rate_per_s=1000.0,
                hq_phones=HQ_PHONE,
            )
        )
        api.state.settings = s
        dispatcher = Dispatcher(s, database_url)
        thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True, name="dispatch")
        thread.start()
        http = httpx.Client(base_url=base, timeout=15)
        try:
            yield Hq(
                base,
                s,
                database_url,
                live.state.gateway,
                drill.state.gateway,
                http,
                account_headers(http, database_url, "duty", "duty_officer"),
                account_headers(http, database_url, "chief", "commander"),
            )
        finally:
            stop.set()
            thread.join(30)
            http.close()
    assert not thread.is_alive(), "the dispatcher did not stop"


def test_a_replayed_reply_changes_nothing(hq: Hq, wait_until: Any) -> None:
    first = hq.order()
    wait_until(lambda: hq.live.sent_to(PRIMARY), what="the SMS to the primary person")
    message_sid = sid()
    r = hq.reply(PRIMARY, "1", message_sid=message_sid)
    assert r.status_code == 200 and "已确认收到" in r.text
    assert hq.state(first) == "acknowledged"

    # A second order to the same town; the same signed request is replayed (same MessageSid).
    second = hq.order()
    wait_until(lambda: len(hq.live.sent_to(PRIMARY)) == 2, what="the second order's SMS")
    again = hq.reply(PRIMARY, "1", message_sid=message_sid)
    assert again.status_code == 200 and again.text == r.text  # the same answer, nothing done
    assert hq.state(second) == "pending"
    # The same goes for a replayed 已落实: recorded once.
    done_sid = sid()
    assert "已记录落实情况" in hq.reply(PRIMARY, "已落实 转移40人", message_sid=done_sid).text
    assert hq.state(second) == "carried_out"
    third = hq.order()
    wait_until(lambda: len(hq.live.sent_to(PRIMARY)) == 3, what="the third order's SMS")
    assert hq.reply(PRIMARY, "已落实 转移40人", message_sid=done_sid).status_code == 200
    assert hq.state(third) == "pending"
    # A new reply (its own MessageSid) is a new answer.
    assert "已确认收到" in hq.reply(PRIMARY, "收到").text
    assert hq.state(third) == "acknowledged"
    with psycopg.connect(hq.database_url) as conn:
        acks = conn.execute(
            "SELECT order_id, count(*) FROM order_events WHERE kind = 'acknowledged' "
            "GROUP BY order_id ORDER BY order_id"
        ).fetchall()
    assert acks == [(first, 1), (third, 1)]


def test_a_reply_needs_its_message_sid_and_no_nul(hq: Hq) -> None:
    hq.order()
    r = hq.reply(PRIMARY, "1", params={"From": PRIMARY, "Body": "1", "AccountSid": DEV_SMS_ACCOUNT_SID})
    assert r.status_code == 400 and "MessageSid" in r.json()["message"]
    for bad in ({"MessageSid": "SM../../x"}, {"MessageSid": "S" * 65}, {"Body": "1\x00"}):
        form = {"From": PRIMARY, "Body": "1", "AccountSid": DEV_SMS_ACCOUNT_SID, "MessageSid": sid()} | bad
        r = hq.reply(PRIMARY, "1", params=form)
        assert r.status_code == 400 and r.json()["message"], (bad, r.text)


def test_the_hq_reply_to_a_callout_reminder_acknowledges_no_town(hq: Hq, wait_until: Any) -> None:
    order_id = hq.order(ack_deadline_s=5)
    wait_until(lambda: hq.live.sent_to(PRIMARY), what="the SMS to the primary person")
    with psycopg.connect(hq.database_url, autocommit=True) as conn:
        wait_until(
            lambda: conn.execute(
                "SELECT deadline_at <= now() FROM order_towns WHERE order_id = %s", (order_id,)
            ).fetchone()[0],
            timeout_s=15,
            what="the 叫应 deadline",
        )
        with conn.transaction():
            assert callout.callout_tick(conn, hq.settings).escalated == 1
    told = wait_until(lambda: hq.live.sent_to(HQ_PHONE), what="the HQ's 【叫应提醒】")
    assert told[0]["body"].startswith("【叫应提醒】石浦镇")
    wait_until(lambda: hq.live.sent_to(DEPUTY), what="the SMS to the deputy")

    r = hq.reply(HQ_PHONE, "1")  # the duty room answers the reminder
    assert r.status_code == 200 and "未找到待确认的指令" in r.text
    assert hq.state(order_id) == "pending"
    assert "未找到" in hq.reply(HQ_PHONE, "已落实 转移5人").text
    assert hq.state(order_id) == "pending"
    # The town's own (escalated-to) person does acknowledge it.
    assert "已确认收到" in hq.reply(DEPUTY, "1").text
    assert hq.state(order_id) == "acknowledged"


def test_a_live_reply_never_acknowledges_a_drill_order_nor_a_drill_reply_a_live_one(hq: Hq, wait_until: Any) -> None:
    drill_order = hq.order(drill_id=hq.drill_id())
    wait_until(lambda: hq.drill.sent_to(PRIMARY), what="the drill SMS at the drill gateway")
    assert hq.live.sent_to(PRIMARY) == []

    r = hq.reply(PRIMARY, "1")  # through the live gateway
    assert r.status_code == 200 and "未找到待确认的指令" in r.text
    assert hq.state(drill_order) == "pending"
    assert "已确认收到" in hq.reply(PRIMARY, "1", drill=True).text
    assert hq.state(drill_order) == "acknowledged"

    live_order = hq.order()
    wait_until(lambda: hq.live.sent_to(PRIMARY), what="the live SMS")
    second_drill = hq.order(drill_id=hq.drill_id())  # newer than the live order, on the drill side
    wait_until(lambda: len(hq.drill.sent_to(PRIMARY)) == 2, what="the second drill SMS")
    # A drill reply answers the drill order; the live order stays pending.
    assert "已确认收到" in hq.reply(PRIMARY, "收到", drill=True).text
    assert hq.state(second_drill) == "acknowledged" and hq.state(live_order) == "pending"
    assert "未找到" in hq.reply(PRIMARY, "1", drill=True).text
    assert hq.state(live_order) == "pending"
    # A drill-signed request claiming to be the live account is still a drill reply.
    forged = {"From": PRIMARY, "Body": "1", "AccountSid": DEV_SMS_ACCOUNT_SID, "MessageSid": sid()}
    assert hq.post_signed(forged, DRILL_TOKEN).status_code == 200
    assert hq.state(live_order) == "pending"
    assert "已确认收到" in hq.reply(PRIMARY, "1").text
    assert hq.state(live_order) == "acknowledged"


def test_a_phone_the_order_was_not_sent_to_does_not_acknowledge(hq: Hq, wait_until: Any) -> None:
    other = hq.order(towns=[OTHER_TOWN], ack_deadline_s=600)
    order_id = hq.order()
    wait_until(lambda: hq.live.sent_to(PRIMARY) and hq.live.sent_to(OTHER_PRIMARY), what="both SMS")
    # The deputy has not been called (no escalation yet), a stranger never; another town's person has
    # an order of their own, which is what their reply answers.
    for phone in (DEPUTY, "+8613800000000"):
        r = hq.reply(phone, "1")
        assert r.status_code == 200 and "未找到待确认的指令" in r.text
    assert hq.state(order_id) == "pending"
    assert "已确认收到" in hq.reply(OTHER_PRIMARY, "1").text
    assert hq.state(order_id) == "pending" and hq.state(other, OTHER_TOWN) == "acknowledged"
    assert "未找到" in hq.reply(OTHER_PRIMARY, "1").text
    assert hq.state(order_id) == "pending"


def test_one_person_for_two_towns_gets_each_towns_call_and_one_reply_answers_both(hq: Hq, wait_until: Any) -> None:
    # 丹西街道's primary also stands in as 石浦镇's primary (one number in two towns' rosters).
    with psycopg.connect(hq.database_url) as conn:
        conn.execute(
            """UPDATE layers SET geojson = jsonb_set(geojson, '{towns}', (
                          SELECT jsonb_agg(CASE WHEN t ->> 'town' = %s
                                                THEN jsonb_set(t, '{primary,phone}', to_jsonb(%s::text)) ELSE t END)
                          FROM jsonb_array_elements(geojson -> 'towns') t)) WHERE name = 'roster'""",
            (TOWN, OTHER_PRIMARY.removeprefix("+86")),
        )
    order_id = hq.order(towns=[TOWN, OTHER_TOWN])
    sms = wait_until(
        lambda: len(hq.live.sent_to(OTHER_PRIMARY)) == 2 and hq.live.sent_to(OTHER_PRIMARY),
        what="one SMS per town to the shared number",
    )
    assert len({m["body"] for m in sms}) == 2  # each town's call has its own link
    assert hq.live.sent_to(PRIMARY) == []
    assert "已确认收到" in hq.reply(OTHER_PRIMARY, "1").text
    assert hq.state(order_id, TOWN) == "acknowledged" and hq.state(order_id, OTHER_TOWN) == "acknowledged"
