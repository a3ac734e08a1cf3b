"""Run ingest: one worker in this process, or N worker processes under the supervisor.

Each worker has a stable client id (``{prefix}-ingest-{i}``) so a restarted worker resumes its
persistent session and gets back the messages it had not acknowledged.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from floodctl.core.settings import Settings
from floodctl.core.supervise import Child, Supervisor

log = logging.getLogger("floodctl.ingest")


def _serve_metrics(settings: Settings, index: int) -> None:
    if not settings.ingest_metrics_port:
        return
    from prometheus_client import start_http_server

    port = settings.ingest_metrics_port + index
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        log.warning("worker %d: metrics port %d unavailable (%s); metrics off", index, port, exc)


def run_worker(
    settings: Settings,
    index: int,
    *,
    database_url: str,
    mqtt_url: str,
    shared: bool,
    protocol: str,
    retire: bool = False,
) -> None:
    """One worker in this process; returns after SIGINT/SIGTERM once its batch is committed."""
    from ingest.worker import IngestWorker

    worker = IngestWorker(
        settings,
        index=index,
        database_url=database_url,
        mqtt_url=mqtt_url,
        shared=shared,
        protocol=protocol,
        retire=retire,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _serve_metrics(settings, index)
    worker.run()


def worker_children(workers: int, *, database_url: str, mqtt_url: str, shared: bool, protocol: str) -> list[Child]:
    env = {"FLOOD_DATABASE_URL": database_url, "FLOOD_MQTT_URL": mqtt_url, "FLOOD_INGEST_MQTT_PROTOCOL": protocol}
    extra = [] if shared else ["--no-shared"]
    return [
        Child(f"ingest-{i}", [sys.executable, "-m", "floodctl", "ingest", "--index", str(i), *extra], env=env)
        for i in range(workers)
    ]


def run_ingest(
    settings: Settings, *, workers: int, database_url: str, mqtt_url: str, shared: bool = True, protocol: str = "5"
) -> None:
    if workers == 1:
        run_worker(settings, 0, database_url=database_url, mqtt_url=mqtt_url, shared=shared, protocol=protocol)
        return
    supervisor = Supervisor(
        worker_children(workers, database_url=database_url, mqtt_url=mqtt_url, shared=shared, protocol=protocol)
    )
    supervisor.install_signal_handlers()
    supervisor.start_all()
    log.info("ingest: %d workers started", workers)
    supervisor.run()
    log.info("ingest: all workers stopped")
