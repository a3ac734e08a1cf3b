"""An order reaches every town it names, over the real path: draft and approve through the HTTP API,
the real dispatcher (run_dispatcher, MQTT and all), the SMS gateway stub on a loopback port, virtual
LED boards and loudspeakers over the real broker. At county scale: all 18 towns of the sample roster,
every village device. The 叫应 escalation reaches each silent town's deputy, and the order's record
claims no send that has no delivery row.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from alerts import callout, orders
from alerts.dispatch import run_dispatcher
from alerts.signing import twilio_signature
from floodctl.api.app import create_app
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from simulators.devices import VirtualDevices, devices_from_villages
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

HQ_PHONE = "13900009999"
ACKNOWLEDGING = 6  # of the 18 towns, the first six answer before the deadline


@dataclass
class County:
    """The running system and what the sample county's layers say it should reach."""

    base: str
    settings: Settings
    database_url: str
    gateway: Any
    devices: VirtualDevices
    http: httpx.Client
    duty: dict[str, str]
    commander: dict[str, str]
    people: dict[str, dict[str, str]]  # town -> rank -> E.164 phone
    boards: dict[str, list[str]]  # town -> LED board ids
    speakers: dict[str, list[str]]  # town -> loudspeaker ids

    @property
    def towns(self) -> list[str]:
        return sorted(self.people)

    def order(self, **body: Any) -> dict[str, Any]:
        """Draft (duty officer) and approve (commander) over the API; returns the approved order."""
        body = {"hazard": "typhoon", "level": "red", "towns": self.towns} | body
        r = self.http.post("/api/v1/orders", json=body, headers=self.duty)
        assert r.status_code == 201, r.text
        r = self.http.post(f"/api/v1/orders/{r.json()['id']}/approve", headers=self.commander)
        assert r.status_code == 200, r.text
        return r.json()

    def view(self, order_id: int) -> dict[str, Any]:
        r = self.http.get(f"/api/v1/orders/{order_id}", headers=self.duty)
        assert r.status_code == 200, r.text
        return r.json()

    def sms_count(self) -> Counter[str]:
        with self.gateway.lock:
            return Counter(m["to"] for m in self.gateway.messages.values())

    def reply(self, phone: str, body: str) -> httpx.Response:
        path = "/api/v1/hooks/sms/inbound"
        params = {
            "From": phone,
            "To": "floodctl",
            "Body": body,
            "AccountSid": DEV_SMS_ACCOUNT_SID,
            "MessageSid": "SM" + uuid.uuid4().hex,
        }
        return self.http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(DEV_SMS_AUTH_TOKEN, self.settings.public_url + path, params),
            },
        )


def _layers(database_url: str) -> tuple[dict[str, dict[str, str]], dict[str, list[str]], dict[str, list[str]]]:
    """Who and what each town has, from the loaded roster and village layers (the database's copy)."""
    with psycopg.connect(database_url) as conn:
        roster = callout.Roster.load(conn)
    people = {
        town: {rank: callout.e164(str(p["phone"])) for rank, p in ranked} for town, ranked in roster.people.items()
    }
    return people, roster.leds, roster.speakers


@pytest.fixture
def county(
    settings: Settings, database_url: str, broker: Any, serve_app: Any, account_headers: Callable[..., dict[str, str]]
) -> Iterator[County]:
    gateway_app = create_sms_app(
        SmsGatewayConfig(account_sid=DEV_SMS_ACCOUNT_SID, auth_token=DEV_SMS_AUTH_TOKEN, callback_delay_ms=10)
    )
    devices = VirtualDevices(broker.url, client_id=f"test-devices-{uuid.uuid4().hex[:8]}", time_scale=0).start()
    api = create_app(settings, database_url)
    stop = threading.Event()
    with serve_app(gateway_app) as gateway_url, serve_app(api) as base:
        s = settings.model_copy(
            update=dict(
                public_url=base,
                mqtt_url=SecretStr(broker.url),
                sms_base_url=gateway_url,
                sms_rate_per_s=1000.0,
                dispatch_threads=8,
                dispatch_backoff_s=0.2,
                hq_phones=HQ_PHONE,
            )
        )
        api.state.settings = s
        thread = threading.Thread(target=run_dispatcher, args=(s, database_url, stop), daemon=True, name="dispatch")
        thread.start()
        http = httpx.Client(base_url=base, timeout=30)
        try:
            people, boards, speakers = _layers(database_url)
            yield County(
                base,
                s,
                database_url,
                gateway_app.state.gateway,
                devices,
                http,
                account_headers(http, database_url, "duty", "duty_officer"),
                account_headers(http, database_url, "chief", "commander"),
                people,
                boards,
                speakers,
            )
        finally:
            stop.set()
            thread.join(30)
            http.close()
            devices.close()
    assert not thread.is_alive(), "the dispatcher did not stop"


def test_the_sample_county_has_a_full_roster_and_devices_in_every_town(county: County) -> None:
    assert len(county.towns) == 18
    assert all(set(ranks) == set(callout.RANKS) for ranks in county.people.values())
    assert all(county.boards.get(t) and county.speakers.get(t) for t in county.towns)
    # The virtual devices serve exactly the village layer the order code reads.
    every = {d for t in county.towns for d in county.boards[t] + county.speakers[t]}
    assert every == set(devices_from_villages()) == set(county.devices.device_ids)


def test_an_order_to_all_18_towns_reaches_every_primary_board_and_loudspeaker(county: County, wait_until: Any) -> None:
    order = county.order()
    primaries = {county.people[t]["primary"] for t in county.towns}
    devices = [(t, d) for t in county.towns for d in county.boards[t] + county.speakers[t]]

    wait_until(lambda: set(county.sms_count()) >= primaries, timeout_s=30, what="an SMS to every town's primary")
    wait_until(
        lambda: all(county.devices.history(d) for _, d in devices),
        timeout_s=60,
        what="a command on every LED board and loudspeaker",
    )
    done = ("sent", "delivered", "acked")
    wait_until(
        lambda: all(d["state"] in done for d in county.view(order["id"])["deliveries"]),
        timeout_s=60,
        what="every delivery sent or acked",
    )

    # Exactly one SMS per town's primary person, nobody else texted (no escalation, no resend yet).
    assert county.sms_count() == Counter({phone: 1 for phone in primaries})
    with county.gateway.lock:
        bodies = {m["to"]: m["body"] for m in county.gateway.messages.values()}
    assert all("回复1确认收到" in b and "/a/" in b for b in bodies.values())
    assert len(set(bodies.values())) == 18  # each town's person has a link of their own
    # Every board shows the order's LED text, every loudspeaker played its text, once each.
    for town, device in devices:
        [record] = county.devices.history(device)
        expected = order["led_zh"] if device.startswith("LED-") else order["speaker_zh"]
        assert record.text == expected and record.drill_id == 0, (town, device)

    # The record: one SMS row per town (its primary), one row per device, each acked or sent.
    rows = county.view(order["id"])["deliveries"]
    sms = [(d["town_code"], d["recipient"], d["address"]) for d in rows if d["channel"] == "sms"]
    assert sorted(sms) == sorted((t, "primary", county.people[t]["primary"]) for t in county.towns)
    assert Counter((d["town_code"], d["address"]) for d in rows if d["channel"] != "sms") == Counter(
        {(t, d): 1 for t, d in devices}
    )
    assert {d["state"] for d in rows if d["channel"] != "sms"} == {"acked"}
    assert [t["state"] for t in county.view(order["id"])["towns_status"]] == ["pending"] * 18


def test_escalation_reaches_each_silent_towns_deputy(county: County, wait_until: Any) -> None:
    order = county.order(channels=["sms"], ack_deadline_s=5, resend_after_s=86_400)
    primaries = {county.people[t]["primary"] for t in county.towns}
    wait_until(lambda: set(county.sms_count()) >= primaries, timeout_s=30, what="an SMS to every town's primary")

    answering, silent = county.towns[:ACKNOWLEDGING], county.towns[ACKNOWLEDGING:]
    for town in answering:
        r = county.reply(county.people[town]["primary"], "收到")
        assert r.status_code == 200 and "已确认收到" in r.text, r.text
    status = {t["town_code"]: t["state"] for t in county.view(order["id"])["towns_status"]}
    assert status == {t: "acknowledged" if t in answering else "pending" for t in county.towns}

    # Let the 叫应 deadline pass, then run the timers once (as the engine's loop does).
    with psycopg.connect(county.database_url, autocommit=True) as conn:
        wait_until(
            lambda: conn.execute(
                "SELECT count(*) = 0 FROM order_towns WHERE order_id = %s AND "
                "state = 'pending' AND deadline_at > now()",
                (order["id"],),
            ).fetchone()[0],
            timeout_s=15,
            what="the 叫应 deadline",
        )
        with conn.transaction():
            result = callout.callout_tick(conn, county.settings)
        names = dict(conn.execute("SELECT code, name FROM towns").fetchall())
    assert result == callout.TickResult(resent=0, escalated=len(silent), unreached=0)

    deputies = {county.people[t]["deputy"] for t in silent}
    hq = "+86" + HQ_PHONE
    wait_until(lambda: set(county.sms_count()) >= deputies | {hq}, timeout_s=30, what="SMS to the deputies")
    wait_until(lambda: county.sms_count()[hq] == len(silent), timeout_s=30, what="the HQ told of every town")
    expected = Counter({p: 1 for p in primaries | deputies}) + Counter({hq: len(silent)})
    assert county.sms_count() == expected
    assert not {county.people[t]["deputy"] for t in answering} & set(county.sms_count())

    # The gateway has them; the dispatcher records each send just after the gateway's answer.
    def recorded() -> dict[str, Any] | None:
        v = county.view(order["id"])
        return v if all(d["state"] not in ("pending", "sending") for d in v["deliveries"]) else None

    view = wait_until(recorded, timeout_s=15, what="every send recorded")
    status = {t["town_code"]: (t["state"], t["contact_rank"]) for t in view["towns_status"]}
    assert status == {t: ("acknowledged", 0) if t in answering else ("pending", 1) for t in county.towns}
    # Every "已转第二责任人…" event has the delivery row it claims (town, deputy, that person's phone).
    escalated = [e for e in view["events"] if e["kind"] == "escalated"]
    assert sorted(e["town_code"] for e in escalated) == sorted(silent)
    sms_rows = {(d["town_code"], d["recipient"]): d for d in view["deliveries"] if d["channel"] == "sms"}
    for event in escalated:
        town = event["town_code"]
        assert "已转第二责任人" in event["detail"]
        row = sms_rows[(town, "deputy")]
        assert row["address"] == county.people[town]["deputy"] and row["state"] in ("sent", "delivered")
    with county.gateway.lock:
        told = [m["body"] for m in county.gateway.messages.values() if m["to"] == hq]
    assert sorted(b.split("：")[0] for b in told) == sorted(f"【叫应提醒】{names[t]}" for t in silent)


def test_a_call_already_in_the_outbox_is_neither_queued_nor_claimed_twice(
    db: psycopg.Connection, settings: Settings
) -> None:
    """Two towns due for their resend at once: each gets its own round-2 row and its own "resent" event;
    a second timer pass over the same calls (a racing process) writes no row and claims nothing."""
    towns = ["330225001", "330225100"]
    with db.transaction():
        order_id = orders.draft(
            db,
            orders.OrderRequest(
                hazard="typhoon", level="red", towns=towns, channels=["sms"], ack_deadline_s=3600, resend_after_s=3600
            ),
            actor="duty",
            settings=settings,
        )
        assert order_id is not None
        orders.approve(db, order_id, actor="chief", settings=settings)
    due = "UPDATE order_towns SET resend_at = now() - interval '1 s', resent = false WHERE order_id = %s"
    db.execute(due, (order_id,))
    with db.transaction():
        assert callout.callout_tick(db, settings).resent == 2
    db.execute(due, (order_id,))
    with db.transaction():
        assert callout.callout_tick(db, settings).resent == 0

    calls = db.execute(
        "SELECT town_code, recipient, round FROM deliveries WHERE order_id = %s ORDER BY 1, 3", (order_id,)
    ).fetchall()
    assert calls == [(t, "primary", r) for t in towns for r in (1, 2)]
    resent = db.execute(
        "SELECT town_code FROM order_events WHERE order_id = %s AND kind = 'resent' ORDER BY 1", (order_id,)
    ).fetchall()
    assert resent == [(t,) for t in towns]
    links = db.execute(
        "SELECT town_code, count(*) FROM ack_links WHERE order_id = %s GROUP BY 1 ORDER BY 1", (order_id,)
    ).fetchall()
    assert links == [(t, 2) for t in towns]  # one signed link per queued SMS, none for the no-op
