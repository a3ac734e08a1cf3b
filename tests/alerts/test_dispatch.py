"""The dispatcher against real PostgreSQL, the SMS gateway stub over HTTP, a real broker and virtual devices."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi import FastAPI, Response
from prometheus_client import REGISTRY
from pydantic import SecretStr

from alerts.channels import DRILL_WITHOUT_MARK, DeviceAckListener
from alerts.dispatch import Dispatcher, run_dispatcher
from alerts.ratelimit import TokenBucket
from floodctl.core.embedded.broker import BrokerProcess, start_broker
from floodctl.core.mqtt import connect_async, make_client
from floodctl.core.net import free_port
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.topics import DEVICE_KINDS, DRILL_SEGMENT, TOPIC_ROOT, device_topic
from simulators.devices import FAIL_REASONS, VirtualDevices
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

Serve = Callable[[object], AbstractContextManager[str]]
TOWN = "330225100"
DEVICE_TOWN = "330225001"
LEDS = ["LED-330225001201-1", "LED-330225001202-1"]
SPEAKERS = ["SPK-330225001201-1", "SPK-330225001201-2"]
DRILL_SID, DRILL_TOKEN = "AC" + "d" * 32, "drill-stub-token"

ORDER_SQL = """
INSERT INTO orders (drill_id, msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, body_en,
                    sms_zh, led_zh, speaker_zh, towns, source, drafted_by, approved_by, approved_at,
                    ack_deadline_s, resend_after_s)
VALUES (%(drill)s, 'alert', %(status)s, 'typhoon', 'red', %(no)s, '台风红色预警', '请立即转移', 'Typhoon red',
        'Evacuate now', '请立即转移', '请立即转移', '请立即转移', %(towns)s, 'officer', 'duty', 'commander', now(),
        300, 120)
RETURNING id
"""
DELIVERY_SQL = """
INSERT INTO deliveries (order_id, drill_id, town_code, recipient, channel, address, body)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""


def phone(i: int) -> str:
    return f"+861390000{i:04d}"


def new_drill(db: psycopg.Connection) -> int:
    return int(
        db.execute("INSERT INTO drills (name, scenario) VALUES ('test drill', 'in-fa-2106') RETURNING id").fetchone()[0]
    )  # type: ignore[index]


def make_order(
    db: psycopg.Connection,
    n: int = 0,
    *,
    drill_id: int = 0,
    status: str = "approved",
    body: str | None = None,
    addresses: list[str] | None = None,
    devices: Sequence[tuple[str, str]] = (),
) -> int:
    """An order and its deliveries: n SMS (to phone(0..n-1), or ``addresses``) plus (channel, device) rows."""
    number = f"象防指〔2026〕{uuid.uuid4().hex[:4]}号"
    order_id = int(
        db.execute(
            ORDER_SQL, {"drill": drill_id, "status": status, "no": number, "towns": [TOWN, DEVICE_TOWN]}
        ).fetchone()[0]
    )  # type: ignore[index]
    mark = DRILL_MARKER if drill_id else ""
    numbers = addresses if addresses is not None else [phone(i) for i in range(n)]
    rows = [
        (
            order_id,
            drill_id,
            TOWN,
            f"r{i}",
            "sms",
            number,
            body if body is not None else f"{mark}台风红色预警，请立即转移。确认: http://127.0.0.1/a/{order_id}-{i}",
        )
        for i, number in enumerate(numbers)
    ]
    rows += [
        (order_id, drill_id, DEVICE_TOWN, device, channel, device, f"{mark}紧急：台风红色预警，请立即转移")
        for channel, device in devices
    ]
    with db.cursor() as cur:
        cur.executemany(DELIVERY_SQL, rows)
    return order_id


def states(db: psycopg.Connection, order_id: int) -> Counter[str]:
    return Counter(
        dict(
            db.execute(
                "SELECT state, count(*) FROM deliveries WHERE order_id = %s GROUP BY state", (order_id,)
            ).fetchall()
        )
    )


def rows(db: psycopg.Connection, order_id: int) -> list[dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT * FROM deliveries WHERE order_id = %s ORDER BY id", (order_id,)).fetchall()


def wait_settled(db: psycopg.Connection, order_id: int, timeout: float = 20.0) -> Counter[str]:
    """Wait until no delivery of the order is pending or sending; returns the state counts."""
    deadline = time.monotonic() + timeout
    while True:
        found = states(db, order_id)
        if not (found["pending"] or found["sending"]) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_states(db: psycopg.Connection, order_id: int, expected: Counter[str], timeout: float = 20.0) -> Counter[str]:
    """Wait until the order's deliveries are in exactly the ``expected`` states; returns the state counts."""
    deadline = time.monotonic() + timeout
    while True:
        found = states(db, order_id)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def stub(serve_app: Serve) -> Iterator[Callable[..., tuple[Any, str]]]:
    """``start(**config)`` → (the stub's SmsGateway, base URL); the development credentials by default."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> tuple[Any, str]:
            config = {
                "account_sid": DEV_SMS_ACCOUNT_SID,
                "auth_token": DEV_SMS_AUTH_TOKEN,
                "callback_delay_ms": 10,
                **overrides,
            }
            app = create_sms_app(SmsGatewayConfig(**config))
            return app.state.gateway, stack.enter_context(serve_app(app))

        yield start


@pytest.fixture(scope="module")
def hooks(serve_app: Serve) -> Iterator[str]:
    """Where the stubs' status callbacks go (public_url): a sink that answers 204."""
    app = FastAPI()

    @app.post("/api/v1/hooks/sms/status")
    async def status() -> Response:
        return Response(status_code=204)

    with serve_app(app) as base_url:
        yield base_url


@pytest.fixture
def settings(settings: Settings, hooks: str) -> Settings:
    return settings.model_copy(update={"public_url": hooks})


def fast(settings: Settings, base_url: str, **overrides: Any) -> Settings:
    values = {
        "sms_base_url": base_url,
        "dispatch_backoff_s": 0.05,
        "dispatch_threads": 8,
        "sms_rate_per_s": 1000.0,
        "sms_timeout_s": 2.0,
        **overrides,
    }
    return settings.model_copy(update=values)


@contextmanager
def running(settings: Settings, dsn: str, client: Any = None) -> Iterator[Dispatcher]:
    dispatcher = Dispatcher(settings, dsn, client)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield dispatcher
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the dispatcher did not stop"


def per_number(gateway: Any) -> Counter[str]:
    with gateway.lock:
        return Counter(m["to"] for m in gateway.messages.values())


def metric(outcome: str, channel: str = "sms") -> float:
    return REGISTRY.get_sample_value("floodctl_deliveries_total", {"channel": channel, "outcome": outcome}) or 0.0


def assert_sent_exactly_once(db: psycopg.Connection, order_id: int, gateway: Any, n: int) -> None:
    counts = per_number(gateway)
    duplicates = [k for k, v in counts.items() if v > 1]
    missing = [phone(i) for i in range(n) if not counts[phone(i)]]
    assert counts == Counter({phone(i): 1 for i in range(n)}), f"duplicates {duplicates}, missing {missing}"
    with gateway.lock:
        sid_of = {m["to"]: m["sid"] for m in gateway.messages.values()}
        body_of = {m["to"]: m["body"] for m in gateway.messages.values()}
    for row in rows(db, order_id):
        assert row["state"] == "sent" and row["sent_at"] is not None and row["lease_until"] is None
        assert row["provider_id"] == sid_of[row["address"]] and body_of[row["address"]] == row["body"]
        assert not row["in_doubt"]


# --- SMS ---------------------------------------------------------------------------------------


def test_every_delivery_sent_exactly_once(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    order_id = make_order(db, 60)
    before = metric("sent")
    with running(fast(settings, base), database_url):
        assert wait_settled(db, order_id) == Counter(sent=60)
    assert_sent_exactly_once(db, order_id, gateway, 60)
    assert {r["attempts"] for r in rows(db, order_id)} == {1}
    assert metric("sent") - before == 60


def test_new_deliveries_wake_an_idle_dispatcher(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    with running(fast(settings, base), database_url):
        time.sleep(0.3)
        with db.transaction():
            order_id = make_order(db, 5)
            db.execute("SELECT pg_notify('floodctl_outbox', %s)", (str(order_id),))
        assert wait_settled(db, order_id, timeout=5) == Counter(sent=5)
    assert_sent_exactly_once(db, order_id, gateway, 5)


@pytest.mark.parametrize("fault", [{"rate_limit_per_s": 4.0}, {"error_5xx_rate": 0.4, "seed": 0}], ids=["429", "5xx"])
def test_rate_limit_and_server_errors_are_retried_then_sent(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    stub: Callable[..., tuple[Any, str]],
    fault: dict[str, Any],
) -> None:
    gateway, base = stub(**fault)
    order_id = make_order(db, 12)
    retries = metric("retry")
    with running(fast(settings, base, dispatch_backoff_s=0.05), database_url) as d:
        assert wait_settled(db, order_id, timeout=30) == Counter(sent=12)
    assert_sent_exactly_once(db, order_id, gateway, 12)
    assert d.stats["retry"] > 0 and metric("retry") > retries
    assert max(r["attempts"] for r in rows(db, order_id)) > 1
    retried = [r for r in rows(db, order_id) if r["attempts"] > 1]
    expected = (
        "429 Too Many Requests (Twilio 20429)"
        if "rate_limit_per_s" in fault
        else "503 Service is unavailable. Please try again (Twilio 20503)"
    )
    assert {r["last_error"] for r in retried} == {expected}
    if "rate_limit_per_s" in fault:
        assert d.stats["rate_limited"] == d.stats["retry"]


def test_permanent_error_fails_with_the_reason(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    order_id = make_order(db, addresses=["13900000001", phone(1)])
    with running(fast(settings, base), database_url):
        assert wait_settled(db, order_id) == Counter(sent=1, failed=1)
    failed = next(r for r in rows(db, order_id) if r["state"] == "failed")
    assert failed["attempts"] == 1 and failed["provider_id"] is None
    assert failed["last_error"] == "400 The 'To' number 13900000001 is not a valid phone number. (Twilio 21211)"
    assert per_number(gateway) == Counter({phone(1): 1})


def test_a_delivery_still_failing_at_its_deadline_fails_with_the_reason(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub(error_5xx_rate=1.0)
    order_id = make_order(db, 3)
    db.execute("UPDATE orders SET ack_deadline_s = 4 WHERE id = %s", (order_id,))  # 叫应 within 4 s
    with running(fast(settings, base, **RETRY), database_url) as dispatcher:
        assert wait_settled(db, order_id, timeout=30) == Counter(failed=3)
    for row in rows(db, order_id):
        assert row["last_error"].startswith("gave up at the 叫应 deadline after "), row["last_error"]
        assert row["last_error"].endswith("503 Service is unavailable. Please try again (Twilio 20503)")
        assert (row["updated_at"] - row["created_at"]).total_seconds() >= 3.9  # tried until the deadline
        assert row["attempts"] > 3 and row["provider_id"] is None and row["sent_at"] is None
    assert gateway.messages == {} and dispatcher.stats["gave_up"] == 3


def test_a_delivery_first_claimed_after_its_deadline_is_still_tried_once(
    db: psycopg.Connection, database_url: str, settings: Settings
) -> None:
    """Nothing is lost unsent: a dispatcher that comes back after the deadline tries each row once."""
    order_id = make_order(db, 2)
    db.execute("UPDATE deliveries SET created_at = now() - interval '10 min' WHERE order_id = %s", (order_id,))
    dispatcher = Dispatcher(fast(settings, f"http://127.0.0.1:{free_port()}"), database_url)
    try:
        assert dispatcher.run_once() == 2
    finally:
        dispatcher.close()
    assert states(db, order_id) == Counter(failed=2)
    for row in rows(db, order_id):
        assert row["attempts"] == 1
        assert row["last_error"].startswith("gave up at the 叫应 deadline after 1 attempts: SMS gateway not reachable")


def test_cancelled_order_is_not_sent(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    order_id = make_order(db, 4, status="cancelled")
    dispatcher = Dispatcher(fast(settings, base), database_url)
    try:
        assert dispatcher.run_once() == 4
        assert dispatcher.run_once() == 0
    finally:
        dispatcher.close()
    assert states(db, order_id) == Counter(cancelled=4)
    assert {r["last_error"] for r in rows(db, order_id)} == {"order cancelled"}
    assert {r["attempts"] for r in rows(db, order_id)} == {0}
    assert gateway.messages == {}


def test_in_doubt_delivery_is_reconciled_not_resent(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    order_id = make_order(db, 3)
    first, second, third = rows(db, order_id)
    # A dispatcher died holding all three (kill -9): its lease ran out. It had got the first to the gateway.
    accepted = httpx.post(
        f"{base}/2010-04-01/Accounts/{DEV_SMS_ACCOUNT_SID}/Messages.json",
        auth=(DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN),
        data={"To": first["address"], "From": "floodctl", "Body": first["body"]},
    ).json()
    db.execute(
        "UPDATE deliveries SET state = 'sending', attempts = 1, lease_until = now() - interval '1 s', "
        "next_attempt_at = now() - interval '1 s' WHERE order_id = %s",
        (order_id,),
    )
    # ... and the third is in doubt from a read timeout, waiting for its next attempt.
    db.execute(
        "UPDATE deliveries SET state = 'pending', in_doubt = true, lease_until = NULL WHERE id = %s", (third["id"],)
    )
    reconciled = metric("reconciled")
    dispatcher = Dispatcher(fast(settings, base), database_url)
    try:
        assert dispatcher.run_once() == 3
    finally:
        dispatcher.close()
    assert_sent_exactly_once(db, order_id, gateway, 3)
    after = {r["id"]: r for r in rows(db, order_id)}
    assert after[first["id"]]["provider_id"] == accepted["sid"]
    assert {r["attempts"] for r in after.values()} == {2}
    assert dispatcher.stats["reconciled"] == 1 and dispatcher.stats["sent"] == 2
    assert metric("reconciled") - reconciled == 1


def test_a_live_lease_is_respected(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub()
    order_id = make_order(db, 1)
    db.execute(
        "UPDATE deliveries SET state = 'sending', attempts = 1, lease_until = now() + interval '1 min', "
        "next_attempt_at = now() - interval '1 s' WHERE order_id = %s",
        (order_id,),
    )
    dispatcher = Dispatcher(fast(settings, base), database_url)
    try:
        assert dispatcher.run_once() == 0
    finally:
        dispatcher.close()
    assert gateway.messages == {} and states(db, order_id) == Counter(sending=1)


def test_two_dispatchers_never_duplicate(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub(latency_ms=5)
    order_id = make_order(db, 300)
    config = fast(settings, base)
    with running(config, database_url) as one, running(config, database_url) as two:
        assert wait_settled(db, order_id, timeout=60) == Counter(sent=300)
    assert_sent_exactly_once(db, order_id, gateway, 300)
    assert one.stats["sent"] > 0 and two.stats["sent"] > 0
    assert one.stats["sent"] + two.stats["sent"] == 300


def test_kill_9_mid_broadcast_sends_everything_exactly_once(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    broker: Any,
    stub: Callable[..., tuple[Any, str]],
    floodctl_process: Any,
) -> None:
    n = 150
    gateway, base = stub(latency_ms=30)
    order_id = make_order(db, n)
    env = dict(
        os.environ,
        FLOOD_DATABASE_URL=database_url,
        FLOOD_MQTT_URL=broker.url,
        FLOOD_SMS_BASE_URL=base,
        FLOOD_SMS_ACCOUNT_SID=DEV_SMS_ACCOUNT_SID,
        FLOOD_SMS_AUTH_TOKEN=DEV_SMS_AUTH_TOKEN,
        FLOOD_SMS_RATE_PER_S="100",
        FLOOD_DISPATCH_LEASE_S="2",
        FLOOD_SMS_TIMEOUT_S="1",
        FLOOD_DISPATCH_BACKOFF_S="0.1",
        FLOOD_DATA_DIR=str(settings.data_dir),
        FLOOD_PUBLIC_URL=settings.public_url,
        FLOOD_MQTT_CLIENT_PREFIX=settings.mqtt_client_prefix,
        FLOOD_LOG_LEVEL="WARNING",
    )
    first = floodctl_process(["alerts", "--no-engine"], env).start()
    deadline = time.monotonic() + 30
    while len(gateway.messages) < n // 3:
        assert first.alive(), "floodctl alerts exited"
        assert time.monotonic() < deadline, "the broadcast did not start"
        time.sleep(0.01)
    first.kill9()
    at_kill = len(gateway.messages)
    held = states(db, order_id)["sending"]
    assert n // 3 <= at_kill < n, f"the kill did not land mid-broadcast ({at_kill} sent)"
    assert held > 0, "the killed dispatcher held no claimed rows"

    second = floodctl_process(["alerts", "--no-engine"], env).start()
    try:
        assert wait_settled(db, order_id, timeout=60) == Counter(sent=n)
    finally:
        assert second.stop() == 0
    assert_sent_exactly_once(db, order_id, gateway, n)
    taken_over = db.execute(
        "SELECT count(*) FROM deliveries WHERE order_id = %s AND attempts > 1", (order_id,)
    ).fetchone()[0]  # type: ignore[index]
    assert taken_over >= held


# --- drills ----------------------------------------------------------------------------------


def test_drill_sms_without_marker_is_refused(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    live, live_base = stub()
    drill, drill_base = stub(account_sid=DRILL_SID, auth_token=DRILL_TOKEN)
    drill_id = new_drill(db)
    order_id = make_order(db, 2, drill_id=drill_id, body="台风红色预警（忘了演练标记）")
    config = fast(
        settings,
        live_base,
        drill_sms_base_url=drill_base,
        drill_sms_account_sid=DRILL_SID,
        drill_sms_auth_token=SecretStr(DRILL_TOKEN),
    )
    dispatcher = Dispatcher(config, database_url)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert states(db, order_id) == Counter(failed=2)
    assert {r["last_error"] for r in rows(db, order_id)} == {DRILL_WITHOUT_MARK}
    assert live.messages == {} and drill.messages == {}


class Spy:
    """Records every message under the given topic filters."""

    def __init__(self, url: str, filters: list[str]) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client, props = make_client(url, f"test-spy-{uuid.uuid4().hex[:8]}", persistent=False)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, 1) for t in filters])
        self.client.on_subscribe = lambda *args: ready.set()
        self.client.on_message = self._on_message
        connect_async(self.client, url, keepalive=30, properties=props, persistent=False)
        self.client.loop_start()
        assert ready.wait(15), "spy did not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, orjson.loads(msg.payload)))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices(broker: Any) -> Iterator[Callable[..., VirtualDevices]]:
    started: list[VirtualDevices] = []

    def start(**options: Any) -> VirtualDevices:
        dev = VirtualDevices(
            broker.url, client_id=f"test-devices-{uuid.uuid4().hex[:8]}", time_scale=0, **options
        ).start()
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.close()


@contextmanager
def full_dispatcher(settings: Settings, dsn: str) -> Iterator[None]:
    """run_dispatcher (MQTT, device acks and all) on a thread."""
    stop = threading.Event()
    thread = threading.Thread(target=run_dispatcher, args=(settings, dsn, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "run_dispatcher did not stop"


DEVICE_ROWS = [("led", d) for d in LEDS] + [("speaker", d) for d in SPEAKERS]


def test_drill_goes_only_to_the_drill_gateway_and_drill_topics(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    broker: Any,
    stub: Callable[..., tuple[Any, str]],
    devices: Callable[..., VirtualDevices],
) -> None:
    live, live_base = stub()
    drill, drill_base = stub(account_sid=DRILL_SID, auth_token=DRILL_TOKEN)
    boards = devices()
    live_spy = Spy(broker.url, [f"{TOPIC_ROOT}/{kind}/#" for kind in DEVICE_KINDS])
    drill_spy = Spy(broker.url, [f"{TOPIC_ROOT}/{DRILL_SEGMENT}/#"])
    drill_id = new_drill(db)
    order_id = make_order(db, 5, drill_id=drill_id, devices=DEVICE_ROWS)
    config = fast(
        settings,
        live_base,
        drill_sms_base_url=drill_base,
        drill_sms_account_sid=DRILL_SID,
        drill_sms_auth_token=SecretStr(DRILL_TOKEN),
        mqtt_url=SecretStr(broker.url),
    )
    try:
        with full_dispatcher(config, database_url):
            assert wait_states(db, order_id, Counter(sent=5, acked=4)) == Counter(sent=5, acked=4)
        time.sleep(0.2)
        assert live.messages == {}
        assert per_number(drill) == Counter({phone(i): 1 for i in range(5)})
        assert all(m["body"].startswith(DRILL_MARKER) for m in drill.messages.values())
        assert live_spy.topics() == []
        drill_topics = drill_spy.topics()
        assert sorted(t for t in drill_topics if t.endswith("/cmd")) == sorted(
            device_topic(kind, device, drill=True) for kind, device in DEVICE_ROWS
        )
        assert len([t for t in drill_topics if t.endswith("/ack")]) == 4
        assert all(p["drill_id"] == drill_id for _, p in drill_spy.messages)
        assert boards.shown(LEDS[0]) == DRILL_MARKER + "紧急：台风红色预警，请立即转移"
        for row in rows(db, order_id):
            if row["channel"] != "sms":
                assert row["provider_id"] == f"dlv-{row['id']}" and row["sent_at"] is not None
    finally:
        live_spy.close()
        drill_spy.close()


def test_live_device_commands_are_acked(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    broker: Any,
    stub: Callable[..., tuple[Any, str]],
    devices: Callable[..., VirtualDevices],
) -> None:
    gateway, base = stub()
    boards = devices()
    order_id = make_order(db, 2, devices=DEVICE_ROWS)
    config = fast(settings, base, mqtt_url=SecretStr(broker.url))
    with full_dispatcher(config, database_url):
        assert wait_states(db, order_id, Counter(sent=2, acked=4)) == Counter(sent=2, acked=4)
    assert per_number(gateway) == Counter({phone(0): 1, phone(1): 1})
    for device in LEDS + SPEAKERS:
        [record] = boards.history(device)
        assert record.drill_id == 0 and record.text == "紧急：台风红色预警，请立即转移"
    assert boards.history(SPEAKERS[0])[0].repeat == 2


def test_device_failure_ack_fails_the_delivery(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    broker: Any,
    stub: Callable[..., tuple[Any, str]],
    devices: Callable[..., VirtualDevices],
) -> None:
    _, base = stub()
    devices(fail_rate=1.0)
    order_id = make_order(db, 0, devices=[("led", LEDS[0])])
    with full_dispatcher(fast(settings, base, mqtt_url=SecretStr(broker.url)), database_url):
        assert wait_states(db, order_id, Counter(failed=1)) == Counter(failed=1)
    [row] = rows(db, order_id)
    prefix = f"device {LEDS[0]}: "
    assert row["last_error"].startswith(prefix) and row["last_error"][len(prefix) :] in FAIL_REASONS["led"]


def test_ack_listener_ignores_bad_acks(db: psycopg.Connection, database_url: str) -> None:
    order_id = make_order(db, 0, devices=[("led", LEDS[0]), ("speaker", SPEAKERS[0])])
    led, speaker = rows(db, order_id)
    db.execute("UPDATE deliveries SET state = 'sent' WHERE order_id = %s", (order_id,))
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-acks-{uuid.uuid4().hex[:8]}")
    listener = DeviceAckListener(client, database_url).start()
    try:
        topic = device_topic("led", LEDS[0], drill=False, leaf="ack")
        listener.handle(topic, b"\xff not json")
        listener.handle(topic, b'{"command_id": 42}')
        listener.handle(f"{TOPIC_ROOT}/led/x/y/z", b"{}")
        listener.handle(topic, orjson.dumps({"command_id": f"dlv-{speaker['id']}", "status": "shown"}))  # wrong row
        listener.handle(
            device_topic("led", LEDS[0], drill=True, leaf="ack"),
            orjson.dumps({"command_id": f"dlv-{led['id']}", "status": "shown"}),
        )  # wrong namespace
        listener.handle(topic, orjson.dumps({"command_id": f"dlv-{led['id']}", "status": "shown", "reason": None}))
        listener.handle(
            device_topic("speaker", SPEAKERS[0], drill=False, leaf="ack"),
            orjson.dumps({"command_id": f"dlv-{speaker['id']}", "status": "failed", "reason": "断电"}),
        )
        assert listener.wait_idle(10)
    finally:
        listener.stop()
    assert listener.stats == {"acked": 1, "failed": 1, "ignored": 2, "bad": 3}
    after = {r["channel"]: r for r in rows(db, order_id)}
    assert after["led"]["state"] == "acked" and after["led"]["provider_id"] == f"dlv-{led['id']}"
    assert after["speaker"]["state"] == "failed" and after["speaker"]["last_error"] == f"device {SPEAKERS[0]}: 断电"


def test_token_bucket_paces_threads() -> None:
    bucket = TokenBucket(50.0, burst=1.0)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 1.0  # 20 tokens at 50/s, one at once: 19 waits of 20 ms
    stop = threading.Event()
    stop.set()
    assert TokenBucket(0.5, burst=1.0).acquire(stop) is True  # the first token is there
    slow = TokenBucket(0.5, burst=1.0)
    slow.acquire()
    assert slow.acquire(stop) is False


# --- outages: retried until the 叫应 deadline, not a number of attempts -----------------------------------

OUTAGE_S = 8.0  # longer than the old budget at this back-off (0.2 s doubling, 6 attempts: ≤ 7.4 s)
RETRY = {"dispatch_backoff_s": 0.2, "dispatch_backoff_max_s": 1.0}


def fail_gateway(gateway: Any, rate: float) -> None:
    """Make the stub answer 503 to every (1.0) or no (0.0) message request from now on."""
    gateway.config = replace(gateway.config, error_5xx_rate=rate)


def test_a_gateway_outage_is_ridden_out_and_every_sms_sent_exactly_once(
    db: psycopg.Connection, database_url: str, settings: Settings, stub: Callable[..., tuple[Any, str]]
) -> None:
    gateway, base = stub(error_5xx_rate=1.0)
    order_id = make_order(db, 10)
    with running(fast(settings, base, **RETRY), database_url) as dispatcher:
        time.sleep(OUTAGE_S)
        assert states(db, order_id) == Counter(pending=10) or not states(db, order_id)["failed"], (
            f"deliveries gave up during a {OUTAGE_S:g} s outage: {states(db, order_id)}"
        )
        fail_gateway(gateway, 0.0)
        assert wait_settled(db, order_id, timeout=30) == Counter(sent=10)
    assert_sent_exactly_once(db, order_id, gateway, 10)
    assert min(r["attempts"] for r in rows(db, order_id)) > 6  # bounded by the deadline, not a count
    assert dispatcher.stats["retry"] >= 60 and dispatcher.stats["gave_up"] == 0


def test_a_call_that_times_out_in_an_outage_escalates_and_reaches_the_deputy(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    stub: Callable[..., tuple[Any, str]],
) -> None:
    """Through the real draft → approve → outbox path: the primary's SMS is retried until the town's 叫应
    deadline, then failed with the reason; the 叫应 timer escalates to the deputy, whose SMS goes out once
    the gateway is back."""
    from alerts import callout, orders

    gateway, base = stub(error_5xx_rate=1.0)
    config = fast(settings, base, **RETRY)
    with db.transaction():
        order_id = orders.draft(
            db,
            orders.OrderRequest(
                hazard="typhoon", level="red", towns=[TOWN], channels=["sms"], ack_deadline_s=4, resend_after_s=3600
            ),
            actor="duty",
            settings=config,
        )
        assert order_id is not None
        orders.approve(db, order_id, actor="chief", settings=config)
    with running(config, database_url):
        deadline = time.monotonic() + 20
        while not db.execute(
            "SELECT 1 FROM order_events WHERE order_id = %s AND kind = 'escalated'", (order_id,)
        ).fetchone():
            assert time.monotonic() < deadline, "the call did not escalate at its deadline"
            with db.transaction():
                callout.callout_tick(db, config)
            time.sleep(0.2)
        fail_gateway(gateway, 0.0)
        calls = {r["recipient"]: r for r in rows(db, order_id)}
        assert set(calls) == {"primary", "deputy"}
        deputy = calls["deputy"]["address"]
        wait_until_sent = time.monotonic() + 20
        while rows(db, order_id)[-1]["state"] not in ("sent", "delivered"):
            assert time.monotonic() < wait_until_sent, "the deputy's SMS was not sent"
            time.sleep(0.05)
        primary = next(r for r in rows(db, order_id) if r["recipient"] == "primary")
    assert primary["state"] == "failed" and primary["attempts"] > 3
    assert primary["last_error"].startswith("gave up at the 叫应 deadline after ")
    assert per_number(gateway) == Counter({deputy: 1})


@pytest.fixture
def own_broker() -> Iterator[tuple[Path, int, list[BrokerProcess]]]:
    """A broker of this test's own (it is stopped and started again): (directory, port, [process])."""
    directory, port = Path(tempfile.mkdtemp(prefix="floodctl-mqtt-outage-")), free_port()
    running_ = [start_broker(directory, port=port)]
    try:
        yield directory, port, running_
    finally:
        for process in running_:
            process.stop()


def test_a_broker_outage_is_ridden_out_and_each_board_gets_its_command(
    db: psycopg.Connection,
    database_url: str,
    settings: Settings,
    stub: Callable[..., tuple[Any, str]],
    own_broker: tuple[Path, int, list[Any]],
) -> None:
    directory, port, brokers = own_broker
    _, base = stub()
    url = brokers[0].url
    config = fast(settings, base, mqtt_url=SecretStr(url), **RETRY)
    with full_dispatcher(config, database_url):
        time.sleep(1.0)
        brokers.pop().stop()
        order_id = make_order(db, 0, devices=[("led", d) for d in LEDS])
        time.sleep(OUTAGE_S)
        assert not states(db, order_id)["failed"], (
            f"device deliveries gave up in a broker outage: {states(db, order_id)}"
        )
        brokers.append(start_broker(directory, port=port))
        boards = VirtualDevices(url, client_id="test-devices-outage", time_scale=0).start()
        try:
            assert wait_states(db, order_id, Counter(acked=2), timeout=40) == Counter(acked=2)
            for device in LEDS:
                assert len(boards.history(device)) == 1
        finally:
            boards.close()
    assert min(r["attempts"] for r in rows(db, order_id)) > 6
