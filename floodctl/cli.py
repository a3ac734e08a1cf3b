"""The ``floodctl`` command line: one group per concern.

Errors a user can cause print one line (and the list of problems, if any) and exit 1; an
unexpected exception is reported as a bug with its traceback.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from alerts.cli import alerts as alerts_command
from floodctl.errors import FloodError
from floodctl.logs import setup_logging
from floodctl.settings import Settings, get_settings

console = Console(stderr=False)
err_console = Console(stderr=True)
log = logging.getLogger("floodctl")


class FloodGroup(click.Group):
    """A click group that turns FloodError into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FloodError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
            for detail in exc.details[:50]:
                err_console.print(f"  - {detail}", highlight=False, markup=False)
            if len(exc.details) > 50:
                err_console.print(f"  … and {len(exc.details) - 50} more", highlight=False)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(130)


def _settings() -> Settings:
    return get_settings()


@click.group(cls=FloodGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING (default: FLOOD_LOG_LEVEL or INFO)")
@click.version_option(package_name="floodctl")
def main(log_level: str | None) -> None:
    """floodctl — flood/typhoon command system of a county HQ (县三防指挥部)."""
    setup_logging(log_level)


# --- config ----------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def config() -> None:
    """Settings (environment variables FLOOD_*, optional .env)."""


@config.command("show")
def config_show() -> None:
    """Print the effective settings, secrets masked."""
    table = Table("setting", "value", title="floodctl settings")
    for key, value in _settings().shown().items():
        table.add_row(key, value)
    console.print(table)


@config.command("check")
@click.option("--production", "as_production", is_flag=True,
              help="check as production whatever FLOOD_ENVIRONMENT says (the systemd units do)")
def config_check(as_production: bool) -> None:
    """Refuse a production configuration with development defaults or missing secrets, listing what to set
    (exit 1); cautions are printed but pass."""
    from floodctl.config_check import declared_environment, load_for_check, production_problems

    environment = declared_environment()
    settings = load_for_check()
    if environment != "production" and not as_production:
        console.print(f"development configuration: valid (FLOOD_ENVIRONMENT={environment}); "
                      "`floodctl config check --production` checks it as production")
        return
    problems = production_problems(settings, environment)
    fatal = [p for p in problems if p.fatal]
    if problems and console.is_terminal:
        table = Table("setting", "", "problem", "set it to", title="production configuration")
        for p in problems:
            table.add_row(p.setting, "[red]refused[/]" if p.fatal else "[yellow]caution[/]", p.problem, p.fix)
        console.print(table)
    else:                   # the journal, a pipe: one line each
        for p in problems:
            console.print(f"{p.setting}: {'refused' if p.fatal else 'caution'}: {p.problem} — set: {p.fix}",
                          soft_wrap=True, markup=False)
    if fatal:
        raise FloodError(f"not fit for production: set {', '.join(dict.fromkeys(p.setting for p in fatal))}")
    console.print("production configuration: ok" + (f" ({len(problems)} caution(s) above)" if problems else ""))


# --- db --------------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def db() -> None:
    """Database schema: numbered migrations."""


@db.command("migrate")
@click.option("--storage", type=click.Choice(["auto", "timescaledb", "native"]), default="auto",
              help="time-series storage for a new database (default: TimescaleDB when available)")
def db_migrate(storage: str) -> None:
    """Apply pending migrations."""
    from floodctl import db as database
    from floodctl.db.migrate import migrate
    from floodctl.embedded import database_url

    with database.connect(database_url(_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        applied = migrate(conn, prefer=None if storage == "auto" else storage)  # type: ignore[arg-type]
    if applied:
        for m in applied:
            console.print(f"applied {m.version:04d} {m.name}")
    else:
        console.print("schema is up to date")


@db.command("status")
def db_status() -> None:
    """Show the storage mode and applied / pending migrations."""
    from floodctl import db as database
    from floodctl.db.migrate import status
    from floodctl.embedded import database_url

    with database.connect(database_url(_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        st = status(conn)
    console.print(f"storage: {st.storage or '(not migrated yet)'}; TimescaleDB available: "
                  f"{'yes' if st.timescaledb_available else 'no'}")
    for version, name in st.applied:
        console.print(f"  applied  {version:04d} {name}")
    for m in st.pending:
        console.print(f"  pending  {m.version:04d} {m.name}")


# --- gis -------------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def gis() -> None:
    """The county's spatial layers (towns, stations)."""


@gis.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def gis_validate(path: Path | None) -> None:
    """Check layers (default: the packaged sample). PATH: a folder of layer files, or one file."""
    from floodctl.errors import ValidationFailed
    from gis_data import loader

    where = path or loader.DEFAULT_DIR
    problems = loader.validate_directory(where)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {where}", details=problems)
    console.print(f"ok: the layers in {where} are valid")


@gis.command("load")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def gis_load(path: Path | None) -> None:
    """Validate and load layers into the database (default: the packaged sample).

    PATH: a folder of layer files, or one file, which replaces only that layer."""
    from floodctl import db as database
    from floodctl.embedded import database_url
    from gis_data import loader

    with database.connect(database_url(_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        counts = loader.load_layers(conn, path or loader.DEFAULT_DIR)
    console.print("loaded " + ", ".join(f"{k}: {v}" for k, v in counts.items()))


# --- ingest / serve --------------------------------------------------------------------------

@main.command()
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="worker processes sharing the subscription")
@click.option("--index", type=click.IntRange(0, 999), default=None, hidden=True)
@click.option("--no-shared", is_flag=True, hidden=True)
@click.option("--retire", "retire", type=click.IntRange(0, 999), default=None, metavar="INDEX",
              help="leave the share group as worker INDEX: drain its queued messages, then end its session")
def ingest(workers: int, index: int | None, no_shared: bool, retire: int | None) -> None:
    """MQTT -> database worker(s).

    Lowering --workers leaves the higher indexes' sessions in the share group, where the broker
    keeps queueing their share: retire each of them once with --retire INDEX.
    """
    from floodctl.embedded import database_url, mqtt_target
    from ingest.service import run_ingest, run_worker

    settings = _settings()
    target = mqtt_target(settings)
    db_url = database_url(settings)
    shared = target.shared_subscriptions and not no_shared
    protocol = "3.1.1" if target.protocol == "3.1.1" else settings.ingest_mqtt_protocol
    if retire is not None:
        run_worker(settings, retire, database_url=db_url, mqtt_url=target.url, shared=shared, protocol=protocol,
                   retire=True)
        return
    if index is not None:
        run_worker(settings, index, database_url=db_url, mqtt_url=target.url, shared=shared, protocol=protocol)
        return
    if workers > 1 and not shared:
        raise FloodError("this broker has no shared subscriptions: run one worker (--workers 1)")
    run_ingest(settings, workers=workers, database_url=db_url, mqtt_url=target.url, shared=shared,
               protocol=protocol)


@main.command()
@click.option("--host", default=None, help="default: FLOOD_HTTP_HOST")
@click.option("--port", type=int, default=None, help="default: FLOOD_HTTP_PORT")
def serve(host: str | None, port: int | None) -> None:
    """API (and, as they land, dashboard and mobile pages)."""
    import uvicorn

    from floodctl.api.app import create_app
    from floodctl.embedded import database_url

    settings = _settings()
    settings = settings.serving_at(host or settings.http_host, port or settings.http_port)
    app = create_app(settings, database_url(settings))
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False)


# --- up --------------------------------------------------------------------------------------

@main.command()
@click.option("--drill", "drill_scenario", default="in-fa-2106", show_default=True,
              help="typhoon drill to replay once ingest is up (see drill list)")
@click.option("--speed", default="600", show_default=True, help="drill speed: storm seconds per second, or max")
@click.option("--no-drill", is_flag=True, help="start without a drill")
def up(drill_scenario: str, speed: str, no_drill: bool) -> None:
    """Everything on one machine: database, broker, ingest, API and a drill (Ctrl-C stops it all)."""
    from floodctl.up import run_up
    from simulators.scenarios import SCENARIOS

    if not no_drill and drill_scenario not in SCENARIOS:
        raise FloodError(f"unknown scenario {drill_scenario!r}; one of: {', '.join(SCENARIOS)}")
    _speed(speed)
    settings = _settings()
    settings.refuse_public_dev_exposure()     # before starting anything (serve checks it again)
    run_up(settings, console, drill=None if no_drill else drill_scenario, speed=speed)


# --- rules ----------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def rules() -> None:
    """The county's warning rules."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate a rules file (default: the packaged alerts/rules.toml)."""
    from alerts.rules import DEFAULT_PATH, check_rules, load_rules
    from floodctl.errors import ValidationFailed

    where = path or DEFAULT_PATH
    problems = check_rules(where)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {where}", details=problems)
    console.print(f"ok: {len(load_rules(where).rules)} rules")


# --- gateways --------------------------------------------------------------------------------

@main.command()
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="fraction of commands a device acks failed (power failure, display/amplifier fault)")
@click.option("--silent-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="fraction of devices that are dead and never ack")
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same failures and dead devices")
@click.option("--villages", "villages_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="village layer listing led_boards / speakers (default: the packaged sample)")
@click.option("--time-scale", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="loudspeaker play time multiplier (1: five characters a second; 0: ack at once)")
@click.option("--sms-port", type=click.IntRange(1, 65535), default=None,
              help="also serve the Twilio-compatible SMS gateway stub on 127.0.0.1:PORT")
def gateways(fail_rate: float, silent_rate: float, seed: int, villages_path: Path | None, time_scale: float,
             sms_port: int | None) -> None:
    """Stub gateways: virtual village LED boards and loudspeakers on MQTT, and optionally the SMS
    gateway stub (Ctrl-C stops)."""
    import signal
    import threading
    from types import FrameType

    from floodctl.embedded import mqtt_target
    from simulators.devices import DEFAULT_VILLAGES, run_devices

    settings = _settings()
    target = mqtt_target(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sms_server = _start_sms_stub(settings, sms_port, fail_rate, seed) if sms_port else None
    try:
            run_devices(target.url, villages_path or DEFAULT_VILLAGES, fail_rate, silent_rate, seed, stop,
                    time_scale=time_scale, protocol=target.protocol,
                    client_id=f"{settings.mqtt_client_prefix}-devices")
    finally:
        if sms_server is not None:
            sms_server.should_exit = True


def _start_sms_stub(settings: Settings, port: int, fail_rate: float, seed: int) -> Any:
    """The SMS gateway stub on a thread (uvicorn); returns the server to stop it."""
    import threading

    import uvicorn

    from floodctl.net import wait_for_port
    from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

    sid, token = settings.sms_credentials()
    app = create_sms_app(SmsGatewayConfig(account_sid=sid, auth_token=token, failed_rate=fail_rate, seed=seed))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stop everything
    threading.Thread(target=server.run, daemon=True, name="sms-stub").start()
    if not wait_for_port("127.0.0.1", port, 15):
        raise FloodError(f"the SMS gateway stub could not listen on 127.0.0.1:{port}")
    log.info("SMS gateway stub on http://127.0.0.1:%d (account %s)", port, sid)
    return server


# --- drill ---------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def drill() -> None:
    """Typhoon drills (演练): replay a storm over the county through the real pipeline."""


@drill.command("list")
def drill_list() -> None:
    """Scenarios and fault profiles."""
    from simulators.faults import PROFILES
    from simulators.scenarios import SCENARIOS

    table = Table("scenario", "名称", "title", "landfall (CST)", title="drill scenarios")
    for sc in SCENARIOS.values():
        table.add_row(sc.name, sc.title_zh, sc.title_en, f"{sc.landfall:%Y-%m-%d %H:%M}" if sc.landfall else "")
    console.print(table)
    faults = Table("fault profile", "what", title="--faults")
    for profile in PROFILES.values():
        faults.add_row(profile.name, profile.description)
    console.print(faults)


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise FloodError(f"--speed must be a positive number (storm seconds per second) or max, not {text!r}")
    return value


@drill.command("run")
@click.argument("scenario")
@click.option("--speed", default="600", show_default=True,
              help="storm seconds per real second (600: ten minutes a second), or max")
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same readings")
@click.option("--faults", "fault_profile", default="none", show_default=True,
              help="telemetry faults: none, realistic, harsh (see drill list)")
def drill_run(scenario: str, speed: str, seed: int, fault_profile: str) -> None:
    """Simulate SCENARIO over the county and publish it, tagged with a new drill id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from floodctl import db as database
    from floodctl.embedded import database_url, mqtt_target
    from simulators import drill as drills
    from simulators.faults import PROFILES
    from simulators.publisher import Publisher
    from simulators.scenarios import SCENARIOS

    pace = _speed(speed)
    if scenario not in SCENARIOS:
        raise FloodError(f"unknown scenario {scenario!r}; one of: {', '.join(SCENARIOS)}")
    if fault_profile not in PROFILES:
        raise FloodError(f"unknown fault profile {fault_profile!r}; one of: {', '.join(PROFILES)}")
    settings = _settings()
    target = mqtt_target(settings)
    # Autocommit: the drill row must be visible to ingest before the first message arrives.
    with database.connect(database_url(settings), wait_s=database.WAIT_FOR_DB_S, autocommit=True) as conn:
        with console.status(f"simulating {scenario} over the county…"):
            plan = drills.plan_drill(scenario, drills.stations_collection(conn), seed=seed, faults=fault_profile)
        drill_id = drills.register_drill(conn, scenario, f"{scenario} (seed {seed}, faults {fault_profile})",
                                         track=plan.track)
        console.print(f"drill {drill_id}: {scenario}, {len(plan.messages):,} messages "
                      f"({plan.readings:,} readings) from {drills.utc(plan.times[0]):%Y-%m-%d %H:%M} to "
                      f"{drills.utc(plan.times[-1]):%Y-%m-%d %H:%M} UTC, generated in {plan.generate_s:.1f} s")
        with Publisher(target.url, f"{settings.mqtt_client_prefix}-drill-{drill_id}",
                       window=drills.PUBLISH_WINDOW, protocol=target.protocol) as publisher, Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console) as progress:
            task = progress.add_task("", total=len(plan.messages))

            def show(storm_time: float, done: int) -> None:
                fix = plan.track.at(drills.utc(storm_time))
                progress.update(task, completed=done, description=(
                    f"{drills.utc(storm_time).astimezone(drills.CST):%m-%d %H:%M} CST  "
                    f"{fix.lat:.1f}N {fix.lon:.1f}E  {fix.pressure_hpa:.0f} hPa {fix.wind_ms:.0f} m/s"))

            publish_s = drills.publish_messages(publisher, plan.messages, drill_id, speed=pace, on_progress=show)
        drills.end_drill(conn, drill_id)
    console.print(f"drill {drill_id} published {len(plan.messages):,} messages in {publish_s:.1f} s "
                  f"({len(plan.messages) / max(publish_s, 1e-9):,.0f} msg/s); query it with ?drill={drill_id}")


@drill.command("faults")
@click.option("--quick", is_flag=True, help="the bounded version (about 3 minutes; CI runs it)")
@click.option("--scenario", default="in-fa-2106", show_default=True, help="the storm to replay")
@click.option("--seed", type=int, default=0, show_default=True)
def drill_faults(quick: bool, scenario: str, seed: int) -> None:
    """Fault drill: replay a storm on a throw-away stack while killing and restarting its parts, then
    check the invariants (exit 1 if one fails)."""
    from simulators.fault_drill import run_fault_drill
    from simulators.scenarios import SCENARIOS

    if scenario not in SCENARIOS:
        raise FloodError(f"unknown scenario {scenario!r}; one of: {', '.join(SCENARIOS)}")
    logs = _settings().data_dir / "fault-drill" / time.strftime("%Y%m%d-%H%M%S")
    report = run_fault_drill(quick=quick, scenario=scenario, seed=seed, keep_logs=logs,
                             say=lambda text: console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}"))
    faults = Table("fault", "detail", "recovered in", title=f"fault drill {report.drill_id} ({scenario})")
    for fault in report.faults:
        faults.add_row(fault.name, fault.detail,
                       f"{fault.recovered_s:.1f} s" if fault.recovered_s is not None else "[red]not recovered[/]")
    console.print(faults)
    invariants = Table("invariant", "", "detail", title="invariants")
    for item in report.invariants:
        invariants.add_row(item.name, "[green]holds[/]" if item.ok else "[red]BROKEN[/]", item.detail)
    console.print(invariants)
    console.print(f"{report.readings:,} readings replayed; {report.elapsed_s:.0f} s in all")
    if not report.ok:
        raise FloodError("fault drill: an invariant does not hold or a fault was not recovered from")


# --- bench -----------------------------------------------------------------------------------

@main.group(cls=FloodGroup)
def bench() -> None:
    """Benchmarks: print figures and ratios measured side by side in one run."""


@bench.command("ingest")
@click.option("--messages", type=click.IntRange(1000, 10_000_000), default=200_000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--stations", type=click.IntRange(1, 100_000), default=2_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_ingest(messages: int, workers: int, stations: int, as_json: bool) -> None:
    """Publish N single-reading messages through a real broker to the ingest workers."""
    from floodctl.bench.ingest import run_bench

    run_bench(messages=messages, workers=workers, stations=stations, as_json=as_json, console=console)


@bench.command("broadcast")
@click.option("--recipients", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0.1), default=100.0, show_default=True,
              help="the SMS gateway stub's limit (msg/s); the dispatcher is set to the same")
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_broadcast(recipients: int, rate: float, as_json: bool) -> None:
    """Draft, approve and dispatch drill orders to N recipients (N towns' primaries) through a rate-limited
    gateway stub."""
    from floodctl.bench.broadcast import run_bench_broadcast

    run_bench_broadcast(recipients=recipients, rate=rate, as_json=as_json, console=console)


@bench.command("alert-latency")
@click.option("--trials", type=click.IntRange(10, 10_000), default=200, show_default=True)
@click.option("--load", type=click.IntRange(0, 50_000), default=2_000, show_default=True,
              help="background ingest load, messages per second")
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_alert_latency(trials: int, load: int, as_json: bool) -> None:
    """Threshold-crossing reading published -> SMS request at the gateway stub, under ingest load."""
    from floodctl.bench.alerts import run_bench_alert_latency

    run_bench_alert_latency(trials=trials, load=load, as_json=as_json, console=console)


@bench.command("drill")
@click.option("--stations", type=click.IntRange(10, 20_000), default=2_000, show_default=True)
@click.option("--hours", type=click.IntRange(1, 120), default=72, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_drill(stations: int, hours: int, as_json: bool) -> None:
    """Generate and publish a drill: HOURS of storm × STATIONS at 5-minute cadence."""
    from floodctl.bench.drill import run_bench_drill

    run_bench_drill(stations=stations, hours=hours, as_json=as_json, console=console)


@bench.command("query")
@click.option("--stations", type=click.IntRange(10, 100_000), default=5_000, show_default=True)
@click.option("--rows", type=click.IntRange(1_000, 1_000_000_000), default=50_000_000, show_default=True,
              help="observation rows in the table (one per station every 5 minutes back from now)")
@click.option("--repeat", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="timed runs of each query")
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_query(stations: int, rows: int, repeat: int, as_json: bool) -> None:
    """Latest state of all stations and a 7-day series of one, with ROWS observations in the table."""
    from floodctl.bench.query import run_bench_query

    run_bench_query(stations=stations, rows=rows, repeat=repeat, as_json=as_json, console=console)


@bench.command("wall")
@click.option("--stations", type=click.IntRange(10, 100_000), default=5_000, show_default=True)
@click.option("--runs", type=click.IntRange(1, 100), default=5, show_default=True,
              help="timed page loads (after one warm-up load), each in a fresh browser context")
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_wall(stations: int, runs: int, as_json: bool) -> None:
    """Wall dashboard load to interactive in headless Chromium, with STATIONS stations on the map."""
    from floodctl.bench.wall import run_bench_wall

    run_bench_wall(stations=stations, runs=runs, as_json=as_json, console=console)


# --- map -------------------------------------------------------------------------------------

@main.group("map", cls=FloodGroup)
def map_group() -> None:
    """The situation map (形势图)."""


@map_group.command("export")
@click.option("--at", "at_text", default=None, metavar="ISO_TIME",
              help="situation as of this time (no offset: FLOOD_TIMEZONE); default now, or the drill's clock")
@click.option("--drill", "drill_id", type=click.IntRange(min=0), default=0, show_default=True,
              help="a drill's data, warnings and storm track (0: live operations)")
@click.option("--out", required=True, type=click.Path(path_type=Path), metavar="FILE.html",
              help="the HTML file to write (replaced whole, or left as it was on error)")
@click.option("--tiles", default=None, metavar="URL",
              help="a tile server's URL template ({z}/{x}/{y}); default none, so the file opens offline")
def map_export(at_text: str | None, drill_id: int, out: Path, tiles: str | None) -> None:
    """Write the situation map as one self-contained HTML file that opens offline."""
    from dashboard.situation_map import export_map, parse_at
    from floodctl import db as database
    from floodctl.embedded import database_url

    settings = _settings()
    at = parse_at(at_text, settings.tz) if at_text is not None else None
    with database.connect(database_url(settings), wait_s=database.WAIT_FOR_DB_S) as conn:
        result = export_map(conn, out, at=at, drill_id=drill_id, tz=settings.tz, tiles=tiles)
    warned = ", ".join(f"{level} {n}" for level, n in result.levels.items() if n) or "none"
    console.print(f"wrote {out} ({result.size_bytes / 1024:,.0f} KB): {result.stations} stations as of "
                  f"{result.at.astimezone(settings.tz):%Y-%m-%d %H:%M %Z}, warnings: {warned}", highlight=False)


def _register_packages() -> None:
    """Commands owned by other packages (imported here, after ``main`` exists)."""
    from floodctl.auth.cli import user_group

    main.add_command(user_group)


_register_packages()


main.add_command(alerts_command)


def run() -> None:
    main(prog_name="floodctl")


if __name__ == "__main__":
    sys.exit(run())
