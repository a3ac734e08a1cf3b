"""Virtual LED boards and loudspeakers answer commands over a real broker as the contract says."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from floodctl.core.mqtt import connect_async, make_client
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.topics import device_filters, device_topic
from simulators.device_commands import BAD_COMMAND, parse_command
from simulators.devices import FAIL_REASONS, VirtualDevices, devices_from_villages
from simulators.publisher import Publisher

LED = "LED-330225001201-1"
SPEAKER = "SPK-330225001201-1"


class Acks:
    """A plain paho client collecting every device ack."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self.client, self._props = make_client(url, f"test-acks-{uuid.uuid4().hex[:8]}", persistent=False)
        self.client.on_connect = lambda c, u, f, reason, p: c.subscribe([(topic, 1) for topic in device_filters("ack")])
        self.client.on_subscribe = lambda *args: self._ready.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.items.append((msg.topic, orjson.loads(msg.payload)))
            self._cond.notify_all()

    def start(self) -> Acks:
        connect_async(self.client, self.url, keepalive=30, properties=self._props, persistent=False)
        self.client.loop_start()
        assert self._ready.wait(15), "ack collector did not subscribe"
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def clear(self) -> None:
        with self._cond:
            self.items.clear()

    def of(self, command_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self._cond:
            return [(t, a) for t, a in self.items if a.get("command_id") == command_id]

    def wait(self, command_id: str, count: int = 1, timeout_s: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(found := [(t, a) for t, a in self.items if a.get("command_id") == command_id]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(found)} of {count} acks for {command_id} within {timeout_s} s")
                self._cond.wait(remaining)
            return found


@pytest.fixture
def acks(broker: Any) -> Iterator[Acks]:
    collector = Acks(broker.url).start()
    yield collector
    collector.close()


@pytest.fixture
def publisher(broker: Any) -> Iterator[Publisher]:
    pub = Publisher(broker.url, f"test-cmd-{uuid.uuid4().hex[:8]}").connect()
    yield pub
    pub.close()


@pytest.fixture
def start_devices(broker: Any) -> Iterator[Callable[..., VirtualDevices]]:
    started: list[VirtualDevices] = []

    def start(**options: Any) -> VirtualDevices:
        devices = VirtualDevices(broker.url, client_id=f"test-devices-{uuid.uuid4().hex[:8]}", **options).start()
        started.append(devices)
        return devices

    yield start
    for devices in started:
        devices.close()


def new_id() -> str:
    return f"cmd-{uuid.uuid4().hex[:12]}"


def send(publisher: Publisher, kind: str, device: str, payload: dict[str, Any] | bytes, *, drill: bool = False) -> None:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    publisher.publish(device_topic(kind, device, drill), body)
    assert publisher.flush(10)


TEXT = DRILL_MARKER + "台风红色预警，请立即转移"


def command(command_id: str, text: str = TEXT, drill_id: int = 7, **extra: Any) -> dict[str, Any]:
    return {"command_id": command_id, "text": text, "drill_id": drill_id, "priority": "urgent", "repeat": 1, **extra}


def test_villages_list_every_board_and_speaker() -> None:
    devices = devices_from_villages()
    assert devices[LED].kind == "led" and devices[SPEAKER].kind == "speaker"
    assert devices[LED].village == "330225001201" and devices[LED].town == "330225001"
    assert sum(d.kind == "led" for d in devices.values()) > 10
    assert sum(d.kind == "speaker" for d in devices.values()) > 10


def test_led_board_shows_the_text_and_acks_shown(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    cid = new_id()
    send(publisher, "led", LED, command(cid, drill_id=7))
    [(topic, ack)] = acks.wait(cid)
    assert topic == device_topic("led", LED, False, "ack")
    assert ack["command_id"] == cid and ack["device"] == LED and ack["drill_id"] == 7
    assert ack["status"] == "shown" and ack["reason"] is None
    assert datetime.fromisoformat(ack["ts"]).utcoffset() is not None
    assert devices.shown(LED) == TEXT
    [record] = devices.history(LED)
    assert record.command_id == cid and record.drill_id == 7 and record.priority == "urgent"


def test_speaker_plays_and_acks_played(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    cid = new_id()
    text = "请沿海人员立即撤离"  # 9 characters: 1.8 s a time at five characters a second
    send(publisher, "speaker", SPEAKER, command(cid, text=text, drill_id=0, repeat=2))
    [(topic, ack)] = acks.wait(cid)
    assert topic == device_topic("speaker", SPEAKER, False, "ack")
    assert ack["status"] == "played" and ack["drill_id"] == 0 and ack["reason"] is None
    assert devices.shown(SPEAKER) == text
    [record] = devices.history(SPEAKER)
    assert record.duration_s == pytest.approx(3.6)


def test_speaker_acks_after_playing_on_a_scaled_clock(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    # time_scale 0.1: 10 characters play 0.2 s; the second command waits for the first.
    start_devices(time_scale=0.1)
    first, second = new_id(), new_id()
    started = time.monotonic()
    send(publisher, "speaker", SPEAKER, command(first, text="一二三四五六七八九十"))
    send(publisher, "speaker", SPEAKER, command(second, text="一二三四五六七八九十"))
    acks.wait(second)
    assert time.monotonic() - started >= 0.4
    order = [a["command_id"] for _, a in acks.items if a["command_id"] in (first, second)]
    assert order == [first, second]


def test_drill_namespace_is_answered_in_the_drill_namespace(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    led, speaker, again = new_id(), new_id(), new_id()
    send(publisher, "led", LED, command(led, drill_id=7), drill=True)
    send(publisher, "speaker", SPEAKER, command(speaker, drill_id=7), drill=True)
    [(led_topic, led_ack)] = acks.wait(led)
    [(speaker_topic, speaker_ack)] = acks.wait(speaker)
    assert led_topic == device_topic("led", LED, True, "ack") and led_ack["status"] == "shown"
    assert speaker_topic == device_topic("speaker", SPEAKER, True, "ack") and speaker_ack["status"] == "played"
    assert led_ack["drill_id"] == speaker_ack["drill_id"] == 7
    assert devices.shown(LED) == TEXT
    # The same command id again, now on the live topic: not shown again, acked where it came in.
    send(publisher, "led", LED, command(led, drill_id=7))
    topics = [t for t, _ in acks.wait(led, count=2)]
    assert topics == [device_topic("led", LED, True, "ack"), device_topic("led", LED, False, "ack")]
    assert devices.stats["duplicates"] == 1
    # Nothing else under the drill prefix is a command topic.
    send(publisher, "led", LED, command(again), drill=False)
    acks.wait(again)
    devices.handle(device_topic("x", LED, True), orjson.dumps(command(new_id())))
    devices.handle(device_topic("led", LED, True) + "/extra", orjson.dumps(command(new_id())))
    assert devices.stats["commands"] == 4


def test_unknown_device_gets_no_ack(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    unknown, wrong_kind, known = new_id(), new_id(), new_id()
    send(publisher, "led", "LED-999999999999-1", command(unknown))
    send(publisher, "led", SPEAKER, command(wrong_kind))  # a speaker id on the LED topic
    send(publisher, "led", LED, command(known))
    acks.wait(known)
    time.sleep(0.3)
    assert acks.of(unknown) == [] and acks.of(wrong_kind) == []
    assert devices.stats["unknown"] == 2


def test_fail_rate_one_acks_failed_with_a_reason(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices(fail_rate=1.0)
    led, speaker = new_id(), new_id()
    send(publisher, "led", LED, command(led))
    send(publisher, "speaker", SPEAKER, command(speaker))
    [(_, led_ack)] = acks.wait(led)
    [(_, speaker_ack)] = acks.wait(speaker)
    assert led_ack["status"] == speaker_ack["status"] == "failed"
    assert led_ack["reason"] in FAIL_REASONS["led"] and speaker_ack["reason"] in FAIL_REASONS["speaker"]
    assert led_ack["drill_id"] == 7
    assert devices.shown(LED) is None and devices.shown(SPEAKER) is None


def test_silent_device_never_acks(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices(silent_rate=1.0)
    assert set(devices.dead()) == set(devices.device_ids)
    cid = new_id()
    send(publisher, "led", LED, command(cid))
    time.sleep(2.0)
    assert acks.of(cid) == []
    assert [r.command_id for r in devices.history(LED)] == [cid]  # it got it, it just never answers
    assert devices.stats["silent"] == 1


def test_duplicate_command_is_shown_once_and_acked_again(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    cid = new_id()
    send(publisher, "led", LED, command(cid))
    acks.wait(cid)
    send(publisher, "led", LED, command(cid, text="changed text must not be shown"))
    found = acks.wait(cid, count=2)
    assert [a["status"] for _, a in found] == ["shown", "shown"]
    [record] = devices.history(LED)
    assert record.acks == 2
    assert devices.shown(LED) == TEXT
    assert devices.stats["duplicates"] == 1


def test_bad_commands_do_no_harm(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    devices = start_devices()
    broken, no_text, good = new_id(), new_id(), new_id()
    send(publisher, "led", LED, b"\xff\xfe not json at all")
    send(publisher, "led", LED, b'{"command_id": "' + broken.encode() + b'", "text": "cut off')
    send(publisher, "led", LED, orjson.dumps({"command_id": no_text, "drill_id": 3}))
    send(publisher, "led", LED, b"[1, 2, 3]")
    send(publisher, "led", LED, command(good))
    [(_, broken_ack)] = acks.wait(broken)
    [(_, no_text_ack)] = acks.wait(no_text)
    [(_, good_ack)] = acks.wait(good)
    assert broken_ack["status"] == no_text_ack["status"] == "failed"
    assert broken_ack["reason"] == no_text_ack["reason"] == BAD_COMMAND
    assert no_text_ack["drill_id"] == 3
    assert good_ack["status"] == "shown"
    assert devices.shown(LED) == TEXT
    assert devices.stats["bad"] == 4
    assert devices.client.is_connected()


def test_same_seed_same_failures(
    start_devices: Callable[..., VirtualDevices], acks: Acks, publisher: Publisher
) -> None:
    ids = [f"det-{uuid.uuid4().hex[:6]}-{i}" for i in range(30)]

    def outcomes(seed: int) -> list[str]:
        devices = start_devices(fail_rate=0.5, seed=seed)
        acks.clear()
        for cid in ids:
            send(publisher, "led", LED, command(cid))
        found = [acks.wait(cid)[0][1]["status"] for cid in ids]
        devices.close()
        return found

    first, again, other = outcomes(11), outcomes(11), outcomes(12)
    assert first == again
    assert 0 < first.count("failed") < len(ids)
    assert first != other


def test_dead_devices_and_failures_depend_only_on_the_seed() -> None:
    def run(seed: int) -> tuple[list[str], list[str]]:
        devices = VirtualDevices("mqtt://127.0.0.1:1", fail_rate=0.3, silent_rate=0.2, seed=seed)
        for i in range(20):  # handled directly: decisions need no broker (acks go nowhere)
            devices.handle(device_topic("led", LED, False), orjson.dumps(command(f"c{i}")))
        return devices.dead(), [r.status for r in devices.history(LED)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_parse_command_defaults_and_limits() -> None:
    cmd = parse_command(b'{"command_id": "a", "text": "x"}')
    assert (cmd.drill_id, cmd.priority, cmd.repeat) == (0, "normal", 1)
    for bad in (
        b'{"command_id": "a", "text": "x", "priority": "high"}',
        b'{"command_id": "a", "text": "x", "repeat": 0}',
        b'{"command_id": "a", "text": "x", "drill_id": -1}',
        b'{"command_id": "", "text": "x"}',
    ):
        with pytest.raises(ValueError):
            parse_command(bad)
