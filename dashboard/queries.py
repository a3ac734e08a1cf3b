"""Read queries of the wall dashboard: plain values in, plain values out, every one scoped to a drill.

The hot one is ``stations_state``: every active station with its main reading, device health and the
most severe active flood warning on it, as a GeoJSON FeatureCollection built by PostgreSQL in ONE
statement (text out, one round trip), like ``floodctl.stations.store.stations_geojson`` but lean
enough to be re-sent every few seconds for 5,000 stations. The other panels reuse the owners' reads
where they fit (``alerts.warnings.list_warnings``, ``alerts.reports.list_reports``, the response level
of ``alerts.api``) and add their own SQL where the wall needs a different cut (rainfall ranking,
reservoirs above their flood-limit level, orders with the names of unreached towns).

A drill's "now" is its clock — its newest reading — not the wall clock: the rainfall windows and the
series of a replayed typhoon follow the replay (``clock``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerts import reports as reports_store
from alerts import warnings as warnings_store
from alerts.api import _response_level
from alerts.rules import RuleSet
from floodctl.stations.store import DEFAULT_METRIC_BY_KIND, THRESHOLD_COLUMNS
from ingest.vocabulary import METRICS

LEVELS = ("blue", "yellow", "orange", "red")
RAINFALL_ID = METRICS["rainfall"].id
WATER_LEVEL_ID = METRICS["water_level"].id
RAIN_TOP = 10
MAX_WARNINGS = 200
MAX_ORDERS = 12
MAX_REPORTS = 15
MAX_DRILLS = 50
# The county's own vector layers drawn by the wall (towns come from their table).
WALL_LAYERS = ("county", "villages", "reservoirs", "seawalls", "rivers", "shelters", "cameras", "waterlogging")

_MAIN_METRICS = ", ".join(f"('{kind}', {METRICS[metric].id})" for kind, metric in DEFAULT_METRIC_BY_KIND.items())

# One statement for the whole map. The warning level is the most severe active *flood* warning of the
# station in this drill (device warnings are about the gauge, not the water); `ack` is true only when
# every one of them has been acknowledged. Properties are few and nulls left out (units are the
# metric's, known to the page): this goes over the wire whenever anything on the map changes.
STATIONS_STATE = f"""
WITH main_metric(kind, metric_id) AS (VALUES {_MAIN_METRICS}),
station_warnings AS (
  SELECT subject, max(array_position(%(levels)s::text[], level)) AS rank, bool_and(acknowledged) AS ack
  FROM warnings
  WHERE drill_id = %(drill)s AND state = 'active' AND subject_kind = 'station' AND category = 'flood'
  GROUP BY subject
)
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
  'type', 'Feature', 'id', s.code,
  'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(s.lon, s.lat)),
  'properties', json_strip_nulls(json_build_object(
    'code', s.code, 'name', s.name, 'kind', s.kind, 'town', t.name, 'town_en', t.name_en,
    'metric', m.name, 'value', l.value, 'ts', date_trunc('second', l.ts),
    'level', (%(levels)s::text[])[w.rank], 'ack', w.ack, 'online', d.online))
  ) ORDER BY s.code), '[]'::json))::text
FROM stations s
LEFT JOIN towns t ON t.code = s.town_code
LEFT JOIN main_metric mm ON mm.kind = s.kind
LEFT JOIN metrics m ON m.id = mm.metric_id
LEFT JOIN latest_values l ON l.station_id = s.id AND l.metric_id = mm.metric_id AND l.drill_id = %(drill)s
LEFT JOIN device_status_latest d ON d.station_id = s.id AND d.drill_id = %(drill)s
LEFT JOIN station_warnings w ON w.subject = s.code
WHERE s.active
"""

# The database's clock and the newest reading of the drill (a drill's clock: live runs on the wall clock).
CLOCK = "SELECT now(), (SELECT max(ts) FROM latest_values WHERE drill_id = %(drill)s)"

# A rainfall reading at ts is the amount in the interval ending at ts: the 1 h window is (at - 1 h, at].
RAIN_RANKING = """
WITH sums AS (
  SELECT station_id,
         sum(value) FILTER (WHERE ts > %(at)s - interval '1 hour') AS h1,
         sum(value) FILTER (WHERE ts > %(at)s - interval '3 hours') AS h3,
         sum(value) AS h24
  FROM observations
  WHERE metric_id = %(rain)s AND drill_id = %(drill)s AND ts > %(at)s - interval '24 hours' AND ts <= %(at)s
  GROUP BY station_id
), named AS (
  SELECT s.code, s.name, t.name AS town, t.name_en AS town_en, sums.h1, sums.h3, sums.h24
  FROM sums JOIN stations s ON s.id = sums.station_id AND s.active LEFT JOIN towns t ON t.code = s.town_code
)
SELECT json_build_object(
  '1h', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name, 'town', town, 'town_en', town_en,
                                                    'mm', round(h1::numeric, 1)) ORDER BY h1 DESC, code), '[]'::json)
         FROM (SELECT * FROM named WHERE h1 > 0 ORDER BY h1 DESC, code LIMIT %(top)s) x),
  '3h', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name, 'town', town, 'town_en', town_en,
                                                    'mm', round(h3::numeric, 1)) ORDER BY h3 DESC, code), '[]'::json)
         FROM (SELECT * FROM named WHERE h3 > 0 ORDER BY h3 DESC, code LIMIT %(top)s) x),
  '24h', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name, 'town', town, 'town_en', town_en,
                                                     'mm', round(h24::numeric, 1)) ORDER BY h24 DESC, code), '[]'::json)
          FROM (SELECT * FROM named WHERE h24 > 0 ORDER BY h24 DESC, code LIMIT %(top)s) x)
)
"""

RESERVOIRS_OVER = """
SELECT s.code, s.name, t.name AS town, t.name_en AS town_en, l.value AS level, l.ts, x.flood_limit,
       l.value - x.flood_limit AS excess, s.dsflz, s.dam_crest
FROM stations s
JOIN latest_values l ON l.station_id = s.id AND l.metric_id = %(water_level)s AND l.drill_id = %(drill)s
LEFT JOIN towns t ON t.code = s.town_code
CROSS JOIN LATERAL (SELECT {limit_column} AS flood_limit) x
WHERE s.kind = 'reservoir' AND s.active AND x.flood_limit IS NOT NULL AND l.value > x.flood_limit
ORDER BY excess DESC, s.code
"""

# 叫应 per order: disjoint counts (acknowledged excludes carried out) and the towns still unreached.
ORDERS = """
SELECT o.id, o.order_no, o.status, o.msg_type, o.hazard, o.level, o.response_level, o.title_zh, o.title_en,
       o.drafted_at, o.approved_at, o.auto_approved,
       count(ot.town_code) AS towns_total,
       count(ot.town_code) FILTER (WHERE ot.state = 'acknowledged') AS acknowledged,
       count(ot.town_code) FILTER (WHERE ot.state = 'carried_out') AS carried_out,
       count(ot.town_code) FILTER (WHERE ot.state = 'pending') AS pending,
       count(ot.town_code) FILTER (WHERE ot.state = 'unreached') AS unreached,
       coalesce(array_agg(t.name ORDER BY t.code) FILTER (WHERE ot.state = 'unreached'), '{}') AS unreached_towns,
       coalesce(array_agg(t.name_en ORDER BY t.code) FILTER (WHERE ot.state = 'unreached'), '{}')
         AS unreached_towns_en,
       cardinality(o.towns) AS towns_named
FROM orders o
LEFT JOIN order_towns ot ON ot.order_id = o.id
LEFT JOIN towns t ON t.code = ot.town_code
WHERE o.drill_id = %(drill)s AND o.status <> 'cancelled'
GROUP BY o.id
ORDER BY (o.status = 'draft') DESC, o.id DESC
LIMIT %(limit)s
"""

DRILLS = """
SELECT id, name, scenario, started_at, ended_at FROM drills
WHERE id <> 0 AND (ended_at IS NULL OR id = %(current)s)
ORDER BY id DESC LIMIT %(limit)s
"""

LAYERS = """
SELECT json_build_object(
  'towns', (SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
              'type', 'Feature', 'geometry', geometry,
              'properties', json_build_object('code', code, 'name', name, 'name_en', name_en,
                                              'seat_lon', seat_lon, 'seat_lat', seat_lat)) ORDER BY code), '[]'::json))
            FROM towns WHERE geometry IS NOT NULL),
  'layers', (SELECT coalesce(json_object_agg(name, geojson), '{}'::json) FROM layers WHERE name = ANY(%(names)s))
)::text
"""

STATION = f"""
SELECT s.code, s.name, s.kind, t.name AS town, t.name_en AS town_en, {", ".join(f"s.{c}" for c in THRESHOLD_COLUMNS)}
FROM stations s LEFT JOIN towns t ON t.code = s.town_code WHERE s.code = %s
"""


def stations_state(conn: psycopg.Connection, drill_id: int = 0) -> str:
    """All active stations as GeoJSON text: main metric's latest value, device online flag, warning level.

    One SQL statement. Feature properties: code, name, kind, town, town_en, metric, value, ts (to the
    second), level (blue…red), ack (all its warnings acknowledged), online; absent when null (no reading,
    no warning, no device status).
    """
    row = conn.execute(STATIONS_STATE, {"drill": drill_id, "levels": list(LEVELS)}).fetchone()
    return str(row[0]) if row else '{"type":"FeatureCollection","features":[]}'


@dataclass(frozen=True, slots=True)
class Clock:
    at: datetime                 # "now" for this drill: the database's clock live, the newest reading in a drill
    newest: datetime | None      # the newest reading (how fresh the data is)


def clock(conn: psycopg.Connection, drill_id: int = 0) -> Clock:
    row = conn.execute(CLOCK, {"drill": drill_id}).fetchone()
    assert row is not None
    now, newest = row
    return Clock(at=newest if drill_id and newest is not None else now, newest=newest)


def rain_ranking(conn: psycopg.Connection, drill_id: int, at: datetime, top: int = RAIN_TOP) -> dict[str, Any]:
    """Top stations by rainfall over the 1 h, 3 h and 24 h up to ``at``: ``{"1h": [...], "3h": ..., "24h": ...}``,
    each item ``{code, name, town, town_en, mm}``; stations without rain are left out. One statement."""
    row = conn.execute(RAIN_RANKING, {"rain": RAINFALL_ID, "drill": drill_id, "at": at, "top": top}).fetchone()
    return row[0] if row else {"1h": [], "3h": [], "24h": []}  # type: ignore[no-any-return]


def season_column(rules: RuleSet, at: datetime) -> tuple[str | None, str | None]:
    """(season name, threshold column) of the flood-limit level (汛限水位) in force at ``at``; (None, None)
    outside the flood seasons, when no flood-limit level applies."""
    season = rules.season_at(at.timestamp())
    if season is None:
        return None, None
    column = rules.seasonal_thresholds.get("fsltdz", {}).get(season.name)
    return season.name, column if column in THRESHOLD_COLUMNS else None


def reservoirs_over_limit(conn: psycopg.Connection, drill_id: int, limit_column: str | None) -> list[dict[str, Any]]:
    """Reservoirs whose latest water level is above their flood-limit level (``limit_column``, the season's
    FSLTDZ), most over first."""
    if limit_column is None:
        return []
    if limit_column not in THRESHOLD_COLUMNS:
        raise ValueError(f"{limit_column!r} is not a threshold column")
    query = sql.SQL(RESERVOIRS_OVER).format(limit_column=sql.Identifier("s", limit_column))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {"drill": drill_id, "water_level": WATER_LEVEL_ID}).fetchall()


def active_warnings(conn: psycopg.Connection, drill_id: int, limit: int = MAX_WARNINGS) -> list[dict[str, Any]]:
    """Active flood warnings, most severe first (the warnings API's own read)."""
    return warnings_store.list_warnings(conn, drill=drill_id, active=True, category="flood", limit=limit)


def orders_with_calls(conn: psycopg.Connection, drill_id: int, limit: int = MAX_ORDERS) -> list[dict[str, Any]]:
    """Drafts awaiting approval, then sent orders, newest first; per order the towns' 叫应 counts
    (acknowledged, carried_out, pending, unreached: disjoint) and the unreached towns' names."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ORDERS, {"drill": drill_id, "limit": limit}).fetchall()


def field_reports(conn: psycopg.Connection, drill_id: int, limit: int = MAX_REPORTS) -> list[dict[str, Any]]:
    return reports_store.list_reports(conn, drill_id, limit)


def response_level(conn: psycopg.Connection, drill_id: int) -> dict[str, Any]:
    """The county response level in force (``GET /api/v1/response-level``'s own logic)."""
    return _response_level(conn, drill_id)


def running_drills(conn: psycopg.Connection, current: int = 0, limit: int = MAX_DRILLS) -> list[dict[str, Any]]:
    """Drills still running (plus ``current`` even if it has ended, so the selector keeps showing it)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(DRILLS, {"current": current, "limit": limit}).fetchall()


def map_layers(conn: psycopg.Connection) -> dict[str, Any]:
    """``{"towns": FeatureCollection, "layers": {name: FeatureCollection}}`` for the offline basemap and the
    layer toggles; a layer not loaded is simply absent. One statement."""
    import orjson

    row = conn.execute(LAYERS, {"names": list(WALL_LAYERS)}).fetchone()
    return orjson.loads(row[0]) if row else {"towns": None, "layers": {}}  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class StationInfo:
    code: str
    name: str
    kind: str
    town: str | None
    town_en: str | None
    thresholds: dict[str, float]


def station_info(conn: psycopg.Connection, code: str) -> StationInfo | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(STATION, (code,)).fetchone()
    if row is None:
        return None
    thresholds = {c: float(row[c]) for c in THRESHOLD_COLUMNS if row[c] is not None}
    return StationInfo(row["code"], row["name"], row["kind"], row["town"], row["town_en"], thresholds)
