"""Ingest through the real broker into the real database."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from simulators.publisher import Publisher


def station_codes(db: psycopg.Connection, kind: str | None = None, n: int = 5) -> list[str]:
    rows = db.execute(
        "SELECT code FROM stations WHERE active AND (%s::text IS NULL OR kind = %s) ORDER BY code LIMIT %s",
        (kind, kind, n),
    ).fetchall()
    return [r[0] for r in rows]


def wait_for(query: str, params: tuple, db: psycopg.Connection, expected: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    value = -1
    while time.monotonic() < deadline:
        value = db.execute(query, params).fetchone()[0]
        if value >= expected:
            return value
        time.sleep(0.05)
    return value


def publisher(broker) -> Publisher:  # type: ignore[no-untyped-def]
    return Publisher(broker.url, f"test-pub-{uuid.uuid4().hex[:8]}").connect()


def now_iso(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).astimezone().isoformat()


def test_single_and_batched_readings_are_stored_with_latest(db, broker, start_worker) -> None:
    start_worker()
    code = station_codes(db, "river", 1)[0]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    with publisher(broker) as pub:
        pub.publish(
            f"flood/v1/{code}/obs",
            json.dumps({"ts": t0.isoformat(), "values": {"water_level": 3.42, "rainfall": 1.5}, "seq": 1}),
        )
        pub.publish(
            f"flood/v1/{code}/obs",
            json.dumps(
                {
                    "readings": [
                        {"ts": (t0 + timedelta(minutes=5 * i)).isoformat(), "values": {"water_level": 3.5 + i / 10}}
                        for i in range(1, 4)
                    ]
                }
            ),
        )
    count = wait_for(
        "SELECT count(*) FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s", (code,), db, 5
    )
    assert count == 5
    latest = db.execute(
        "SELECT l.value, l.ts FROM latest_values l JOIN stations s ON s.id = l.station_id"
        " JOIN metrics m ON m.id = l.metric_id WHERE s.code = %s AND m.name = 'water_level'",
        (code,),
    ).fetchone()
    assert latest == (3.8, t0 + timedelta(minutes=15))


def test_duplicates_are_ignored_and_latest_never_goes_back(db, broker, start_worker) -> None:
    start_worker()
    code = station_codes(db, "tide", 1)[0]
    t_new = datetime.now(UTC).replace(microsecond=0)
    t_old = t_new - timedelta(minutes=10)
    with publisher(broker) as pub:
        for _ in range(3):
            pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": t_new.isoformat(), "values": {"tide_level": 2.0}}))
        pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": t_old.isoformat(), "values": {"tide_level": 1.0}}))
    wait_for(
        "SELECT count(*) FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s", (code,), db, 2
    )
    time.sleep(0.5)  # let any (wrong) extra rows land
    rows = db.execute(
        "SELECT ts, value FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s ORDER BY ts",
        (code,),
    ).fetchall()
    assert rows == [(t_old, 1.0), (t_new, 2.0)]
    latest = db.execute(
        "SELECT l.value FROM latest_values l JOIN stations s ON s.id = l.station_id WHERE s.code = %s", (code,)
    ).fetchone()
    assert latest == (2.0,)


def test_late_readings_are_stored_and_flagged(db, broker, start_worker) -> None:
    start_worker()
    code = station_codes(db, "rain", 1)[0]
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)  # needs a new partition
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with publisher(broker) as pub:  # two messages: one message may not span more than FLOOD_MAX_BACKFILL_DAYS
        pub.publish(
            f"flood/v1/{code}/obs", json.dumps({"readings": [{"ts": old.isoformat(), "values": {"rainfall": 4.0}}]})
        )
        pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": recent.isoformat(), "values": {"rainfall": 0.5}}))
    wait_for(
        "SELECT count(*) FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s", (code,), db, 2
    )
    flags = dict(
        db.execute(
            "SELECT ts, flags FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s", (code,)
        ).fetchall()
    )
    assert flags == {old: 1, recent: 0}


BAD_PAYLOADS = [
    # (topic suffix or full topic, payload, expected reason)
    ("{code}/obs", b"{not json", "malformed_json"),
    ("{code}/obs", b"\xff\xfe\x00", "malformed_json"),
    ("{code}/obs", b"[1, 2]", "malformed_json"),
    ("ZZZZ9999/obs", b'{"ts": "{now}", "values": {"water_level": 1}}', "unknown_station"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"salinity": 1}}', "unknown_metric"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"water_level": NaN}}', "non_finite"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"water_level": 1e400}}', "non_finite"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"water_level": 99999}}', "out_of_range"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"rainfall": -3}}', "out_of_range"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"water_level": "3.1"}}', "bad_value"),
    ("{code}/obs", b'{"ts": "2021-07-25T12:00:00", "values": {"water_level": 1}}', "bad_timestamp"),
    ("{code}/obs", b'{"ts": "yesterday", "values": {"water_level": 1}}', "bad_timestamp"),
    ("{code}/obs", b'{"ts": "{future}", "values": {"water_level": 1}}', "future_timestamp"),
    ("{code}/obs", b'{"ts": "{now}"}', "bad_schema"),
    ("{code}/obs", b'{"readings": []}', "bad_schema"),
    ("{code}/obs", b'{"ts": "{now}", "values": {"water_level": 1}, "drill_id": 424242}', "unknown_drill"),
    ("{code}/telemetry", b'{"ts": "{now}"}', "unknown_kind"),
    ("{code}/video", b'{"ts": "{now}", "online": "yes", "camera": "C1"}', "bad_schema"),
    ("{code}/status", b'{"ts": "{now}"}', "bad_schema"),
]


def test_each_bad_payload_is_dead_lettered_and_the_worker_goes_on(db, broker, start_worker) -> None:
    start_worker()
    code = station_codes(db, "river", 1)[0]
    good_ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    with publisher(broker) as pub:
        for suffix, payload, _reason in BAD_PAYLOADS:
            body = payload.replace(b"{now}", now_iso().encode()).replace(b"{future}", now_iso(3600).encode())
            pub.publish(f"flood/v1/{suffix.format(code=code)}", body)
        # A good reading after all the bad ones still goes in.
        pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": good_ts.isoformat(), "values": {"water_level": 2.5}}))
        # Half good, half bad: the good value is kept, the bad one dead-lettered.
        pub.publish(
            f"flood/v1/{code}/obs",
            json.dumps(
                {"ts": (good_ts + timedelta(seconds=1)).isoformat(), "values": {"water_level": 2.6, "bogus": 1}}
            ),
        )
    assert wait_for("SELECT count(*) FROM dead_letters", (), db, len(BAD_PAYLOADS) + 1) == len(BAD_PAYLOADS) + 1
    rows = db.execute("SELECT topic, payload, reason, detail FROM dead_letters ORDER BY id").fetchall()
    assert [r[2] for r in rows] == [reason for _s, _p, reason in BAD_PAYLOADS] + ["unknown_metric"]
    assert all(r[3] for r in rows), "every dead letter says why"
    assert bytes(rows[0][1]) == b"{not json"
    stored = db.execute(
        "SELECT value FROM observations o JOIN stations s ON s.id = o.station_id WHERE s.code = %s ORDER BY ts", (code,)
    ).fetchall()
    assert stored == [(2.5,), (2.6,)]


def test_video_and_status_kinds(db, broker, start_worker) -> None:
    start_worker()
    camera = station_codes(db, "camera", 1)[0]
    gauge = station_codes(db, "river", 1)[0]
    ts = now_iso(-5)
    with publisher(broker) as pub:
        pub.publish(
            f"flood/v1/{camera}/video",
            json.dumps(
                {
                    "ts": ts,
                    "camera": "CAM-1",
                    "online": True,
                    "snapshot_url": "http://127.0.0.1/snap.jpg",
                    "stream_url": None,
                    "event": "water_over_marker",
                }
            ),
        )
        pub.publish(
            f"flood/v1/{gauge}/status", json.dumps({"ts": ts, "online": True, "battery_v": 12.4, "signal_dbm": -70})
        )
        pub.publish(f"flood/v1/{gauge}/status", json.dumps({"online": False}))  # the will message
    assert wait_for("SELECT count(*) FROM video_events", (), db, 1) == 1
    assert wait_for("SELECT count(*) FROM device_status", (), db, 2) == 2
    event = db.execute("SELECT camera, event, online FROM video_events").fetchone()
    assert event == ("CAM-1", "water_over_marker", True)
    latest = db.execute("SELECT online, battery_v FROM device_status_latest").fetchone()
    assert latest == (False, 12.4), "the will marks the device offline, keeping its last battery reading"


def test_drill_readings_record_the_drill_clock_and_live_ones_do_not(db, broker, start_worker) -> None:
    drill = db.execute(
        "INSERT INTO drills (name, scenario) VALUES ('clock test', 'in-fa-2106') RETURNING id"
    ).fetchone()[0]
    start_worker()
    code = station_codes(db, "rain", 1)[0]
    storm_time = datetime(2021, 7, 25, 4, tzinfo=UTC)
    before = db.execute("SELECT count(*) FROM drill_clock").fetchone()[0]
    with publisher(broker) as pub:
        pub.publish(f"flood/v1/{code}/obs", json.dumps({"ts": now_iso(-60), "values": {"rainfall": 0.5}}))
        pub.publish(
            f"flood/v1/{code}/obs",
            json.dumps(
                {
                    "drill_id": drill,
                    "readings": [
                        {"ts": (storm_time + timedelta(minutes=5 * i)).isoformat(), "values": {"rainfall": 2.0}}
                        for i in range(3)
                    ],
                }
            ),
        )
    assert (
        wait_for(
            "SELECT count(*) FROM drill_clock WHERE drill_id = %s AND drill_at = %s",
            (drill, storm_time + timedelta(minutes=10)),
            db,
            1,
        )
        == 1
    )
    wall_at = db.execute("SELECT wall_at FROM drill_clock WHERE drill_id = %s", (drill,)).fetchone()[0]
    assert abs((datetime.now(UTC) - wall_at).total_seconds()) < 60
    assert db.execute("SELECT count(*) FROM drill_clock").fetchone()[0] == before + 1  # none for live readings
