"""The fault drill's run: the storm replayed while the faults strike, the wait for calm, the report."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from floodctl.domain.topics import station_topic
from simulators import drill as drills
from simulators.fault_drill.injections import Fault, FaultContext, inject, schedule
from simulators.fault_drill.invariants import Invariant, check_invariants
from simulators.fault_drill.people import Replies, commander, create_commander, roster
from simulators.fault_drill.reference import WarningKey, reference_levels
from simulators.fault_drill.stack import FULL, QUICK, Profile, Stack, start_stack
from simulators.publisher import Publisher

BROKER_FLUSH_S = 120


@dataclass(slots=True)
class Report:
    faults: list[Fault]
    invariants: list[Invariant]
    drill_id: int
    readings: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.invariants) and all(f.recovered_s is not None for f in self.faults)


def run_fault_drill(
    *,
    quick: bool,
    scenario: str = "in-fa-2106",
    seed: int = 0,
    keep_logs: Path | None = None,
    say: Callable[[str], None] = print,
) -> Report:
    """Run the drill; the components' logs are copied to ``keep_logs`` when an invariant breaks."""
    profile = QUICK if quick else FULL
    started = time.monotonic()
    with start_stack(profile, say) as stack:
        report = _drill(stack, profile, scenario, seed, say, started)
        if not report.ok and keep_logs is not None:
            shutil.copytree(stack.root / "logs", keep_logs, dirs_exist_ok=True)
            say(f"the components' logs are in {keep_logs}")
        return report


def _drill(
    stack: Stack, profile: Profile, scenario: str, seed: int, say: Callable[[str], None], started: float
) -> Report:
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        create_commander(conn)
        plan = drills.plan_drill(scenario, drills.stations_collection(conn), seed=seed, faults="none")
        drill_id = drills.register_drill(conn, scenario, f"{scenario} fault drill (seed {seed})", track=plan.track)
        town_replies = Replies(stack, roster(conn))
    say(
        f"drill {drill_id}: {scenario}, {len(plan.messages):,} messages ({plan.readings:,} readings) "
        f"over {profile.replay_s:.0f} s"
    )

    faults = schedule()
    stop = threading.Event()
    threads = [
        threading.Thread(target=commander, args=(stack, drill_id, stop), daemon=True, name="commander"),
        threading.Thread(target=town_replies.run, args=(stop,), daemon=True, name="towns"),
    ]
    for t in threads:
        t.start()
    publisher = Publisher(stack.broker.url, f"faults-stations-{uuid.uuid4().hex[:6]}", window=drills.PUBLISH_WINDOW)
    publisher.connect()
    http = httpx.Client(base_url=stack.api, timeout=5, trust_env=False)
    try:
        gate = threading.Event()
        gate.set()
        context = FaultContext(stack, profile, publisher, gate, http, drill_id)
        replay_started = time.monotonic()
        _replay(plan, faults, context, say)
        if not publisher.flush(BROKER_FLUSH_S):
            say(f"warning: the broker did not acknowledge every reading within {BROKER_FLUSH_S} s")
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            drills.end_drill(conn, drill_id)
        say(f"replay published in {time.monotonic() - replay_started:.0f} s; waiting for the system to settle")
        reference: dict[WarningKey, str] = {}
        settled = settle(
            stack,
            drill_id,
            plan,
            profile.settle_s + profile.ack_deadline_s * 3,
            on_stored=lambda: reference.update(reference_levels(stack.dsn, drill_id)),
        )
        say(f"settled in {settled:.0f} s" if settled >= 0 else "did not settle in time")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        publisher.close()
        http.close()

    invariants = check_invariants(stack, drill_id, plan, town_replies, reference)
    return Report(faults, invariants, drill_id, plan.readings, time.monotonic() - started)


def _replay(plan: drills.DrillPlan, faults: list[Fault], context: FaultContext, say: Callable[[str], None]) -> None:
    """Publish the plan paced over the profile's replay time; each fault strikes, on a thread of its own,
    when the replay reaches its fraction. Returns when every injector is done (or has had its time)."""
    profile = context.profile
    storm0 = plan.messages[0].publish_at
    storm_span = max(plan.messages[-1].publish_at - storm0, 1.0)
    t0 = time.monotonic()
    pending = list(faults)
    injectors: list[threading.Thread] = []
    for message in plan.messages:
        fraction = (message.publish_at - storm0) / storm_span
        while pending and fraction >= pending[0].at:
            fault = pending.pop(0)
            injector = threading.Thread(target=inject, args=(fault, context, say), daemon=True, name=fault.name)
            injector.start()
            injectors.append(injector)
        due = fraction * profile.replay_s - (time.monotonic() - t0)
        if due > 0:
            time.sleep(due)
        context.gate.wait()
        context.publisher.publish(
            station_topic(message.station, message.kind), drills.payload(message, context.drill_id)
        )
    for injector in injectors:
        injector.join(profile.settle_s)


def settle(stack: Stack, drill_id: int, plan: Any, timeout_s: float, on_stored: Callable[[], None]) -> float:
    """Wait until every reading is stored and every delivery and 叫应 has reached its end (seconds waited,
    -1 on time-out); ``on_stored`` runs on a thread as soon as the readings are all in."""
    started = time.monotonic()
    judge: threading.Thread | None = None
    settled = -1.0
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(psycopg.Error), psycopg.connect(stack.dsn, connect_timeout=2) as conn:
            stored, open_ = _progress(conn, drill_id)
            if stored >= plan.readings and judge is None:
                judge = threading.Thread(target=on_stored, daemon=True, name="reference")
                judge.start()
            if stored >= plan.readings and open_ == 0:
                settled = time.monotonic() - started
                break
        time.sleep(1.0)
    if judge is None:
        on_stored()
    else:
        judge.join()
    return settled


def _progress(conn: psycopg.Connection, drill_id: int) -> tuple[int, int]:
    """(readings stored, deliveries, 叫应 and drafts still open) of the drill."""
    stored = conn.execute("SELECT count(*) FROM observations WHERE drill_id = %s", (drill_id,)).fetchone()
    open_ = conn.execute(
        "SELECT (SELECT count(*) FROM deliveries WHERE drill_id = %(d)s AND state IN ('pending', 'sending'))"
        " + (SELECT count(*) FROM order_towns ot JOIN orders o ON o.id = ot.order_id "
        "    WHERE o.drill_id = %(d)s AND ot.state = 'pending' AND o.status = 'approved')"
        " + (SELECT count(*) FROM orders WHERE drill_id = %(d)s AND status = 'draft')",
        {"d": drill_id},
    ).fetchone()
    assert stored is not None and open_ is not None  # count(*) always answers one row
    return int(stored[0]), int(open_[0])
