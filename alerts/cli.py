"""``floodctl alerts``: the rule engine and the dispatcher in one process (registered by floodctl/cli.py)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click

from floodctl.core.cli import FloodGroup, console
from floodctl.core.errors import FloodError
from floodctl.core.settings import Settings, get_settings

log = logging.getLogger("floodctl.alerts")

Runner = Callable[[Settings, str, threading.Event], None]


class _Component(threading.Thread):
    """One long-running part (engine or dispatcher) on a thread; remembers how it ended."""

    def __init__(self, name: str, target: Runner, settings: Settings, dsn: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._run_target = target
        self._args = (settings, dsn, stop)
        self.stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run_target(*self._args)
        except BaseException as exc:  # reported by the main thread, which stops the other part too
            self.error = exc
            if not isinstance(exc, FloodError):
                log.exception("alerts: %s crashed", self.name)
        finally:
            self.stop_event.set()


@click.command("alerts")
@click.option("--no-engine", is_flag=True, help="do not run the rule engine (dispatch only)")
@click.option("--no-dispatch", is_flag=True, help="do not run the dispatcher (rules only)")
def alerts(no_engine: bool, no_dispatch: bool) -> None:
    """Rule engine + dispatcher (SMS, LED boards, loudspeakers); Ctrl-C stops cleanly.

    Any number of these processes may run: deliveries are claimed row by row. The SMS rate limit
    (FLOOD_SMS_RATE_PER_S) is per process."""
    from floodctl.core.embedded import database_url

    if no_engine and no_dispatch:
        raise FloodError("nothing to run: --no-engine and --no-dispatch together")
    settings = get_settings()
    dsn = database_url(settings)
    runners: list[tuple[str, Runner]] = []
    if not no_engine:
        from alerts.engine import run_engine
        from alerts.rules import DEFAULT_PATH, load_rules

        load_rules(settings.rules_path or DEFAULT_PATH)  # a broken rules file: one clear error, before starting
        runners.append(("engine", run_engine))
    if not no_dispatch:
        from alerts.dispatch import run_dispatcher

        runners.append(("dispatcher", run_dispatcher))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    components = [_Component(name, target, settings, dsn, stop) for name, target in runners]
    for component in components:
        component.start()
    log.info("alerts: running %s", " and ".join(c.name for c in components))
    while not stop.wait(0.5):
        pass
    for component in components:
        component.join()
    errors = [c for c in components if c.error is not None]
    if errors:
        first = errors[0].error
        if isinstance(first, FloodError):
            raise first
        raise FloodError(f"alerts: the {errors[0].name} stopped on an unexpected error: {first!r}")
    log.info("alerts: stopped")


@click.group(cls=FloodGroup)
def rules() -> None:
    """The county's warning rules."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate a rules file (default: the packaged alerts/rules.toml)."""
    from alerts.rules import DEFAULT_PATH, check_rules, load_rules
    from floodctl.core.errors import ValidationFailed

    where = path or DEFAULT_PATH
    problems = check_rules(where)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {where}", details=problems)
    console.print(f"ok: {len(load_rules(where).rules)} rules")
