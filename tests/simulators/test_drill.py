"""Drill replay through the real broker and ingest: tagged, isolated, deterministic."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

import orjson
import psycopg
import pytest

from floodctl.core.embedded.broker import BrokerProcess
from simulators import drill as drills
from simulators.publisher import Publisher

SHORT = 36  # 3 hours of storm around In-Fa's closest approach keeps the test quick


def plan(db: psycopg.Connection, seed: int = 1, faults: str = "realistic") -> drills.DrillPlan:
    return drills.plan_drill("in-fa-2106", drills.stations_collection(db), seed=seed, faults=faults, n_times=SHORT)


def test_same_seed_gives_the_same_messages(db: psycopg.Connection) -> None:
    first, again, other = plan(db), plan(db), plan(db, seed=2)
    assert first.messages == again.messages
    assert first.messages != other.messages


def test_every_payload_carries_the_drill_id(db: psycopg.Connection) -> None:
    messages = plan(db).messages
    shapes: Counter[str] = Counter()
    for message in messages:
        body = orjson.loads(drills.payload(message, 42))
        assert body["drill_id"] == 42
        if "readings" in body:
            shapes["batch"] += 1
            assert body["readings"] and all(r["ts"].endswith("+08:00") for r in body["readings"])
        else:
            shapes[message.kind] += 1
            assert body["ts"].endswith("+08:00")
    # Every payload was looked at, and every shape of the contract was among them: single readings,
    # late batches (the realistic profile holds some back) and camera events.
    assert sum(shapes.values()) == len(messages) > 0
    assert shapes["obs"] and shapes["batch"] and shapes["video"], shapes


def test_unknown_scenario_and_fault_profile_are_clear_errors(db: psycopg.Connection) -> None:
    with pytest.raises(KeyError, match="in-fa-2106"):
        drills.plan_drill("no-such-storm", drills.stations_collection(db), seed=0, faults="none")
    with pytest.raises(KeyError, match="realistic"):
        drills.plan_drill("in-fa-2106", drills.stations_collection(db), seed=0, faults="chaos", n_times=2)


def test_a_drill_fills_the_database_through_the_pipeline_tagged_and_isolated(
    db: psycopg.Connection, broker: BrokerProcess, start_worker: Callable[..., object]
) -> None:
    start_worker()
    drill_plan = plan(db)
    drill_id = drills.register_drill(db, "in-fa-2106", "test drill")
    with Publisher(broker.url, f"drill-{uuid.uuid4().hex[:6]}", window=500) as pub:
        drills.publish_messages(pub, drill_plan.messages, drill_id, speed=None)
    # Duplicated messages (a fault) store once.
    expected_video = len({(m.station, m.publish_at) for m in drill_plan.messages if m.kind == "video"})
    expected_rows = len(
        {
            (m.station, ts, name)
            for m in drill_plan.messages
            if m.kind == "obs"
            for ts, values in m.readings
            for name in values
        }
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            count(db, "SELECT count(*) FROM video_events") >= expected_video
            and count(db, "SELECT count(*) FROM observations") >= expected_rows
        ):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # anything stored twice would have arrived by now
    stored = (count(db, "SELECT count(*) FROM video_events"), count(db, "SELECT count(*) FROM observations"))
    assert stored == (expected_video, expected_rows), "every message stored exactly once"
    assert count(db, "SELECT count(*) FROM dead_letters") == 0
    assert count(db, "SELECT count(*) FROM observations WHERE drill_id <> %s", drill_id) == 0
    assert count(db, "SELECT count(*) FROM video_events WHERE drill_id <> %s", drill_id) == 0
    assert count(db, "SELECT count(*) FROM latest_values WHERE drill_id = 0") == 0, "live view untouched"
    towns_with_readings = count(
        db, "SELECT count(DISTINCT s.town_code) FROM observations o JOIN stations s ON s.id = o.station_id"
    )
    assert towns_with_readings == count(db, "SELECT count(*) FROM towns"), "readings in every town"


def count(db: psycopg.Connection, sql: str, *params: object) -> int:
    row = db.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])
