"""The ``floodctl`` command line: one group per concern.

Errors a user can cause print one line (and the list of problems, if any) and exit 1; an
unexpected exception is reported as a bug with its traceback.
"""

from __future__ import annotations

import click
from rich.table import Table

from floodctl.core.cli import FloodGroup, console
from floodctl.core.errors import FloodError
from floodctl.core.logs import setup_logging
from floodctl.core.settings import Settings, get_settings


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
@click.option(
    "--production",
    "as_production",
    is_flag=True,
    help="check as production whatever FLOOD_ENVIRONMENT says (the systemd units do)",
)
def config_check(as_production: bool) -> None:
    """Refuse a production configuration with development defaults or missing secrets, listing what to set
    (exit 1); cautions are printed but pass."""
    from floodctl.config_check import declared_environment, load_for_check, production_problems

    environment = declared_environment()
    settings = load_for_check()
    if environment != "production" and not as_production:
        console.print(
            f"development configuration: valid (FLOOD_ENVIRONMENT={environment}); "
            "`floodctl config check --production` checks it as production"
        )
        return
    problems = production_problems(settings, environment)
    fatal = [p for p in problems if p.fatal]
    if problems and console.is_terminal:
        table = Table("setting", "", "problem", "set it to", title="production configuration")
        for p in problems:
            table.add_row(p.setting, "[red]refused[/]" if p.fatal else "[yellow]caution[/]", p.problem, p.fix)
        console.print(table)
    else:  # the journal, a pipe: one line each
        for p in problems:
            console.print(
                f"{p.setting}: {'refused' if p.fatal else 'caution'}: {p.problem} — set: {p.fix}",
                soft_wrap=True,
                markup=False,
            )
    if fatal:
        raise FloodError(f"not fit for production: set {', '.join(dict.fromkeys(p.setting for p in fatal))}")
    console.print("production configuration: ok" + (f" ({len(problems)} caution(s) above)" if problems else ""))


# --- serve --------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="default: FLOOD_HTTP_HOST")
@click.option("--port", type=int, default=None, help="default: FLOOD_HTTP_PORT")
def serve(host: str | None, port: int | None) -> None:
    """API (and, as they land, dashboard and mobile pages)."""
    import uvicorn

    from floodctl.api.app import create_app
    from floodctl.core.embedded import database_url

    settings = _settings()
    settings = settings.serving_at(host or settings.http_host, port or settings.http_port)
    app = create_app(settings, database_url(settings))
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False)


# --- up --------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--drill",
    "drill_scenario",
    default="in-fa-2106",
    show_default=True,
    help="typhoon drill to replay once ingest is up (see drill list)",
)
@click.option("--speed", default="600", show_default=True, help="drill speed: storm seconds per second, or max")
@click.option("--no-drill", is_flag=True, help="start without a drill")
def up(drill_scenario: str, speed: str, no_drill: bool) -> None:
    """Everything on one machine: database, broker, ingest, API and a drill (Ctrl-C stops it all)."""
    from floodctl.up import run_up
    from simulators.cli import parse_speed
    from simulators.scenarios import SCENARIOS

    if not no_drill and drill_scenario not in SCENARIOS:
        raise FloodError(f"unknown scenario {drill_scenario!r}; one of: {', '.join(SCENARIOS)}")
    parse_speed(speed)
    settings = _settings()
    settings.refuse_public_dev_exposure()  # before starting anything (serve checks it again)
    run_up(settings, console, drill=None if no_drill else drill_scenario, speed=speed)


def _register_packages() -> None:
    """Each package owns its command group; the shell only adds them."""
    from alerts.cli import alerts, rules
    from dashboard.cli import map_group
    from floodctl.auth.cli import user_group
    from floodctl.bench.cli import bench
    from floodctl.core.db.cli import db
    from gis_data.cli import gis
    from ingest.cli import ingest
    from simulators.cli import drill, gateways

    for command in (db, gis, ingest, rules, alerts, gateways, drill, bench, map_group, user_group):
        main.add_command(command)


_register_packages()


def run() -> None:
    main(prog_name="floodctl")


if __name__ == "__main__":
    run()
