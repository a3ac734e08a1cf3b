"""The rule engine on live data: real broker → ingest → PostgreSQL NOTIFY → engine → warnings and orders,
read back through the real API."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alerts.engine import run_engine
from alerts.rules import rule_variant
from floodctl.api.app import create_app
from floodctl.core.settings import Settings
from simulators.publisher import Publisher

RIVER = "70101001"  # 西溪丹西水位站, town 330225001 丹西街道, WRZ 18.57, GRZ 19.34
RIVER_TOWN = "330225001"
WRZ = 18.57
CLEAR_AFTER_S = 4


def fast_rules(tmp_path: Path) -> Path:
    """The packaged rules with the river rule's minimum duration shortened to a few seconds."""
    path = tmp_path / "rules.toml"
    path.write_text(rule_variant("river-level", clear_after_s=CLEAR_AFTER_S), encoding="utf-8")
    return path


class System:
    def __init__(self, settings: Settings, database_url: str, broker: Any, base: str, db: psycopg.Connection) -> None:
        self.settings, self.database_url, self.broker, self.base, self.db = settings, database_url, broker, base, db
        self.http = httpx.Client(base_url=base, timeout=10)
        self.pub = Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}").connect()

    def login(self, name: str, *roles: str, town: str | None = None) -> dict[str, str]:
        return self.account_headers(self.http, self.database_url, name, *roles, town=town)

    def publish(self, code: str, value: float, at: datetime | None = None) -> None:
        at = at or datetime.now(UTC)
        self.pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": at.isoformat(), "values": {"water_level": value}}))

    def warnings(self, **params: Any) -> list[dict[str, Any]]:
        r = self.http.get("/api/v1/warnings", params=params)
        assert r.status_code == 200, r.text
        return [w for w in r.json()["warnings"] if w["category"] == "flood"]

    def river_warning(self) -> dict[str, Any] | None:
        found = [w for w in self.warnings() if w["rule_id"] == "river-level" and w["subject"] == RIVER]
        return found[0] if found else None


@pytest.fixture
def system(
    settings: Settings,
    database_url: str,
    broker: Any,
    start_worker: Any,
    serve_app: Any,
    db: psycopg.Connection,
    tmp_path: Path,
    account_headers: Any,
) -> Iterator[System]:
    settings = settings.model_copy(update={"rules_path": fast_rules(tmp_path)})
    start_worker()
    stop = threading.Event()
    engine = threading.Thread(target=run_engine, args=(settings, database_url, stop), daemon=True, name="engine")
    engine.start()
    app = create_app(settings, database_url)
    with serve_app(app) as base:
        s = System(settings, database_url, broker, base, db)
        s.account_headers = account_headers
        try:
            yield s
        finally:
            s.pub.close()
            stop.set()
            engine.join(10)
            assert not engine.is_alive(), "the rule engine did not stop"


def test_rising_river_raises_warning_and_drafts_order_then_clears_with_hysteresis(
    system: System, wait_until: Any
) -> None:
    # Rising towards WRZ: within 0.3 m and rising → blue; no order (orders start at orange).
    system.publish(RIVER, WRZ - 1.0, datetime.now(UTC) - timedelta(minutes=20))
    system.publish(RIVER, WRZ - 0.2)
    w = wait_until(system.river_warning, what="blue warning")
    assert w["level"] == "blue" and w["state"] == "active" and not w["late"]
    assert system.http.get("/api/v1/orders").json()["orders"] == []

    # Through the warning level → orange at once, and a drafted order for the station's town.
    t_cross = time.monotonic()
    system.publish(RIVER, WRZ + 0.12)
    w = wait_until(lambda: (x := system.river_warning()) and x["level"] == "orange" and x, what="orange")
    order = wait_until(lambda: system.http.get("/api/v1/orders").json()["orders"], what="drafted order")[0]
    assert time.monotonic() - t_cross < 10
    assert order["status"] == "draft" and order["source"] == "rule" and order["warning_id"] == w["id"]
    assert RIVER_TOWN in order["towns"] and order["level"] == "orange" and order["hazard"] == "river_flood"
    detail = system.http.get(f"/api/v1/orders/{order['id']}").json()
    assert "西溪丹西" in detail["body_zh"] or "西溪丹西" in detail["title_zh"] or "丹西" in detail["body_zh"]
    assert detail["deliveries"] == []  # a draft sends nothing

    # Hovering at the threshold (inside the 0.10 m deadband) for longer than the minimum duration: no flap.
    for value in (WRZ - 0.02, WRZ + 0.01, WRZ - 0.05, WRZ + 0.02, WRZ - 0.03, WRZ - 0.04):
        system.publish(RIVER, value)
        time.sleep(0.9)
    w = system.river_warning()
    assert w is not None and w["state"] == "active" and w["level"] == "orange"
    events = system.http.get(f"/api/v1/warnings/{w['id']}/events").json()["events"]
    assert [e["kind"] for e in events] == ["raised", "escalated"]
    assert len(system.http.get("/api/v1/orders").json()["orders"]) == 1  # still one order

    # Clearly below (past the deadband) but not yet for the minimum duration: still active.
    system.publish(RIVER, WRZ - 1.0)
    time.sleep(1.0)
    system.publish(RIVER, WRZ - 1.0)
    time.sleep(0.5)
    assert system.river_warning()["state"] == "active"
    # Held below for longer than clear_after_s: cleared (readings keep coming, as gauges report).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (system.river_warning() or {}).get("state") == "active":
        system.publish(RIVER, WRZ - 1.0)
        time.sleep(0.7)
    cleared = [w for w in system.warnings(active=False) if w["rule_id"] == "river-level"]
    assert cleared and cleared[0]["state"] == "cleared"
    kinds = [e["kind"] for e in system.http.get(f"/api/v1/warnings/{cleared[0]['id']}/events").json()["events"]]
    assert kinds[-1] == "cleared" and kinds.count("cleared") == 1


def test_late_data_never_drafts_an_order(system: System, wait_until: Any) -> None:
    # A backfill of a past flood (two hours ago): judged at its own event times, remembered as a late
    # warning at the level it reached, and no order.
    past = datetime.now(UTC) - timedelta(hours=2)
    system.publish(RIVER, WRZ + 0.5, past - timedelta(minutes=10))
    system.publish(RIVER, WRZ + 0.8, past)
    w = wait_until(lambda: (x := system.river_warning()) and x["level"] == "red" and x, what="the late red warning")
    assert w["late"] is True
    time.sleep(1.5)
    assert system.http.get("/api/v1/orders").json()["orders"] == []


def _judged_through(system: System, code: str) -> float:
    row = system.db.execute(
        "SELECT extract(epoch FROM j.through)::float8 FROM engine_judged j "
        "JOIN stations s ON s.id = j.station_id WHERE j.drill_id = 0 AND s.code = %s",
        (code,),
    ).fetchone()
    return row[0] if row else float("-inf")


def test_a_late_reading_of_a_stretch_already_over_is_recorded_as_a_past_warning(
    system: System, wait_until: Any
) -> None:
    """Out of order: the peak arrives after a newer, calm reading was judged. It is judged at its own time
    and kept as a past warning (补录: late, raised and cleared at event times), with no order."""
    now = datetime.now(UTC)
    system.publish(RIVER, WRZ - 1.0, now - timedelta(minutes=20))
    system.publish(RIVER, WRZ - 1.0, now - timedelta(minutes=1))
    wait_until(
        lambda: _judged_through(system, RIVER) >= (now - timedelta(minutes=1)).timestamp() - 1e-3,
        what="the calm readings judged",
    )
    assert system.river_warning() is None
    peak = now - timedelta(minutes=10)
    system.publish(RIVER, 19.34 + 0.2, peak)  # over the guaranteed level: red
    w = wait_until(system.river_warning, what="the past warning")
    assert (w["level"], w["state"], w["late"]) == ("red", "cleared", True)
    assert abs(datetime.fromisoformat(w["raised_at"]).timestamp() - peak.timestamp()) < 1
    kinds = [e["kind"] for e in system.http.get(f"/api/v1/warnings/{w['id']}/events").json()["events"]]
    assert kinds == ["raised", "cleared"]
    time.sleep(1.0)
    assert system.http.get("/api/v1/orders").json()["orders"] == []
    # The same reading delivered again records nothing twice.
    system.publish(RIVER, 19.34 + 0.2, peak)
    time.sleep(1.5)
    assert len([x for x in system.warnings() if x["rule_id"] == "river-level" and x["subject"] == RIVER]) == 1


def test_a_late_reading_in_an_ongoing_warning_escalates_it(system: System, wait_until: Any) -> None:
    now = datetime.now(UTC)
    system.publish(RIVER, WRZ + 0.1, now - timedelta(minutes=5))
    system.publish(RIVER, WRZ + 0.1, now - timedelta(minutes=1))
    first = wait_until(lambda: (x := system.river_warning()) and x["level"] == "orange" and x, what="orange")
    wait_until(
        lambda: _judged_through(system, RIVER) >= (now - timedelta(minutes=1)).timestamp() - 1e-3,
        what="both readings judged",
    )
    late = now - timedelta(minutes=3)
    system.publish(RIVER, 19.34 + 0.2, late)  # arrives after the newer reading: red at its time
    w = wait_until(lambda: (x := system.river_warning()) and x["level"] == "red" and x, what="escalated to red")
    assert w["id"] == first["id"] and w["state"] == "active" and w["late"] is False
    events = system.http.get(f"/api/v1/warnings/{w['id']}/events").json()["events"]
    escalated = [e for e in events if e["kind"] == "escalated"]
    assert len(escalated) == 1 and abs(datetime.fromisoformat(escalated[0]["at"]).timestamp() - late.timestamp()) < 1


def test_warning_ack_needs_duty_officer(system: System, wait_until: Any) -> None:
    system.publish(RIVER, WRZ + 0.5)
    w = wait_until(system.river_warning, what="warning")
    anonymous = system.http.post(f"/api/v1/warnings/{w['id']}/ack")
    assert anonymous.status_code == 401
    viewer = system.login("viewer1", "viewer")
    assert system.http.post(f"/api/v1/warnings/{w['id']}/ack", headers=viewer).status_code == 403
    duty = system.login("duty1", "duty_officer")
    r = system.http.post(f"/api/v1/warnings/{w['id']}/ack", headers=duty)
    assert r.status_code == 200 and r.json()["acknowledged"] and r.json()["acknowledged_by"] == "duty1"
    assert system.http.post("/api/v1/warnings/999999/ack", headers=duty).status_code == 404
    # The engine goes on judging; the acknowledgement survives refreshes at the same level.
    system.publish(RIVER, WRZ + 0.55)
    time.sleep(1.0)
    assert system.river_warning()["acknowledged"] is True
    # An escalation needs a fresh acknowledgement.
    system.publish(RIVER, 19.34 + 0.1)
    w2 = wait_until(lambda: (x := system.river_warning()) and x["level"] == "red" and x, what="red")
    assert w2["acknowledged"] is False


def test_warnings_of_one_hazard_share_the_draft_awaiting_approval(system: System, wait_until: Any) -> None:
    """Two rivers over their warning level: one draft for the commander, naming both towns."""
    second, second_town, second_wrz = "70104001", "330225100", 2.04  # 昌国溪石浦水位站, 石浦镇
    system.publish(RIVER, WRZ + 0.1)
    wait_until(lambda: system.http.get("/api/v1/orders").json()["orders"], what="first draft")
    system.publish(second, second_wrz + 0.1)
    wait_until(
        lambda: len([w for w in system.warnings(active=True) if w["level"] == "orange"]) == 2, what="second warning"
    )
    orders = system.http.get("/api/v1/orders").json()["orders"]
    assert len(orders) == 1
    assert {RIVER_TOWN, second_town} <= set(orders[0]["towns"])
    assert {w["order_id"] for w in system.warnings(active=True) if w["level"] == "orange"} == {orders[0]["id"]}
    detail = system.http.get(f"/api/v1/orders/{orders[0]['id']}").json()
    assert [e["kind"] for e in detail["events"]] == ["drafted", "merged"]
    assert "石浦镇" in detail["body_zh"]


def test_a_storm_heading_for_the_county_raises_the_typhoon_signal_and_drafts_an_order(
    system: System, wait_until: Any
) -> None:
    """A drill with a storm track: as the drill's clock advances, the county-wide typhoon signal rises
    (red within 6 h of force-12 winds) and an order for every town is drafted, tagged with the drill."""
    t0 = datetime(2021, 7, 25, tzinfo=UTC)
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        drill = conn.execute(
            "INSERT INTO drills (name, scenario) VALUES ('typhoon test', 'synthetic') RETURNING id"
        ).fetchone()[0]
        # Due east of the county seat, moving west at ~25 km/h, 50 m/s: landfall about 12 h after t0.
        conn.cursor().executemany(
            "INSERT INTO storm_fixes (drill_id, storm, at, lat, lon, max_wind_ms, pressure_hpa) "
            "VALUES (%s, 'test storm', %s, 29.476, %s, 50, 940)",
            [(drill, t0 + timedelta(hours=h), 121.869 + (12 - h) * 0.26) for h in range(0, 25, 3)],
        )

    def publish_drill(at: datetime) -> None:
        system.pub.publish(
            f"flood/v1/{RIVER}/obs",
            json.dumps({"ts": at.isoformat(), "values": {"water_level": 10.0}, "drill_id": drill}),
        )

    def signal() -> dict[str, Any] | None:
        found = [w for w in system.warnings(drill=drill) if w["rule_id"] == "typhoon-signal"]
        return found[0] if found else None

    publish_drill(t0)
    first = wait_until(signal, what="typhoon signal")
    assert first["subject"] == "county" and first["subject_kind"] == "area"
    assert first["level"] in ("orange", "yellow")
    publish_drill(t0 + timedelta(hours=8))  # force-12 wind now within 6 h
    red = wait_until(lambda: (w := signal()) and w["level"] == "red" and w, what="red signal")
    assert red["message_zh"].startswith("台风红色预警信号") and "6小时内" in red["message_zh"]
    orders = wait_until(
        lambda: system.http.get("/api/v1/orders", params={"drill": drill}).json()["orders"],
        what="drafted typhoon order",
    )
    assert orders[0]["hazard"] == "typhoon" and len(orders[0]["towns"]) == 18
    assert orders[0]["title_zh"].startswith("【演练】")
    assert system.http.get("/api/v1/orders").json()["orders"] == []  # nothing in live operations


def test_a_peak_between_readings_of_one_batch_raises_its_warning(system: System, wait_until: Any) -> None:
    """A station's readings arriving together (store and forward, a busy engine) are each judged: the
    peak in the middle of the batch raises its warning although the newest reading is calm again
    (the fault drill's reference engine found warnings missed this way)."""
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [(now - timedelta(minutes=10), WRZ - 0.5), (now - timedelta(minutes=5), WRZ + 0.9), (now, WRZ - 0.6)]
    system.pub.publish(
        f"flood/v1/{RIVER}/obs",
        json.dumps({"readings": [{"ts": at.isoformat(), "values": {"water_level": v}} for at, v in readings]}),
    )

    def raised() -> Any:
        r = system.http.get("/api/v1/warnings")
        return [w for w in r.json()["warnings"] if w["rule_id"] == "river-level" and w["subject"] == RIVER]

    found = wait_until(raised, timeout_s=15, what="the warning of the peak inside the batch")
    assert found[0]["level"] in ("yellow", "orange", "red")
    assert abs(datetime.fromisoformat(found[0]["raised_at"]) - readings[1][0]) < timedelta(seconds=1)
