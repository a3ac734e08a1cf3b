"""The fault drill's throw-away stack: its own database, broker, SMS stubs and supervised floodctl processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from floodctl.core.net import free_port, free_port_range, serve_in_thread, wait_for_port
from floodctl.core.supervise import Child, Supervisor

# The processes the supervisor keeps running (restarting them as systemd's ``Restart=`` would).
COMMANDS = {
    "ingest": ["ingest", "--workers", "2"],
    "api": ["serve"],
    "alerts-1": ["alerts"],
    "alerts-2": ["alerts"],
    "gateways": ["gateways"],
}


@dataclass(frozen=True, slots=True)
class Profile:
    replay_s: float  # the 72 h of storm are published over this many seconds
    db_down_s: float
    sms_outage_s: float  # half 503, half 429
    settle_s: float  # after the replay, at most this long for everything to finish
    ack_deadline_s: int  # 叫应 deadline of the drill's orders


QUICK = Profile(replay_s=70, db_down_s=8, sms_outage_s=16, settle_s=120, ack_deadline_s=20)
FULL = Profile(replay_s=480, db_down_s=45, sms_outage_s=120, settle_s=300, ack_deadline_s=150)


@dataclass(slots=True)
class Stack:
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
    brokers: list[Any]  # every broker process started (the restart fault adds one): stopped at the end

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


@dataclass(frozen=True, slots=True)
class _SmsAccount:
    sid: str
    token: str

    @classmethod
    def new(cls) -> _SmsAccount:
        return cls("AC" + secrets.token_hex(16), secrets.token_hex(20))


@contextlib.contextmanager
def start_stack(profile: Profile, say: Callable[[str], None]) -> Iterator[Stack]:
    """Everything up on loopback (the API answering); torn down and deleted on exit."""
    from floodctl.core.embedded.broker import start_broker
    from floodctl.core.embedded.postgres import LocalCluster
    from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

    root = Path(tempfile.mkdtemp(prefix="floodctl-faults-"))
    root.chmod(0o755)  # the database server runs as an unprivileged account
    exits = contextlib.ExitStack()
    try:
        cluster = LocalCluster(root / "pg")
        cluster.start()
        exits.callback(shutil.rmtree, root, ignore_errors=True)
        exits.callback(cluster.stop, "immediate")
        dsn = _prepared_database(cluster)
        say(f"database ready on 127.0.0.1:{cluster.port}")
        broker_port = free_port()
        broker = start_broker(root / "mqtt", port=broker_port)
        brokers = [broker]  # the broker restart fault replaces it
        exits.callback(lambda: brokers[-1].stop())

        live_account, drill_account = _SmsAccount.new(), _SmsAccount.new()
        live = create_sms_app(
            SmsGatewayConfig(account_sid=live_account.sid, auth_token=live_account.token, callback_delay_ms=20)
        )
        drill = create_sms_app(
            SmsGatewayConfig(account_sid=drill_account.sid, auth_token=drill_account.token, callback_delay_ms=20)
        )
        sms_urls = (exits.enter_context(serve_in_thread(live)), exits.enter_context(serve_in_thread(drill)))

        api_port = free_port()
        env = _environment(profile, root, dsn, broker.url, api_port, (live_account, drill_account), sms_urls)
        children, supervisor = _supervised(env, root / "logs", exits)
        stack = Stack(
            root,
            cluster,
            dsn,
            broker,
            broker_port,
            api_port,
            env,
            live.state.gateway,
            drill.state.gateway,
            drill_account.sid,
            drill_account.token,
            supervisor,
            children,
            brokers,
        )
        if not wait_for_port("127.0.0.1", api_port, 60):
            raise RuntimeError("the API did not come up")
        say(f"stack up: API {stack.api}, broker {broker.url}, 2 ingest workers, 2 alerts, devices, SMS stubs")
        yield stack
    finally:
        exits.close()


def _prepared_database(cluster: Any) -> str:
    """A migrated ``floodctl`` database with the county's layers loaded (its DSN)."""
    from floodctl.core.db.migrate import migrate
    from gis_data import loader

    dsn: str = cluster.create_database("floodctl")
    with psycopg.connect(dsn) as conn:
        migrate(conn, prefer="native")
        loader.load_layers(conn)
    return dsn


def _environment(
    profile: Profile,
    root: Path,
    dsn: str,
    broker_url: str,
    api_port: int,
    accounts: tuple[_SmsAccount, _SmsAccount],
    sms_urls: tuple[str, str],
) -> dict[str, str]:
    """The settings every floodctl process of the stack runs with (none of the caller's FLOOD_*)."""
    (live, drill), (live_url, drill_url) = accounts, sms_urls
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
    env.update(
        FLOOD_DATABASE_URL=dsn,
        FLOOD_MQTT_URL=broker_url,
        FLOOD_MQTT_PROTOCOL="5",
        FLOOD_DATA_DIR=str(root / "var"),
        FLOOD_HTTP_PORT=str(api_port),
        FLOOD_SECRET_KEY=secrets.token_hex(32),
        FLOOD_SMS_BASE_URL=live_url,
        FLOOD_SMS_ACCOUNT_SID=live.sid,
        FLOOD_SMS_AUTH_TOKEN=live.token,
        FLOOD_DRILL_SMS_BASE_URL=drill_url,
        FLOOD_DRILL_SMS_ACCOUNT_SID=drill.sid,
        FLOOD_DRILL_SMS_AUTH_TOKEN=drill.token,
        FLOOD_INGEST_METRICS_PORT=str(free_port_range(2)),
        FLOOD_MQTT_CLIENT_PREFIX=f"faults-{uuid.uuid4().hex[:6]}",
        FLOOD_MQTT_SHARE_GROUP="faults",
        FLOOD_ACK_DEADLINE=str(profile.ack_deadline_s),
        FLOOD_ACK_RESEND_AFTER=str(profile.ack_deadline_s // 2),
        FLOOD_DISPATCH_BACKOFF_S="0.5",
        FLOOD_DISPATCH_LEASE_S="5",
        FLOOD_SMS_TIMEOUT_S="3",
        FLOOD_LOG_LEVEL="WARNING",
        FLOOD_ENGINE_LEASE_S="10",
    )
    return env


def _supervised(env: dict[str, str], logs: Path, exits: contextlib.ExitStack) -> tuple[dict[str, Child], Supervisor]:
    """The floodctl processes, started and kept running by a supervisor on a thread (stopped by ``exits``)."""
    python = [sys.executable, "-m", "floodctl"]
    logs.mkdir()
    children = {
        name: Child(name, [*python, *argv], env=env, log_path=logs / f"{name}.log") for name, argv in COMMANDS.items()
    }
    supervisor = Supervisor(list(children.values()))
    supervisor.start_all()
    runner = threading.Thread(target=supervisor.run, daemon=True, name="fault-drill-supervisor")
    runner.start()

    def stop_all() -> None:
        supervisor.stop_event.set()
        runner.join(60)

    exits.callback(stop_all)
    return children, supervisor
