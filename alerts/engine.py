"""The rule engine: committed readings in, warnings and drafted (or auto-approved) orders out.

Ingest notifies (ingest/notices.py) in the transaction that commits a batch, naming each station's
drill and time range. The engine fetches just those rows, merges them into a per-station window
(numpy arrays, as long as the longest rule window), judges the station at event time with
``alerts.rules.evaluate``, advances each warning with ``alerts.lifecycle.step`` and writes the
warnings, their events and any order in one transaction. A sweep every ``SWEEP_S`` judges every
station at the current clock, so that silent stations go stale and quiet ones clear.

Clocks: live data is judged against the wall clock; a drill against its own newest reading (a replay
runs on storm time). Data older than ``late_after_s`` behind that clock is late: it may raise a warning
as history, never an order. Readings older than what their station was judged at are judged at their
own time after the newer ones (``judge_late``: an active warning escalates, a past stretch is 补录).

One engine runs at a time, the lease's holder (alerts/lease.py), which fences every write transaction.

**Catch-up**: each judge transaction records per station the event time of the newest reading it
judged (``engine_judged``). On becoming active (a start, a takeover, a reconnect after a database
outage of any length) the engine judges every reading newer than that at its own event time, in
order, before listening for new ones. ``run_engine`` reconnects with back-off while the database is
away, logging once per outage. The 叫应 timers (alerts/callout.py) run in this loop too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable

import numpy as np
import psycopg

from alerts import callout, drafting, orders, registry, warnings
from alerts.geography import Geography, Subject
from alerts.lease import Lease, LeaseLost, engine_holder, session_name
from alerts.lifecycle import ACTIVE, Event, replay, step, step_late
from alerts.rules import DEFAULT_PATH, TYPHOON_RULE_ID, Decision, RuleSet, Station, evaluate, load_rules
from alerts.typhoon import typhoon_signal
from alerts.window import Window, times_after
from floodctl.core import db
from floodctl.core.errors import ServiceUnavailable
from floodctl.core.settings import Settings
from floodctl.domain.storms import StormFix
from ingest import notices

log = logging.getLogger("floodctl.alerts.engine")

JUDGE_CHUNK = 500  # judgments per transaction: a long catch-up never holds one transaction (or the lease) long
RECONNECT_S = 0.5  # first retry after the database went away; doubles up to MAX_RECONNECT_S
MAX_RECONNECT_S = 5.0
SWEEP_S = 30.0
SWEEP_CHUNK = 200  # stations judged per loop turn by the sweep, so fresh readings never wait long
TICK_S = 1.0
# On catching up, readings up to this far (event time) before what a station was judged at are judged late:
# some may have been committed out of order while no engine was judging (two workers, a redelivery).
LATE_LOOKBACK_S = 3600.0

METRICS = "SELECT id, name FROM metrics"
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
AREA_STEP_S = 600.0  # the typhoon signal is judged again when a storm's clock has moved this far
COUNTY = "county"

JUDGED = """
SELECT drill_id, station_id, extract(epoch FROM through)::float8 FROM engine_judged
 WHERE drill_id = ANY(%s)
"""
RECORD_JUDGED = """
INSERT INTO engine_judged AS j (drill_id, station_id, through)
SELECT drill, sid, to_timestamp(at) FROM unnest(%s::int[], %s::int[], %s::float8[]) AS r(drill, sid, at)
ON CONFLICT (drill_id, station_id) DO UPDATE SET through = greatest(j.through, excluded.through)
"""


Dirty = dict[tuple[int, int], tuple[float, float]]  # (drill, station) -> (first, last) reading time to fetch


class Engine:
    def __init__(
        self,
        settings: Settings,
        dsn: str,
        rules: RuleSet | None = None,
        *,
        holder: str | None = None,
        wait_s: float = db.WAIT_FOR_DB_S,
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.rules = rules or load_rules(settings.rules_path or DEFAULT_PATH)
        self.holder = holder or engine_holder()
        self.lease_s = float(settings.engine_lease_s)
        self.listen: psycopg.Connection | None = None  # opened (and LISTENing) only while active
        self.conn = db.connect(
            dsn, autocommit=True, wait_s=wait_s, application_name=session_name(self.holder), **db.KEEPALIVE
        )
        # A transaction left open by a frozen engine must not pin the lease row (nor anything else) for long.
        self.conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)", (f"{int(self.lease_s * 1000)}ms",)
        )
        self.lease = Lease(self.conn, self.holder, self.lease_s)
        self.metric_names: dict[int, str] = dict(self.conn.execute(METRICS).fetchall())
        self.metric_ids = {name: mid for mid, name in self.metric_names.items()}
        full = {r.metric for r in self.rules.rules if r.metric}
        self.full_metrics = {self.metric_ids[m] for m in full if m in self.metric_ids}
        windows = [float(r.window_s or 0) for r in self.rules.rules]
        windows += [float(g.window_s or 0) for r in self.rules.rules for g in r.grades]
        windows += [g.value or 0 for r in self.rules.rules if r.check == "stale" for g in r.grades]
        self.horizon_s = float(max(windows, default=0)) + 3600.0
        self.kinds = {k for r in self.rules.rules for k in r.kinds}
        self.stations: dict[int, tuple[Station, float, float]] = {}
        self.codes: dict[str, int] = {}
        self.windows: dict[tuple[int, int], Window] = {}
        self.judged_through: dict[tuple[int, int], float] = {}  # event time of the newest reading judged
        self.clocks: dict[int, float] = {}
        self.tracked: dict[tuple[int, str, str], warnings.Tracked] = {}
        self.geo: Geography | None = None
        self.storms: dict[int, list[StormFix]] = {}
        self.area_judged: dict[int, float] = {}
        self.seen_drills: set[int] = set()
        self.reloaded_at = 0.0  # monotonic time of the last registry reload

    # --- setup ------------------------------------------------------------------------------------

    def load(self) -> None:
        self.stations = {sid: (p.station, p.lon, p.lat) for sid, p in registry.load_stations(self.conn).items()}
        self.codes.update({station.code: sid for sid, (station, _, _) in self.stations.items()})
        self.geo = Geography(self.conn)
        self.tracked = warnings.load_open(self.conn)
        self.load_storms()

    def load_storms(self) -> None:
        """Storm tracks of live operations and of running drills (fixes past a clock are its forecast)."""
        self.storms = registry.load_storms(self.conn)

    def catch_up(self) -> int:
        """On becoming active: judge every station with recent data. A station judged before (``engine_judged``)
        is judged at each reading newer than its last judged one, in event-time order (what arrived while no
        engine was judging: an outage, a takeover). A live station never judged, at each reading since the
        lease was last renewed (it first reported while no engine was judging); otherwise (a first start, a
        drill) at its newest reading. The last LATE_LOOKBACK_S before that are judged late again."""
        rows = self.conn.execute(RECENT, (self.horizon_s,)).fetchall()
        drills = sorted({int(r[0]) for r in rows})
        through = {(int(d), int(s)): float(t) for d, s, t in self.conn.execute(JUDGED, (drills,)).fetchall()}
        self.judged_through = dict(through)  # the database's record wins over this process's memory
        if self.lease.previous_until is not None:
            for drill, sid, _ in rows:
                if drill == 0:
                    through.setdefault((drill, sid), self.lease.previous_until)
        dirty: dict[tuple[int, int], tuple[float, float]] = {}
        for drill, sid, newest in rows:
            since = through.get((drill, sid), newest)
            dirty[(drill, sid)] = (min(newest, since) - self.horizon_s, newest)
        dirty = self._judgeable(dirty)
        if not dirty:
            return 0
        self.fetch(dirty)
        self.lease.renew()
        items: list[tuple[int, int, float]] = []
        late: dict[tuple[int, int], list[float]] = {}
        for key in dirty:
            window = self.windows[key]
            if not np.isfinite(window.newest):
                continue
            since = through.get(key)
            times = times_after(window, since) if since is not None else []
            items += [(key[0], key[1], t) for t in times] or [(key[0], key[1], window.newest)]
            if since is not None:  # committed out of order while no engine was judging
                late[key] = [t for t in times_after(window, since - LATE_LOOKBACK_S) if t < since]
        self.judge(items, record=True)
        self.judge_late(late)
        return len(items)

    # --- the work ---------------------------------------------------------------------------------

    def clock(self, drill: int) -> float:
        return time.time() if drill == 0 else self.clocks.get(drill, -np.inf)

    def fetch(self, dirty: dict[tuple[int, int], tuple[float, float]]) -> None:
        by_drill: dict[int, list[tuple[int, float, float]]] = {}
        for (drill, sid), (lo, hi) in dirty.items():
            window = self.windows.get((drill, sid))
            if window is None:  # first sight: the whole window
                lo = min(lo, hi - self.horizon_s)
            by_drill.setdefault(drill, []).append((sid, lo, hi))
        for drill, items in by_drill.items():
            sids, los, his = zip(*items, strict=True)
            rows = self.conn.execute(
                FETCH, dict(sids=list(sids), los=list(los), his=list(his), drill=drill, metrics=list(self.metric_names))
            ).fetchall()
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
                if mid not in self.full_metrics:  # only "a sign of life" matters: keep the newest point
                    times, values = times[-1:], values[-1:]
                self.windows[(drill, sid)].merge(self.metric_names[mid], times, values, self.horizon_s)
            if drill:
                self.clocks[drill] = max(self.clocks.get(drill, -np.inf), float(data[:, 2].max()))

    def _judgeable(self, dirty: Dirty) -> Dirty:
        return {k: v for k, v in dirty.items() if k[1] in self.stations and self.stations[k[1]][0].kind in self.kinds}

    def process(self, dirty: dict[tuple[int, int], tuple[float, float]]) -> int:
        """Fetch, judge and persist the stations named; returns the number of judgments.

        A station is judged at each of its new readings in event-time order, not only at its newest: when
        several readings of a station arrive in one batch (a busy engine, a store-and-forward burst), a
        peak between them still raises its warning. Readings older than the station's last judged one (out
        of order: two ingest workers, a redelivery, a backfill) are judged at their own event times after
        the newer ones (``judge_late``)."""
        dirty = self._judgeable(dirty)
        if not dirty:
            return 0
        self.fetch(dirty)
        judged: list[tuple[int, int, float]] = []
        late: dict[tuple[int, int], list[float]] = {}
        for key, (lo, hi) in dirty.items():
            window = self.windows[key]
            if not np.isfinite(window.newest):
                continue
            through = self.judged_through.get(key, -np.inf)
            since = max(lo - 1e-6, through)
            times = [t for t in times_after(window, since) if t <= hi]
            judged += [(key[0], key[1], t) for t in times] or [(key[0], key[1], window.newest)]
            if lo < through:  # every judged time from the oldest new reading on sees data it had not seen
                late[key] = [t for t in times_after(window, lo - 1e-6) if t < through]
        self.judge(judged, record=True)
        self.judge_late(late)
        return len(judged) + sum(map(len, late.values()))

    def sweep(self, keys: list[tuple[int, int]] | None = None) -> int:
        """Judge stations at their drill's current clock (all of them, or ``keys``)."""
        judged = [
            (drill, sid, self.clock(drill))
            for (drill, sid) in (self.windows if keys is None else keys)
            if (drill, sid) in self.windows
        ]
        judged = [j for j in judged if np.isfinite(j[2])]
        self.judge(judged)
        return len(judged)

    def judge(self, items: Iterable[tuple[int, int, float]], *, record: bool = False) -> None:
        """Judge (drill, station, at) items, JUDGE_CHUNK per fenced transaction. ``record``: the times are
        readings' event times, remembered per station in ``engine_judged`` (a sweep's clock times are not)."""
        items = list(items)
        for start in range(0, max(len(items), 1), JUDGE_CHUNK):
            self._judge(items[start : start + JUDGE_CHUNK], record)

    def _judge(self, items: list[tuple[int, int, float]], record: bool) -> None:
        drafted: list[tuple[int, bool]] = []
        with self.conn.transaction(), self.conn.cursor() as cur:
            self.lease.fence(cur)
            for drill, sid, at in items:
                station, lon, lat = self.stations[sid]
                window = self.windows[(drill, sid)]
                late = at < self.clock(drill) - self.settings.late_after_s
                subject = self._subject(station, lon, lat)
                for decision in evaluate(self.rules, station, window.series, at):
                    drafted += self._advance(cur, drill, decision, at, late, subject)
            drafted += self._judge_areas(cur)
            if record and items:
                newest: dict[tuple[int, int], float] = {}
                for drill, sid, at in items:
                    newest[(drill, sid)] = max(at, newest.get((drill, sid), -np.inf))
                keys = list(newest)
                cur.execute(RECORD_JUDGED, ([k[0] for k in keys], [k[1] for k in keys], [newest[k] for k in keys]))
                for key, at in newest.items():
                    self.judged_through[key] = max(at, self.judged_through.get(key, -np.inf))
            self._approve(drafted)

    def _approve(self, drafted: list[tuple[int, bool]]) -> None:
        for order_id, auto in drafted:
            if auto:
                orders.approve(self.conn, order_id, actor="system:auto-approve", settings=self.settings, auto=True)

    def _subject(self, station: Station, lon: float, lat: float) -> Subject:
        return Subject(
            "station", station.town or None, station.name or station.code, lambda: self._affected(station, lon, lat)
        )

    def judge_late(self, late: dict[tuple[int, int], list[float]]) -> None:
        """Judge stations again at earlier event times (``{(drill, station): times}``) whose data arrived after
        newer readings had been judged. Within an active warning's life a higher level escalates it (the
        situation is still on: its order follows as usual); a stretch no warning covers at the level the data
        implies is recorded as a past warning (late, cleared by the stretch's end: 补录) and drafts no order."""
        keys = [k for k, times in late.items() if times]
        while keys:
            chunk: list[tuple[int, int]] = []
            budget = JUDGE_CHUNK
            while keys and (budget > 0 or not chunk):
                chunk.append(keys.pop())
                budget -= len(late[chunk[-1]])
            drafted: list[tuple[int, bool]] = []
            with self.conn.transaction(), self.conn.cursor() as cur:
                self.lease.fence(cur)
                for drill, sid in chunk:
                    station, lon, lat = self.stations[sid]
                    series = self.windows[(drill, sid)].series
                    by_rule: dict[str, list[tuple[float, Decision]]] = {}
                    for at in late[(drill, sid)]:
                        for decision in evaluate(self.rules, station, series, at):
                            by_rule.setdefault(decision.rule_id, []).append((at, decision))
                    for decisions in by_rule.values():
                        drafted += self._advance_late(cur, drill, decisions, self._subject(station, lon, lat))
                self._approve(drafted)

    def _advance_late(
        self, cur: psycopg.Cursor, drill: int, decisions: list[tuple[float, Decision]], subject: Subject
    ) -> list[tuple[int, bool]]:
        first = decisions[0][1]
        key = (drill, first.rule_id, first.station)
        tracked = self.tracked.get(key)
        rule = self.rules.rule(first.rule_id)
        drafted: list[tuple[int, bool]] = []
        if tracked is not None and tracked.warning.state == ACTIVE:
            since = tracked.warning.raised_at - rule.clear_after_s  # the same situation, judged late
            ongoing = [(at, d) for at, d in decisions if at >= since]
            decisions = [(at, d) for at, d in decisions if at < since]
            events: list[Event] = []
            for at, decision in ongoing:
                tracked.warning, escalated = step_late(tracked.warning, decision, at)
                events += escalated
            if events:
                warnings.update(
                    cur, tracked, events[-1].decision.message_zh, events[-1].decision.message_en, escalated=True
                )
                warnings.record_events(cur, tracked.id, events)
                late = events[-1].at < self.clock(drill) - self.settings.late_after_s
                order = drafting.order_for(
                    self.conn,
                    self.settings,
                    events,
                    tracked,
                    rule,
                    subject,
                    events[-1].decision.message_zh,
                    late,
                    False,
                )
                drafted += [order] if order is not None else []
        if not decisions:
            return drafted
        for past, events in replay(decisions, rule, decisions[-1][0]):
            past_warning = warnings.Tracked(0, drill, subject.town, rule.hazard, True, past)
            if warnings.record_past(cur, past_warning, subject.kind, events):
                log.info("late data: past warning %s %s %s recorded (补录)", rule.id, first.station, past.level)
        return drafted

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
            decision = Decision(
                rule_id=TYPHOON_RULE_ID,
                station=COUNTY,
                category="flood",
                level=signal.level,
                hold_level=signal.level,
                condition=signal.level is not None,
                value=signal.peak_mean_ms,
                threshold=signal.closest_km,
                at=now,
                message_zh=signal.message_zh,
                message_en=signal.message_en,
            )
            drafted += self._advance(cur, drill, decision, now, False, subject)
        return drafted

    def _advance(
        self, cur: psycopg.Cursor, drill: int, decision: Decision, at: float, late: bool, subject: Subject
    ) -> list[tuple[int, bool]]:
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
            warnings.update(
                cur,
                tracked,
                decision.message_zh,
                decision.message_en,
                escalated=any(e.kind == "escalated" for e in events),
            )
        warnings.record_events(cur, tracked.id, events)
        order = drafting.order_for(
            self.conn, self.settings, events, tracked, rule, subject, decision.message_zh, late, fresh
        )
        return [order] if order is not None else []

    def tick(self) -> None:
        with self.conn.transaction():
            self.lease.fence(self.conn)
            result = callout.callout_tick(self.conn, self.settings)
        if result.resent or result.escalated or result.unreached:
            log.info("叫应: %d resent, %d escalated, %d unreached", result.resent, result.escalated, result.unreached)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        if not self.lease.wait(stop):
            return
        log.info("rule engine %s active (lease epoch %d)", self.holder, self.lease.epoch)
        self.listen = db.connect(self.dsn, autocommit=True, application_name=session_name(self.holder), **db.KEEPALIVE)
        self.listen.execute(f"LISTEN {notices.CHANNEL}")  # before the catch-up: nothing falls in between
        self.load()
        self.lease.renew()
        judged = self.catch_up()
        log.info(
            "rule engine ready: %d rules, %d stations, %d judgments on catching up",
            len(self.rules.rules),
            len(self.stations),
            judged,
        )
        next_sweep = time.monotonic() + SWEEP_S
        next_tick = time.monotonic()
        sweeping: list[tuple[int, int]] = []
        while not stop.is_set():
            dirty: dict[tuple[int, int], tuple[float, float]] = {}
            timeout = 0.0 if sweeping else max(0.0, min(next_sweep, next_tick) - time.monotonic())
            listen = self.listen
            assert listen is not None
            for note in listen.notifies(timeout=min(timeout, 0.5), stop_after=1):
                self._parse(note.payload, dirty)
            if dirty:  # more may be queued behind it: take what has arrived, without waiting
                for note in listen.notifies(timeout=0.0):
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
        self.lease.release()

    def _parse(self, payload: str, dirty: dict[tuple[int, int], tuple[float, float]]) -> None:
        try:
            ranges = notices.decode(payload)
        except ValueError as exc:
            log.warning("ignoring a notification: %s", exc)
            return
        for r in ranges:
            key = (r.drill_id, r.station_id)
            if key[1] not in self.stations:
                self._reload_station(key[1])
            if key[0] not in self.seen_drills:  # a drill started since: its storm track
                self.seen_drills.add(key[0])
                self.load_storms()
            old = dirty.get(key)
            dirty[key] = (r.first, r.last) if old is None else (min(old[0], r.first), max(old[1], r.last))

    def _reload_station(self, sid: int) -> None:
        """A station registered since start: reload the registry (at most every few seconds)."""
        now = time.monotonic()
        if now - self.reloaded_at < 5.0:
            return
        self.reloaded_at = now
        self.load()

    def close(self) -> None:
        for conn in (self.conn, self.listen):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()


# A lost or refused connection, a server shutting down, a session ended by the server: wait and reconnect.
DB_GONE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.IdleInTransactionSessionTimeout,
    ServiceUnavailable,
)


def run_engine(settings: Settings, dsn: str, stop: threading.Event) -> None:
    """Run the rule engine until ``stop`` is set: standby or active, through database outages of any length
    (reconnecting with back-off, logged once per outage) and lost leases (standing by again)."""
    holder = engine_holder()
    down_since: float | None = None
    delay = RECONNECT_S
    while not stop.is_set():
        engine: Engine | None = None
        try:
            engine = Engine(settings, dsn, holder=holder, wait_s=0.0)
            if down_since is not None:
                log.info(
                    "rule engine: database reachable again after %.0f s; catching up", time.monotonic() - down_since
                )
                down_since, delay = None, RECONNECT_S
            engine.run(stop)
        except LeaseLost as exc:
            log.warning("%s: standing by", exc)
        except DB_GONE as exc:
            if down_since is None:
                down_since = time.monotonic()
                log.warning("rule engine lost the database (%s); reconnecting until it is back", _first_line(exc))
            stop.wait(delay)
            delay = min(delay * 2, MAX_RECONNECT_S)
        finally:
            if engine is not None:
                engine.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
