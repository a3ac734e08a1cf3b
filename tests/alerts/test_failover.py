"""Two rule engines, active and standby, as real ``floodctl alerts --no-dispatch`` processes on one database.

A standby holds no LISTEN it does not drain; when the active engine freezes (SIGSTOP, as a dead host
looks to the database), the standby takes over within 30 s (the engine lease's TTL), and the frozen one,
woken up, steps down without drafting anything twice.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from floodctl.core.settings import Settings
from ingest import notices
from ingest.batch import Batch
from ingest.store import IngestStore

TAKEOVER_S = 30.0  # the bound: the standby judges within 30 s of the active engine's host dying
RIVERS = """
SELECT s.code, s.id, s.wrz, s.grz FROM stations s
WHERE s.kind = 'river' AND s.active AND s.wrz IS NOT NULL AND s.grz IS NOT NULL AND s.grz > s.wrz + 0.3
ORDER BY s.code LIMIT 3
"""


def commit_reading(url: str, sid: int, value: float) -> None:
    """One reading committed as an ingest worker commits a batch (its NOTIFY included)."""
    store = IngestStore(url, wait_s=10)
    try:
        mid = store.conn.execute("SELECT id FROM metrics WHERE name = 'water_level'").fetchone()[0]  # type: ignore[index]
        store.conn.commit()
        now = datetime.now(UTC)
        store.write(Batch(obs=[(sid, mid, now, value, 0, 0)], obs_days={int(now.timestamp()) // 86400}, messages=1))
    finally:
        store.close()


def warning_of(db: psycopg.Connection, code: str) -> dict[str, Any] | None:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "SELECT * FROM warnings WHERE rule_id = 'river-level' AND subject = %s AND drill_id = 0 AND state = 'active'",
        (code,),
    ).fetchone()


def orders_of(db: psycopg.Connection, code: str) -> list[tuple[int, str]]:
    """(warning id, level) of every order answering a warning of the station (drafted for it, or merged into a
    draft of the same hazard and level that awaits a commander)."""
    return [
        (int(r[0]), str(r[1]))
        for r in db.execute(
            "SELECT ow.warning_id, o.level FROM order_warnings ow JOIN orders o ON o.id = ow.order_id "
            "JOIN warnings w ON w.id = ow.warning_id WHERE w.subject = %s ORDER BY o.id",
            (code,),
        ).fetchall()
    ]


def orders_by_level(db: psycopg.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT level, count(*) FROM orders GROUP BY level").fetchall())


def backends(db: psycopg.Connection) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()[0]
    )  # type: ignore[index]


def flood_notifications(db: psycopg.Connection, sid: int) -> None:
    """~8 MB of notifications, as a busy ingest sends them (naming a station, a time range without readings).
    A listener that never reads pins the queue's tail, and PostgreSQL keeps every page behind it; when the
    queue is full, every NOTIFY — ingest's commit — fails."""
    (payload,) = notices.encode([notices.ObsRange(0, sid, 0, 1)] * notices.MAX_PER_PAYLOAD)
    for _ in range(8_000_000 // len(payload)):
        db.execute("SELECT pg_notify(%s, %s)", (notices.CHANNEL, payload))
    assert db.execute("SELECT pg_notification_queue_usage()").fetchone()[0] > 0  # type: ignore[index]


def queue_drained(db: psycopg.Connection) -> bool:
    db.execute("SELECT pg_notify(%s, '')", (notices.CHANNEL,))  # lets the queue's tail advance
    return db.execute("SELECT pg_notification_queue_usage()").fetchone()[0] == 0  # type: ignore[index]


@pytest.fixture
def engines(database_url: str, settings: Settings, floodctl_process: Any) -> Iterator[Callable[[], Any]]:
    """``start()`` → a running ``floodctl alerts --no-dispatch`` on the test database (stopped afterwards)."""
    env = dict(
        os.environ,
        FLOOD_DATABASE_URL=database_url,
        FLOOD_DATA_DIR=str(settings.data_dir),
        FLOOD_MQTT_CLIENT_PREFIX=settings.mqtt_client_prefix,
        FLOOD_LOG_LEVEL="INFO",
    )
    started: list[Any] = []

    def start() -> Any:
        process = floodctl_process(["alerts", "--no-dispatch"], env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.process.send_signal(signal.SIGCONT)
            assert process.stop() == 0


def start_active_and_standby(
    db: psycopg.Connection,
    database_url: str,
    engines: Callable[[], Any],
    wait_until: Callable[..., Any],
    rivers: list[tuple[Any, ...]],
) -> tuple[Any, Any]:
    """The first engine is active once it has judged a reading; the second connects after it (the standby)."""
    code, sid, wrz, _ = rivers[0]
    active = engines()
    commit_reading(database_url, sid, wrz + 0.12)
    wait_until(lambda: warning_of(db, code), timeout_s=30, what="the first engine to judge")
    before = backends(db)
    standby = engines()
    wait_until(lambda: backends(db) > before, timeout_s=30, what="the standby to connect")
    time.sleep(3.0)  # well into standing by
    assert active.alive() and standby.alive()
    return active, standby


def test_a_standby_holds_no_listen_so_the_notify_queue_drains(
    db: psycopg.Connection, database_url: str, engines: Callable[[], Any], wait_until: Callable[..., Any]
) -> None:
    rivers = db.execute(RIVERS).fetchall()
    start_active_and_standby(db, database_url, engines, wait_until, rivers)
    flood_notifications(db, rivers[1][1])
    wait_until(
        lambda: queue_drained(db), timeout_s=30, what="the NOTIFY queue to drain (a standby LISTENs without reading)"
    )


@pytest.mark.slow
def test_the_standby_takes_over_within_30_s_of_the_active_engine_freezing(
    db: psycopg.Connection, database_url: str, engines: Callable[[], Any], wait_until: Callable[..., Any]
) -> None:
    rivers = db.execute(RIVERS).fetchall()
    active, standby = start_active_and_standby(db, database_url, engines, wait_until, rivers)
    code, sid, wrz, grz = rivers[1]

    os.kill(active.process.pid, signal.SIGSTOP)  # the process that judges (engine and 叫应 run on its threads)
    try:
        frozen_at = time.monotonic()
        commit_reading(database_url, sid, wrz + 0.12)
        w = wait_until(
            lambda: warning_of(db, code),
            timeout_s=TAKEOVER_S,
            what="the standby to judge while the active engine is frozen",
        )
        taken_over_s = time.monotonic() - frozen_at
        assert w["level"] == "orange"
        wait_until(lambda: orders_of(db, code), timeout_s=5, what="the standby to draft the order")
        # The frozen engine's sessions, its LISTEN among them, were ended by the new holder: nothing pins the queue.
        flood_notifications(db, rivers[2][1])
        wait_until(
            lambda: queue_drained(db),
            timeout_s=30,
            what="the NOTIFY queue to drain (the frozen engine's LISTEN still open)",
        )
    finally:
        os.kill(active.process.pid, signal.SIGCONT)

    # Woken up, the old engine finds it no longer holds the lease: it stands by and writes nothing.
    time.sleep(5.0)
    assert active.alive() and standby.alive()
    commit_reading(database_url, sid, grz + 0.2)  # over GRZ: red, one more order
    wait_until(lambda: (x := warning_of(db, code)) and x["level"] == "red", timeout_s=15, what="red")
    time.sleep(3.0)
    orders = orders_of(db, code)
    assert sorted(level for _, level in orders) == ["orange", "red"], f"orders drafted: {orders}"
    assert len({warning for warning, _ in orders}) == 1
    assert orders_by_level(db) == {"orange": 1, "red": 1}  # the first station's orange draft took this one in
    events = [
        r[0]
        for r in db.execute(
            "SELECT e.kind FROM warning_events e WHERE e.warning_id = %s ORDER BY e.id", (w["id"],)
        ).fetchall()
    ]
    assert events == ["raised", "escalated"], events

    # The woken one is the standby now: stopping the active one hands over to it.
    assert standby.stop() == 0
    code3, sid3, wrz3, _ = rivers[2]
    commit_reading(database_url, sid3, wrz3 + 0.12)
    wait_until(lambda: warning_of(db, code3), timeout_s=TAKEOVER_S, what="the old engine, now standby, to take over")
    assert active.alive()
    print(f"standby judged {taken_over_s:.1f} s after the active engine froze")


def test_a_former_lease_holder_writes_nothing(db: psycopg.Connection, database_url: str, settings: Settings) -> None:
    """The fence itself: a holder whose lease was taken over (it was frozen past the TTL) and whose session the
    new holder could not end (another role without the right to) has its next write refused, not committed."""
    from alerts.engine import Engine
    from alerts.lease import LeaseLost

    code, sid, wrz, _ = db.execute(RIVERS).fetchone()  # type: ignore[misc]
    old, new = Engine(settings, database_url), Engine(settings, database_url)
    try:
        assert old.lease.try_acquire() and not new.lease.try_acquire()
        old.load()
        old.conn.execute("SET application_name = 'not recognisable'")  # its session survives the takeover
        db.execute("UPDATE engine_lease SET expires_at = now() - interval '1 s'")  # frozen past the TTL
        assert new.lease.try_acquire() and new.lease.epoch == old.lease.epoch + 1  # type: ignore[operator]
        commit_reading(database_url, sid, wrz + 0.12)
        at = datetime.now(UTC).timestamp()
        with pytest.raises(LeaseLost):
            old.process({(0, sid): (at - 60, at + 1)})
        assert warning_of(db, code) is None and orders_by_level(db) == {}
        new.load()
        assert new.process({(0, sid): (at - 60, at + 1)}) == 1
        assert warning_of(db, code) is not None
    finally:
        old.close()
        new.close()
