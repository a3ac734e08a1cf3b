"""Exactly-once storage across crashes, database restarts and shared subscriptions.

Real processes, real broker, real PostgreSQL: a worker killed with SIGKILL mid-stream, the
database restarted while readings keep coming, two workers splitting one subscription.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from floodctl.core.net import free_port
from simulators.publisher import Publisher


def stream(db: psycopg.Connection, n: int, *, minutes_back: int = 600) -> list[tuple[str, bytes]]:
    """n single-reading messages over the sample stations, each (station, ts) distinct."""
    codes = [r[0] for r in db.execute("SELECT code FROM stations WHERE active ORDER BY code")]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_back)
    return [
        (
            f"flood/v1/{codes[i % len(codes)]}/obs",
            f'{{"ts": "{(base + timedelta(seconds=i // len(codes))).isoformat()}", '
            f'"values": {{"water_level": {i % 50 / 10}}}}}'.encode(),
        )
        for i in range(n)
    ]


def publish_in_background(
    url: str, messages: list[tuple[str, bytes]], pause_every: int = 0, pause_s: float = 0.0
) -> threading.Thread:
    def run() -> None:
        with Publisher(url, f"test-pub-{uuid.uuid4().hex[:8]}") as pub:
            for i, (topic, payload) in enumerate(messages):
                pub.publish(topic, payload)
                if pause_every and i % pause_every == pause_every - 1:
                    time.sleep(pause_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def observation_count(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM observations").fetchone()[0])


def wait_count(db: psycopg.Connection, expected: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    count = observation_count(db)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        count = observation_count(db)
    return count


class IngestProcess:
    """`floodctl ingest` as a real child process, ready once its metrics say it is connected."""

    def __init__(self, database_url: str, mqtt_url: str, settings, spawn) -> None:  # type: ignore[no-untyped-def]
        self.metrics_port = free_port()
        env = dict(
            os.environ,
            FLOOD_DATABASE_URL=database_url,
            FLOOD_MQTT_URL=mqtt_url,
            FLOOD_MQTT_CLIENT_PREFIX=settings.mqtt_client_prefix,
            FLOOD_MQTT_SHARE_GROUP=settings.mqtt_share_group,
            FLOOD_INGEST_METRICS_PORT=str(self.metrics_port),
            FLOOD_LOG_LEVEL="WARNING",
            FLOOD_DATA_DIR=str(settings.data_dir),
        )
        self.child = spawn(["ingest", "--workers", "1"], env)
        self.kill9, self.stop = self.child.kill9, self.child.stop

    def start(self) -> None:
        self.child.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
                if "floodctl_ingest_connected 1.0" in text:
                    return
            except httpx.HTTPError:
                pass
            assert self.child.alive(), "ingest exited during start-up"
            time.sleep(0.05)
        raise AssertionError("ingest did not connect")

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line
        }


def test_kill_9_mid_stream_loses_and_duplicates_nothing(db, broker, database_url, settings, floodctl_process) -> None:
    messages = stream(db, 30_000)
    ingest = IngestProcess(database_url, broker.url, settings, floodctl_process)
    ingest.start()
    publisher = publish_in_background(broker.url, messages, pause_every=1000, pause_s=0.05)
    # Kill it while it is busy: some rows committed, most not yet.
    deadline = time.monotonic() + 30
    while observation_count(db) < 3_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    ingest.kill9()
    at_kill = observation_count(db)
    assert 0 < at_kill < len(messages), f"the kill did not land mid-stream ({at_kill} rows)"
    publisher.join(60)
    ingest.start()  # same client id: the persistent session hands back what was not acked
    try:
        assert wait_count(db, len(messages)) == len(messages)
        time.sleep(1.0)  # anything redelivered twice would land now
        assert observation_count(db) == len(messages)
        distinct = db.execute("SELECT count(DISTINCT (station_id, ts)) FROM observations").fetchone()[0]
        assert distinct == len(messages)
        metrics = ingest.metrics()
        received, committed = (metrics[f"floodctl_ingest_messages_{k}_total"] for k in ("received", "committed"))
        assert received >= committed > 0
        # The restarted worker stored exactly what the killed one had not committed; what it had
        # committed but not yet acknowledged came back and counted as duplicates.
        assert metrics["floodctl_ingest_rows_inserted_total"] == len(messages) - at_kill
        assert metrics["floodctl_ingest_batch_seconds_count"] > 0
        assert "floodctl_ingest_queue_depth" in metrics
    finally:
        assert ingest.stop() == 0, "a clean stop exits 0"


def test_database_restart_while_publishing_loses_nothing(db, broker, pg_cluster, start_worker) -> None:
    messages = stream(db, 12_000)
    worker = start_worker(ingest_receive_max=500, ingest_batch_rows=200)
    publisher = publish_in_background(broker.url, messages, pause_every=500, pause_s=0.1)
    while observation_count(db) < 1_000:
        time.sleep(0.01)
    db.close()
    pg_cluster.stop("fast")  # connections cut, server gone
    deepest = 0
    outage_end = time.monotonic() + 4
    while time.monotonic() < outage_end:
        deepest = max(deepest, len(worker.inbox))
        time.sleep(0.01)
    pg_cluster.start()
    publisher.join(60)
    with psycopg.connect(worker.database_url, autocommit=True) as conn:
        assert wait_count(conn, len(messages), 60) == len(messages)
        time.sleep(0.5)
        assert observation_count(conn) == len(messages)
    assert 0 < deepest <= 501, f"memory stays bounded during the outage (inbox peaked at {deepest})"


def test_two_workers_on_a_shared_subscription_split_the_stream(db, broker, start_worker) -> None:
    messages = stream(db, 10_000)
    first, second = start_worker(index=0), start_worker(index=1)
    publish_in_background(broker.url, messages).join(60)
    assert wait_count(db, len(messages)) == len(messages)
    time.sleep(0.5)
    assert observation_count(db) == len(messages)
    assert first.committed_messages > 0 and second.committed_messages > 0, "both workers took a share"
    assert first.committed_messages + second.committed_messages == len(messages), "no message twice"


@pytest.mark.parametrize("late_days", [30])
def test_backfill_creates_missing_day_partitions(db, broker, start_worker, late_days: int) -> None:
    start_worker()
    code = db.execute("SELECT code FROM stations WHERE kind = 'rain' LIMIT 1").fetchone()[0]
    day = datetime.now(UTC) - timedelta(days=late_days)
    part = f"observations_p{day:%Y%m%d}"
    assert db.execute("SELECT to_regclass(%s)", (part,)).fetchone()[0] is None
    with Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}") as pub:
        pub.publish(f"flood/v1/{code}/obs", f'{{"ts": "{day.isoformat()}", "values": {{"rainfall": 3}}}}')
    assert wait_count(db, 1) == 1
    assert db.execute("SELECT to_regclass(%s)", (part,)).fetchone()[0] is not None


def test_retiring_a_worker_index_drains_its_share_and_leaves_the_group(
    db, broker, start_worker, settings, database_url
) -> None:
    from ingest.worker import IngestWorker

    first, second = start_worker(index=0), start_worker(index=1)
    second.stop_event.set()  # index 1 goes away; its session stays in the group
    time.sleep(1.0)
    messages = stream(db, 4_000)
    publish_in_background(broker.url, messages[:2_000]).join(60)
    time.sleep(1.0)
    assert observation_count(db) < 2_000, "the offline session of index 1 holds its share"
    retiring = IngestWorker(
        settings,
        index=1,
        database_url=database_url,
        mqtt_url=broker.url,
        protocol=settings.ingest_mqtt_protocol,
        retire=True,
    )
    runner = threading.Thread(target=retiring.run, daemon=True)
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "a retiring worker stops by itself once its session is drained"
    assert wait_count(db, 2_000) == 2_000
    assert retiring.committed_messages > 0
    assert first.committed_messages + retiring.committed_messages == 2_000, "its share, nothing twice"
    # Index 1 is no longer a member: everything published now reaches index 0.
    before = first.committed_messages
    publish_in_background(broker.url, messages[2_000:]).join(60)
    assert wait_count(db, 4_000) == 4_000
    assert first.committed_messages - before == 2_000
