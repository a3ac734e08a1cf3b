"""Delivery channels against the real SMS gateway stub (over HTTP) and a real broker with virtual devices."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from pydantic import SecretStr

from alerts.channels import (
    DRILL_TEXT_ON_LIVE,
    DRILL_WITHOUT_MARK,
    NO_DRILL_SMS_GATEWAY,
    NO_SMS_GATEWAY,
    Delivery,
    MqttDeviceChannel,
    RefusingChannel,
    SendResult,
    SmsChannel,
    channels_for,
    parse_ack,
)
from floodctl.core.mqtt import connect_async, make_client
from floodctl.core.net import free_port
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from simulators.devices import VirtualDevices
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

Serve = Callable[[object], AbstractContextManager[str]]
SID, TOKEN = DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN
LED = "LED-330225001201-1"
SPEAKER = "SPK-330225001201-1"
DRILL_TEXT = "【演练】台风红色预警：请立即转移低洼地区群众。确认 http://127.0.0.1/a/"
LIVE_TEXT = "台风红色预警：请立即转移低洼地区群众。确认 http://127.0.0.1/a/"


def delivery(
    id_: int = 1, *, drill_id: int = 0, address: str = "+8613900000001", body: str | None = None, channel: str = "sms"
) -> Delivery:
    text = body if body is not None else (DRILL_TEXT if drill_id else LIVE_TEXT) + uuid.uuid4().hex
    return Delivery(id_, 1, drill_id, "330225100", "primary", channel, address, 1, text, 1, datetime.now(UTC))


@pytest.fixture
def stub(serve_app: Serve) -> Iterator[Callable[..., tuple[Any, str]]]:
    """``start(**config)`` → (the stub's SmsGateway, base URL); stopped after the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> tuple[Any, str]:
            config = SmsGatewayConfig(account_sid=SID, auth_token=TOKEN, callback_delay_ms=10, **overrides)
            app = create_sms_app(config)
            return app.state.gateway, stack.enter_context(serve_app(app))

        yield start


def sms(
    base_url: str, *, drill: bool = False, timeout_s: float = 5.0, callback: str | None = None, token: str = TOKEN
) -> SmsChannel:
    return SmsChannel(base_url, SID, token, "floodctl", callback, timeout_s, drill)


def test_sms_sent_with_the_gateway_sid(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub()
    callback = f"http://127.0.0.1:{free_port()}/api/v1/hooks/sms/status"
    channel = sms(base, callback=callback)
    d = delivery()
    result = channel.send(d)
    assert result.outcome == "sent" and result.error is None
    [message] = gateway.sent_to(d.address)
    assert result.provider_id == message["sid"]
    assert (message["body"], message["from"]) == (d.body, "floodctl")
    assert gateway.wait_idle(10)
    assert {c.url for c in gateway.callbacks} == {callback}  # the status callback URL went along
    channel.close()


def test_sms_rate_limit_and_server_errors_are_retried(stub: Callable[..., tuple[Any, str]]) -> None:
    _, limited = stub(rate_limit_per_s=1.0)
    channel = sms(limited)
    assert channel.send(delivery()).outcome == "sent"
    assert channel.send(delivery()) == SendResult.retry("429 Too Many Requests (Twilio 20429)")
    gateway, broken = stub(error_5xx_rate=1.0)
    result = sms(broken).send(delivery())
    assert result == SendResult.retry("503 Service is unavailable. Please try again (Twilio 20503)")
    assert gateway.messages == {}


def test_sms_permanent_errors_fail_with_twilio_message(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub()
    bad_number = sms(base).send(delivery(address="13900000001"))
    assert bad_number.outcome == "failed"
    assert bad_number.error == "400 The 'To' number 13900000001 is not a valid phone number. (Twilio 21211)"
    wrong_token = sms(base, token="wrong").send(delivery())
    assert wrong_token == SendResult.failed("401 Authenticate (Twilio 20003)")
    assert gateway.messages == {}


def test_sms_unreachable_gateway_is_retried() -> None:
    result = sms(f"http://127.0.0.1:{free_port()}").send(delivery())
    assert result.outcome == "retry" and "not reachable" in (result.error or "")


def test_sms_read_timeout_is_in_doubt_then_reconciled(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub(latency_ms=300)
    d = delivery()
    result = sms(base, timeout_s=0.1).send(d)
    assert result.outcome == "in_doubt" and "may have accepted" in (result.error or "")
    time.sleep(0.4)
    # This stub drops a request whose client went away (a real gateway may have accepted it):
    # reconciling says "not sent", so sending again is right, and sends it once.
    patient = sms(base)
    assert patient.find_sent(d) is None
    sent = patient.send(d)
    assert sent.outcome == "sent"
    assert patient.find_sent(d) == sent.provider_id
    assert [m["sid"] for m in gateway.sent_to(d.address)] == [sent.provider_id]


def test_find_sent_pages_through_and_matches_the_exact_body(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub()
    channel = sms(base)
    channel.page_size = 2
    sent = [delivery(i) for i in range(5)]
    sids = [channel.send(d).provider_id for d in sent]
    other = delivery(9, address="+8613900000002", body=sent[0].body)  # same text, another number
    assert channel.send(other).outcome == "sent"
    assert channel.find_sent(sent[0]) == sids[0]  # the oldest: on the last page
    assert channel.find_sent(sent[4]) == sids[4]
    never = delivery(7)
    assert channel.find_sent(never) is None
    prefix = Delivery(
        8, 1, 0, "330225100", "primary", "sms", sent[1].address, 1, sent[1].body[:-1], 1, datetime.now(UTC)
    )
    assert channel.find_sent(prefix) is None
    assert len(gateway.messages) == 6


def test_drill_marker_and_namespace_rules(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub()
    drill, live = sms(base, drill=True), sms(base)
    assert drill.send(delivery(drill_id=3, body="台风红色预警（无标记）")) == SendResult.failed(DRILL_WITHOUT_MARK)
    assert drill.send(delivery(drill_id=0, body=DRILL_TEXT)).outcome == "failed"  # a live row on the drill gateway
    assert live.send(delivery(drill_id=0, body=DRILL_TEXT + "x")) == SendResult.failed(DRILL_TEXT_ON_LIVE)
    assert live.send(delivery(drill_id=3, body=LIVE_TEXT)).outcome == "failed"  # a drill row on the live gateway
    assert gateway.messages == {}
    assert drill.send(delivery(drill_id=3)).outcome == "sent"
    assert live.send(delivery(drill_id=0)).outcome == "sent"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_channels_for_picks_the_gateways() -> None:
    live_only = _settings(sms_base_url=None)
    assert channels_for(live_only, False, None)["sms"].send(delivery()) == SendResult.failed(NO_SMS_GATEWAY)
    assert channels_for(live_only, True, None)["sms"].send(delivery(drill_id=1)) == SendResult.failed(
        NO_DRILL_SMS_GATEWAY
    )

    stub_dev = _settings(sms_base_url="http://127.0.0.1:8025", public_url="http://127.0.0.1:9000")
    drill = channels_for(stub_dev, True, None)["sms"]
    assert isinstance(drill, SmsChannel) and drill.drill and drill.base_url == "http://127.0.0.1:8025"
    assert drill.status_callback_url == "http://127.0.0.1:9000/api/v1/hooks/sms/status"
    assert drill.from_ == "floodctl"
    live = channels_for(stub_dev, False, None)["sms"]
    assert isinstance(live, SmsChannel) and not live.drill

    real_dev = _settings(sms_base_url="https://api.twilio.com", sms_from="+8657400000000")
    refused = channels_for(real_dev, True, None)["sms"]
    assert isinstance(refused, RefusingChannel) and refused.reason == NO_DRILL_SMS_GATEWAY
    assert channels_for(real_dev, False, None)["sms"].from_ == "+8657400000000"  # type: ignore[attr-defined]

    # Production now refuses to start without a drill gateway (and both tokens); a copy that lost it
    # (model_copy does not validate) still never sends a drill SMS through the live gateway.
    production = _settings(
        environment="production",
        secret_key="s" * 40,
        database_url="postgresql://db/x",
        mqtt_url="mqtt://broker",
        sms_base_url="http://127.0.0.1:8025",
        sms_auth_token="live-token-" + "x" * 20,
        public_url="https://floodctl.invalid",
        drill_sms_base_url="http://127.0.0.1:8027",
        drill_sms_auth_token="drill-token-" + "y" * 20,
    ).model_copy(update={"drill_sms_base_url": None, "drill_sms_auth_token": None})
    assert isinstance(channels_for(production, True, None)["sms"], RefusingChannel)
    with_drill = production.model_copy(
        update={
            "drill_sms_base_url": "http://127.0.0.1:8026",
            "drill_sms_account_sid": "AC" + "d" * 32,
            "drill_sms_auth_token": SecretStr("drill-token"),
        }
    )
    drill = channels_for(with_drill, True, None)["sms"]
    assert isinstance(drill, SmsChannel) and drill.drill and drill.base_url == "http://127.0.0.1:8026"

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="never-connected")
    chans = channels_for(stub_dev, False, client)
    assert set(chans) == {"sms", "led", "speaker"}
    assert set(channels_for(stub_dev, False, None)) == {"sms"}


class Spy:
    """Every message under flood/v1/led, flood/v1/speaker and flood/v1/drill."""

    def __init__(self, url: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client, props = make_client(url, f"test-spy-{uuid.uuid4().hex[:8]}", persistent=False)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(
            [("flood/v1/led/#", 1), ("flood/v1/speaker/#", 1), ("flood/v1/drill/#", 1)]
        )
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.on_message = self._on_message
        connect_async(self.client, url, keepalive=30, properties=props, persistent=False)
        self.client.loop_start()
        assert self.ready.wait(15)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def connected_client(url: str) -> Iterator[mqtt.Client]:
    client, props = make_client(url, f"test-dispatch-{uuid.uuid4().hex[:8]}", persistent=False)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, r, p: connected.set()
    connect_async(client, url, keepalive=30, properties=props, persistent=False)
    client.loop_start()
    assert connected.wait(15)
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_device_commands_live_and_drill_namespaces(broker: Any) -> None:
    spy = Spy(broker.url)
    devices = VirtualDevices(broker.url, client_id=f"test-devices-{uuid.uuid4().hex[:8]}", time_scale=0).start()
    try:
        with connected_client(broker.url) as client:
            led, speaker = MqttDeviceChannel(client, "led"), MqttDeviceChannel(client, "speaker")
            live = delivery(41, address=LED, channel="led", body="紧急：台风红色预警")
            drill = delivery(42, drill_id=5, address=SPEAKER, channel="speaker", body="【演练】请撤离")
            assert led.send(live) == SendResult.sent("dlv-41")
            assert speaker.send(drill) == SendResult.sent("dlv-42")
            assert speaker.find_sent(drill) is None
            messages = spy.wait(4)
        by_topic = {t: orjson.loads(p) for t, p in messages}
        assert by_topic[f"flood/v1/led/{LED}/cmd"] == {
            "command_id": "dlv-41",
            "text": "紧急：台风红色预警",
            "drill_id": 0,
            "priority": "urgent",
            "repeat": 1,
        }
        assert by_topic[f"flood/v1/drill/speaker/{SPEAKER}/cmd"] == {
            "command_id": "dlv-42",
            "text": "【演练】请撤离",
            "drill_id": 5,
            "priority": "normal",
            "repeat": 2,
        }
        assert by_topic[f"flood/v1/led/{LED}/ack"]["status"] == "shown"
        assert by_topic[f"flood/v1/drill/speaker/{SPEAKER}/ack"]["status"] == "played"
        assert not any(t.startswith("flood/v1/speaker/") for t in spy.topics())
        assert devices.shown(LED) == "紧急：台风红色预警" and devices.shown(SPEAKER) == "【演练】请撤离"
    finally:
        devices.close()
        spy.close()


def test_device_channel_without_broker_retries_and_refuses_bad_ids() -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="never-connected")
    channel = MqttDeviceChannel(client, "led")
    assert channel.send(delivery(address=LED, channel="led")) == SendResult.retry("MQTT broker not connected")
    assert channel.send(delivery(address="LED/#", channel="led")).outcome == "failed"
    with pytest.raises(ValueError):
        MqttDeviceChannel(client, "siren")  # type: ignore[arg-type]


def test_parse_ack() -> None:
    ack = parse_ack(f"flood/v1/drill/led/{LED}/ack", b'{"command_id": "dlv-42", "status": "shown", "reason": null}')
    assert (ack.delivery_id, ack.channel, ack.device, ack.drill, ack.status) == (42, "led", LED, True, "shown")
    failed = parse_ack(
        f"flood/v1/speaker/{SPEAKER}/ack",
        orjson.dumps({"command_id": "dlv-7", "status": "failed", "reason": "断电 (power failure)"}),
    )
    assert (failed.drill, failed.status, failed.reason) == (False, "failed", "断电 (power failure)")
    for topic, payload in [
        (f"flood/v1/led/{LED}/ack", b"not json"),
        (f"flood/v1/led/{LED}/ack", b"[1]"),
        (f"flood/v1/led/{LED}/ack", b'{"command_id": "ord-1", "status": "shown"}'),
        (f"flood/v1/led/{LED}/ack", b'{"command_id": "dlv-x", "status": "shown"}'),
        (f"flood/v1/led/{LED}/ack", b'{"command_id": "dlv-1", "status": "ok"}'),
        (f"flood/v1/led/{LED}/ack", b'{"command_id": "dlv-99999999999999999999", "status": "shown"}'),
        (f"flood/v1/siren/{LED}/ack", b'{"command_id": "dlv-1", "status": "shown"}'),
        (f"flood/v1/drill/led/{LED}/cmd", b'{"command_id": "dlv-1", "status": "shown"}'),
    ]:
        with pytest.raises(ValueError):
            parse_ack(topic, payload)


def test_http_client_is_shared_across_threads(stub: Callable[..., tuple[Any, str]]) -> None:
    gateway, base = stub(latency_ms=20)
    channel = sms(base)
    results: list[SendResult] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(10):
            result = channel.send(delivery(k * 100 + i, address=f"+86139000{k:02d}{i:03d}"))
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.outcome for r in results] == ["sent"] * 80
    assert len({r.provider_id for r in results}) == 80 == len(gateway.messages)
    assert httpx.get(base + "/nothing").status_code == 404
