"""The fault drill's reference: which warnings the stored readings imply, judged in memory without faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from alerts.lifecycle import ACTIVE, step
from alerts.registry import load_stations
from alerts.rules import DEFAULT_PATH, RuleSet, Station, evaluate, load_rules
from floodctl.domain.levels import highest

WarningKey = tuple[str, str]  # (rule id, subject: the station's code)


def reference_levels(dsn: str, drill_id: int, rules_path: Path | None = None) -> dict[WarningKey, str]:
    """What the stored readings imply, judged without faults: the county's rules and the warning lifecycle
    (pure code, in memory) at every reading of every station, in event-time order. Returns the highest
    level each (rule, station) reached."""
    rules = load_rules(rules_path or DEFAULT_PATH)
    with psycopg.connect(dsn) as conn:
        stations = _stations(conn, {k for r in rules.rules for k in r.kinds})
        series = _series(conn, drill_id)
    reached: dict[WarningKey, str] = {}
    for sid, metrics in series.items():
        station = stations.get(sid)
        if station is not None:
            _judge(rules, station, metrics, reached)
    return reached


def _stations(conn: psycopg.Connection, kinds: set[str]) -> dict[int, Station]:
    """The active stations of the kinds the rules judge, as the engine loads them (by station id)."""
    return {sid: p.station for sid, p in load_stations(conn).items() if p.station.kind in kinds}


def _series(conn: psycopg.Connection, drill_id: int) -> dict[int, dict[str, tuple[list[float], list[float]]]]:
    """The drill's stored readings: station id → metric → (times, values), in event-time order."""
    names: dict[int, str] = dict(conn.execute("SELECT id, name FROM metrics").fetchall())
    rows = conn.execute(
        "SELECT station_id, metric_id, extract(epoch FROM ts)::float8, value FROM observations "
        "WHERE drill_id = %s ORDER BY station_id, metric_id, ts",
        (drill_id,),
    ).fetchall()
    by_station: dict[int, dict[str, tuple[list[float], list[float]]]] = {}
    for sid, mid, ts, value in rows:
        times, values = by_station.setdefault(sid, {}).setdefault(names[mid], ([], []))
        times.append(ts)
        values.append(value)
    return by_station


def _judge(
    rules: RuleSet,
    station: Station,
    metrics: dict[str, tuple[list[float], list[float]]],
    reached: dict[WarningKey, str],
) -> None:
    """Step the station's warnings through every time it has a reading; note each active level reached."""
    series = {m: (np.asarray(t), np.asarray(v)) for m, (t, v) in metrics.items()}
    warnings: dict[str, Any] = {}
    for at in np.unique(np.concatenate([t for t, _ in series.values()])):
        for decision in evaluate(rules, station, series, float(at)):
            new, _ = step(warnings.get(decision.rule_id), decision, float(at), rules.rule(decision.rule_id))
            warnings[decision.rule_id] = new
            if new is not None and new.state == ACTIVE:
                key = (decision.rule_id, decision.station)
                reached[key] = highest([reached.get(key), new.level]) or new.level
