"""Payloads that used to crash a worker or hold its batch, and timestamps that used to cost partitions.

Each payload here once either raised out of the decoder (RecursionError, OverflowError, …), reached
the database with a wrong type, or was refused by the database in a way the worker took for an
outage: now every one of them ends as one dead letter with its reason, and the good readings around
it are stored.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from alerts.warnings import list_warnings
from ingest.batch import Batch
from ingest.decode import Decoder, Registry
from ingest.worker import PARSERS
from simulators.publisher import Publisher
from tests.ingest.test_ingest_integration import wait_for

NOW = time.time()
CODE = "63000001"


def decoder(**kwargs: object) -> Decoder:
    return Decoder(
        Registry(stations={CODE: 7}, drills={0, 3}), PARSERS, late_after_s=900, future_tolerance_s=600, **kwargs
    )  # type: ignore[arg-type]


def iso(offset_s: float = 0) -> str:
    return datetime.fromtimestamp(NOW + offset_s, UTC).isoformat()


def reading(value: str = "1.5", **extra: str) -> bytes:
    more = "".join(f', "{k}": {v}' for k, v in extra.items())
    return f'{{"ts": "{iso(-60)}", "values": {{"water_level": {value}}}{more}}}'.encode()


DEEP = b'{"ts": "x", "values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
# Decoder-level poison: (kind, payload, expected reason).
CRASHERS = [
    ("obs", DEEP, "malformed_json"),
    ("obs", b"[" * 100_000 + b"]" * 100_000, "malformed_json"),
    ("obs", reading("1" * 400), "out_of_range"),
    ("obs", reading("-" + "9" * 400), "out_of_range"),
    ("obs", reading(drill_id="0.0"), "unknown_drill"),
    ("obs", reading(drill_id="3.0"), "unknown_drill"),
    ("obs", reading(drill_id="1" * 400), "unknown_drill"),
    ("obs", f'{{"ts": "{iso()}", "values": {{"x\\u0000": 2}}}}'.encode(), "unknown_metric"),
    ("status", f'{{"ts": "{iso()}", "battery_v": {"1" * 400}}}'.encode(), "out_of_range"),
    ("video", f'{{"ts": "{iso()}", "camera": "CAM\\u0000-1"}}'.encode(), "bad_text"),
    ("video", f'{{"ts": "{iso()}", "camera": "CAM-1", "event": "\\ud800"}}'.encode(), "bad_text"),
    ("video", f'{{"ts": "{iso()}", "camera": "{"摄" * 1000}"}}'.encode(), "bad_text"),
    ("video", b'{"ts": "' + iso().encode() + b'", "camera": "CAM-\xff"}', "malformed_json"),
]


@pytest.mark.parametrize(
    "kind, payload, reason", CRASHERS, ids=[f"{k}-{r}-{i}" for i, (k, _p, r) in enumerate(CRASHERS)]
)
def test_the_decoder_dead_letters_what_used_to_crash_it(kind: str, payload: bytes, reason: str) -> None:
    d = decoder()
    batch = Batch()
    d.add(batch, f"flood/v1/{CODE}/{kind}", payload, NOW)
    assert [x.reason for x in batch.dead] == [reason], [x.detail[:200] for x in batch.dead]
    assert not batch.obs and not batch.video and not batch.status and not batch.obs_days
    # The decoder goes on: the next message decodes as usual.
    d.add(batch, f"flood/v1/{CODE}/obs", reading("2.5"), NOW)
    assert [r[3] for r in batch.obs] == [2.5] and len(batch.dead) == 1


def test_drill_ids_are_integers_of_the_column() -> None:
    batch = Batch()
    decoder().add(batch, f"flood/v1/{CODE}/obs", reading(drill_id="3"), NOW)
    assert [type(r[5]) for r in batch.obs] == [int] and batch.obs[0][5] == 3


# --- through the real broker into the real database -----------------------------------------------


def codes(db: psycopg.Connection, n: int, kind: str | None = None) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT code FROM stations WHERE active AND (%s::text IS NULL OR kind = %s) ORDER BY code LIMIT %s",
            (kind, kind, n),
        )
    ]


def partitions(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'observations'::regclass").fetchone()[0])


def publish(broker, messages: list[tuple[str, bytes]]) -> None:  # type: ignore[no-untyped-def]
    with Publisher(broker.url, f"test-pub-{random.getrandbits(32):08x}").connect() as pub:
        for topic, payload in messages:
            pub.publish(topic, payload)


def good(code: str, i: int, base: datetime) -> tuple[str, bytes]:
    return (
        f"flood/v1/{code}/obs",
        orjson.dumps(
            {"ts": (base + timedelta(seconds=i)).isoformat(), "values": {"water_level": round(1 + i / 100, 2)}}
        ),
    )


def test_crash_payloads_between_good_readings_leave_the_worker_running(db, broker, start_worker) -> None:
    worker = start_worker()
    river = codes(db, 1, "river")[0]
    camera = codes(db, 1, "camera")[0]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    poison = [
        (f"flood/v1/{camera if kind == 'video' else river}/{kind}", payload) for kind, payload, _reason in CRASHERS
    ]
    messages = []
    for i, bad in enumerate(poison):
        messages += [good(river, 2 * i, base), bad, good(river, 2 * i + 1, base)]
    publish(broker, messages)
    expected_good = 2 * len(poison)
    assert wait_for("SELECT count(*) FROM dead_letters", (), db, len(poison)) == len(poison)
    assert wait_for("SELECT count(*) FROM observations", (), db, expected_good) == expected_good
    reasons = sorted(r[0] for r in db.execute("SELECT reason FROM dead_letters"))
    assert reasons == sorted(r for _k, _p, r in CRASHERS)
    assert worker.committed_messages == len(messages)
    assert not worker.stop_event.is_set()


def test_rows_the_database_refuses_dead_letter_their_message_only(db, broker, start_worker) -> None:
    """The decoder accepts these; the database does not (a constraint and an index a DBA added): the
    message is dead-lettered, never taken for an outage that holds the batch."""
    db.execute("ALTER TABLE observations ADD CONSTRAINT test_no_magic CHECK (value <> 123.456)")
    db.execute("CREATE INDEX test_snapshot_idx ON video_events (snapshot_url)")  # btree: ~2.7 kB per key
    worker = start_worker()
    river = codes(db, 1, "river")[0]
    camera = codes(db, 1, "camera")[0]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    rng = random.Random(7)
    huge_url = "http://127.0.0.1/" + "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(1900))
    messages = [
        good(river, 0, base),
        (f"flood/v1/{river}/obs", orjson.dumps({"ts": base.isoformat(), "values": {"water_level": 123.456}})),
        good(river, 1, base),
        (
            f"flood/v1/{camera}/video",
            orjson.dumps({"ts": base.isoformat(), "camera": "CAM-1", "snapshot_url": huge_url}),
        ),
        good(river, 2, base),
    ]
    publish(broker, messages)
    assert wait_for("SELECT count(*) FROM observations", (), db, 3, timeout_s=30) == 3
    assert wait_for("SELECT count(*) FROM dead_letters", (), db, 2) == 2
    rows = db.execute("SELECT topic, reason, detail FROM dead_letters ORDER BY id").fetchall()
    assert sorted(r[1] for r in rows) == ["db_rejected", "db_rejected"]
    assert {r[0] for r in rows} == {f"flood/v1/{river}/obs", f"flood/v1/{camera}/video"}
    assert all(r[2] for r in rows)
    assert worker.committed_messages == len(messages)


# --- timestamps bound what they cost ------------------------------------------------------------------


def test_a_reset_clock_message_spanning_1000_days_creates_no_partitions(db, broker, start_worker) -> None:
    worker = start_worker(retention_days=0)  # keep everything: only the span bound applies
    river = codes(db, 1, "river")[0]
    before = partitions(db)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1000)
    body = orjson.dumps(
        {
            "readings": [
                {"ts": (start + timedelta(days=i)).isoformat(), "values": {"water_level": 2.0}} for i in range(1000)
            ]
        }
    )
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    publish(broker, [(f"flood/v1/{river}/obs", body), good(river, 0, recent)])
    assert wait_for("SELECT count(*) FROM observations", (), db, 1) == 1
    assert wait_for("SELECT count(*) FROM dead_letters", (), db, 1) == 1
    reason, detail = db.execute("SELECT reason, detail FROM dead_letters").fetchone()
    assert reason == "backfill_span" and "31" in detail
    assert partitions(db) == before, "no partition made for the refused readings"
    assert worker.committed_messages == 2


def test_a_month_of_backfill_in_one_message_is_stored(db, broker, start_worker) -> None:
    start_worker(retention_days=0)
    river = codes(db, 1, "river")[0]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    body = orjson.dumps(
        {
            "readings": [
                {"ts": (start + timedelta(days=i)).isoformat(), "values": {"water_level": 2.0}} for i in range(30)
            ]
        }
    )
    publish(broker, [(f"flood/v1/{river}/obs", body)])
    assert wait_for("SELECT count(*) FROM observations", (), db, 30) == 30
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0


def test_a_reading_older_than_retention_is_dead_lettered(db, broker, start_worker) -> None:
    start_worker(retention_days=30)
    river = codes(db, 1, "river")[0]
    before = partitions(db)
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    kept = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    publish(broker, [good(river, 0, old), good(river, 0, kept)])
    assert wait_for("SELECT count(*) FROM dead_letters", (), db, 1) == 1
    assert wait_for("SELECT count(*) FROM observations", (), db, 1) == 1
    assert db.execute("SELECT reason FROM dead_letters").fetchone()[0] == "expired_timestamp"
    assert db.execute("SELECT ts FROM observations").fetchone()[0] == kept
    assert partitions(db) == before + 1, "a partition for the day kept, none for the day refused"


CLOCK_WARNING = """
SELECT state, level, category, town_code, message_zh FROM warnings
WHERE rule_id = 'device-clock-ahead' AND subject = %s ORDER BY id
"""


def test_a_fast_clock_is_dead_lettered_and_raises_a_device_warning(db, broker, start_worker) -> None:
    start_worker()
    river, rain = codes(db, 2, "river")[0], codes(db, 1, "rain")[0]
    town = db.execute("SELECT town_code FROM stations WHERE code = %s", (river,)).fetchone()[0]
    fast = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    publish(
        broker,
        [
            good(river, 0, fast),
            good(river, 60, fast),
            good(rain, 0, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)),
        ],
    )
    assert wait_for("SELECT count(*) FROM dead_letters WHERE reason = 'future_timestamp'", (), db, 2) == 2
    assert wait_for("SELECT count(*) FROM observations", (), db, 1) == 1
    assert (
        wait_for("SELECT count(*) FROM warnings WHERE rule_id = 'device-clock-ahead' AND state = 'active'", (), db, 1)
        == 1
    )
    [(state, level, category, town_code, message)] = db.execute(CLOCK_WARNING, (river,)).fetchall()
    assert (state, level, category, town_code) == ("active", "yellow", "device", town)
    assert "时钟超前" in message
    shown = [w for w in list_warnings(db, category="device", active=True) if w["subject"] == river]
    assert [(w["rule_id"], w["level"], w["subject_kind"]) for w in shown] == [
        ("device-clock-ahead", "yellow", "station")
    ], "the warnings API shows it to the duty officer"
    assert db.execute(CLOCK_WARNING, (rain,)).fetchall() == [], "a station with a good clock has none"
    assert (
        db.execute(
            "SELECT count(*) FROM warning_events e JOIN warnings w ON w.id = e.warning_id "
            "WHERE w.subject = %s AND e.kind = 'raised'",
            (river,),
        ).fetchone()[0]
        == 1
    )
    # The clock is put right: the next good reading clears the warning.
    publish(broker, [good(river, 0, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30))])
    assert (
        wait_for("SELECT count(*) FROM warnings WHERE rule_id = 'device-clock-ahead' AND state = 'cleared'", (), db, 1)
        == 1
    )
    assert [r[0] for r in db.execute(CLOCK_WARNING, (river,))] == ["cleared"]
    assert (
        db.execute(
            "SELECT count(*) FROM warning_events e JOIN warnings w ON w.id = e.warning_id "
            "WHERE w.subject = %s AND e.kind = 'cleared'",
            (river,),
        ).fetchone()[0]
        == 1
    )


def test_timestamp_bounds_in_the_decoder() -> None:
    d = decoder(retention_days=30, max_backfill_days=31)
    batch = Batch()
    d.add(batch, f"flood/v1/{CODE}/obs", json.dumps({"ts": iso(-40 * 86400), "values": {"rainfall": 1}}).encode(), NOW)
    d.add(
        batch,
        f"flood/v1/{CODE}/obs",
        json.dumps(
            {
                "readings": [
                    {"ts": iso(-29 * 86400), "values": {"rainfall": 1}},
                    {"ts": iso(-60), "values": {"rainfall": 1}},
                ]
            }
        ).encode(),
        NOW,
    )
    d.add(
        batch,
        f"flood/v1/{CODE}/obs",
        json.dumps(
            {"readings": [{"ts": iso(-86400 * i), "values": {"rainfall": 1}} for i in (0, 10, 20, 29.9)]}
        ).encode(),
        NOW,
    )
    assert [x.reason for x in batch.dead] == ["expired_timestamp"]
    assert len(batch.obs) == 6
    spanning = Batch()
    decoder(max_backfill_days=10).add(
        spanning,
        f"flood/v1/{CODE}/obs",
        json.dumps({"readings": [{"ts": iso(-86400 * i), "values": {"rainfall": 1}} for i in (0, 11)]}).encode(),
        NOW,
    )
    assert [x.reason for x in spanning.dead] == ["backfill_span"] and not spanning.obs and not spanning.obs_days
