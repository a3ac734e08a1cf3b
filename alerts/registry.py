"""What the rule engine judges against: the active stations with their thresholds, and storm tracks."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from alerts.rules import Station
from floodctl.domain.storms import StormFix
from floodctl.domain.thresholds import THRESHOLD_NAMES

STATIONS = f"""
SELECT s.id, s.code, s.kind, coalesce(s.town_code, ''), s.name, s.lon, s.lat,
       {", ".join(f"s.{t}" for t in THRESHOLD_NAMES)}
FROM stations s WHERE s.active
"""
# Storm tracks of live operations (the last ten days) and of running drills; fixes past a clock are its forecast.
STORMS = """
SELECT drill_id, extract(epoch FROM at)::float8, lat, lon, max_wind_ms, pressure_hpa, forecast FROM storm_fixes
WHERE drill_id = 0 AND at > now() - interval '10 days'
   OR drill_id IN (SELECT id FROM drills WHERE id <> 0 AND ended_at IS NULL)
ORDER BY drill_id, at, forecast
"""


@dataclass(frozen=True, slots=True)
class Placed:
    """A station as the rules see it, and where it is."""

    station: Station
    lon: float
    lat: float


def load_stations(conn: psycopg.Connection) -> dict[int, Placed]:
    """The active stations by id."""
    out = {}
    for row in conn.execute(STATIONS):
        sid, code, kind, town, name, lon, lat = row[:7]
        thresholds = dict(zip(THRESHOLD_NAMES, row[7:], strict=True))
        out[int(sid)] = Placed(Station(code=code, kind=kind, town=town, thresholds=thresholds, name=name), lon, lat)
    return out


def load_storms(conn: psycopg.Connection) -> dict[int, list[StormFix]]:
    """The storm fixes by drill (0: live operations), in time order."""
    storms: dict[int, list[StormFix]] = {}
    for drill, at, lat, lon, wind, pressure, forecast in conn.execute(STORMS):
        storms.setdefault(drill, []).append(
            StormFix(at=at, lat=lat, lon=lon, max_wind_ms=wind, pressure_hpa=pressure, forecast=forecast)
        )
    return storms
