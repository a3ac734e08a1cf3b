"""The ingest store: writes one batch in one transaction; owns the ingest SQL.

Observations go by binary COPY into a session-local staging table, then into ``observations``
with ``ON CONFLICT DO NOTHING`` (a redelivered or repeated reading is a no-op), and the newest of
each (station, metric, drill) into ``latest_values``. On the native storage path, missing day
partitions are created on demand for backfill before the insert.

A device whose readings were refused for a fast clock gets a device warning (rule
``device-clock-ahead``, 设备时钟超前) in the same transaction as its dead letter; the station's next
stored reading clears it. Ingest owns this warning's whole life, as a field report owns its own
(alerts/reports.py): the rule engine judges readings, and a refused reading never reaches it.
Dead letters are stored whatever they hold: text is made safe for PostgreSQL (no NUL, valid UTF-8)
and bounded; the payload is kept as raw bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from floodctl.core import db
from floodctl.core.db.migrate import storage_mode
from ingest import notices
from ingest.batch import Batch
from ingest.decode import Registry

CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS obs_stage (
    station_id integer, metric_id smallint, ts timestamptz, value double precision,
    flags smallint, drill_id integer
) ON COMMIT DELETE ROWS
"""
COPY_STAGE = "COPY obs_stage (station_id, metric_id, ts, value, flags, drill_id) FROM STDIN (FORMAT BINARY)"
STAGE_TYPES = ["int4", "int2", "timestamptz", "float8", "int2", "int4"]

ENSURE_STAGED_DAYS = """
SELECT coalesce(sum(ensure_observation_partitions(d, d)), 0)
FROM (SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS d FROM obs_stage) days
"""
INSERT_OBSERVATIONS = """
INSERT INTO observations (station_id, metric_id, ts, value, flags, drill_id)
SELECT station_id, metric_id, ts, value, flags, drill_id FROM obs_stage
ON CONFLICT DO NOTHING
"""
UPSERT_LATEST = """
INSERT INTO latest_values AS l (station_id, metric_id, drill_id, ts, value, flags)
SELECT DISTINCT ON (station_id, metric_id, drill_id) station_id, metric_id, drill_id, ts, value, flags
FROM obs_stage ORDER BY station_id, metric_id, drill_id, ts DESC
ON CONFLICT (station_id, metric_id, drill_id) DO UPDATE
SET ts = excluded.ts, value = excluded.value, flags = excluded.flags
WHERE l.ts < excluded.ts
"""
# Which stations got readings in the batch, for which time range (ingest/notices.py tells the rule engine).
STAGED_RANGES = """
SELECT drill_id, station_id, extract(epoch FROM min(ts))::float8, extract(epoch FROM max(ts))::float8
FROM obs_stage GROUP BY drill_id, station_id
"""
NOTIFY = "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload"
# The drill clock (migration 0012): for batches with drill readings only, one row per drill and second.
RECORD_DRILL_CLOCK = """
INSERT INTO drill_clock (drill_id, wall_at, drill_at)
SELECT drill_id, date_trunc('second', now()), max(ts) FROM obs_stage WHERE drill_id <> 0 GROUP BY drill_id
ON CONFLICT (drill_id, wall_at) DO UPDATE SET drill_at = greatest(drill_clock.drill_at, excluded.drill_at)
"""
INSERT_VIDEO = """
INSERT INTO video_events (station_id, camera, ts, online, snapshot_url, stream_url, event, drill_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
INSERT_STATUS = """
INSERT INTO device_status (station_id, ts, online, battery_v, signal_dbm, drill_id)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
UPSERT_STATUS_LATEST = """
INSERT INTO device_status_latest AS l (station_id, drill_id, ts, online, battery_v, signal_dbm)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (station_id, drill_id) DO UPDATE
SET ts = excluded.ts, online = coalesce(excluded.online, l.online),
    battery_v = coalesce(excluded.battery_v, l.battery_v),
    signal_dbm = coalesce(excluded.signal_dbm, l.signal_dbm)
WHERE l.ts <= excluded.ts
"""
CLOCK_RULE = "device-clock-ahead"
CLOCK_LEVEL = "yellow"
# One active warning per (station, drill): a repeat refreshes it (the unique partial index
# warnings_one_active_idx makes two workers agree); the 'raised' event only when it is new.
RAISE_CLOCK_AHEAD = """
WITH s AS (SELECT code, coalesce(name, code) AS name, town_code FROM stations WHERE id = %(station)s::int),
w AS (
    INSERT INTO warnings AS w (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state,
                               level, raised_at, last_seen, value, threshold, message_zh, message_en,
                               level_history)
    SELECT %(rule)s::text, s.code, 'station', s.town_code, %(drill)s::int, 'device', NULL, 'active', %(level)s::text,
           now(), now(), %(ahead)s, %(tolerance)s,
           format('%%s 设备时钟超前：读数时间比系统时间快 %%s 秒（容许 %%s 秒），读数已拒收，请校准设备时钟',
                  s.name, round(%(ahead)s), round(%(tolerance)s)),
           format('%%s device clock ahead: readings %%s s ahead of the system clock (tolerance %%s s) are '
                  'refused; set the device clock', s.name, round(%(ahead)s), round(%(tolerance)s)),
           jsonb_build_array(jsonb_build_array(extract(epoch FROM now()), %(level)s::text))
    FROM s
    ON CONFLICT (rule_id, subject, drill_id) WHERE state = 'active'
    DO UPDATE SET last_seen = excluded.last_seen, value = excluded.value, message_zh = excluded.message_zh,
                  message_en = excluded.message_en, updated_at = now()
    RETURNING w.id, (xmax = 0) AS inserted
)
INSERT INTO warning_events (warning_id, kind, at, level, value, threshold, actor)
SELECT id, 'raised', now(), %(level)s::text, %(ahead)s, %(tolerance)s, 'ingest' FROM w WHERE inserted
"""
# A stored reading from a station with an active clock warning (and none refused in this batch) clears it.
CLEAR_CLOCK_AHEAD = """
WITH c AS (
    UPDATE warnings w SET state = 'cleared', cleared_at = now(), last_seen = now(), below_since = NULL,
                          updated_at = now()
    FROM stations s
    WHERE w.rule_id = %(rule)s::text AND w.state = 'active' AND s.code = w.subject AND NOT s.id = ANY(%(raised)s::int[])
      AND EXISTS (SELECT 1 FROM obs_stage o WHERE o.station_id = s.id AND o.drill_id = w.drill_id)
    RETURNING w.id, w.level
)
INSERT INTO warning_events (warning_id, kind, at, level, previous_level, actor)
SELECT id, 'cleared', now(), level, level, 'ingest' FROM c
"""
ANY_CLOCK_AHEAD = "SELECT EXISTS (SELECT 1 FROM warnings WHERE rule_id = %s AND state = 'active')"
CLOCK_RECHECK_S = 5.0  # how often a worker looks whether any clock warning is active (another worker's)
DEAD_TOPIC_MAX = 1_000
DEAD_DETAIL_MAX = 2_000
INSERT_DEAD = "INSERT INTO dead_letters (topic, payload, reason, detail) VALUES (%s, %s, %s, %s)"
LOAD_STATIONS = "SELECT code, id FROM stations WHERE active"
LOAD_STATION = "SELECT id FROM stations WHERE code = %s AND active"
LOAD_DRILLS = "SELECT id FROM drills"
LOAD_DRILL = "SELECT 1 FROM drills WHERE id = %s"
ENSURE_AHEAD = """
SELECT ensure_observation_partitions((now() AT TIME ZONE 'UTC')::date - 1,
                                     (now() AT TIME ZONE 'UTC')::date + %s)
"""
DROP_EXPIRED = "SELECT drop_observation_partitions_before((now() AT TIME ZONE 'UTC')::date - %s)"

PARTITION_DAYS_AHEAD = 7


@dataclass(frozen=True, slots=True)
class WriteResult:
    staged: int  # observation rows offered
    inserted: int  # of which new (the rest were duplicates)
    dead: int


class IngestStore:
    """One database connection of one ingest worker."""

    def __init__(self, dsn: str, *, wait_s: float = db.WAIT_FOR_DB_S, future_tolerance_s: float = 600) -> None:
        self.dsn = dsn
        self.conn = db.connect(dsn, wait_s=wait_s)
        self.native = storage_mode(self.conn) == "native"
        self.conn.execute(CREATE_STAGE)
        self.conn.commit()
        self._known_days: set[int] = set()
        self.future_tolerance_s = future_tolerance_s
        self._clock_warnings = True  # may any clock warning be active? (checked every CLOCK_RECHECK_S)
        self._clock_checked = -CLOCK_RECHECK_S

    def close(self) -> None:
        self.conn.close()

    def load_registry(self) -> Registry:
        with self.conn.transaction():
            stations = {code: sid for code, sid in self.conn.execute(LOAD_STATIONS)}
            drills = {row[0] for row in self.conn.execute(LOAD_DRILLS)}
        return Registry(stations=stations, drills=drills | {0})

    def lookup_station(self, code: str) -> int | None:
        with self.conn.transaction():
            row = self.conn.execute(LOAD_STATION, (code,)).fetchone()
        return row[0] if row else None

    def drill_exists(self, drill_id: int) -> bool:
        with self.conn.transaction():
            return self.conn.execute(LOAD_DRILL, (drill_id,)).fetchone() is not None

    def write(self, batch: Batch) -> WriteResult:
        inserted = 0
        conn = self.conn
        with conn.transaction(), conn.cursor() as cur:
            if batch.obs:
                with cur.copy(COPY_STAGE) as copy:
                    copy.set_types(STAGE_TYPES)
                    write_row = copy.write_row
                    for row in batch.obs:
                        write_row(row)
                if self.native and not batch.obs_days <= self._known_days:
                    cur.execute(ENSURE_STAGED_DAYS)
                cur.execute(INSERT_OBSERVATIONS)
                inserted = cur.rowcount
                cur.execute(UPSERT_LATEST)
                ranges = [notices.ObsRange(*row) for row in cur.execute(STAGED_RANGES).fetchall()]
                cur.execute(NOTIFY, (notices.CHANNEL, notices.encode(ranges)))
                if batch.drills:
                    cur.execute(RECORD_DRILL_CLOCK)
                if self._clock_warnings_maybe_active(cur):
                    cur.execute(CLEAR_CLOCK_AHEAD, {"rule": CLOCK_RULE, "raised": [c[0] for c in batch.clock_ahead]})
            if batch.video:
                cur.executemany(
                    INSERT_VIDEO,
                    [
                        (v.station_id, v.camera, v.ts, v.online, v.snapshot_url, v.stream_url, v.event, v.drill_id)
                        for v in batch.video
                    ],
                )
            if batch.status:
                cur.executemany(
                    INSERT_STATUS,
                    [(s.station_id, s.ts, s.online, s.battery_v, s.signal_dbm, s.drill_id) for s in batch.status],
                )
                cur.executemany(
                    UPSERT_STATUS_LATEST,
                    [
                        (s.station_id, s.drill_id, s.ts, s.online, s.battery_v, s.signal_dbm)
                        for s in sorted(batch.status, key=lambda s: (s.station_id, s.drill_id, s.ts))
                    ],
                )
            if batch.dead:
                cur.executemany(
                    INSERT_DEAD,
                    [
                        (safe_text(d.topic, DEAD_TOPIC_MAX), d.payload, d.reason, safe_text(d.detail, DEAD_DETAIL_MAX))
                        for d in batch.dead
                    ],
                )
            if batch.clock_ahead:
                worst: dict[tuple[int, int], float] = {}
                for station, drill, ahead in batch.clock_ahead:
                    worst[(station, drill)] = max(ahead, worst.get((station, drill), ahead))
                cur.executemany(
                    RAISE_CLOCK_AHEAD,
                    [
                        {
                            "station": station,
                            "drill": drill,
                            "ahead": ahead,
                            "tolerance": self.future_tolerance_s,
                            "rule": CLOCK_RULE,
                            "level": CLOCK_LEVEL,
                        }
                        for (station, drill), ahead in sorted(worst.items())
                    ],
                )
                self._clock_warnings = True
        if self.native:
            self._known_days |= batch.obs_days
        return WriteResult(len(batch.obs), inserted, len(batch.dead))

    def _clock_warnings_maybe_active(self, cur: psycopg.Cursor) -> bool:
        now = time.monotonic()
        if now - self._clock_checked >= CLOCK_RECHECK_S:
            self._clock_checked = now
            row = cur.execute(ANY_CLOCK_AHEAD, (CLOCK_RULE,)).fetchone()
            self._clock_warnings = bool(row and row[0])
        return self._clock_warnings

    def forget_partitions(self) -> None:
        self._known_days.clear()

    def maintain(self, retention_days: int) -> None:
        """Native path: keep day partitions ahead of time and drop those past retention."""
        if not self.native:
            return
        with self.conn.transaction():
            self.conn.execute(ENSURE_AHEAD, (PARTITION_DAYS_AHEAD,))
            if retention_days > 0:
                self.conn.execute(DROP_EXPIRED, (retention_days,))


def safe_text(text: str, limit: int) -> str:
    """Text PostgreSQL accepts, at most ``limit`` characters: NUL and lone surrogates escaped."""
    if len(text) > limit:
        text = text[:limit] + "…"
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
