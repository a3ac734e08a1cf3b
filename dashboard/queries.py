"""Read queries of the wall dashboard: plain values in, plain values out, every one scoped to a drill.

The hot one is ``stations_state``: every active station with its main reading, device health and the
most severe active flood warning on it, as a GeoJSON FeatureCollection built by PostgreSQL in ONE
statement (text out, one round trip), like ``floodctl.stations.store.stations_geojson`` but lean
enough to be read every few seconds for 5,000 stations. The other panels reuse the owners' reads where
they fit (``alerts.reports.list_reports``, ``alerts.response.response_level_in_force``) and add their own SQL
where the wall needs a different cut (warnings with their level at a past moment, rainfall ranking,
reservoirs above their flood-limit level, orders with each town's 叫应 and the unreached towns' names).

Every read takes a ``Moment``: live by default, or a past time of the last 72 h (the time slider).

A drill's "now" is its clock — its newest reading — not the wall clock: the rainfall windows and the
series of a replayed typhoon follow the replay (``clock``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerts import reports as reports_store
from alerts.response import response_level_in_force
from alerts.rules import RuleSet
from floodctl.domain.levels import LEVELS, sql_rank
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND, THRESHOLD_NAMES

RAINFALL_ID = METRICS["rainfall"].id
WATER_LEVEL_ID = METRICS["water_level"].id
RAIN_TOP = 10
MAX_WARNINGS = 200
MAX_ORDERS = 12
MAX_REPORTS = 15
MAX_DRILLS = 50
HISTORY = timedelta(hours=72)  # how far back the time slider goes
LOOKBACK = timedelta(days=7)  # a reading older than this before the moment is not "latest" then
LIVE = "infinity"  # the moment of the live wall: no bound
# The county's own vector layers drawn by the wall (towns come from their table).
WALL_LAYERS = ("county", "villages", "reservoirs", "seawalls", "rivers", "shelters", "waterlogging")

_MAIN_METRICS = ", ".join(f"('{kind}', {METRICS[metric].id})" for kind, metric in DEFAULT_METRIC_BY_KIND.items())

# One statement for the whole map, as of a moment. `at` is the situation time (event time: a drill's own
# clock in a drill), `recorded_by` the wall-clock bound for what people did (acknowledgements); both are
# 'infinity' for the live wall, which then reads latest_values and the active warnings as they stand.
# A past `at` takes the newest reading at or before it (one backwards index probe per station whose latest
# value is newer) and each warning's level at that time from its level history. The warning level is the
# most severe *flood* warning on the station (device warnings are about the gauge, not the water); `ack` is
# true only when every one of them had been acknowledged. Properties are few and nulls left out (units
# are the metric's, known to the page): this goes over the wire whenever anything on the map changes.
_LEVEL_AT = """coalesce((SELECT e->>1 FROM jsonb_array_elements(w.level_history) e
                 WHERE (e->>0)::float8 <= extract(epoch FROM %(at)s::timestamptz)
                 ORDER BY (e->>0)::float8 DESC LIMIT 1), w.level)"""
_WARNING_AT = """w.drill_id = %(drill)s AND w.raised_at <= %(at)s::timestamptz
  AND (CASE WHEN %(at)s::timestamptz = 'infinity' THEN w.state = 'active'
            ELSE w.cleared_at IS NULL OR w.cleared_at > %(at)s::timestamptz END)"""
_VALUE_AT = """SELECT {lv}.ts, {lv}.value WHERE {lv}.ts <= %(at)s::timestamptz
    UNION ALL
    (SELECT ob.ts, ob.value FROM observations ob
     WHERE {lv}.ts > %(at)s::timestamptz AND ob.station_id = {lv}.station_id AND ob.metric_id = {lv}.metric_id
       AND ob.drill_id = {lv}.drill_id AND ob.ts <= %(at)s::timestamptz AND ob.ts > %(at)s::timestamptz - %(lookback)s
     ORDER BY ob.ts DESC LIMIT 1)"""
STATIONS_STATE = f"""
WITH main_metric(kind, metric_id) AS (VALUES {_MAIN_METRICS}),
station_warnings AS (
  SELECT subject, max(array_position(%(levels)s::text[], level_then)) AS rank, bool_and(acked) AS ack
  FROM (SELECT w.subject, {_LEVEL_AT} AS level_then,
               w.acknowledged AND coalesce(w.acknowledged_at, '-infinity') <= %(recorded_by)s::timestamptz AS acked
        FROM warnings w
        WHERE {_WARNING_AT} AND w.subject_kind = 'station' AND w.category = 'flood') x
  GROUP BY subject
)
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
  'type', 'Feature', 'id', s.code,
  'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(s.lon, s.lat)),
  'properties', json_strip_nulls(json_build_object(
    'code', s.code, 'name', s.name, 'kind', s.kind, 'town', t.name, 'town_en', t.name_en,
    'metric', m.name, 'value', l.value, 'ts', date_trunc('second', l.ts),
    'level', (%(levels)s::text[])[w.rank], 'ack', w.ack, 'online', dv.online))
  ) ORDER BY s.code), '[]'::json))::text
FROM stations s
LEFT JOIN towns t ON t.code = s.town_code
LEFT JOIN main_metric mm ON mm.kind = s.kind
LEFT JOIN metrics m ON m.id = mm.metric_id
LEFT JOIN latest_values lv ON lv.station_id = s.id AND lv.metric_id = mm.metric_id AND lv.drill_id = %(drill)s
LEFT JOIN LATERAL ({_VALUE_AT.format(lv="lv")}) l ON true
LEFT JOIN device_status_latest d ON d.station_id = s.id AND d.drill_id = %(drill)s
LEFT JOIN LATERAL (
    SELECT d.online WHERE d.ts <= %(at)s::timestamptz
    UNION ALL
    (SELECT ds.online FROM device_status ds
     WHERE d.ts > %(at)s::timestamptz AND ds.station_id = d.station_id AND ds.drill_id = d.drill_id
       AND ds.ts <= %(at)s::timestamptz ORDER BY ds.ts DESC LIMIT 1)
) dv ON true
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

RESERVOIRS_OVER = f"""
SELECT s.code, s.name, t.name AS town, t.name_en AS town_en, l.value AS level, l.ts, x.flood_limit,
       l.value - x.flood_limit AS excess, s.dsflz, s.dam_crest
FROM stations s
JOIN latest_values lv ON lv.station_id = s.id AND lv.metric_id = %(water_level)s AND lv.drill_id = %(drill)s
CROSS JOIN LATERAL ({_VALUE_AT.format(lv="lv")}) l
LEFT JOIN towns t ON t.code = s.town_code
CROSS JOIN LATERAL (SELECT {{limit_column}} AS flood_limit) x
WHERE s.kind = 'reservoir' AND s.active AND x.flood_limit IS NOT NULL AND l.value > x.flood_limit
ORDER BY excess DESC, s.code
"""

# Active flood warnings as of the moment, most severe first (the columns the wall shows of the warnings
# API's own list, alerts.warnings.LIST), each with its level and acknowledgement at that time.
WARNINGS_AT = f"""
SELECT * FROM (
  SELECT w.id, w.rule_id, w.subject, w.subject_kind, s.name AS subject_name, w.town_code, t.name AS town_name,
         t.name_en AS town_name_en, w.drill_id, w.category, w.hazard, {_LEVEL_AT} AS level,
         w.acknowledged AND coalesce(w.acknowledged_at, '-infinity') <= %(recorded_by)s::timestamptz AS acknowledged,
         CASE WHEN coalesce(w.acknowledged_at, '-infinity') <= %(recorded_by)s::timestamptz
              THEN w.acknowledged_by END AS acknowledged_by,
         w.raised_at, w.last_seen, w.value, w.threshold, w.message_zh, w.message_en, w.late
  FROM warnings w
  LEFT JOIN stations s ON w.subject_kind = 'station' AND s.code = w.subject
  LEFT JOIN towns t ON t.code = w.town_code
  WHERE {_WARNING_AT} AND w.category = 'flood'
) x
ORDER BY {sql_rank("level")} DESC NULLS LAST, last_seen DESC, id DESC
LIMIT %(limit)s
"""

# 叫应 per order as recorded by a wall-clock moment (`recorded_by`; 'infinity' for now: the states as they
# stand; a past moment rebuilds them from the rows' timestamps and the order's events): disjoint counts
# (acknowledged excludes carried out), pending ones with the nearest deadline and how many were escalated
# to a deputy or superior, and the names of the towns still unreached.
ORDERS = """
WITH o AS (
  SELECT o.*, CASE WHEN %(recorded_by)s::timestamptz = 'infinity' THEN o.status
                   WHEN o.cancelled_at <= %(recorded_by)s::timestamptz THEN 'cancelled'
                   WHEN o.approved_at <= %(recorded_by)s::timestamptz THEN 'approved' ELSE 'draft' END AS status_then
  FROM orders o
  WHERE o.drill_id = %(drill)s AND o.drafted_at <= %(recorded_by)s::timestamptz
), calls AS (
  SELECT ot.order_id, ot.town_code, ot.deadline_at, ot.escalations,
         CASE WHEN %(recorded_by)s::timestamptz = 'infinity' THEN ot.state
              WHEN ot.carried_out_at <= %(recorded_by)s::timestamptz THEN 'carried_out'
              WHEN ot.acknowledged_at <= %(recorded_by)s::timestamptz THEN 'acknowledged'
              WHEN ot.state = 'cancelled' THEN 'cancelled'
              WHEN EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = ot.order_id AND e.town_code = ot.town_code
                             AND e.kind = 'unreached' AND e.at <= %(recorded_by)s::timestamptz) THEN 'unreached'
              WHEN ot.called_at <= %(recorded_by)s::timestamptz THEN 'pending' END AS state_then
  FROM order_towns ot JOIN o ON o.id = ot.order_id
)
SELECT o.id, o.order_no, o.status_then AS status, o.msg_type, o.hazard, o.level, o.response_level, o.title_zh,
       o.title_en, o.drafted_at, CASE WHEN o.status_then = 'approved' THEN o.approved_at END AS approved_at,
       o.auto_approved,
       count(c.town_code) FILTER (WHERE c.state_then IS NOT NULL) AS towns_total,
       count(c.town_code) FILTER (WHERE c.state_then = 'acknowledged') AS acknowledged,
       count(c.town_code) FILTER (WHERE c.state_then = 'carried_out') AS carried_out,
       count(c.town_code) FILTER (WHERE c.state_then = 'pending') AS pending,
       count(c.town_code) FILTER (WHERE c.state_then = 'unreached') AS unreached,
       count(c.town_code) FILTER (WHERE c.state_then = 'pending' AND c.escalations > 0) AS escalated,
       min(c.deadline_at) FILTER (WHERE c.state_then = 'pending') AS next_deadline,
       coalesce(array_agg(t.name ORDER BY t.code) FILTER (WHERE c.state_then = 'unreached'), '{}') AS unreached_towns,
       coalesce(array_agg(t.name_en ORDER BY t.code) FILTER (WHERE c.state_then = 'unreached'), '{}')
         AS unreached_towns_en,
       cardinality(o.towns) AS towns_named
FROM o
LEFT JOIN calls c ON c.order_id = o.id
LEFT JOIN towns t ON t.code = c.town_code
WHERE o.status_then <> 'cancelled'
GROUP BY o.id, o.order_no, o.status_then, o.msg_type, o.hazard, o.level, o.response_level, o.title_zh, o.title_en,
         o.drafted_at, o.approved_at, o.auto_approved, o.towns
ORDER BY (o.status_then = 'draft') DESC, o.id DESC
LIMIT %(limit)s
"""

# The wall-clock second by which a drill's clock had reached `at` (drill_clock, written by ingest); before
# the drill's first reading, its start.
RECORDED_BY = """
SELECT coalesce((SELECT max(wall_at) FROM drill_clock WHERE drill_id = %(drill)s AND drill_at <= %(at)s),
                (SELECT started_at FROM drills WHERE id = %(drill)s))
"""
# What the people in the room must see at once, as one cheap row of index probes: the newest warning event
# (raised, escalated, lowered, cleared, acknowledged; not the refreshes of every reading), order event
# (drafted, approved, acknowledged, escalated, …), response level and report, over all drills.
PULSE = """
SELECT json_build_array((SELECT max(id) FROM warning_events), (SELECT max(id) FROM order_events),
                        (SELECT max(id) FROM response_levels), (SELECT max(id) FROM reports))::text
"""
# Where a drill's clock started (its first committed reading), for the time slider's range.
DRILL_FIRST = "SELECT min(drill_at) FROM drill_clock WHERE drill_id = %(drill)s"

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
SELECT s.code, s.name, s.kind, t.name AS town, t.name_en AS town_en, {", ".join(f"s.{c}" for c in THRESHOLD_NAMES)}
FROM stations s LEFT JOIN towns t ON t.code = s.town_code WHERE s.code = %s
"""


@dataclass(frozen=True, slots=True)
class Moment:
    """When the wall looks: ``at`` on the situation's clock (event time; a drill's own clock in a drill) and
    ``recorded_by`` on the wall clock, for what people did (orders, 叫应, response levels, reports,
    acknowledgements). Both None: live, as things stand now."""

    at: datetime | None = None
    recorded_by: datetime | None = None

    def params(self, drill_id: int) -> dict[str, Any]:
        return {
            "drill": drill_id,
            "at": self.at or LIVE,
            "recorded_by": self.recorded_by or LIVE,
            "lookback": LOOKBACK,
            "levels": list(LEVELS),
        }


NOW = Moment()


def moment(conn: psycopg.Connection, drill_id: int, at: datetime | None) -> Moment:
    """The moment to show: live when ``at`` is None; else ``at`` with its wall-clock bound (the same time
    live; for a drill, the second by which its clock had reached ``at``, from ``drill_clock``)."""
    if at is None:
        return NOW
    if not drill_id:
        return Moment(at, at)
    row = conn.execute(RECORDED_BY, {"drill": drill_id, "at": at}).fetchone()
    return Moment(at, row[0] if row and row[0] is not None else at)


def pulse(conn: psycopg.Connection) -> str:
    """A fingerprint of warnings, orders, 叫应, response levels and reports: it changes when any of them
    does (readings are left to the regular refresh). One cheap statement."""
    row = conn.execute(PULSE).fetchone()
    return str(row[0]) if row else ""


def history_span(conn: psycopg.Connection, drill_id: int, clock_at: datetime) -> tuple[datetime, datetime]:
    """(first, last) moment the time slider offers: the last HISTORY up to the clock, not before a drill's
    first reading."""
    first = clock_at - HISTORY
    if drill_id:
        row = conn.execute(DRILL_FIRST, {"drill": drill_id}).fetchone()
        if row and row[0] is not None:
            first = max(first, min(row[0], clock_at))
    return first, clock_at


def stations_state(conn: psycopg.Connection, drill_id: int = 0, when: Moment = NOW) -> str:
    """All active stations as GeoJSON text: main metric's value, device online flag, warning level, as of
    ``when`` (live by default: the latest values and the active warnings).

    One SQL statement. Feature properties: code, name, kind, town, town_en, metric, value, ts (to the
    second), level (blue…red), ack (all its warnings acknowledged), online; absent when null (no reading,
    no warning, no device status).
    """
    row = conn.execute(STATIONS_STATE, when.params(drill_id)).fetchone()
    return str(row[0]) if row else '{"type":"FeatureCollection","features":[]}'


@dataclass(frozen=True, slots=True)
class Clock:
    at: datetime  # "now" for this drill: the database's clock live, the newest reading in a drill
    newest: datetime | None  # the newest reading (how fresh the data is)


def clock(conn: psycopg.Connection, drill_id: int = 0) -> Clock:
    row = conn.execute(CLOCK, {"drill": drill_id}).fetchone()
    assert row is not None
    now, newest = row
    return Clock(at=newest if drill_id and newest is not None else now, newest=newest)


def rain_ranking(conn: psycopg.Connection, drill_id: int, at: datetime, top: int = RAIN_TOP) -> dict[str, Any]:
    """Top stations by rainfall over the 1 h, 3 h and 24 h up to ``at``: ``{"1h": [...], "3h": ..., "24h": ...}``,
    each item ``{code, name, town, town_en, mm}``; stations without rain are left out. One statement."""
    row = conn.execute(RAIN_RANKING, {"rain": RAINFALL_ID, "drill": drill_id, "at": at, "top": top}).fetchone()
    return row[0] if row else {"1h": [], "3h": [], "24h": []}


def season_column(rules: RuleSet, at: datetime) -> tuple[str | None, str | None]:
    """(season name, threshold column) of the flood-limit level (汛限水位) in force at ``at``; (None, None)
    outside the flood seasons, when no flood-limit level applies."""
    season = rules.season_at(at.timestamp())
    if season is None:
        return None, None
    column = rules.seasonal_thresholds.get("fsltdz", {}).get(season.name)
    return season.name, column if column in THRESHOLD_NAMES else None


def reservoirs_over_limit(
    conn: psycopg.Connection, drill_id: int, limit_column: str | None, when: Moment = NOW
) -> list[dict[str, Any]]:
    """Reservoirs whose water level (latest, or as of ``when``) is above their flood-limit level
    (``limit_column``, the season's FSLTDZ), most over first."""
    if limit_column is None:
        return []
    if limit_column not in THRESHOLD_NAMES:
        raise ValueError(f"{limit_column!r} is not a threshold column")
    query = sql.SQL(RESERVOIRS_OVER).format(limit_column=sql.Identifier("s", limit_column))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, when.params(drill_id) | {"water_level": WATER_LEVEL_ID}).fetchall()


def active_warnings(
    conn: psycopg.Connection, drill_id: int, limit: int = MAX_WARNINGS, when: Moment = NOW
) -> list[dict[str, Any]]:
    """Flood warnings active at ``when`` (now by default), most severe first, with their level and
    acknowledgement at that time."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(WARNINGS_AT, when.params(drill_id) | {"limit": limit}).fetchall()


def orders_with_calls(
    conn: psycopg.Connection, drill_id: int, limit: int = MAX_ORDERS, when: Moment = NOW
) -> list[dict[str, Any]]:
    """Drafts awaiting approval, then sent orders, newest first, as recorded by ``when``; per order the
    towns' 叫应 counts (acknowledged, carried_out, pending, unreached: disjoint; escalated among the
    pending), the nearest pending deadline and the unreached towns' names."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(ORDERS, when.params(drill_id) | {"limit": limit}).fetchall()


def field_reports(
    conn: psycopg.Connection, drill_id: int, limit: int = MAX_REPORTS, when: Moment = NOW
) -> list[dict[str, Any]]:
    """Field reports made by ``when``, newest first, with the state of the warning each one raised then (the
    reports API's own read)."""
    return reports_store.list_reports(conn, drill_id, limit, until=when.recorded_by)


def response_level(conn: psycopg.Connection, drill_id: int, when: Moment = NOW) -> dict[str, Any]:
    """The county response level in force at ``when`` (``GET /api/v1/response-level``'s own read)."""
    return response_level_in_force(conn, drill_id, when.recorded_by)


def running_drills(conn: psycopg.Connection, current: int = 0, limit: int = MAX_DRILLS) -> list[dict[str, Any]]:
    """Drills still running (plus ``current`` even if it has ended, so the selector keeps showing it)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(DRILLS, {"current": current, "limit": limit}).fetchall()


def map_layers(conn: psycopg.Connection) -> dict[str, Any]:
    """``{"towns": FeatureCollection, "layers": {name: FeatureCollection}}`` for the offline basemap and the
    layer toggles; a layer not loaded is simply absent. One statement."""
    import orjson

    row = conn.execute(LAYERS, {"names": list(WALL_LAYERS)}).fetchone()
    return orjson.loads(row[0]) if row else {"towns": None, "layers": {}}


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
    thresholds = {c: float(row[c]) for c in THRESHOLD_NAMES if row[c] is not None}
    return StationInfo(row["code"], row["name"], row["kind"], row["town"], row["town_en"], thresholds)
