"""``floodctl gateways`` and ``floodctl drill …``: the stand-in devices and SMS gateway, typhoon drills."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from floodctl.core.cli import FloodGroup, console
from floodctl.core.errors import FloodError
from floodctl.core.settings import Settings, get_settings

log = logging.getLogger("floodctl")


@click.command()
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="fraction of commands a device acks failed (power failure, display/amplifier fault)",
)
@click.option(
    "--silent-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="fraction of devices that are dead and never ack",
)
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same failures and dead devices")
@click.option(
    "--villages",
    "villages_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="village layer listing led_boards / speakers (default: the packaged sample)",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="loudspeaker play time multiplier (1: five characters a second; 0: ack at once)",
)
@click.option(
    "--sms-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="also serve the Twilio-compatible SMS gateway stub on 127.0.0.1:PORT",
)
def gateways(
    fail_rate: float, silent_rate: float, seed: int, villages_path: Path | None, time_scale: float, sms_port: int | None
) -> None:
    """Stub gateways: virtual village LED boards and loudspeakers on MQTT, and optionally the SMS
    gateway stub (Ctrl-C stops)."""
    import signal
    import threading
    from types import FrameType

    from floodctl.core.embedded import mqtt_target
    from simulators.devices import DEFAULT_VILLAGES, run_devices

    settings = get_settings()
    target = mqtt_target(settings)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sms_server = _start_sms_stub(settings, sms_port, fail_rate, seed) if sms_port else None
    try:
        run_devices(
            target.url,
            villages_path or DEFAULT_VILLAGES,
            fail_rate,
            silent_rate,
            seed,
            stop,
            time_scale=time_scale,
            protocol=target.protocol,
            client_id=f"{settings.mqtt_client_prefix}-devices",
        )
    finally:
        if sms_server is not None:
            sms_server.should_exit = True


def _start_sms_stub(settings: Settings, port: int, fail_rate: float, seed: int) -> Any:
    """The SMS gateway stub on a thread (uvicorn); returns the server to stop it."""
    import threading

    import uvicorn

    from floodctl.core.net import wait_for_port
    from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

    sid, token = settings.sms_credentials()
    app = create_sms_app(SmsGatewayConfig(account_sid=sid, auth_token=token, failed_rate=fail_rate, seed=seed))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True, name="sms-stub").start()
    if not wait_for_port("127.0.0.1", port, 15):
        raise FloodError(f"the SMS gateway stub could not listen on 127.0.0.1:{port}")
    log.info("SMS gateway stub on http://127.0.0.1:%d (account %s)", port, sid)
    return server


@click.group(cls=FloodGroup)
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


def parse_speed(text: str) -> float | None:
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
@click.option(
    "--speed",
    default="600",
    show_default=True,
    help="storm seconds per real second (600: ten minutes a second), or max",
)
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same readings")
@click.option(
    "--faults",
    "fault_profile",
    default="none",
    show_default=True,
    help="telemetry faults: none, realistic, harsh (see drill list)",
)
def drill_run(scenario: str, speed: str, seed: int, fault_profile: str) -> None:
    """Simulate SCENARIO over the county and publish it, tagged with a new drill id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from floodctl.core import db as database
    from floodctl.core.embedded import database_url, mqtt_target
    from simulators import drill as drills
    from simulators.faults import PROFILES
    from simulators.publisher import Publisher
    from simulators.scenarios import SCENARIOS

    pace = parse_speed(speed)
    if scenario not in SCENARIOS:
        raise FloodError(f"unknown scenario {scenario!r}; one of: {', '.join(SCENARIOS)}")
    if fault_profile not in PROFILES:
        raise FloodError(f"unknown fault profile {fault_profile!r}; one of: {', '.join(PROFILES)}")
    settings = get_settings()
    target = mqtt_target(settings)
    # Autocommit: the drill row must be visible to ingest before the first message arrives.
    with database.connect(database_url(settings), wait_s=database.WAIT_FOR_DB_S, autocommit=True) as conn:
        with console.status(f"simulating {scenario} over the county…"):
            plan = drills.plan_drill(scenario, drills.stations_collection(conn), seed=seed, faults=fault_profile)
        drill_id = drills.register_drill(
            conn, scenario, f"{scenario} (seed {seed}, faults {fault_profile})", track=plan.track
        )
        console.print(
            f"drill {drill_id}: {scenario}, {len(plan.messages):,} messages "
            f"({plan.readings:,} readings) from {drills.utc(plan.times[0]):%Y-%m-%d %H:%M} to "
            f"{drills.utc(plan.times[-1]):%Y-%m-%d %H:%M} UTC, generated in {plan.generate_s:.1f} s"
        )
        with (
            Publisher(
                target.url,
                f"{settings.mqtt_client_prefix}-drill-{drill_id}",
                window=drills.PUBLISH_WINDOW,
                protocol=target.protocol,
            ) as publisher,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            task = progress.add_task("", total=len(plan.messages))

            def show(storm_time: float, done: int) -> None:
                fix = plan.track.at(drills.utc(storm_time))
                progress.update(
                    task,
                    completed=done,
                    description=(
                        f"{drills.utc(storm_time).astimezone(drills.CST):%m-%d %H:%M} CST  "
                        f"{fix.lat:.1f}N {fix.lon:.1f}E  {fix.pressure_hpa:.0f} hPa {fix.wind_ms:.0f} m/s"
                    ),
                )

            publish_s = drills.publish_messages(publisher, plan.messages, drill_id, speed=pace, on_progress=show)
        drills.end_drill(conn, drill_id)
    console.print(
        f"drill {drill_id} published {len(plan.messages):,} messages in {publish_s:.1f} s "
        f"({len(plan.messages) / max(publish_s, 1e-9):,.0f} msg/s); query it with ?drill={drill_id}"
    )


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
    logs = get_settings().data_dir / "fault-drill" / time.strftime("%Y%m%d-%H%M%S")
    report = run_fault_drill(
        quick=quick,
        scenario=scenario,
        seed=seed,
        keep_logs=logs,
        say=lambda text: console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}"),
    )
    faults = Table("fault", "detail", "recovered in", title=f"fault drill {report.drill_id} ({scenario})")
    for fault in report.faults:
        faults.add_row(
            fault.name,
            fault.detail,
            f"{fault.recovered_s:.1f} s" if fault.recovered_s is not None else "[red]not recovered[/]",
        )
    console.print(faults)
    invariants = Table("invariant", "", "detail", title="invariants")
    for item in report.invariants:
        invariants.add_row(item.name, "[green]holds[/]" if item.ok else "[red]BROKEN[/]", item.detail)
    console.print(invariants)
    console.print(f"{report.readings:,} readings replayed; {report.elapsed_s:.0f} s in all")
    if not report.ok:
        raise FloodError("fault drill: an invariant does not hold or a fault was not recovered from")
