"""A poison device ack (LED board / loudspeaker) is dead-lettered; the acks after it are still recorded.

Over the real broker into the real database: the ack listener as the dispatcher runs it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest

from alerts.channels import DeviceAckListener
from floodctl.core.mqtt import connect_async, make_client
from floodctl.domain.topics import device_topic
from simulators.publisher import Publisher

LED, SPEAKER = "LED-330225001201-1", "SPK-330225001201-1"
TOWN = "330225001"

ORDER_SQL = """
INSERT INTO orders (drill_id, msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, body_en,
                    sms_zh, led_zh, speaker_zh, towns, source, drafted_by, approved_by, approved_at,
                    ack_deadline_s, resend_after_s)
VALUES (0, 'alert', 'approved', 'typhoon', 'red', %s, '台风红色预警', '请立即转移', 'Typhoon red', 'Evacuate now',
        '请立即转移', '请立即转移', '请立即转移', %s, 'officer', 'duty', 'commander', now(), 300, 120)
RETURNING id
"""
DELIVERY_SQL = """
INSERT INTO deliveries (order_id, drill_id, town_code, recipient, channel, address, body, state)
VALUES (%s, 0, %s, %s, %s, %s, '紧急：台风红色预警，请立即转移', 'sent') RETURNING id
"""


def deliveries(db: psycopg.Connection, n: int) -> list[int]:
    """n LED-board deliveries and one loudspeaker delivery of a new order, all sent and awaiting the ack."""
    order_id = db.execute(ORDER_SQL, (f"象防指〔2026〕{uuid.uuid4().hex[:4]}号", [TOWN])).fetchone()[0]
    ids = [db.execute(DELIVERY_SQL, (order_id, TOWN, f"led{i}", "led", LED)).fetchone()[0] for i in range(n)]
    return ids + [db.execute(DELIVERY_SQL, (order_id, TOWN, "spk", "speaker", SPEAKER)).fetchone()[0]]


@pytest.fixture
def listener(database_url: str, broker: Any) -> Iterator[DeviceAckListener]:
    client, props = make_client(broker.url, f"test-acks-{uuid.uuid4().hex[:8]}", persistent=False)
    running = DeviceAckListener(client, database_url).start()
    connect_async(client, broker.url, keepalive=30, properties=props, persistent=False)
    client.loop_start()
    try:
        assert running.subscribed.wait(15), "the ack listener did not subscribe"
        yield running
    finally:
        running.stop()
        client.disconnect()
        client.loop_stop()


def wait_for(db: psycopg.Connection, query: str, params: tuple, expected: Any, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = db.execute(query, params).fetchone()[0]
        if value == expected:
            return value
        time.sleep(0.05)
    return value


def test_poison_acks_are_dead_lettered_and_later_acks_recorded(
    db: psycopg.Connection, broker: Any, listener: DeviceAckListener
) -> None:
    nul, huge, garbled, speaker = deliveries(db, 3)
    topic = device_topic("led", LED, drill=False, leaf="ack")
    poison = [
        (topic, orjson.dumps({"command_id": f"dlv-{nul}", "status": "failed", "reason": "断电\u0000"})),
        (topic, orjson.dumps({"command_id": f"dlv-{huge}", "status": "failed", "reason": "x" * 100_000})),
        (topic, b'{"command_id": "dlv-' + str(garbled).encode() + b'", "status": "shown", "reason": "\xff"}'),
        (topic, b"[" * 100_000 + b"]" * 100_000),
    ]
    with Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}").connect() as pub:
        for t, payload in poison:
            pub.publish(t, payload)
        pub.publish(
            device_topic("speaker", SPEAKER, drill=False, leaf="ack"),
            orjson.dumps({"command_id": f"dlv-{speaker}", "status": "played", "reason": None}),
        )
    assert wait_for(db, "SELECT state FROM deliveries WHERE id = %s", (speaker,), "acked") == "acked", (
        "the good ack after the poison ones is recorded"
    )
    assert wait_for(db, "SELECT count(*) FROM dead_letters", (), len(poison)) == len(poison)
    rows = db.execute("SELECT topic, payload, reason, detail FROM dead_letters ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [topic] * len(poison)
    assert [bytes(r[1]) for r in rows] == [p for _t, p in poison], "the raw bytes are kept"
    assert {r[2] for r in rows} == {"bad_ack"} and all(r[3] for r in rows)
    # The poisoned deliveries are untouched: still waiting for a proper ack (叫应 resends, escalates).
    states = dict(db.execute("SELECT id, state FROM deliveries WHERE id = ANY(%s)", ([nul, huge, garbled],)))
    assert states == {nul: "sent", huge: "sent", garbled: "sent"}
    assert listener.stats["acked"] == 1 and listener.stats["bad"] == len(poison)
