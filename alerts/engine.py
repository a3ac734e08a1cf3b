"""The rule engine: committed readings in, warnings and drafted (or auto-approved) orders out.

Ingest sends ``NOTIFY floodctl_obs`` in the transaction that commits a batch, naming each station's
drill and time range. The engine fetches just those rows, merges them into a per-station window
(numpy arrays, as long as the longest rule window), judges the station at event time with
``alerts.rules.evaluate``, advances each warning with ``alerts.lifecycle.step`` and writes the
warnings, their events and any order in one transaction. A sweep every ``SWEEP_S`` judges every
station at the current clock, so that silent stations go stale and quiet ones clear.

Clocks: live data is judged against the wall clock; a drill against its own newest reading (a replay
runs on storm time). Data older than ``late_after_s`` behind that clock is late: it is stored and it
may raise a warning as history, but it never drafts an order for a situation that is already over.

One engine runs at a time (a PostgreSQL advisory lock; a second one waits as a standby). The 叫应
timers (alerts.orders.callout_tick) run in this loop too; dispatch is alerts/dispatch.py.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from alerts import orders, warnings
from alerts.lifecycle import ACTIVE, LEVEL_RANK, Event, step
from alerts.rules import DEFAULT_PATH, TYPHOON_RULE_ID, Decision, RuleSet, Station, evaluate, load_rules
from alerts.templates import suggest_response_level
from alerts.typhoon import StormFix, typhoon_signal
from floodctl import db
from floodctl.settings import Settings

log = logging.getLogger("floodctl.alerts.engine")

LISTEN_CHANNEL = "floodctl_obs"
LOCK_KEY = 0x666C6F6F64  # "flood": one engine at a time
SWEEP_S = 30.0
SWEEP_CHUNK = 200        # stations judged per loop turn by the sweep, so fresh readings never wait long
TICK_S = 1.0
NEAR_COAST_KM = 5.0

STATIONS = """
SELECT s.id, s.code, s.kind, coalesce(s.town_code, ''), s.name, s.lon, s.lat,
       s.wrz, s.grz, s.fsltdz_meiyu, s.fsltdz_typhoon, s.dsflz, s.ckflz, s.dam_crest,
       s.tide_blue, s.tide_yellow, s.tide_orange, s.tide_red, s.seawall_crest
FROM stations s WHERE s.active
"""
THRESHOLD_NAMES = ("wrz", "grz", "fsltdz_meiyu", "fsltdz_typhoon", "dsflz", "ckflz", "dam_crest",
                   "tide_blue", "tide_yellow", "tide_orange", "tide_red", "seawall_crest")
METRICS = "SELECT id, name FROM metrics"
TOWNS = "SELECT code, geometry FROM towns WHERE geometry IS NOT NULL"
CATCHMENTS = "SELECT geojson FROM layers WHERE name = 'catchments'"
FETCH = """
SELECT o.station_id, o.metric_id, extract(epoch FROM o.ts)::float8, o.value
FROM observations o
JOIN unnest(%(sids)s::int[], %(los)s::float8[], %(his)s::float8[]) AS r(sid, lo, hi)
  ON o.station_id = r.sid AND o.ts >= to_timestamp(r.lo) AND o.ts <= to_timestamp(r.hi)
WHERE o.drill_id = %(drill)s AND o.metric_id = ANY(%(metrics)s)
ORDER BY o.station_id, o.metric_id, o.ts
"""
RECENT = """
SELECT l.drill_id, l.station_id, max(extract(epoch FROM l.ts))::float8
FROM latest_values l
LEFT JOIN drills d ON d.id = l.drill_id
WHERE (l.drill_id = 0 AND l.ts > now() - make_interval(secs => %s))
   OR (l.drill_id <> 0 AND d.ended_at IS NULL)
GROUP BY l.drill_id, l.station_id
"""
STORMS = """
SELECT drill_id, extract(epoch FROM at)::float8, lat, lon, max_wind_ms, pressure_hpa, forecast FROM storm_fixes
WHERE drill_id = 0 AND at > now() - interval '10 days'
   OR drill_id IN (SELECT id FROM drills WHERE id <> 0 AND ended_at IS NULL)
ORDER BY drill_id, at, forecast
"""
AREA_STEP_S = 600.0      # the typhoon signal is judged again when a storm's clock has moved this far
COUNTY = "county"
FLOOD_ACTIVE = "SELECT hazard, level FROM warnings WHERE drill_id = %s AND state = 'active' AND category = 'flood' " \
               "AND NOT late AND hazard IS NOT NULL"


@dataclass(slots=True)
class Window:
    """Recent readings of one station, per metric, ascending in time."""

    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    newest: float = -np.inf

    def merge(self, metric: str, times: np.ndarray, values: np.ndarray, horizon_s: float) -> None:
        old = self.series.get(metric)
        if old is not None and len(old[0]):
            times = np.concatenate((old[0], times))
            values = np.concatenate((old[1], values))
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        keep = np.ones(len(times), dtype=bool)
        keep[1:] = times[1:] != times[:-1]            # the first stored value of a time wins (as in the table)
        times, values = times[keep], values[keep]
        if len(times):
            self.newest = max(self.newest, float(times[-1]))
            cut = int(np.searchsorted(times, self.newest - horizon_s, side="left"))
            times, values = times[cut:], values[cut:]
        self.series[metric] = (times, values)


class Geography:
    """Which towns a station's situation concerns: its own town, the towns of its catchment, and for
    tide stations the towns within NEAR_COAST_KM of it."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.codes: list[str] = []
        shapes = []
        for code, geometry in conn.execute(TOWNS):
            self.codes.append(code)
            shapes.append(shape(geometry))
        self.town_shapes = shapes
        self.tree = STRtree(shapes) if shapes else None
        row = conn.execute(CATCHMENTS).fetchone()
        self.catchments = [shape(f["geometry"]) for f in (row[0].get("features", []) if row else [])
                           if f.get("geometry")]
        self._cache: dict[str, list[str]] = {}

    def affected(self, station: Station, lon: float, lat: float) -> list[str]:
        if station.code in self._cache:
            return self._cache[station.code]
        towns = [station.town] if station.town else []
        if self.tree is not None:
            point = Point(lon, lat)
            areas = [c for c in self.catchments if c.contains(point)]
            if station.kind == "tide":
                areas.append(point.buffer(NEAR_COAST_KM / 111.0))
            for area in areas:
                for index in self.tree.query(area, predicate="intersects"):
                    code = self.codes[int(index)]
                    if code not in towns and self.town_shapes[int(index)].intersection(area).area > 1e-6:
                        towns.append(code)
        self._cache[station.code] = towns
        return towns


@dataclass(frozen=True, slots=True)
class Subject:
    """What a decision is about, as a warning and an order need it."""

    kind: str                               # station | area
    town: str | None
    name: str
    towns: Callable[[], list[str]]          # the towns an order about it goes to (computed when needed)


class Engine:
    def __init__(self, settings: Settings, dsn: str, rules: RuleSet | None = None) -> None:
        self.settings = settings
        self.dsn = dsn
        self.rules = rules or load_rules(settings.rules_path or DEFAULT_PATH)
        self.conn = db.connect(dsn, autocommit=True, wait_s=db.WAIT_FOR_DB_S)
        self.listen = db.connect(dsn, autocommit=True, wait_s=db.WAIT_FOR_DB_S)
        self.metric_names = dict(self.conn.execute(METRICS).fetchall())
        self.metric_ids = {name: mid for mid, name in self.metric_names.items()}
        full = {r.metric for r in self.rules.rules if r.metric}
        self.full_metrics = {self.metric_ids[m] for m in full if m in self.metric_ids}
        windows = [r.window_s or 0 for r in self.rules.rules] + [g.window_s or 0 for r in self.rules.rules
                                                                   for g in r.grades]
        windows += [g.value or 0 for r in self.rules.rules if r.check == "stale" for g in r.grades]
        self.horizon_s = float(max(windows, default=0)) + 3600.0
        self.kinds = {k for r in self.rules.rules for k in r.kinds}
        self.stations: dict[int, tuple[Station, float, float]] = {}
        self.codes: dict[str, int] = {}
        self.windows: dict[tuple[int, int], Window] = {}
        self.clocks: dict[int, float] = {}
        self.tracked: dict[tuple[int, str, str], warnings.Tracked] = {}
        self.geo: Geography | None = None
        self.storms: dict[int, list[StormFix]] = {}
        self.area_judged: dict[int, float] = {}
        self.seen_drills: set[int] = set()
        self.reloaded_at = 0.0          # monotonic time of the last registry reload

    # --- setup ------------------------------------------------------------------------------------

    def load(self) -> None:
        self.stations.clear()
        for row in self.conn.execute(STATIONS):
            sid, code, kind, town, name, lon, lat = row[:7]
            thresholds = dict(zip(THRESHOLD_NAMES, row[7:], strict=True))
            self.stations[sid] = (Station(code=code, kind=kind, town=town, thresholds=thresholds, name=name), lon, lat)
            self.codes[code] = sid
        self.geo = Geography(self.conn)
        self.tracked = warnings.load_open(self.conn)
        self.load_storms()

    def load_storms(self) -> None:
        """Storm tracks of live operations and of running drills (fixes past a clock are its forecast)."""
        self.storms = {}
        for drill, at, lat, lon, wind, pressure, forecast in self.conn.execute(STORMS):
            self.storms.setdefault(drill, []).append(StormFix(at=at, lat=lat, lon=lon, max_wind_ms=wind,
                                                              pressure_hpa=pressure, forecast=forecast))

    def catch_up(self) -> int:
        """Judge every station with recent data once (after a start or a restart)."""
        rows = self.conn.execute(RECENT, (self.horizon_s,)).fetchall()
        dirty: dict[tuple[int, int], tuple[float, float]] = {}
        for drill, sid, newest in rows:
            dirty[(drill, sid)] = (newest - self.horizon_s, newest)
        return self.process(dirty)

    # --- the work ---------------------------------------------------------------------------------

    def clock(self, drill: int) -> float:
        return time.time() if drill == 0 else self.clocks.get(drill, -np.inf)

    def fetch(self, dirty: dict[tuple[int, int], tuple[float, float]]) -> None:
        by_drill: dict[int, list[tuple[int, float, float]]] = {}
        for (drill, sid), (lo, hi) in dirty.items():
            window = self.windows.get((drill, sid))
            if window is None:                      # first sight: the whole window
                lo = min(lo, hi - self.horizon_s)
            by_drill.setdefault(drill, []).append((sid, lo, hi))
        for drill, items in by_drill.items():
            sids, los, his = zip(*items, strict=True)
            rows = self.conn.execute(FETCH, dict(sids=list(sids), los=list(los), his=list(his), drill=drill,
                                                 metrics=list(self.metric_names))).fetchall()
            for sid in sids:
                self.windows.setdefault((drill, sid), Window())
            if not rows:
                continue
            data = np.array([(r[0], r[1], r[2], r[3]) for r in rows], dtype=float)
            keys = data[:, 0] * 100 + data[:, 1]
            bounds = np.flatnonzero(np.diff(keys)) + 1
            for chunk in np.split(data, bounds):
                sid, mid = int(chunk[0, 0]), int(chunk[0, 1])
                times, values = chunk[:, 2], chunk[:, 3]
                if mid not in self.full_metrics:     # only "a sign of life" matters: keep the newest point
                    times, values = times[-1:], values[-1:]
                self.windows[(drill, sid)].merge(self.metric_names[mid], times, values, self.horizon_s)
            if drill:
                self.clocks[drill] = max(self.clocks.get(drill, -np.inf), float(data[:, 2].max()))

    def process(self, dirty: dict[tuple[int, int], tuple[float, float]]) -> int:
        """Fetch, judge and persist the stations named; returns the number judged."""
        dirty = {k: v for k, v in dirty.items() if k[1] in self.stations and self.stations[k[1]][0].kind in self.kinds}
        if not dirty:
            return 0
        self.fetch(dirty)
        judged = [(drill, sid, self.windows[(drill, sid)].newest) for drill, sid in dirty
                  if np.isfinite(self.windows[(drill, sid)].newest)]
        self.judge(judged)
        return len(judged)

    def sweep(self, keys: list[tuple[int, int]] | None = None) -> int:
        """Judge stations at their drill's current clock (all of them, or ``keys``)."""
        judged = [(drill, sid, self.clock(drill)) for (drill, sid) in (self.windows if keys is None else keys)
                  if (drill, sid) in self.windows]
        judged = [j for j in judged if np.isfinite(j[2])]
        self.judge(judged)
        return len(judged)

    def judge(self, items: Iterable[tuple[int, int, float]]) -> None:
        drafted: list[tuple[int, bool]] = []
        with self.conn.transaction(), self.conn.cursor() as cur:
            for drill, sid, at in items:
                station, lon, lat = self.stations[sid]
                window = self.windows[(drill, sid)]
                late = at < self.clock(drill) - self.settings.late_after_s
                subject = Subject("station", station.town or None, station.name or station.code,
                                  lambda station=station, lon=lon, lat=lat: self._affected(station, lon, lat))
                for decision in evaluate(self.rules, station, window.series, at):
                    drafted += self._advance(cur, drill, decision, at, late, subject)
            drafted += self._judge_areas(cur)
            for order_id, auto in drafted:
                if auto:
                    orders.approve(self.conn, order_id, actor="system:auto-approve", settings=self.settings,
                                   auto=True)

    def _affected(self, station: Station, lon: float, lat: float) -> list[str]:
        assert self.geo is not None
        return self.geo.affected(station, lon, lat)

    def _judge_areas(self, cur: psycopg.Cursor) -> list[tuple[int, bool]]:
        """The county-wide typhoon signal, judged again whenever a storm's clock moved AREA_STEP_S."""
        typhoon = self.rules.typhoon
        if typhoon is None:
            return []
        drafted: list[tuple[int, bool]] = []
        subject = Subject("area", None, "全县", lambda: list(self.geo.codes) if self.geo else [])
        for drill, fixes in self.storms.items():
            now = self.clock(drill)
            last = self.area_judged.get(drill)
            if not np.isfinite(now) or (last is not None and abs(now - last) < AREA_STEP_S):
                continue
            self.area_judged[drill] = now
            signal = typhoon_signal(fixes, typhoon.lat, typhoon.lon, now)
            decision = Decision(rule_id=TYPHOON_RULE_ID, station=COUNTY, category="flood", level=signal.level,
                                hold_level=signal.level, condition=signal.level is not None,
                                value=signal.peak_mean_ms, threshold=signal.closest_km, at=now,
                                message_zh=signal.message_zh, message_en=signal.message_en)
            drafted += self._advance(cur, drill, decision, now, False, subject)
        return drafted

    def _advance(self, cur: psycopg.Cursor, drill: int, decision: Decision, at: float, late: bool,
                 subject: Subject) -> list[tuple[int, bool]]:
        """One decision through the warning's lifecycle; persisted; an order drafted when it calls for one."""
        key = (drill, decision.rule_id, decision.station)
        tracked = self.tracked.get(key)
        rule = self.rules.rule(decision.rule_id)
        new, events = step(tracked.warning if tracked else None, decision, at, rule)
        if new is None or (tracked is not None and new is tracked.warning):
            return []
        raised = any(e.kind == "raised" for e in events)
        fresh = False
        if tracked is not None and tracked.late and not late and not raised and new.state == ACTIVE:
            # Raised from backfill, now confirmed by current data: an ongoing situation after all.
            tracked.late, fresh = False, True
            cur.execute("UPDATE warnings SET late = false WHERE id = %s", (tracked.id,))
        if tracked is None or raised:
            tracked = warnings.Tracked(0, drill, subject.town, rule.hazard, late, new)
            tracked.id = warnings.insert(cur, tracked, subject.kind, decision.message_zh, decision.message_en)
            self.tracked[key] = tracked
        else:
            tracked.warning = new
            warnings.update(cur, tracked, decision.message_zh, decision.message_en,
                            escalated=any(e.kind == "escalated" for e in events))
        warnings.record_events(cur, tracked.id, events)
        order = self._order_for(events, tracked, rule, subject, decision.message_zh, late, fresh)
        return [order] if order is not None else []

    def _order_for(self, events: list[Event], tracked: warnings.Tracked, rule: Any, subject: Subject,
                   observed: str, late: bool, fresh: bool) -> tuple[int, bool] | None:
        if late or tracked.late or rule.order_from is None or rule.category != "flood":
            return None
        w = tracked.warning
        if w.state != ACTIVE or LEVEL_RANK[w.level] < LEVEL_RANK[rule.order_from]:
            return None
        if not fresh and not any(e.kind in ("raised", "escalated") for e in events):
            return None
        towns = subject.towns()
        if not towns:
            log.warning("rule %s at %s: no town to send an order to", rule.id, w.key[1])
            return None
        active = [tuple(r) for r in self.conn.execute(FLOOD_ACTIVE, (tracked.drill_id,)).fetchall()]
        suggested = suggest_response_level(active)
        request = orders.OrderRequest(
            hazard=rule.hazard or "general", towns=towns, level=w.level, drill_id=tracked.drill_id,
            warning_id=tracked.id, subject=subject.name if subject.kind == "station" else None,
            observed=observed if subject.kind == "station" else None,
            response_level=suggested if suggested != "none" else None)
        actor = f"rule:{rule.id}"
        auto = rule.auto_approve_from is not None and LEVEL_RANK[w.level] >= LEVEL_RANK[rule.auto_approve_from]
        if not auto and orders.merge_into_draft(self.conn, request, actor=actor, settings=self.settings):
            return None          # added to the draft awaiting a commander
        order_id = orders.draft(self.conn, request, actor=actor, settings=self.settings, source="rule")
        if order_id is None:
            return None
        log.info("order %s drafted by rule %s for %s (%s)%s", order_id, rule.id, w.key[1], w.level,
                 ", auto-approved" if auto else "")
        return order_id, auto

    def tick(self) -> None:
        with self.conn.transaction():
            result = orders.callout_tick(self.conn, self.settings)
        if result.resent or result.escalated or result.unreached:
            log.info("叫应: %d resent, %d escalated, %d unreached", result.resent, result.escalated, result.unreached)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.listen.execute(f"LISTEN {LISTEN_CHANNEL}")
        while not stop.is_set():
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if got and got[0]:
                break
            log.info("another rule engine holds the lock; standing by")
            stop.wait(5.0)
        if stop.is_set():
            return
        self.load()
        judged = self.catch_up()
        log.info("rule engine ready: %d rules, %d stations, %d judged on start", len(self.rules.rules),
                 len(self.stations), judged)
        next_sweep = time.monotonic() + SWEEP_S
        next_tick = time.monotonic()
        sweeping: list[tuple[int, int]] = []
        while not stop.is_set():
            dirty: dict[tuple[int, int], tuple[float, float]] = {}
            timeout = 0.0 if sweeping else max(0.0, min(next_sweep, next_tick) - time.monotonic())
            for note in self.listen.notifies(timeout=min(timeout, 0.5), stop_after=1):
                self._parse(note.payload, dirty)
            if dirty:   # more may be queued behind it: take what has arrived, without waiting
                for note in self.listen.notifies(timeout=0.0):
                    self._parse(note.payload, dirty)
                self.process(dirty)
            now = time.monotonic()
            if now >= next_tick:
                self.tick()
                next_tick = now + TICK_S
            if now >= next_sweep:
                sweeping = list(self.windows)
                next_sweep = now + SWEEP_S
            if sweeping:
                self.sweep(sweeping[:SWEEP_CHUNK])
                del sweeping[:SWEEP_CHUNK]

    def _parse(self, payload: str, dirty: dict[tuple[int, int], tuple[float, float]]) -> None:
        for item in payload.split():
            try:
                drill_s, sid_s, lo_s, hi_s = item.split(":")
                key, lo, hi = (int(drill_s), int(sid_s)), float(lo_s), float(hi_s)
            except ValueError:
                log.warning("ignoring a malformed notification item %r", item)
                continue
            if key[1] not in self.stations:
                self._reload_station(key[1])
            if key[0] not in self.seen_drills:       # a drill started since: its storm track
                self.seen_drills.add(key[0])
                self.load_storms()
            old = dirty.get(key)
            dirty[key] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    def _reload_station(self, sid: int) -> None:
        """A station registered since start: reload the registry (at most every few seconds)."""
        now = time.monotonic()
        if now - self.reloaded_at < 5.0:
            return
        self.reloaded_at = now
        self.load()

    def close(self) -> None:
        for conn in (self.conn, self.listen):
            with contextlib.suppress(psycopg.Error):
                conn.close()


def run_engine(settings: Settings, dsn: str, stop: threading.Event) -> None:
    """Run the rule engine until ``stop`` is set; reconnects after a database outage."""
    while not stop.is_set():
        engine: Engine | None = None
        try:
            engine = Engine(settings, dsn)
            engine.run(stop)
        except psycopg.OperationalError as exc:
            log.warning("rule engine lost the database (%s); retrying in 2 s", str(exc).strip().splitlines()[0])
            stop.wait(2.0)
        finally:
            if engine is not None:
                engine.close()
