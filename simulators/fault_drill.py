"""The fault drill (``floodctl drill faults``): a typhoon replay through the whole system while its
parts fail, then the invariants that must still hold.

On a throw-away stack of its own (a PostgreSQL cluster, a Mosquitto broker, two ingest workers, the
API, two ``floodctl alerts`` (one active engine, one standby), the virtual LED boards and
loudspeakers, and the SMS gateway stubs — every process on loopback, nothing reaching a phone) it
replays a storm and, in turn:

* kills -9 an ingest worker, the API, the active ``floodctl alerts`` and the device gateways (each is
  restarted by the supervisor, as systemd's ``Restart=`` would);
* restarts the database (down for ``db_down_s``) and the broker;
* makes the drill SMS gateway answer 503, then 429, for ``sms_outage_s``;
* jumps one station's clock a day ahead.

Meanwhile a commander approves every draft through the API, half of the towns answer their SMS
(signed, as the gateway would), and forged or replayed answers are sent too. Then it checks:

1. every reading the broker acknowledged is stored exactly once;
2. every warning the readings imply was raised, at its level (the reference: the county's rules and the
   warning lifecycle, pure code, judged in memory at every stored reading in event-time order);
3. every approved order reached each town's first responsible person, and every delivery was sent
   once per recipient and channel or failed with its reason; no drill message reached the live gateway;
4. no forged or replayed acknowledgement was accepted;
5. the system came back by itself: every component running, the API healthy, an engine active,
   nothing left in flight.

It prints the invariants and, per fault, the time until the system had recovered from it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import psycopg

from alerts.signing import twilio_signature
from floodctl.core.net import free_port, free_port_range, serve_in_thread, wait_for_port
from floodctl.core.settings import DEV_SMS_AUTH_TOKEN
from floodctl.core.supervise import Child, Supervisor

PROBE_STATION = "70101001"          # a live (drill 0) battery reading on it proves the pipeline end to end
PASSWORD = "fault-drill-commander-pw"
LEVEL_RANK = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
FINAL = ("sent", "delivered", "undelivered", "acked", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class Profile:
    replay_s: float          # the 72 h of storm are published over this many seconds
    db_down_s: float
    sms_outage_s: float      # half 503, half 429
    settle_s: float          # after the replay, at most this long for everything to finish
    ack_deadline_s: int      # 叫应 deadline of the drill's orders


QUICK = Profile(replay_s=70, db_down_s=8, sms_outage_s=16, settle_s=120, ack_deadline_s=20)
FULL = Profile(replay_s=480, db_down_s=45, sms_outage_s=120, settle_s=300, ack_deadline_s=150)


@dataclass(slots=True)
class Fault:
    name: str
    at: float                       # fraction of the replay
    injected_at: float = 0.0        # monotonic
    recovered_s: float | None = None
    detail: str = ""


@dataclass(slots=True)
class Invariant:
    name: str
    ok: bool
    detail: str


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


@dataclass(slots=True)
class _Stack:
    root: Path
    cluster: Any
    dsn: str
    broker: Any
    broker_port: int
    api_port: int
    env: dict[str, str]
    live_gateway: Any
    drill_gateway: Any
    drill_sid: str
    drill_token: str
    supervisor: Supervisor
    children: dict[str, Child]
    brokers: list[Any]              # every broker process started (the restart fault adds one): stopped at the end

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def run_fault_drill(*, quick: bool, scenario: str = "in-fa-2106", seed: int = 0, keep_logs: Path | None = None,
                    say: Callable[[str], None] = print) -> Report:
    """Run the drill; the components' logs are copied to ``keep_logs`` when an invariant breaks."""
    profile = QUICK if quick else FULL
    started = time.monotonic()
    with _stack(profile, say) as stack:
        report = _drill(stack, profile, scenario, seed, say, started)
        if not report.ok and keep_logs is not None:
            shutil.copytree(stack.root / "logs", keep_logs, dirs_exist_ok=True)
            say(f"the components' logs are in {keep_logs}")
        return report


# --- the stack -----------------------------------------------------------------------------------

@contextlib.contextmanager
def _stack(profile: Profile, say: Callable[[str], None]) -> Iterator[_Stack]:
    from floodctl.core.db.migrate import migrate
    from floodctl.core.embedded.broker import start_broker
    from floodctl.core.embedded.postgres import LocalCluster
    from gis_data import loader
    from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

    root = Path(tempfile.mkdtemp(prefix="floodctl-faults-"))
    root.chmod(0o755)                       # the database server runs as an unprivileged account
    exits = contextlib.ExitStack()
    try:
        cluster = LocalCluster(root / "pg")
        cluster.start()
        exits.callback(shutil.rmtree, root, ignore_errors=True)
        exits.callback(cluster.stop, "immediate")
        dsn = cluster.create_database("floodctl")
        with psycopg.connect(dsn) as conn:
            migrate(conn, prefer="native")
            loader.load_layers(conn)
        say(f"database ready on 127.0.0.1:{cluster.port}")
        broker_port = free_port()
        broker = start_broker(root / "mqtt", port=broker_port)
        brokers = [broker]                  # the broker restart fault replaces it
        exits.callback(lambda: brokers[-1].stop())

        live_sid, live_token = "AC" + secrets.token_hex(16), secrets.token_hex(20)
        drill_sid, drill_token = "AC" + secrets.token_hex(16), secrets.token_hex(20)
        live = create_sms_app(SmsGatewayConfig(account_sid=live_sid, auth_token=live_token, callback_delay_ms=20))
        drill = create_sms_app(SmsGatewayConfig(account_sid=drill_sid, auth_token=drill_token,
                                                callback_delay_ms=20))
        live_url = exits.enter_context(serve_in_thread(live))
        drill_url = exits.enter_context(serve_in_thread(drill))

        api_port = free_port()
        metrics = free_port_range(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
        env.update(
            FLOOD_DATABASE_URL=dsn, FLOOD_MQTT_URL=broker.url, FLOOD_MQTT_PROTOCOL="5",
            FLOOD_DATA_DIR=str(root / "var"), FLOOD_HTTP_PORT=str(api_port), FLOOD_SECRET_KEY=secrets.token_hex(32),
            FLOOD_SMS_BASE_URL=live_url, FLOOD_SMS_ACCOUNT_SID=live_sid, FLOOD_SMS_AUTH_TOKEN=live_token,
            FLOOD_DRILL_SMS_BASE_URL=drill_url, FLOOD_DRILL_SMS_ACCOUNT_SID=drill_sid,
            FLOOD_DRILL_SMS_AUTH_TOKEN=drill_token, FLOOD_INGEST_METRICS_PORT=str(metrics),
            FLOOD_MQTT_CLIENT_PREFIX=f"faults-{uuid.uuid4().hex[:6]}", FLOOD_MQTT_SHARE_GROUP="faults",
            FLOOD_ACK_DEADLINE=str(profile.ack_deadline_s), FLOOD_ACK_RESEND_AFTER=str(profile.ack_deadline_s // 2),
            FLOOD_DISPATCH_BACKOFF_S="0.5", FLOOD_DISPATCH_LEASE_S="5", FLOOD_SMS_TIMEOUT_S="3",
            FLOOD_LOG_LEVEL="WARNING", FLOOD_ENGINE_LEASE_S="10")
        python = [sys.executable, "-m", "floodctl"]
        logs = root / "logs"
        logs.mkdir()
        commands = {"ingest": ["ingest", "--workers", "2"], "api": ["serve"], "alerts-1": ["alerts"],
                    "alerts-2": ["alerts"], "gateways": ["gateways"]}
        children = {name: Child(name, [*python, *argv], env=env, log_path=logs / f"{name}.log")
                    for name, argv in commands.items()}
        supervisor = Supervisor(list(children.values()))
        supervisor.start_all()
        runner = threading.Thread(target=supervisor.run, daemon=True, name="fault-drill-supervisor")
        runner.start()

        def stop_all() -> None:
            supervisor.stop_event.set()
            runner.join(60)

        exits.callback(stop_all)
        stack = _Stack(root, cluster, dsn, broker, broker_port, api_port, env, live.state.gateway,
                       drill.state.gateway, drill_sid, drill_token, supervisor, children, brokers)
        if not wait_for_port("127.0.0.1", api_port, 60):
            raise RuntimeError("the API did not come up")
        say(f"stack up: API {stack.api}, broker {broker.url}, 2 ingest workers, 2 alerts, devices, SMS stubs")
        yield stack
    finally:
        exits.close()


# --- the drill -----------------------------------------------------------------------------------

def _drill(stack: _Stack, profile: Profile, scenario: str, seed: int, say: Callable[[str], None],
           started: float) -> Report:
    from floodctl.auth import store
    from simulators import drill as drills
    from simulators.publisher import Publisher

    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        store.create_user(conn, "faults-chief", PASSWORD, roles=["commander"], actor="fault-drill")
        plan = drills.plan_drill(scenario, drills.stations_collection(conn), seed=seed, faults="none")
        drill_id = drills.register_drill(conn, scenario, f"{scenario} fault drill (seed {seed})", track=plan.track)
        roster = _roster(conn)
    say(f"drill {drill_id}: {scenario}, {len(plan.messages):,} messages ({plan.readings:,} readings) "
        f"over {profile.replay_s:.0f} s")

    faults = [Fault("kill -9 ingest worker", 0.10), Fault("kill -9 API", 0.20), Fault("kill -9 active alerts", 0.30),
              Fault("kill -9 device gateways", 0.40), Fault("database restart", 0.50),
              Fault("SMS gateway 503/429", 0.58), Fault("broker restart", 0.70), Fault("station clock +1 day", 0.85)]
    gate = threading.Event()
    gate.set()
    stop = threading.Event()
    town_replies = _Replies(stack, roster)
    threads = [threading.Thread(target=_commander, args=(stack, drill_id, stop), daemon=True, name="commander"),
               threading.Thread(target=town_replies.run, args=(stop,), daemon=True, name="towns")]
    for t in threads:
        t.start()

    publisher = Publisher(stack.broker.url, f"faults-stations-{uuid.uuid4().hex[:6]}", window=drills.PUBLISH_WINDOW)
    publisher.connect()
    http = httpx.Client(base_url=stack.api, timeout=5, trust_env=False)
    try:
        storm0 = plan.messages[0].publish_at
        storm_span = max(plan.messages[-1].publish_at - storm0, 1.0)
        t0 = time.monotonic()
        pending = list(faults)
        injectors: list[threading.Thread] = []
        for message in plan.messages:
            fraction = (message.publish_at - storm0) / storm_span
            while pending and fraction >= pending[0].at:
                fault = pending.pop(0)       # each fault and its recovery on a thread: the stations go on
                injector = threading.Thread(target=_inject, args=(fault, stack, profile, publisher, gate, http,
                                                                  drill_id, say), daemon=True, name=fault.name)
                injector.start()
                injectors.append(injector)
            due = fraction * profile.replay_s - (time.monotonic() - t0)
            if due > 0:
                time.sleep(due)
            gate.wait()
            publisher.publish(f"flood/v1/{message.station}/{message.kind}", drills.payload(message, drill_id))
        for injector in injectors:
            injector.join(profile.settle_s)
        if not publisher.flush(120):
            say("warning: the broker did not acknowledge every reading within 120 s")
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            drills.end_drill(conn, drill_id)
        say(f"replay published in {time.monotonic() - t0:.0f} s; waiting for the system to settle")
        reference: dict[tuple[str, str], int] = {}
        settled = _settle(stack, drill_id, plan, profile.settle_s + profile.ack_deadline_s * 3,
                          on_stored=lambda: reference.update(reference_levels(stack.dsn, drill_id)))
        say(f"settled in {settled:.0f} s" if settled >= 0 else "did not settle in time")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        publisher.close()
        http.close()

    invariants = _check(stack, drill_id, plan, town_replies, reference)
    return Report(faults, invariants, drill_id, plan.readings, time.monotonic() - started)


def _roster(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    row = conn.execute("SELECT geojson FROM layers WHERE name = 'roster'").fetchone()
    people: dict[str, dict[str, str]] = {}
    for entry in (row[0].get("towns", []) if row else []):
        people[entry["town"]] = {rank: "+86" + str(entry[rank]["phone"]).lstrip("0")
                                 for rank in ("primary", "deputy", "superior") if entry.get(rank)}
    return people


# --- faults --------------------------------------------------------------------------------------

def _inject(fault: Fault, stack: _Stack, profile: Profile, publisher: Any, gate: threading.Event,
            http: httpx.Client, drill_id: int, say: Callable[[str], None]) -> None:
    fault.injected_at = time.monotonic()
    say(f"fault: {fault.name}")
    if fault.name == "kill -9 ingest worker":
        workers = _grandchildren(stack.children["ingest"])
        if workers:
            os.kill(workers[0], signal.SIGKILL)
        fault.detail = f"worker pid {workers[0] if workers else '?'}"
        _recover(fault, lambda: _probe(stack, publisher))
    elif fault.name == "kill -9 API":
        killed = _kill9(stack.children["api"])
        _recover(fault, lambda: _restarted(stack.children["api"], killed) and _healthy(http))
    elif fault.name == "kill -9 active alerts":
        victim = _active_alerts(stack)
        killed = _kill9(stack.children[victim])
        fault.detail = f"{victim} (the active engine)"
        _recover(fault, lambda: _engine_active(stack, not_pid=killed))
    elif fault.name == "kill -9 device gateways":
        killed = _kill9(stack.children["gateways"])
        _recover(fault, lambda: _restarted(stack.children["gateways"], killed))
    elif fault.name == "database restart":
        stack.cluster.stop("fast")
        time.sleep(profile.db_down_s)
        stack.cluster.start()
        fault.detail = f"down {profile.db_down_s:.0f} s"
        _recover(fault, lambda: _healthy(http) and _probe(stack, publisher), offset=profile.db_down_s)
    elif fault.name == "SMS gateway 503/429":
        half = profile.sms_outage_s / 2
        stack.drill_gateway.fail_for(half, 20503)

        def second_half() -> None:
            time.sleep(half)
            stack.drill_gateway.fail_for(half, 20429)

        threading.Thread(target=second_half, daemon=True, name="sms-429").start()
        fault.detail = f"{profile.sms_outage_s:.0f} s (recovery counted from its end)"
        time.sleep(profile.sms_outage_s)
        _recover(fault, lambda: _sms_flowing(stack), offset=profile.sms_outage_s, timeout_s=300)
    elif fault.name == "broker restart":
        gate.clear()                      # the stations hold their readings while the broker is away
        publisher.flush(60)
        broker = stack.broker
        broker.stop()
        from floodctl.core.embedded.broker import start_broker
        stack.broker = start_broker(broker.directory, port=stack.broker_port)
        stack.brokers.append(stack.broker)
        deadline = time.monotonic() + 30
        while not publisher.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.1)
        gate.set()
        _recover(fault, lambda: _probe(stack, publisher))
    elif fault.name == "station clock +1 day":
        code = next(iter(_stations(stack)))
        ahead = datetime.now(UTC) + timedelta(days=1)
        payload = orjson.dumps({"ts": ahead.isoformat(), "values": {"water_level": 1.0}, "drill_id": drill_id})
        publisher.publish(f"flood/v1/{code}/obs", payload)
        fault.detail = code
        _recover(fault, lambda: _dead_lettered(stack, code))


def _recover(fault: Fault, check: Callable[[], bool], *, offset: float = 0.0, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                fault.recovered_s = time.monotonic() - fault.injected_at - offset
                return
        except Exception:     # the part under test is down: keep asking
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


def _probe(stack: _Stack, publisher: Any) -> bool:
    """A live battery reading published now is stored within a few seconds."""
    ts = datetime.now(UTC).replace(microsecond=0)
    publisher.publish(f"flood/v1/{PROBE_STATION}/obs",
                      orjson.dumps({"ts": ts.isoformat(), "values": {"battery_v": 12.6}}))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
            if conn.execute("SELECT 1 FROM observations o JOIN stations s ON s.id = o.station_id "
                            "WHERE s.code = %s AND o.drill_id = 0 AND o.ts = %s", (PROBE_STATION, ts)).fetchone():
                return True
        time.sleep(0.2)
    return False


def _healthy(http: httpx.Client) -> bool:
    return http.get("/healthz").status_code == 200


def _restarted(child: Child, old_pid: int | None) -> bool:
    return child.alive() and child.process is not None and child.process.pid != old_pid


def _engine_active(stack: _Stack, not_pid: int | None) -> bool:
    """Both ``floodctl alerts`` run again and a live one (not the killed one) holds a current lease."""
    alive = {c.process.pid for name, c in stack.children.items()
             if name.startswith("alerts") and c.alive() and c.process is not None} - {not_pid}
    if len(alive) < 2:
        return False
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT holder FROM engine_lease WHERE expires_at > now()").fetchone()
    return bool(row) and any(str(pid) in row[0].split(":") for pid in alive)


def _active_alerts(stack: _Stack) -> str:
    """The ``floodctl alerts`` child whose engine is active (the lease holder's pid when it says)."""
    with contextlib.suppress(Exception), psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT holder FROM engine_lease").fetchone()
        for name, child in stack.children.items():
            if name.startswith("alerts") and child.process is not None and row and \
                    str(child.process.pid) in row[0].split(":"):
                return name
    return "alerts-1"


def _sms_flowing(stack: _Stack) -> bool:
    """After the outage, the drill gateway accepts messages again (or nothing was waiting)."""
    if stack.drill_gateway.outage_code() is not None:
        return False
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        waiting = conn.execute("SELECT count(*) FROM deliveries WHERE channel = 'sms' AND drill_id <> 0 "
                               "AND state IN ('pending', 'sending')").fetchone()[0]  # type: ignore[index]
    return waiting == 0


def _stations(stack: _Stack) -> list[str]:
    with psycopg.connect(stack.dsn) as conn:
        return [r[0] for r in conn.execute("SELECT code FROM stations WHERE active AND kind = 'river' ORDER BY code")]


def _dead_lettered(stack: _Stack, code: str) -> bool:
    with psycopg.connect(stack.dsn, connect_timeout=2) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (f"flood/v1/{code}/obs",)).fetchone()
    return bool(row and row[0])


# --- the people ----------------------------------------------------------------------------------

def _commander(stack: _Stack, drill_id: int, stop: threading.Event) -> None:
    """The county's commander, approving every draft of the drill through the API."""
    http = httpx.Client(base_url=stack.api, timeout=5, trust_env=False)
    token: str | None = None
    while not stop.wait(1.0):
        try:
            if token is None:
                r = http.post("/api/v1/auth/token", data={"username": "faults-chief", "password": PASSWORD})
                if r.status_code != 200:
                    continue
                token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            r = http.get("/api/v1/orders", params={"drill": drill_id, "status": "draft"}, headers=headers)
            if r.status_code == 401:
                token = None
                continue
            for order in r.json()["orders"] if r.status_code == 200 else []:
                http.post(f"/api/v1/orders/{order['id']}/approve", headers=headers)
        except (httpx.HTTPError, ValueError):
            continue
    http.close()


@dataclass
class _Replies:
    """Towns answering their SMS: the even ones by a real signed reply; forged and replayed answers
    for the odd ones (none of which may be accepted)."""

    stack: _Stack
    roster: dict[str, dict[str, str]]
    answered: set[str] = field(default_factory=set)       # towns that really replied
    forged_refused: int = 0
    forged_accepted: int = 0
    replayed: int = 0

    def run(self, stop: threading.Event) -> None:
        towns = sorted(self.roster)
        honest = set(towns[0::2])
        phones = {self.roster[t]["primary"]: t for t in towns if "primary" in self.roster[t]}
        seen: set[str] = set()
        http = httpx.Client(base_url=self.stack.api, timeout=5, trust_env=False)
        while not stop.wait(0.5):
            with self.stack.drill_gateway.lock:
                messages = [dict(m) for m in self.stack.drill_gateway.messages.values()]
            for message in messages:
                town = phones.get(message["to"])
                if town is None or message["sid"] in seen:
                    continue
                seen.add(message["sid"])
                try:
                    if town in honest and town not in self.answered:
                        params = self._reply(message["to"], "1")
                        if self._post(http, params, self.stack.drill_token).status_code == 200:
                            self.answered.add(town)
                            self._post(http, params, self.stack.drill_token)      # the same reply again
                            self.replayed += 1
                    elif town not in honest:
                        for key in (DEV_SMS_AUTH_TOKEN, "not-the-token"):
                            r = self._post(http, self._reply(message["to"], "1"), key)
                            if r.status_code == 200:
                                self.forged_accepted += 1
                            else:
                                self.forged_refused += 1
                except httpx.HTTPError:
                    seen.discard(message["sid"])      # the API is down: answer again later
        http.close()

    def _reply(self, phone: str, body: str) -> dict[str, str]:
        return {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": self.stack.drill_sid, "From": phone,
                "To": "+8610000000", "Body": body}

    def _post(self, http: httpx.Client, params: dict[str, str], key: str) -> httpx.Response:
        path = "/api/v1/hooks/sms/inbound"
        return http.post(path, content=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(key, self.stack.api + path, params)})


# --- settling and the invariants -----------------------------------------------------------------

def _settle(stack: _Stack, drill_id: int, plan: Any, timeout_s: float, on_stored: Callable[[], None]) -> float:
    """Wait until every reading is stored and every delivery and 叫应 has reached its end (seconds waited,
    -1 on time-out); ``on_stored`` runs on a thread as soon as the readings are all in."""
    started = time.monotonic()
    judge: threading.Thread | None = None
    settled = -1.0
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(psycopg.Error), psycopg.connect(stack.dsn, connect_timeout=2) as conn:
            stored = conn.execute("SELECT count(*) FROM observations WHERE drill_id = %s",
                                  (drill_id,)).fetchone()[0]  # type: ignore[index]
            open_ = conn.execute(
                "SELECT (SELECT count(*) FROM deliveries WHERE drill_id = %(d)s AND state IN ('pending', 'sending'))"
                " + (SELECT count(*) FROM order_towns ot JOIN orders o ON o.id = ot.order_id "
                "    WHERE o.drill_id = %(d)s AND ot.state = 'pending' AND o.status = 'approved')"
                " + (SELECT count(*) FROM orders WHERE drill_id = %(d)s AND status = 'draft')",
                {"d": drill_id}).fetchone()[0]  # type: ignore[index]
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


def _check(stack: _Stack, drill_id: int, plan: Any, replies: _Replies,
           reference: dict[tuple[str, str], int]) -> list[Invariant]:
    with psycopg.connect(stack.dsn) as conn:
        return [_readings_once(conn, drill_id, plan), _warnings_raised(stack, drill_id, reference),
                _orders_delivered(conn, drill_id, stack), _no_forged_ack(conn, drill_id, replies),
                _back_to_normal(conn, stack)]


def _readings_once(conn: psycopg.Connection, drill_id: int, plan: Any) -> Invariant:
    expected = {(m.station, metric, int(ts)) for m in plan.messages if m.kind == "obs"
                for ts, values in m.readings for metric in values}
    rows = conn.execute(
        "SELECT s.code, m.name, extract(epoch FROM o.ts)::bigint FROM observations o "
        "JOIN stations s ON s.id = o.station_id JOIN metrics m ON m.id = o.metric_id WHERE o.drill_id = %s",
        (drill_id,)).fetchall()
    stored = [(c, m, int(t)) for c, m, t in rows]
    missing = expected - set(stored)
    extra = set(stored) - expected
    twice = len(stored) - len(set(stored))
    ok = not missing and not extra and not twice
    return Invariant("every acknowledged reading stored once", ok,
                     f"{len(expected):,} published, {len(set(stored)):,} stored, {len(missing)} missing, "
                     f"{len(extra)} unexpected, {twice} twice")


def reference_levels(dsn: str, drill_id: int, rules_path: Path | None = None) -> dict[tuple[str, str], int]:
    """What the stored readings imply, judged without faults: the county's rules and the warning lifecycle
    (pure code, in memory) at every reading of every station, in event-time order. Returns the highest
    level each (rule, station) reached."""
    import numpy as np

    from alerts.engine import STATIONS, THRESHOLD_NAMES
    from alerts.lifecycle import ACTIVE, step
    from alerts.rules import DEFAULT_PATH, Station, evaluate, load_rules

    rules = load_rules(rules_path or DEFAULT_PATH)
    kinds = {k for r in rules.rules for k in r.kinds}
    with psycopg.connect(dsn) as conn:
        stations = {}
        for row in conn.execute(STATIONS):
            sid, code, kind, town, name = row[:5]
            if kind in kinds:
                stations[sid] = Station(code=code, kind=kind, town=town, name=name,
                                        thresholds=dict(zip(THRESHOLD_NAMES, row[7:], strict=True)))
        names = dict(conn.execute("SELECT id, name FROM metrics").fetchall())
        rows = conn.execute("SELECT station_id, metric_id, extract(epoch FROM ts)::float8, value FROM observations "
                            "WHERE drill_id = %s ORDER BY station_id, metric_id, ts", (drill_id,)).fetchall()
    by_station: dict[int, dict[str, tuple[list[float], list[float]]]] = {}
    for sid, mid, ts, value in rows:
        times, values = by_station.setdefault(sid, {}).setdefault(names[mid], ([], []))
        times.append(ts)
        values.append(value)
    reached: dict[tuple[str, str], int] = {}
    for sid, metrics in by_station.items():
        station = stations.get(sid)
        if station is None:
            continue
        series = {m: (np.asarray(t), np.asarray(v)) for m, (t, v) in metrics.items()}
        warnings: dict[str, Any] = {}
        for at in np.unique(np.concatenate([t for t, _ in series.values()])):
            for decision in evaluate(rules, station, series, float(at)):
                new, _ = step(warnings.get(decision.rule_id), decision, float(at), rules.rule(decision.rule_id))
                warnings[decision.rule_id] = new
                if new is not None and new.state == ACTIVE:
                    key = (decision.rule_id, decision.station)
                    reached[key] = max(reached.get(key, 0), LEVEL_RANK[new.level])
    return reached


def _warnings_raised(stack: _Stack, drill_id: int, reference: dict[tuple[str, str], int]) -> Invariant:
    actual: dict[tuple[str, str], int] = {}
    with psycopg.connect(stack.dsn) as conn:      # every level a warning reached over its life
        for rule, subject, level in conn.execute(
                "SELECT w.rule_id, w.subject, w.level FROM warnings w WHERE w.drill_id = %(d)s UNION ALL "
                "SELECT w.rule_id, w.subject, e.level FROM warning_events e JOIN warnings w ON w.id = e.warning_id "
                "WHERE w.drill_id = %(d)s AND e.level IS NOT NULL", {"d": drill_id}):
            actual[(rule, subject)] = max(actual.get((rule, subject), 0), LEVEL_RANK.get(level, 0))
    missed = sorted(k for k, v in reference.items() if actual.get(k, 0) < v)
    return Invariant("every warning the readings imply raised", not missed,
                     f"{len(reference)} implied by the stored readings, {len(reference) - len(missed)} raised "
                     f"at their level" + (f"; missed {missed[:5]}" if missed else ""))


def _orders_delivered(conn: psycopg.Connection, drill_id: int, stack: _Stack) -> Invariant:
    problems: list[str] = []
    approved = conn.execute("SELECT id, towns, channels FROM orders WHERE drill_id = %s AND status <> 'draft'",
                            (drill_id,)).fetchall()
    for order_id, towns, channels in approved:
        if "sms" not in channels:
            continue
        reached = {r[0] for r in conn.execute("SELECT DISTINCT town_code FROM deliveries WHERE order_id = %s AND "
                                              "channel = 'sms' AND recipient = 'primary'", (order_id,))}
        lost = set(towns) - reached
        if lost:
            problems.append(f"order {order_id}: no SMS to the first person of {len(lost)} town(s)")
    rows = conn.execute("SELECT id, channel, state, provider_id, last_error FROM deliveries WHERE drill_id = %s",
                        (drill_id,)).fetchall()
    unfinished = [r for r in rows if r[2] not in FINAL]
    no_reason = [r for r in rows if r[2] == "failed" and not r[4]]
    sms_sent = [r for r in rows if r[1] == "sms" and r[2] in ("sent", "delivered", "undelivered", "acked")]
    with stack.drill_gateway.lock:
        at_gateway = [dict(m) for m in stack.drill_gateway.messages.values()]
    by_body: dict[tuple[str, str], int] = {}
    for m in at_gateway:
        by_body[(m["to"], m["body"])] = by_body.get((m["to"], m["body"]), 0) + 1
    twice = sum(n - 1 for n in by_body.values() if n > 1)
    sids = {m["sid"] for m in at_gateway}
    unknown = [r for r in sms_sent if r[3] not in sids]
    live = len(stack.live_gateway.messages)
    if unfinished:
        problems.append(f"{len(unfinished)} deliveries not finished")
    if no_reason:
        problems.append(f"{len(no_reason)} failed without a reason")
    if twice:
        problems.append(f"{twice} SMS sent twice")
    if unknown:
        problems.append(f"{len(unknown)} SMS recorded as sent but unknown to the gateway")
    if live:
        problems.append(f"{live} drill SMS reached the LIVE gateway")
    states: dict[str, int] = {}
    for r in rows:
        states[r[2]] = states.get(r[2], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    reasons: dict[str, int] = {}
    for r in rows:
        if r[2] == "failed":
            reason = f"{r[1]}: {(r[4] or '')[:60]}"
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        summary += "; failed with: " + "; ".join(f"{n} × {why}" for why, n in sorted(reasons.items()))
    return Invariant("every approved order delivered once per recipient and channel", not problems,
                     f"{len(approved)} orders, {len(rows)} deliveries ({summary}); {len(at_gateway)} SMS at the "
                     f"drill gateway, {live} at the live one" + (f"; {'; '.join(problems)}" if problems else ""))


def _no_forged_ack(conn: psycopg.Connection, drill_id: int, replies: _Replies) -> Invariant:
    by_sms = {r[0] for r in conn.execute(
        "SELECT DISTINCT ot.town_code FROM order_towns ot JOIN orders o ON o.id = ot.order_id "
        "WHERE o.drill_id = %s AND ot.ack_via = 'sms'", (drill_id,))}
    unearned = by_sms - replies.answered
    ok = not unearned and replies.forged_accepted == 0
    return Invariant("no forged acknowledgement accepted", ok,
                     f"{len(replies.answered)} towns replied, {len(by_sms)} acknowledged by SMS; "
                     f"{replies.forged_refused} forged refused, {replies.forged_accepted} forged accepted, "
                     f"{replies.replayed} replayed" + (f"; acknowledged without a reply: {sorted(unearned)}"
                                                       if unearned else ""))


def _back_to_normal(conn: psycopg.Connection, stack: _Stack) -> Invariant:
    down = [name for name, c in stack.children.items() if not c.alive()]
    try:
        health = httpx.get(f"{stack.api}/healthz", timeout=5, trust_env=False).json().get("status", "?")
    except (httpx.HTTPError, ValueError):
        health = "unreachable"
    stuck = conn.execute("SELECT count(*) FROM deliveries WHERE state = 'sending' AND lease_until < now()"
                         ).fetchone()[0]  # type: ignore[index]
    ok = not down and health == "ok" and stuck == 0
    return Invariant("back to normal without a hand on it", ok,
                     f"components down: {', '.join(down) or 'none'}; /healthz {health}; "
                     f"{stuck} deliveries stuck in sending")
