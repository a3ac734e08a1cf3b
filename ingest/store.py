"""The ingest store: writes one batch in one transaction; owns the ingest SQL.

Observations go by binary COPY into a session-local staging table, then into ``observations``
with ``ON CONFLICT DO NOTHING`` (a redelivered or repeated reading is a no-op), and the newest of
each (station, metric, drill) into ``latest_values``. On the native storage path, missing day
partitions are created on demand for backfill before the insert.
"""

from __future__ import annotations

from dataclasses import dataclass

from floodctl import db
from floodctl.db.migrate import storage_mode
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
# Tell the rule engine (alerts/engine.py, LISTEN floodctl_obs) which stations got readings and for which
# time range; delivered at commit, so it only ever sees committed data. Items "drill:station:lo:hi"
# (epoch seconds), 200 per notification to stay far below PostgreSQL's 8000-byte payload limit.
NOTIFY_OBS = """
SELECT pg_notify('floodctl_obs', string_agg(item, ' '))
FROM (SELECT format('%s:%s:%s:%s', drill_id, station_id, floor(extract(epoch FROM min(ts)))::bigint,
                    ceil(extract(epoch FROM max(ts)))::bigint) AS item,
             (row_number() OVER ()) / 200 AS chunk
      FROM obs_stage GROUP BY drill_id, station_id) s
GROUP BY chunk
"""
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
    staged: int          # observation rows offered
    inserted: int        # of which new (the rest were duplicates)
    dead: int


class IngestStore:
    """One database connection of one ingest worker."""

    def __init__(self, dsn: str, *, wait_s: float = db.WAIT_FOR_DB_S) -> None:
        self.dsn = dsn
        self.conn = db.connect(dsn, wait_s=wait_s)
        self.native = storage_mode(self.conn) == "native"
        self.conn.execute(CREATE_STAGE)
        self.conn.commit()
        self._known_days: set[int] = set()

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
                cur.execute(NOTIFY_OBS)
                if batch.drills:
                    cur.execute(RECORD_DRILL_CLOCK)
            if batch.video:
                cur.executemany(INSERT_VIDEO, [
                    (v.station_id, v.camera, v.ts, v.online, v.snapshot_url, v.stream_url, v.event,
                     v.drill_id) for v in batch.video])
            if batch.status:
                cur.executemany(INSERT_STATUS, [
                    (s.station_id, s.ts, s.online, s.battery_v, s.signal_dbm, s.drill_id)
                    for s in batch.status])
                cur.executemany(UPSERT_STATUS_LATEST, [
                    (s.station_id, s.drill_id, s.ts, s.online, s.battery_v, s.signal_dbm)
                    for s in sorted(batch.status, key=lambda s: (s.station_id, s.drill_id, s.ts))])
            if batch.dead:
                cur.executemany(INSERT_DEAD, [(d.topic, d.payload, d.reason, d.detail) for d in batch.dead])
        if self.native:
            self._known_days |= batch.obs_days
        return WriteResult(len(batch.obs), inserted, len(batch.dead))

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
