"""The faults the drill injects, one function each, and how it sees that the system recovered from each.

Every injector breaks one part, then waits (``_recover``) until a check of that part passes again and
records the time it took; the drill runs each on a thread of its own, so the stations go on publishing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from floodctl.core.supervise import Child
from floodctl.domain.topics import station_topic
from simulators.fault_drill.stack import Profile, Stack

PROBE_STATION = "70101001"  # a live (drill 0) battery reading on it proves the pipeline end to end


@dataclass(slots=True)
class Fault:
    name: str
    at: float  # fraction of the replay
    injected_at: float = 0.0  # monotonic
    recovered_s: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What an injector may act on: the stack, the stations' publisher and the gate that holds it back."""

    stack: Stack
    profile: Profile
    publisher: Any
    gate: threading.Event  # cleared: the stations hold their readings
    http: httpx.Client  # to the stack's API
    drill_id: int


def schedule() -> list[Fault]:
    """The faults of one drill, in the order (and at the fraction of the replay) they strike."""
    return [Fault(name, at) for name, at in SCHEDULE]


def inject(fault: Fault, context: FaultContext, say: Callable[[str], None]) -> None:
    fault.injected_at = time.monotonic()
    say(f"fault: {fault.name}")
    INJECTORS[fault.name](fault, context)


def _kill_ingest_worker(fault: Fault, c: FaultContext) -> None:
    workers = _grandchildren(c.stack.children["ingest"])
    if workers:
        os.kill(workers[0], signal.SIGKILL)
    fault.detail = f"worker pid {workers[0] if workers else '?'}"
    _recover(fault, lambda: _probe(c.stack, c.publisher))


def _kill_api(fault: Fault, c: FaultContext) -> None:
    killed = _kill9(c.stack.children["api"])
    _recover(fault, lambda: _restarted(c.stack.children["api"], killed) and _healthy(c.http))


def _kill_active_alerts(fault: Fault, c: FaultContext) -> None:
    victim = _active_alerts(c.stack)
    killed = _kill9(c.stack.children[victim])
    fault.detail = f"{victim} (the active engine)"
    _recover(fault, lambda: _engine_active(c.stack, not_pid=killed))


def _kill_gateways(fault: Fault, c: FaultContext) -> None:
    killed = _kill9(c.stack.children["gateways"])
    _recover(fault, lambda: _restarted(c.stack.children["gateways"], killed))


def _restart_database(fault: Fault, c: FaultContext) -> None:
    c.stack.cluster.stop("fast")
    time.sleep(c.profile.db_down_s)
    c.stack.cluster.start()
    fault.detail = f"down {c.profile.db_down_s:.0f} s"
    _recover(fault, lambda: _healthy(c.http) and _probe(c.stack, c.publisher), offset=c.profile.db_down_s)


def _sms_outage(fault: Fault, c: FaultContext) -> None:
    half = c.profile.sms_outage_s / 2
    c.stack.drill_gateway.fail_for(half, 20503)

    def second_half() -> None:
        time.sleep(half)
        c.stack.drill_gateway.fail_for(half, 20429)

    threading.Thread(target=second_half, daemon=True, name="sms-429").start()
    fault.detail = f"{c.profile.sms_outage_s:.0f} s (recovery counted from its end)"
    time.sleep(c.profile.sms_outage_s)
    _recover(fault, lambda: _sms_flowing(c.stack), offset=c.profile.sms_outage_s, timeout_s=300)


def _restart_broker(fault: Fault, c: FaultContext) -> None:
    from floodctl.core.embedded.broker import start_broker

    c.gate.clear()  # the stations hold their readings while the broker is away
    c.publisher.flush(60)
    broker = c.stack.broker
    broker.stop()
    c.stack.broker = start_broker(broker.directory, port=c.stack.broker_port)
    c.stack.brokers.append(c.stack.broker)
    deadline = time.monotonic() + 30
    while not c.publisher.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.1)
    c.gate.set()
    _recover(fault, lambda: _probe(c.stack, c.publisher))


def _jump_station_clock(fault: Fault, c: FaultContext) -> None:
    code = next(iter(_river_stations(c.stack)))
    ahead = datetime.now(UTC) + timedelta(days=1)
    payload = orjson.dumps({"ts": ahead.isoformat(), "values": {"water_level": 1.0}, "drill_id": c.drill_id})
    c.publisher.publish(station_topic(code), payload)
    fault.detail = code
    _recover(fault, lambda: _dead_lettered(c.stack, code))


SCHEDULE: tuple[tuple[str, float], ...] = (
    ("kill -9 ingest worker", 0.10),
    ("kill -9 API", 0.20),
    ("kill -9 active alerts", 0.30),
    ("kill -9 device gateways", 0.40),
    ("database restart", 0.50),
    ("SMS gateway 503/429", 0.58),
    ("broker restart", 0.70),
    ("station clock +1 day", 0.85),
)
INJECTORS: dict[str, Callable[[Fault, FaultContext], None]] = {
    "kill -9 ingest worker": _kill_ingest_worker,
    "kill -9 API": _kill_api,
    "kill -9 active alerts": _kill_active_alerts,
    "kill -9 device gateways": _kill_gateways,
    "database restart": _restart_database,
    "SMS gateway 503/429": _sms_outage,
    "broker restart": _restart_broker,
    "station clock +1 day": _jump_station_clock,
}


# --- recovery ------------------------------------------------------------------------------------


def _recover(fault: Fault, check: Callable[[], bool], *, offset: float = 0.0, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                fault.recovered_s = time.monotonic() - fault.injected_at - offset
                return
        except Exception:  # the part under test is down: keep asking
            pass
        time.sleep(0.2)


def _kill9(child: Child) -> int | None:
    """SIGKILL the child and anything it started; returns once it is dead (its pid)."""
    process = child.process
    if process is None or process.poll() is not None:
        return None
    os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return process.pid


def _grandchildren(child: Child) -> list[int]:
    if child.process is None:
        return []
    found: list[int] = []
    for task in Path(f"/proc/{child.process.pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def _probe(stack: Stack, publisher: Any) -> bool:
    """A live battery reading published now is stored within a few seconds."""
    ts = datetime.now(UTC).replace(microsecond=0)
    publisher.publish(station_topic(PROBE_STATION), orjson.dumps({"ts": ts.isoformat(), "values": {"battery_v": 12.6}}))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
            if conn.execute(
                "SELECT 1 FROM observations o JOIN stations s ON s.id = o.station_id "
                "WHERE s.code = %s AND o.drill_id = 0 AND o.ts = %s",
                (PROBE_STATION, ts),
            ).fetchone():
                return True
        time.sleep(0.2)
    return False


def _healthy(http: httpx.Client) -> bool:
    return http.get("/healthz").status_code == 200


def _restarted(child: Child, old_pid: int | None) -> bool:
    return child.alive() and child.process is not None and child.process.pid != old_pid


def _engine_active(stack: Stack, not_pid: int | None) -> bool:
    """Both ``floodctl alerts`` run again and a live one (not the killed one) holds a current lease."""
    alive = {
        c.process.pid
        for name, c in stack.children.items()
        if name.startswith("alerts") and c.alive() and c.process is not None
    } - {not_pid}
    if len(alive) < 2:
        return False
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT holder FROM engine_lease WHERE expires_at > now()").fetchone()
    return row is not None and any(str(pid) in str(row[0]).split(":") for pid in alive)


def _active_alerts(stack: Stack) -> str:
    """The ``floodctl alerts`` child whose engine is active (the lease holder's pid when it says)."""
    with contextlib.suppress(Exception), psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT holder FROM engine_lease").fetchone()
        for name, child in stack.children.items():
            if (
                name.startswith("alerts")
                and child.process is not None
                and row
                and str(child.process.pid) in row[0].split(":")
            ):
                return name
    return "alerts-1"


def _sms_flowing(stack: Stack) -> bool:
    """After the outage, the drill gateway accepts messages again (or nothing was waiting)."""
    if stack.drill_gateway.outage_code() is not None:
        return False
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute(
            "SELECT count(*) FROM deliveries WHERE channel = 'sms' AND drill_id <> 0 "
            "AND state IN ('pending', 'sending')"
        ).fetchone()
    return row is not None and int(row[0]) == 0


def _river_stations(stack: Stack) -> list[str]:
    with psycopg.connect(stack.dsn) as conn:
        return [r[0] for r in conn.execute("SELECT code FROM stations WHERE active AND kind = 'river' ORDER BY code")]


def _dead_lettered(stack: Stack, code: str) -> bool:
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (station_topic(code),)).fetchone()
    return bool(row and row[0])
