"""A poison corpus between good readings, to two real worker processes (`floodctl ingest --workers 2`).

Every good reading is stored once, every poison message is dead-lettered once, and neither worker
ever restarts (each worker's ``process_start_time_seconds`` and pid stay the same throughout).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg

from floodctl.core.net import free_port_range
from simulators.publisher import Publisher

WORKERS = 2
GOOD_PER_POISON = 6


def poison_corpus(river: str, camera: str, rain: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, reason): every payload that crashed, held or cost a worker before issue 12."""
    now = datetime.now(UTC).replace(microsecond=0)
    ts = now.isoformat()
    obs, video, status = f"flood/v1/{river}/obs", f"flood/v1/{camera}/video", f"flood/v1/{rain}/status"
    far = [
        {"ts": (now - timedelta(days=1000 - i)).isoformat(), "values": {"water_level": 1.0}} for i in range(0, 1000, 7)
    ]
    return [
        (obs, b'{"ts": "' + ts.encode() + b'", "values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "malformed_json"),
        (obs, b"[" * 100_000 + b"]" * 100_000, "malformed_json"),
        (obs, f'{{"ts": "{ts}", "values": {{"water_level": {"1" * 400}}}}}'.encode(), "out_of_range"),
        (obs, f'{{"ts": "{ts}", "values": {{"water_level": 1}}, "drill_id": 0.0}}'.encode(), "unknown_drill"),
        (obs, f'{{"ts": "{ts}", "values": {{"water_level": 1}}, "drill_id": {"9" * 400}}}'.encode(), "unknown_drill"),
        (obs, f'{{"ts": "{ts}", "values": {{"x\\u0000": 1}}}}'.encode(), "unknown_metric"),
        (obs, f'{{"ts": "{ts}", "values": {{"\\ud800": 1}}}}'.encode(), "unknown_metric"),
        (obs, f'{{"ts": "{ts}", "values": {{"water_level": 123.456}}}}'.encode(), "db_rejected"),
        (obs, b'{"ts": "' + ts.encode() + b'", "values": {"water_level": 1}, "seq": "\xff"}', "malformed_json"),
        (obs, b"\xff\xfe\x00\x00", "malformed_json"),
        (obs, b"", "malformed_json"),
        (obs, orjson.dumps({"readings": far}), "backfill_span"),
        (
            obs,
            orjson.dumps({"ts": (now - timedelta(days=4000)).isoformat(), "values": {"rainfall": 1}}),
            "expired_timestamp",
        ),
        (
            obs,
            orjson.dumps({"ts": (now + timedelta(hours=3)).isoformat(), "values": {"rainfall": 1}}),
            "future_timestamp",
        ),
        (obs, b'{"ts": "0001-01-01T00:00:00+14:00", "values": {"water_level": 1}}', "expired_timestamp"),
        (obs, b'{"ts": "9999-12-31T23:59:59-14:00", "values": {"water_level": 1}}', "future_timestamp"),
        (obs, b'{"ts": "2026-13-45T99:00:00+08:00", "values": {"water_level": 1}}', "bad_timestamp"),
        (video, f'{{"ts": "{ts}", "camera": "CAM\\u0000"}}'.encode(), "bad_text"),
        (video, f'{{"ts": "{ts}", "camera": "C1", "event": "\\udfff"}}'.encode(), "bad_text"),
        (video, orjson.dumps({"ts": ts, "camera": "摄" * 1000}), "bad_text"),
        (video, orjson.dumps({"ts": ts, "camera": "C1", "snapshot_url": "u" * 10_000}), "bad_text"),
        (status, f'{{"ts": "{ts}", "battery_v": {"1" * 400}}}'.encode(), "out_of_range"),
        (status, f'{{"ts": "{ts}", "signal_dbm": -1e400}}'.encode(), "non_finite"),
        ("flood/v1/ZZZZ9999/obs", f'{{"ts": "{ts}", "values": {{"water_level": 1}}}}'.encode(), "unknown_station"),
        (f"flood/v1/{river}/telemetry", b"{}", "unknown_kind"),
    ]


def metrics(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None


def process_start(port: int) -> float | None:
    """The start time of the worker process serving metrics on that port, once it is connected (a
    restarted worker is a new process: a later start time)."""
    text = metrics(port)
    if text is None:
        return None
    found = re.search(r"^process_start_time_seconds (\S+)$", text, re.M)
    connected = re.search(r"^floodctl_ingest_connected (\S+)$", text, re.M)
    if not found or not connected or float(connected.group(1)) != 1.0:
        return None
    return float(found.group(1))


def test_poison_corpus_to_two_workers(
    db: psycopg.Connection,
    database_url: str,
    broker,
    settings,  # type: ignore[no-untyped-def]
    floodctl_process,
    wait_until,
) -> None:
    db.execute("ALTER TABLE observations ADD CONSTRAINT test_no_magic CHECK (value <> 123.456)")
    river, rain = [
        r[0] for r in db.execute("SELECT code FROM stations WHERE active AND kind = 'river' ORDER BY code LIMIT 2")
    ]
    camera = db.execute("SELECT code FROM stations WHERE active AND kind = 'camera' LIMIT 1").fetchone()[0]
    stations = [r[0] for r in db.execute("SELECT code FROM stations WHERE active ORDER BY code")]
    base_port = free_port_range(WORKERS)  # worker i serves its metrics on base + i
    env = dict(
        os.environ,
        FLOOD_DATABASE_URL=database_url,
        FLOOD_MQTT_URL=broker.url,
        FLOOD_MQTT_CLIENT_PREFIX=settings.mqtt_client_prefix,
        FLOOD_MQTT_SHARE_GROUP=settings.mqtt_share_group,
        FLOOD_INGEST_METRICS_PORT=str(base_port),
        FLOOD_LOG_LEVEL="WARNING",
        FLOOD_INGEST_FLUSH_MS="20",
        FLOOD_DATA_DIR=str(settings.data_dir),
    )
    ingest = floodctl_process(["ingest", "--workers", str(WORKERS)], env).start()
    try:
        started = wait_until(
            lambda: (
                all(process_start(base_port + i) for i in range(WORKERS))
                and [process_start(base_port + i) for i in range(WORKERS)]
            ),
            40,
            "both workers up",
        )
        corpus = poison_corpus(river, camera, rain)
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        good: list[tuple[str, bytes]] = []
        messages: list[tuple[str, bytes]] = []
        for i in range(len(corpus) * GOOD_PER_POISON * 4):
            code = stations[i % len(stations)]
            ts = (base + timedelta(seconds=i // len(stations))).isoformat()
            good.append((f"flood/v1/{code}/obs", orjson.dumps({"ts": ts, "values": {"rainfall": (i % 40) / 10}})))
        for round_ in range(2):  # the corpus twice: the second time the workers have seen it once already
            for j, (topic, payload, _reason) in enumerate(corpus):
                at = (round_ * len(corpus) + j) * GOOD_PER_POISON * 2
                messages += good[at : at + GOOD_PER_POISON]
                messages.append((topic, payload))
                messages += good[at + GOOD_PER_POISON : at + 2 * GOOD_PER_POISON]
        assert len(good) == len(corpus) * GOOD_PER_POISON * 4
        with Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}").connect() as pub:
            for topic, payload in messages:
                pub.publish(topic, payload)

        def stored() -> int:
            return int(db.execute("SELECT count(*) FROM observations").fetchone()[0])

        def dead() -> int:
            return int(db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

        expected_dead = 2 * len(corpus)
        wait_until(lambda: stored() >= len(good) and dead() >= expected_dead, 90, "every message handled")
        time.sleep(1.5)  # a redelivery or a duplicate would land now
        assert stored() == len(good), "every good reading stored once"
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT station_id, metric_id, ts FROM observations "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
        ).fetchone()[0]
        assert duplicates == 0
        assert dead() == expected_dead, "every poison message dead-lettered once"
        reasons = sorted(r[0] for r in db.execute("SELECT reason FROM dead_letters"))
        assert reasons == sorted([r for _t, _p, r in corpus] * 2)
        payloads = {bytes(r[0]) for r in db.execute("SELECT payload FROM dead_letters")}
        assert payloads == {p for _t, p, _r in corpus}, "each dead letter keeps its raw bytes"
        # Neither worker restarted: same processes as at the start, both still serving.
        assert [process_start(base_port + i) for i in range(WORKERS)] == started
        assert ingest.alive()
        # Both workers took a share of the work (the shared subscription splits it).
        totals = []
        for i in range(WORKERS):
            text = metrics(base_port + i) or ""
            found = re.search(r"^floodctl_ingest_messages_committed_total (\S+)$", text, re.M)
            totals.append(float(found.group(1)) if found else 0.0)
        assert sum(totals) == len(messages) and min(totals) > 0, totals
    finally:
        assert ingest.stop() == 0
