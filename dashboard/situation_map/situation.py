"""The situation as of a time T, read for the map: stations with their latest readings and warning levels at
T, areas under warning, the county's layers and the storms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import psycopg

from dashboard.overlays import STORM_FIXES, STORM_WINDOW, Storm, storms_at
from floodctl.core.bounds import check_time
from floodctl.core.errors import BadRequest, NotFound
from floodctl.domain.levels import LEVEL_RANK, rank
from floodctl.domain.thresholds import THRESHOLD_NAMES
from gis_data import loader

# The layers drawn from the `layers` table / towns table.
MAP_LAYERS = ("county", "towns", "rivers", "seawalls", "reservoirs", "shelters")
LOOKBACK = timedelta(days=7)  # an observation older than this before T is not "latest as of T"

STATIONS = """
SELECT s.id, s.code, s.name, s.kind, s.town_code, t.name, s.lon, s.lat, s.river,
       json_strip_nulls(json_build_object({thresholds}))
FROM stations s LEFT JOIN towns t ON t.code = s.town_code
WHERE s.active ORDER BY s.code
""".format(thresholds=", ".join(f"'{c}', s.{c}" for c in THRESHOLD_NAMES))
# The newest reading at or before T of every (station, metric) the drill has: latest_values when it is
# not after T (the common case: T is now), else one backwards index probe into observations.
LATEST_AS_OF = """
SELECT lv.station_id, m.name, o.ts, o.value, o.late
FROM latest_values lv
JOIN metrics m ON m.id = lv.metric_id
CROSS JOIN LATERAL (
    SELECT lv.ts, lv.value, (lv.flags & 1) = 1 AS late WHERE lv.ts <= %(at)s
    UNION ALL
    (SELECT ob.ts, ob.value, (ob.flags & 1) = 1 FROM observations ob
     WHERE lv.ts > %(at)s AND ob.station_id = lv.station_id AND ob.metric_id = lv.metric_id
       AND ob.drill_id = lv.drill_id AND ob.ts <= %(at)s AND ob.ts > %(since)s
     ORDER BY ob.ts DESC LIMIT 1)
) o
WHERE lv.drill_id = %(drill)s
"""
RAIN_SUMS = """
SELECT station_id, sum(value) FILTER (WHERE ts > %(at)s - interval '1 hour'), sum(value)
FROM observations
WHERE metric_id = (SELECT id FROM metrics WHERE name = 'rainfall') AND drill_id = %(drill)s
  AND ts > %(at)s - interval '24 hours' AND ts <= %(at)s
GROUP BY station_id
"""
WARNINGS_AS_OF = """
SELECT subject, subject_kind, town_code, category, hazard, level, level_history, message_zh
FROM warnings
WHERE drill_id = %(drill)s AND raised_at <= %(at)s AND (cleared_at IS NULL OR cleared_at > %(at)s)
ORDER BY raised_at
"""
DRILL = "SELECT id, name, scenario FROM drills WHERE id = %s"
DRILL_CLOCK = "SELECT max(ts) FROM latest_values WHERE drill_id = %s"


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    ts: datetime
    late: bool


@dataclass(slots=True)
class StationState:
    code: str
    name: str
    kind: str
    town: str | None
    lon: float
    lat: float
    river: str | None
    thresholds: dict[str, float]
    latest: dict[str, Reading] = field(default_factory=dict)
    rain_1h: float | None = None
    rain_24h: float | None = None
    level: str | None = None  # highest flood warning level at T
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (level, message), flood and device
    device_warning: bool = False


@dataclass(slots=True)
class Situation:
    at: datetime
    drill_id: int
    drill_name: str | None
    county_name: str
    layers: dict[str, dict[str, Any]]
    stations: list[StationState]
    area_levels: dict[str, str]  # town code or "county" -> highest level at T
    area_messages: dict[str, list[str]]
    storms: list[Storm]


def parse_at(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is in the county's time zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"--at: {text!r} is not an ISO 8601 time, e.g. 2021-07-25T12:00+08:00") from None
    return check_time(value.replace(tzinfo=tz) if value.tzinfo is None else value, "--at")


def _level_at(level: str, history: Any, at: datetime) -> str:
    """The level a warning had at T: the last change at or before T (its current level without a history)."""
    stamp = at.timestamp()
    current = None
    for entry in history or []:
        if isinstance(entry, list | tuple) and len(entry) == 2 and float(entry[0]) <= stamp:
            current = str(entry[1])
    return current if current in LEVEL_RANK else level


def _higher(a: str | None, b: str) -> str:
    return b if a is None or rank(b) > rank(a) else a


def _default_at(conn: psycopg.Connection, drill_id: int) -> datetime:
    """Now for live data; a drill's clock (its newest reading) for a drill."""
    if drill_id:
        row = conn.execute(DRILL_CLOCK, (drill_id,)).fetchone()
        if row and isinstance(row[0], datetime):
            return row[0]
    return datetime.now(UTC)


def _county_name(county: dict[str, Any] | None) -> str:
    for feature in (county or {}).get("features", []):
        name = (feature.get("properties") or {}).get("name")
        if name:
            return str(name)
    return "全县"


def load_situation(conn: psycopg.Connection, *, at: datetime | None = None, drill_id: int = 0) -> Situation:
    """Everything the map shows, as of ``at`` (default: now, or the drill's clock)."""
    drill_name = None
    if drill_id:
        row = conn.execute(DRILL, (drill_id,)).fetchone()
        if row is None:
            raise NotFound(f"no drill {drill_id} in the database")
        drill_name = str(row[2] or row[1])
    when = check_time(at or _default_at(conn, drill_id), "at (the drill's clock)" if at is None else "at")
    params = {"at": when, "drill": drill_id, "since": when - LOOKBACK, "window": STORM_WINDOW}

    layers: dict[str, dict[str, Any]] = {}
    for name in MAP_LAYERS:
        text = loader.layer_json(conn, name)
        if text is not None:
            doc = json.loads(text)
            if doc.get("features"):
                layers[name] = doc

    stations: dict[int, StationState] = {}
    by_code: dict[str, StationState] = {}
    for sid, code, name, kind, _town_code, town, lon, lat, river, thresholds in conn.execute(STATIONS):
        state = StationState(code, name, kind, town, lon, lat, river, dict(thresholds or {}))
        stations[sid] = by_code[code] = state
    for sid, metric, ts, value, late in conn.execute(LATEST_AS_OF, params):
        if sid in stations:
            stations[sid].latest[metric] = Reading(value, ts, late)
    for sid, rain_1h, rain_24h in conn.execute(RAIN_SUMS, params):
        if sid in stations:
            stations[sid].rain_1h, stations[sid].rain_24h = rain_1h or 0.0, rain_24h

    area_levels: dict[str, str] = {}
    area_messages: dict[str, list[str]] = {}
    for subject, subject_kind, _town, category, _hazard, level, history, message in conn.execute(
        WARNINGS_AS_OF, params
    ):
        level_then = _level_at(level, history, when)
        if subject_kind == "station":
            warned = by_code.get(subject)
            if warned is None:
                continue
            warned.warnings.append((level_then, message))
            if category == "flood":
                warned.level = _higher(warned.level, level_then)
            else:
                warned.device_warning = True
        elif category == "flood":
            area_levels[subject] = _higher(area_levels.get(subject), level_then)
            area_messages.setdefault(subject, []).append(message)

    storms = storms_at(conn.execute(STORM_FIXES, params).fetchall(), when)
    return Situation(
        when,
        drill_id,
        drill_name,
        _county_name(layers.get("county")),
        layers,
        list(stations.values()),
        area_levels,
        area_messages,
        storms,
    )


# --- drawing ------------------------------------------------------------------------------------
