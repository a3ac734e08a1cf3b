"""Database outages against a PostgreSQL cluster of this module's own (stopped and started here, so the
session's cluster and every other test's database are untouched): ``floodctl alerts`` rides out an
outage of any length and judges what it missed at event time; the API's pool survives a restart."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI, Response

from floodctl.api.app import create_app
from floodctl.core.db.migrate import migrate
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings
from ingest.batch import Batch
from ingest.store import IngestStore
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

OUTAGE_S = 40.0  # longer than the ~32 s that used to end `floodctl alerts`
ALERTS_ROLE = "floodctl_alerts"  # the alerts process logs in as this role, so it can be kept out at will
RIVER = "70101001"  # 西溪丹西水位站 (WRZ 18.57)


@dataclass
class OwnCluster:
    cluster: LocalCluster
    url: str  # the sample county's database, as the superuser
    alerts_url: str  # the same, as ALERTS_ROLE


@pytest.fixture(scope="module")
def own() -> Iterator[OwnCluster]:
    from gis_data import loader

    with LocalCluster(Path(tempfile.mkdtemp(prefix="floodctl-outage-pg-")), preload_timescaledb=False) as cluster:
        url = cluster.create_database("county")
        with psycopg.connect(url) as conn:
            migrate(conn, prefer="native")
            loader.load_layers(conn)
            conn.execute(f"CREATE ROLE {ALERTS_ROLE} SUPERUSER LOGIN")
        yield OwnCluster(cluster, url, url.replace("postgres@", f"{ALERTS_ROLE}@"))


def allow_alerts_login(own: OwnCluster, allowed: bool) -> None:
    with psycopg.connect(own.url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {ALERTS_ROLE} {'LOGIN' if allowed else 'NOLOGIN'}")


def river_station(conn: psycopg.Connection, code: str) -> tuple[int, int, float]:
    """(station id, water_level metric id, WRZ)."""
    row = conn.execute(
        "SELECT s.id, m.id, s.wrz FROM stations s, metrics m WHERE s.code = %s AND m.name = 'water_level'", (code,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


def commit_readings(url: str, readings: list[tuple[int, int, datetime, float]], drill: int = 0) -> None:
    """One ingest batch (the ingest store's own transaction and NOTIFY), as a worker commits it."""
    store = IngestStore(url, wait_s=10)
    try:
        batch = Batch(
            obs=[(sid, mid, ts, value, 0, drill) for sid, mid, ts, value in readings],
            obs_days={int(ts.timestamp()) // 86400 for _, _, ts, _ in readings},
            drills={drill} - {0},
            messages=len(readings),
        )
        store.write(batch)
    finally:
        store.close()


def warning_of(url: str, code: str, drill: int = 0) -> dict[str, Any] | None:
    with psycopg.connect(url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute(
            "SELECT * FROM warnings WHERE rule_id = 'river-level' AND subject = %s AND drill_id = %s "
            "ORDER BY id DESC LIMIT 1",
            (code, drill),
        ).fetchone()


@pytest.fixture
def sms_stub(serve_app: Callable[[object], AbstractContextManager[str]]) -> Iterator[tuple[Any, str, str]]:
    """(the stub gateway, its base URL, a status-callback sink's base URL)."""
    sink = FastAPI()

    @sink.post("/api/v1/hooks/sms/status")
    async def status() -> Response:
        return Response(status_code=204)

    app = create_sms_app(
        SmsGatewayConfig(account_sid=DEV_SMS_ACCOUNT_SID, auth_token=DEV_SMS_AUTH_TOKEN, callback_delay_ms=10)
    )
    with serve_app(sink) as hooks, serve_app(app) as base:
        yield app.state.gateway, base, hooks


@pytest.mark.slow
def test_alerts_ride_out_a_long_outage_and_judge_what_they_missed_at_event_time(
    own: OwnCluster,
    settings: Settings,
    broker: Any,
    sms_stub: tuple[Any, str, str],
    floodctl_process: Any,
    wait_until: Callable[..., Any],
) -> None:
    gateway, base, hooks = sms_stub
    with psycopg.connect(own.url) as conn:
        sid, mid, wrz = river_station(conn, RIVER)
        other, other_grz = conn.execute(
            "SELECT code, grz FROM stations WHERE kind = 'river' AND wrz IS NOT NULL AND grz > wrz + 0.3 "
            "AND code <> %s ORDER BY code LIMIT 1",
            (RIVER,),
        ).fetchone()  # type: ignore[misc]
        other_sid, _, other_wrz = river_station(conn, other)
    env = dict(
        os.environ,
        FLOOD_DATABASE_URL=own.alerts_url,
        FLOOD_MQTT_URL=broker.url,
        FLOOD_SMS_BASE_URL=base,
        FLOOD_SMS_ACCOUNT_SID=DEV_SMS_ACCOUNT_SID,
        FLOOD_SMS_AUTH_TOKEN=DEV_SMS_AUTH_TOKEN,
        FLOOD_PUBLIC_URL=hooks,
        FLOOD_DISPATCH_BACKOFF_S="0.2",
        FLOOD_DATA_DIR=str(settings.data_dir),
        FLOOD_MQTT_CLIENT_PREFIX=settings.mqtt_client_prefix,
        FLOOD_LOG_LEVEL="INFO",
    )
    alerts = floodctl_process(["alerts"], env).start()
    try:
        # Running: a reading over another station's WRZ is judged; so is a drill's first reading (storm time).
        commit_readings(own.url, [(other_sid, mid, datetime.now(UTC), other_wrz + 0.2)])
        with psycopg.connect(own.url) as conn:
            drill = int(
                conn.execute(
                    "INSERT INTO drills (name, scenario) VALUES ('outage drill', 'in-fa-2106') RETURNING id"
                ).fetchone()[0]
            )  # type: ignore[index]
        storm = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
        commit_readings(own.url, [(sid, mid, storm, wrz - 1.0), (other_sid, mid, storm, other_wrz + 0.2)], drill=drill)
        wait_until(lambda: warning_of(own.url, other), timeout_s=30, what="the engine to judge a first reading")
        wait_until(lambda: warning_of(own.url, other, drill), timeout_s=30, what="the engine to judge the drill")

        # The alerts process is kept out from before the outage until after it: readings are committed
        # while it has no connection at all.
        allow_alerts_login(own, False)
        down_at = datetime.now(UTC).replace(microsecond=0)
        own.cluster.stop("fast")
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            assert alerts.alive(), "floodctl alerts exited during the database outage"
            time.sleep(1.0)
        own.cluster.start()
        assert alerts.alive(), "floodctl alerts exited during the database outage"

        # Read during the outage (the gauge's readings waited in the broker) and committed now, in one batch, by a
        # station that had not reported before: over WRZ 10 s into the outage, back below 15 s later. Judged only
        # at its newest reading the batch raises nothing; judged at each reading's event time it raises an orange
        # warning at the first, and keeps it (clearing needs 30 min below).
        crossed, receded = down_at + timedelta(seconds=10), down_at + timedelta(seconds=25)
        commit_readings(own.url, [(sid, mid, crossed, wrz + 0.12), (sid, mid, receded, wrz - 1.0)])
        # And the station judged before the outage (its progress in engine_judged): over GRZ 12 s into the outage,
        # well below 15 s later. Judged at each reading, its orange warning went red at the first.
        peak = down_at + timedelta(seconds=12)
        commit_readings(
            own.url,
            [(other_sid, mid, peak, other_grz + 0.2), (other_sid, mid, peak + timedelta(seconds=15), other_wrz - 1.0)],
        )
        # The drill went on (storm time, 5-min readings): over WRZ, then below. Only the engine's record of what it
        # judged of the drill says where to resume (storm time has nothing to do with the outage's wall time).
        commit_readings(
            own.url,
            [
                (sid, mid, storm + timedelta(minutes=5), wrz + 0.12),
                (sid, mid, storm + timedelta(minutes=10), wrz - 1.0),
            ],
            drill=drill,
        )
        with psycopg.connect(own.url) as conn:  # and an approved order for the dispatcher
            order_id = int(
                conn.execute(
                    "INSERT INTO orders (msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, "
                    "body_en, sms_zh, led_zh, speaker_zh, towns, source, drafted_by, approved_by, approved_at, "
                    "ack_deadline_s, resend_after_s) VALUES ('alert', 'approved', 'typhoon', 'red', 'outage-1', "
                    "'台风红色预警', '请立即转移', 'Typhoon red', 'Evacuate now', '请立即转移', '请立即转移', "
                    "'请立即转移', "
                    "'{330225100}', 'officer', 'duty', 'commander', now(), 300, 120) RETURNING id"
                ).fetchone()[0]
            )  # type: ignore[index]
            conn.execute(
                "INSERT INTO deliveries (order_id, town_code, recipient, channel, address, body) "
                "VALUES (%s, '330225100', 'primary', 'sms', '+8613900000001', '台风红色预警，请立即转移。')",
                (order_id,),
            )
        time.sleep(2.0)
        assert warning_of(own.url, RIVER) is None  # nobody judged it yet: the alerts process is still kept out
        allow_alerts_login(own, True)

        w = wait_until(lambda: warning_of(own.url, RIVER), timeout_s=30, what="the missed readings to be judged")
        assert w["state"] == "active" and w["level"] == "orange" and not w["late"]
        assert w["raised_at"] == crossed, "judged at the time the reading was committed, not at its event time"
        with psycopg.connect(own.url) as conn:
            escalated = conn.execute(
                "SELECT e.at, e.level FROM warning_events e JOIN warnings w ON w.id = e.warning_id "
                "WHERE w.subject = %s AND e.kind = 'escalated'",
                (other,),
            ).fetchall()
        assert escalated == [(peak, "red")], escalated
        d = wait_until(lambda: warning_of(own.url, RIVER, drill), timeout_s=10, what="the drill's missed readings")
        assert d["raised_at"] == storm + timedelta(minutes=5) and d["level"] == "orange"
        wait_until(lambda: gateway.sent_to("+8613900000001"), timeout_s=30, what="the SMS after the outage")
        time.sleep(1.0)
        assert len(gateway.sent_to("+8613900000001")) == 1
        with psycopg.connect(own.url) as conn:
            assert conn.execute("SELECT state FROM deliveries WHERE order_id = %s", (order_id,)).fetchone()[0] == "sent"  # type: ignore[index]
        assert alerts.alive()
    finally:
        if (own.cluster.pgdata / "postmaster.pid").exists():
            allow_alerts_login(own, True)
        code = alerts.stop()
    assert code == 0


def test_the_api_pool_checks_its_connections_after_a_database_restart(
    own: OwnCluster, settings: Settings, serve_app: Callable[[object], AbstractContextManager[str]]
) -> None:
    app = create_app(settings.model_copy(update={"anonymous_read": True}), own.url)
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        # Fill the pool: concurrent reads open several connections.
        with ThreadPoolExecutor(8) as pool:
            assert {r.status_code for r in pool.map(lambda _: http.get("/api/v1/warnings"), range(32))} == {200}
        own.cluster.stop("fast")
        down = http.get("/api/v1/warnings")  # while it is down: a clear 503, not a 500 or a dropped connection
        assert down.status_code == 503 and down.json()["error"] == "service_unavailable", down.text
        own.cluster.start()
        answers = [http.get("/api/v1/warnings") for _ in range(12)]
        assert [r.status_code for r in answers] == [200] * 12, (
            f"after a database restart: {[(r.status_code, r.text[:120]) for r in answers if r.status_code != 200]}"
        )
