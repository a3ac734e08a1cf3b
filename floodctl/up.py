"""``floodctl up``: the whole system on one machine, supervised, stopped cleanly on Ctrl-C.

Order: database (FLOOD_DATABASE_URL or the embedded pgserver) -> migrations -> sample county
(only into an empty registry) -> broker (FLOOD_MQTT_URL or the embedded Mosquitto/amqtt) ->
children: ingest workers, the API, the rule engine and dispatcher (``alerts``), the SMS stub and the
virtual LED boards and loudspeakers, and (once ingest is
subscribed) a typhoon drill replay, In-Fa by default. Stopping runs the other way round, so
everything that ingest acknowledged is committed before the broker and database go down.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rich.console import Console

from floodctl.core import db
from floodctl.core.db.migrate import migrate
from floodctl.core.embedded import MqttTarget, clear_runtime, database_url, write_runtime
from floodctl.core.embedded.broker import BrokerProcess, start_broker
from floodctl.core.net import free_port, scrape_metric, wait_for_port
from floodctl.core.settings import Settings
from floodctl.core.supervise import Child, Supervisor
from floodctl.domain.topics import station_topic

EMBEDDED_MQTT_PORT = 1883
EMBEDDED_SMS_PORT = 8025
API_READY_TIMEOUT_S = 60
NO_METRICS_GRACE_S = 5.0
METRICS_GATE_MAX_S = 30.0


def _load_sample_if_empty(dsn: str, console: Console) -> None:
    from gis_data import loader

    with db.connect(dsn) as conn:
        count = conn.execute("SELECT count(*) FROM stations").fetchone()[0]  # type: ignore[index]
        conn.rollback()
        if count:
            console.print(f"  station registry: {count} stations (kept)")
            return
        counts = loader.load_layers(conn)
    console.print(
        f"  station registry: loaded the sample county ({counts['stations']} stations, "
        f"{counts['towns']} towns; schematic, for drills)"
    )


DEMO_PASSWORD = "floodctl-demo"
DEMO_ACCOUNTS = (
    ("admin", ("admin",), None, "管理员"),
    ("chief", ("commander",), None, "指挥长"),
    ("duty", ("duty_officer",), None, "值班员"),
    ("inspector", ("inspector",), None, "巡查员"),
    ("shipu", ("town_officer",), "330225100", "石浦镇责任人"),
)


def _demo_logins(dsn: str, settings: Settings) -> str:
    """Development only: one account per role, password DEMO_PASSWORD (created once, never in production)."""
    if settings.environment != "development":
        return "create accounts with `floodctl user add NAME --role ROLE`"
    from floodctl.auth import store

    with db.connect(dsn) as conn:
        for name, roles, town, display in DEMO_ACCOUNTS:
            if store.get_account(conn, name) is None:
                store.create_user(
                    conn, name, DEMO_PASSWORD, roles=roles, town=town, display_name=display, actor="floodctl-up"
                )
        conn.commit()
    names = ", ".join(f"{name} ({roles[0]})" for name, roles, _, _ in DEMO_ACCOUNTS)
    return f"{names}; password {DEMO_PASSWORD!r} (development only)"


def _ingest_ready(settings: Settings, workers: int) -> Callable[[], bool]:
    """Gate for the drill: its first messages must find the ingest sessions subscribed."""
    started = time.monotonic()

    def ready() -> bool:
        waited = time.monotonic() - started
        if not settings.ingest_metrics_port:  # no metrics to ask: give ingest a few seconds
            return waited > NO_METRICS_GRACE_S
        # A worker whose metrics port was busy cannot answer: do not wait for it for ever.
        return waited > METRICS_GATE_MAX_S or all(
            scrape_metric(settings.ingest_metrics_port + i, "floodctl_ingest_connected") == 1.0 for i in range(workers)
        )

    return ready


def run_up(settings: Settings, console: Console, *, drill: str | None = "in-fa-2106", speed: str = "600") -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print("[bold]floodctl up[/] — starting the county flood-control system")
    with console.status("starting the database…"):
        dsn = database_url(settings)
        with db.connect(dsn, wait_s=db.WAIT_FOR_DB_S) as conn:
            applied = migrate(conn)
    where = "FLOOD_DATABASE_URL" if settings.database_url else f"embedded PostgreSQL in {settings.data_dir / 'pg'}"
    console.print(f"  database: {where} ({len(applied)} migration(s) applied)")
    _load_sample_if_empty(dsn, console)

    broker, target = _broker(settings, console)
    write_runtime(settings, target)
    console.print(f"  broker: {target.url} ({broker.kind if broker else 'FLOOD_MQTT_URL'})")

    env = {"FLOOD_DATABASE_URL": dsn, "FLOOD_MQTT_URL": target.url, "FLOOD_MQTT_PROTOCOL": target.protocol}
    gateway_args = []
    if settings.sms_base_url is None:  # no provider configured: the stub stands in for it
        sms_port = EMBEDDED_SMS_PORT if _port_free(EMBEDDED_SMS_PORT) else free_port()
        sid, token = settings.sms_credentials()
        env.update(
            FLOOD_SMS_BASE_URL=f"http://127.0.0.1:{sms_port}", FLOOD_SMS_ACCOUNT_SID=sid, FLOOD_SMS_AUTH_TOKEN=token
        )
        gateway_args = ["--sms-port", str(sms_port)]
    logins = _demo_logins(dsn, settings)
    python = [sys.executable, "-m", "floodctl"]
    workers = 2 if target.shared_subscriptions else 1
    children = [
        Child("ingest", [*python, "ingest", "--workers", str(workers)], env=env),
        Child("api", [*python, "serve"], env=env),
        Child("alerts", [*python, "alerts"], env=env),
        Child("gateways", [*python, "gateways", *gateway_args], env=env),
    ]
    if drill:
        children.append(
            Child(
                "drill",
                [*python, "drill", "run", drill, "--speed", speed],
                env=env,
                oneshot=True,
                ready=_ingest_ready(settings, workers),
            )
        )
    supervisor = Supervisor(children)
    supervisor.install_signal_handlers()
    try:
        supervisor.start_all()
        base = settings.public_url
        with console.status("waiting for the API…"):
            ready = wait_for_port(settings.http_host, settings.http_port, API_READY_TIMEOUT_S)
        if not ready:
            console.print("[red]the API did not come up; see the log lines above[/]")
        drill_line = f"{drill} at speed {speed} (its readings: ?drill=<id> on the API)" if drill else "none"
        console.print(
            f"\n[bold green]ready[/]\n"
            f"  API           {base}/api/v1/stations\n"
            f"  API docs      {base}/docs\n"
            f"  wall          {base}/wall/\n"
            f"  health        {base}/healthz     metrics {base}/metrics\n"
            f"  MQTT          {target.url}  (publish {station_topic('<station>')})\n"
            f"  drill         {drill_line}\n"
            f"  SMS           {env.get('FLOOD_SMS_BASE_URL', settings.sms_base_url)}"
            f"{'  (stub: nothing reaches a phone)' if gateway_args else ''}\n"
            f"  logins        {logins}\n"
            f"Press Ctrl-C to stop.\n"
        )
        supervisor.run()
    finally:
        supervisor.stop_all()
        if broker is not None:
            broker.stop()
        clear_runtime(settings)
        console.print("stopped cleanly")


def _broker(settings: Settings, console: Console) -> tuple[BrokerProcess | None, MqttTarget]:
    """FLOOD_MQTT_URL's broker, or the embedded one started here (which the caller stops)."""
    if settings.mqtt_url is not None:
        return None, MqttTarget(settings.mqtt_url.get_secret_value(), True, settings.mqtt_protocol)
    with console.status("starting the MQTT broker…"):
        port = EMBEDDED_MQTT_PORT if _port_free(EMBEDDED_MQTT_PORT) else free_port()
        broker = start_broker(settings.data_dir / "mqtt", port=port)
    protocol = "5" if broker.kind == "mosquitto" else "3.1.1"
    return broker, MqttTarget(broker.url, broker.supports_shared_subscriptions, protocol)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        # As the broker will: a connection lingering in TIME_WAIT does not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
