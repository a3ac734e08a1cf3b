"""Property: whatever a device sends, every message ends as stored rows or a dead letter — never an exception.

Arbitrary bytes, arbitrary JSON, and mutations of valid payloads of every kind (``obs`` single and
batch, ``video``, ``status``, and the device ``ack`` of LED boards and loudspeakers) go through the
real decoder and the real store (the worker's own write path, into a real database), and through the
device ack listener. Bounded example counts keep it fast in CI.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.channels import DeviceAckListener
from floodctl.core.settings import Settings
from floodctl.domain.metrics import METRICS
from ingest.batch import Batch
from ingest.decode import Decoder
from ingest.worker import PARSERS, IngestWorker

EXAMPLES = 250
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
LED = "LED-330225001201-1"


# --- a worker on a database of its own, without a broker ------------------------------------------


class Harness:
    def __init__(self, url: str, tmp: Any) -> None:
        self.url = url
        self.db = psycopg.connect(url, autocommit=True)
        config = Settings(data_dir=tmp, ingest_metrics_port=0, _env_file=None)
        self.worker = IngestWorker(config, index=1, database_url=url, mqtt_url="mqtt://127.0.0.1:1")
        registry = self.worker.open()
        self.codes = sorted(registry.stations)
        # The same rules as the worker's decoder, for the rows a message should give.
        self.reference = Decoder(
            registry,
            PARSERS,
            late_after_s=config.late_after_s,
            future_tolerance_s=config.future_tolerance_s,
            retention_days=config.retention_days,
            max_backfill_days=config.max_backfill_days,
        )
        drill = self.db.execute(
            "INSERT INTO drills (name, scenario) VALUES ('property', 'in-fa-2106') RETURNING id"
        ).fetchone()[0]
        self.reference.registry.drills.add(drill)
        self.worker.decoder.registry.drills.add(drill)
        self.drill = drill

    def dead(self, topic: str, payload: bytes) -> int:
        return int(
            self.db.execute(
                "SELECT count(*) FROM dead_letters WHERE payload = %s AND topic = %s", (payload, _safe(topic))
            ).fetchone()[0]
        )

    def stored(self, batch: Batch) -> bool:
        """Whether every row the message gives is in the database."""
        if not (batch.obs or batch.video or batch.status):
            return False
        for sid, mid, ts, _v, _f, drill in batch.obs:
            if (
                self.db.execute(
                    "SELECT 1 FROM observations WHERE station_id = %s AND metric_id = %s AND ts = %s AND drill_id = %s",
                    (sid, mid, ts, drill),
                ).fetchone()
                is None
            ):
                return False
        for v in batch.video:
            if (
                self.db.execute(
                    "SELECT 1 FROM video_events WHERE station_id = %s AND camera = %s AND ts = %s AND drill_id = %s",
                    (v.station_id, v.camera, v.ts, v.drill_id),
                ).fetchone()
                is None
            ):
                return False
        for s in batch.status:
            # A will message carries no time (stored at its arrival): near the time the reference decoded it.
            if (
                self.db.execute(
                    "SELECT 1 FROM device_status WHERE station_id = %s AND drill_id = %s "
                    "AND ts BETWEEN %s::timestamptz - interval '1 minute' AND %s::timestamptz",
                    (s.station_id, s.drill_id, s.ts, s.ts),
                ).fetchone()
                is None
            ):
                return False
        return True

    def check(self, messages: list[tuple[str, bytes]]) -> None:
        before = [self.dead(t, p) for t, p in messages]
        assert self.worker.write([(t, p, 0, 0) for t, p in messages]) is True
        for (topic, payload), dead_before in zip(messages, before, strict=True):
            expected = Batch()
            self.reference.add(expected, topic, payload, time.time())
            dead_letters = self.dead(topic, payload) - dead_before
            assert dead_letters >= 1 or self.stored(expected), (
                f"neither stored nor dead-lettered: {topic!r} {payload[:300]!r}"
            )
            assert dead_letters <= messages.count((topic, payload))

    def close(self) -> None:
        assert self.worker.store is not None
        self.worker.store.close()
        self.db.close()


def _safe(topic: str) -> str:
    from ingest.store import safe_text

    return safe_text(topic, 1000)


@pytest.fixture(scope="module")
def harness(
    clone_database: Callable[[str], AbstractContextManager[str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    with clone_database("prop") as url:
        h = Harness(url, tmp_path_factory.mktemp("prop"))
        try:
            yield h
        finally:
            h.close()


# --- strategies -------------------------------------------------------------------------------------

NOW = time.time()
OFFSETS = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=8)),
        timezone(timedelta(hours=14)),
        timezone(-timedelta(hours=12)),
        timezone(timedelta(hours=5, minutes=45)),
    ]
)
ANY_TIME = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=OFFSETS)
NEAR_TIME = st.floats(-400 * 86400, 4000).map(lambda off: datetime.fromtimestamp(NOW + off, UTC))
TIMES = st.one_of(NEAR_TIME, NEAR_TIME, ANY_TIME).map(lambda t: t.isoformat())
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(-30, 1100),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.text(max_size=40),
    st.sampled_from(["\x00", "\ud800", "x" * 5000, "0.0", "dlv-1"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
VALUES = st.dictionaries(
    st.one_of(st.sampled_from(sorted(METRICS)), st.text(max_size=10)), NUMBERS, min_size=1, max_size=4
)
DRILL = st.one_of(st.just(0), st.just(-1), st.sampled_from([0.0, 1.5, True, "1", 2**31, 10**30]))


def reading() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"ts": TIMES, "values": VALUES}, optional={"seq": st.integers()})


def obs_doc() -> st.SearchStrategy[dict[str, Any]]:
    single = st.fixed_dictionaries({"ts": TIMES, "values": VALUES}, optional={"seq": st.integers(), "drill_id": DRILL})
    batch = st.fixed_dictionaries(
        {"readings": st.lists(reading(), min_size=1, max_size=6)}, optional={"drill_id": DRILL}
    )
    return st.one_of(single, batch)


TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["CAM-1", "http://127.0.0.1/s.jpg", "overtopping", "摄像头" * 80, "bad\x00", "\udfff"]),
)
VIDEO = st.fixed_dictionaries(
    {"ts": TIMES, "camera": TEXTS},
    optional={
        "online": st.one_of(st.booleans(), SCALARS),
        "snapshot_url": TEXTS,
        "stream_url": TEXTS,
        "event": st.one_of(st.none(), TEXTS),
        "drill_id": DRILL,
    },
)
STATUS = st.fixed_dictionaries(
    {},
    optional={
        "ts": TIMES,
        "online": st.one_of(st.booleans(), SCALARS),
        "battery_v": NUMBERS,
        "signal_dbm": NUMBERS,
        "drill_id": DRILL,
    },
)
ACK = st.fixed_dictionaries(
    {
        "command_id": st.one_of(st.integers(0, 10**6).map(lambda n: f"dlv-{n}"), TEXTS),
        "status": st.sampled_from(["shown", "played", "failed", "ok", ""]),
    },
    optional={"reason": st.one_of(st.none(), TEXTS, JSON)},
)


def mutate(doc: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A valid document, then one of: a field replaced by any JSON, a field dropped, bytes damaged."""
    keys = sorted(doc) or ["ts"]

    def replaced(args: tuple[str, Any]) -> bytes:
        key, value = args
        return json.dumps({**doc, key: value}).encode()

    def dropped(key: str) -> bytes:
        return json.dumps({k: v for k, v in doc.items() if k != key}).encode()

    def damaged(args: tuple[int, int, bytes]) -> bytes:
        raw = json.dumps(doc).encode()
        at, cut, insert = args
        at %= max(1, len(raw))
        return raw[:at] + insert + raw[at + cut :]

    return st.one_of(
        st.just(json.dumps(doc).encode()),
        st.tuples(st.sampled_from(keys), JSON).map(replaced),
        st.sampled_from(keys).map(dropped),
        st.tuples(st.integers(0, 10**6), st.integers(0, 4), st.binary(max_size=4)).map(damaged),
    )


def payloads(doc: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    return st.one_of(doc.flatmap(mutate), st.binary(max_size=300), JSON.map(lambda v: json.dumps(v).encode()))


@st.composite
def messages(draw: st.DrawFn, codes: list[str]) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["obs", "obs", "video", "status"]))
    code = draw(st.one_of(st.sampled_from(codes), st.sampled_from(codes), st.text(max_size=9)))
    topic = draw(
        st.one_of(st.just(f"flood/v1/{code}/{kind}"), st.just(f"flood/v1/{code}/{kind}"), st.text(max_size=30))
    )
    doc = {"obs": obs_doc(), "video": VIDEO, "status": STATUS}[kind]
    return topic, draw(payloads(doc))


# --- the properties ---------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_every_message_is_stored_or_dead_lettered(harness: Harness, data: st.DataObject) -> None:
    batch = data.draw(st.lists(messages(harness.codes), min_size=1, max_size=4))
    harness.check(batch)


def test_the_property_catches_every_kind_of_poison_seen(harness: Harness) -> None:
    """The payloads of issue 12 pass the same check (they once crashed a worker)."""
    code = harness.codes[0]
    ts = datetime.now(UTC).isoformat()
    harness.check(
        [
            (
                f"flood/v1/{code}/obs",
                b'{"ts": "' + ts.encode() + b'", "values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            ),
            (f"flood/v1/{code}/obs", f'{{"ts": "{ts}", "values": {{"water_level": {"1" * 400}}}}}'.encode()),
            (f"flood/v1/{code}/obs", f'{{"ts": "{ts}", "values": {{"water_level": 1}}, "drill_id": 0.0}}'.encode()),
            (f"flood/v1/{code}/obs", f'{{"ts": "{ts}", "values": {{"water_level": 1.25}}}}'.encode()),
        ]
    )


@pytest.fixture(scope="module")
def ack_listener(harness: Harness) -> Iterator[DeviceAckListener]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-acks-{uuid.uuid4().hex[:8]}")
    listener = DeviceAckListener(client, harness.url).start()
    yield listener
    listener.stop()


def ack_deliveries(h: Harness) -> list[int]:
    order = h.db.execute(
        "INSERT INTO orders (drill_id, msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, "
        "body_en, sms_zh, led_zh, speaker_zh, towns, source, drafted_by, approved_by, approved_at, ack_deadline_s, "
        "resend_after_s) VALUES (0, 'alert', 'approved', 'typhoon', 'red', %s, 't', 'b', 't', 'b', 's', 'l', 'p', "
        "'{330225001}', 'officer', 'duty', 'commander', now(), 300, 120) RETURNING id",
        (f"prop-{uuid.uuid4().hex[:6]}",),
    ).fetchone()[0]
    return [
        h.db.execute(
            "INSERT INTO deliveries (order_id, town_code, recipient, channel, address, body, state) "
            "VALUES (%s, '330225001', %s, 'led', %s, 'x', 'sent') RETURNING id",
            (order, f"d{i}", LED),
        ).fetchone()[0]
        for i in range(20)
    ]


@PROPERTY
@given(data=st.data())
def test_every_device_ack_is_recorded_or_dead_lettered(
    harness: Harness, ack_listener: DeviceAckListener, data: st.DataObject
) -> None:
    ids = getattr(ack_listener, "_property_ids", None) or ack_deliveries(harness)
    ack_listener._property_ids = ids  # type: ignore[attr-defined]
    valid = ACK | st.fixed_dictionaries(
        {
            "command_id": st.sampled_from(ids).map(lambda n: f"dlv-{n}"),
            "status": st.sampled_from(["shown", "played", "failed"]),
        },
        optional={"reason": st.one_of(st.none(), TEXTS)},
    )
    kind = data.draw(st.sampled_from(["led", "speaker", "drill/led"]))
    topic = data.draw(st.one_of(st.just(f"flood/v1/{kind}/{LED}/ack"), st.text(max_size=30)))
    payload = data.draw(payloads(valid))
    stats = dict(ack_listener.stats)
    dead = harness.dead(topic, payload)
    ack_listener.handle(topic, payload)
    assert ack_listener.wait_idle(10), "the ack writer is stuck"
    after = ack_listener.stats
    recorded = sum(after[k] - stats[k] for k in ("acked", "failed", "ignored"))
    dead_lettered = harness.dead(topic, payload) - dead
    assert recorded + dead_lettered == 1, (topic, payload[:300], after, stats, dead_lettered)
