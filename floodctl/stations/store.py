"""Read queries over stations and observations; plain values in, plain values out.

``stations_geojson`` builds the whole FeatureCollection in PostgreSQL (one query, text out) so the
"now" view of thousands of stations costs one round trip. ``series`` returns raw points or
time buckets: rainfall is summed per bucket, every other metric gives mean, max and min.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from floodctl.core.errors import InvalidQuery, UnknownStation
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND, THRESHOLD_NAMES

MAX_RAW_POINTS = 100_000
MAX_SPAN = timedelta(days=366)
MIN_BUCKET = timedelta(minutes=1)
MAX_BUCKET = timedelta(days=31)
SUMMED_METRICS = frozenset({"rainfall"})

STATIONS_GEOJSON = f"""
SELECT json_build_object(
  'type', 'FeatureCollection',
  'features', coalesce(json_agg(json_build_object(
    'type', 'Feature',
    'id', s.code,
    'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(s.lon, s.lat)),
    'properties', json_build_object(
      'code', s.code, 'name', s.name, 'kind', s.kind, 'town', s.town_code, 'town_name', t.name,
      'river', s.river, 'elevation_m', s.elevation_m,
      'thresholds', json_strip_nulls(json_build_object({", ".join(f"'{c}', s.{c}" for c in THRESHOLD_NAMES)})),
      'latest', coalesce(lv.latest, '{{}}'::json),
      'device', dv.device,
      'warning_level', NULL
    )) ORDER BY s.code), '[]'::json)
)::text
FROM stations s
LEFT JOIN towns t ON t.code = s.town_code
LEFT JOIN LATERAL (
  SELECT json_object_agg(m.name, json_build_object('value', l.value, 'ts', l.ts,
                                                   'late', (l.flags & 1) = 1)) AS latest
  FROM latest_values l JOIN metrics m ON m.id = l.metric_id
  WHERE l.station_id = s.id AND l.drill_id = %(drill)s
) lv ON true
LEFT JOIN LATERAL (
  SELECT json_build_object('ts', d.ts, 'online', d.online, 'battery_v', d.battery_v,
                           'signal_dbm', d.signal_dbm) AS device
  FROM device_status_latest d WHERE d.station_id = s.id AND d.drill_id = %(drill)s
) dv ON true
WHERE s.active AND (%(kind)s::text IS NULL OR s.kind = %(kind)s) AND (%(town)s::text IS NULL OR s.town_code = %(town)s)
"""

STATION_CODE = re.compile(r"[0-9A-Za-z]{8}")  # SL 323 STCD, as the stations table checks
STATION_BY_CODE = "SELECT id, kind FROM stations WHERE code = %s"
RAW_SERIES = """
SELECT ts, value, (flags & 1) = 1 FROM observations
WHERE station_id = %(sid)s AND metric_id = %(mid)s AND drill_id = %(drill)s
  AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts LIMIT %(limit)s
"""
# A reading at ts is the amount in the interval ending at ts, so it belongs to the bucket (end - bucket, end]:
# a reading exactly on a boundary closes the bucket that ends there. Timestamps have microsecond
# resolution, so stepping back one microsecond before binning turns date_bin's [start, end) into that.
SUMMED_SERIES = """
SELECT date_bin(%(bucket)s, ts - interval '1 microsecond', %(origin)s) + %(bucket)s AS bucket_end,
       sum(value), count(*)
FROM observations
WHERE station_id = %(sid)s AND metric_id = %(mid)s AND drill_id = %(drill)s
  AND ts > %(start)s AND ts <= %(end)s
GROUP BY 1 ORDER BY 1
"""
LEVEL_SERIES = """
SELECT date_bin(%(bucket)s, ts, %(origin)s) AS bucket_start, avg(value), max(value), min(value), count(*)
FROM observations
WHERE station_id = %(sid)s AND metric_id = %(mid)s AND drill_id = %(drill)s
  AND ts >= %(start)s AND ts < %(end)s
GROUP BY 1 ORDER BY 1
"""


def stations_geojson(
    conn: psycopg.Connection, *, drill_id: int = 0, kind: str | None = None, town: str | None = None
) -> str:
    row = conn.execute(STATIONS_GEOJSON, {"drill": drill_id, "kind": kind, "town": town}).fetchone()
    return str(row[0]) if row else '{"type":"FeatureCollection","features":[]}'


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    code: str
    metric: str | None
    start: datetime
    end: datetime
    bucket: timedelta | None
    drill_id: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    station: str
    metric: str
    unit: str
    start: datetime
    end: datetime
    bucket: timedelta | None
    aggregate: str | None  # "sum" for rainfall buckets, "mean/max/min" for levels
    columns: list[str]
    points: list[list[object]]


def series(conn: psycopg.Connection, query: SeriesQuery, *, origin: datetime) -> Series:
    """Readings of one station and metric; ``origin`` aligns buckets (local midnight)."""
    row = conn.execute(STATION_BY_CODE, (query.code,)).fetchone() if STATION_CODE.fullmatch(query.code) else None
    if row is None:
        raise UnknownStation(f"no station with code {query.code!r}")
    station_id, kind = row
    metric_name = query.metric or DEFAULT_METRIC_BY_KIND.get(kind, "water_level")
    metric = METRICS.get(metric_name)
    if metric is None:
        raise InvalidQuery(f"unknown metric {metric_name!r}; one of: {', '.join(METRICS)}")
    if query.end <= query.start:
        raise InvalidQuery("'start' must be before 'end'")
    if query.end - query.start > MAX_SPAN:
        raise InvalidQuery(f"the time range may be at most {MAX_SPAN.days} days")
    params = {"sid": station_id, "mid": metric.id, "drill": query.drill_id, "start": query.start, "end": query.end}
    if query.bucket is None:
        params["limit"] = MAX_RAW_POINTS + 1
        rows = conn.execute(RAW_SERIES, params).fetchall()
        if len(rows) > MAX_RAW_POINTS:
            raise InvalidQuery(f"more than {MAX_RAW_POINTS} points: ask for a bucket (e.g. bucket=1h)")
        return Series(
            query.code,
            metric.name,
            metric.unit,
            query.start,
            query.end,
            None,
            None,
            ["ts", "value", "late"],
            [[r[0].isoformat(), r[1], r[2]] for r in rows],
        )
    if not MIN_BUCKET <= query.bucket <= MAX_BUCKET:
        raise InvalidQuery("bucket must be between 1 minute and 31 days")
    params.update(bucket=query.bucket, origin=origin)
    if metric.name in SUMMED_METRICS:
        # Rainfall is the amount in the interval ending at ts: a bucket is labelled by its end.
        rows = conn.execute(SUMMED_SERIES, params).fetchall()
        return Series(
            query.code,
            metric.name,
            metric.unit,
            query.start,
            query.end,
            query.bucket,
            "sum",
            ["bucket_end", "sum", "count"],
            [[r[0].isoformat(), r[1], r[2]] for r in rows],
        )
    rows = conn.execute(LEVEL_SERIES, params).fetchall()
    return Series(
        query.code,
        metric.name,
        metric.unit,
        query.start,
        query.end,
        query.bucket,
        "mean/max/min",
        ["bucket_start", "mean", "max", "min", "count"],
        [[r[0].isoformat(), r[1], r[2], r[3], r[4]] for r in rows],
    )
