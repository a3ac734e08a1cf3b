"""Supervise child processes: start them, restart one that dies (with backoff), stop in order.

Used by ``floodctl up`` (ingest, API, …) and ``floodctl ingest --workers N`` (one process per
worker). Children run in their own session so a terminal's Ctrl-C reaches only the supervisor,
which then stops them in reverse start order with SIGTERM (SIGKILL after a grace period).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

log = logging.getLogger("floodctl.supervise")

RESTART_BACKOFF_MAX_S = 30.0
STOP_GRACE_S = 20.0
HEALTHY_AFTER_S = 30.0  # a child up this long has its restart backoff reset


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    reported: bool = False  # a oneshot's end is logged once
    oneshot: bool = False  # runs once (a drill): not restarted when it ends
    ready: Callable[[], bool] | None = None  # gate: started only once this says yes
    log_path: Path | None = None  # its output appended here instead of the supervisor's terminal

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.env or {})
        if self.log_path is None:
            self.process = subprocess.Popen(list(self.argv), env=env, start_new_session=True)
        else:
            with self.log_path.open("ab") as out:
                self.process = subprocess.Popen(
                    list(self.argv), env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
                )
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        *,
        stop: threading.Event | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.children = list(children)
        self.stop_event = stop or threading.Event()
        self.on_tick = on_tick

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self.stop_event.is_set():
                log.warning("second signal: stopping children now")
            self.stop_event.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def start_all(self) -> None:
        for child in self.children:
            if child.ready is None:
                child.start()

    def run(self) -> None:
        """Watch until stopped; then stop every child. Call start_all() first."""
        try:
            while not self.stop_event.wait(0.25):
                self._watch()
                if self.on_tick:
                    self.on_tick()
        finally:
            self.stop_all()

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                if child.ready is not None and child.ready():
                    child.start()
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    child.start()
                continue
            if child.alive():
                continue
            if child.oneshot:
                if not child.reported:
                    log.info("%s finished (exit code %s)", child.name, child.process.returncode)
                    child.reported = True
                continue
            if now - child.started_at > HEALTHY_AFTER_S:
                child.failures = 0
            child.failures += 1
            delay = min(2.0 ** (child.failures - 1), RESTART_BACKOFF_MAX_S)
            log.warning("%s exited with code %s; restarting in %.0f s", child.name, child.process.returncode, delay)
            child.restart_at = now + delay

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.restart_at = None
            if child.alive():
                assert child.process is not None
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()
