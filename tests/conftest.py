"""Shared fixtures: a real PostgreSQL cluster and a real Mosquitto broker, started once per session.

Each test gets its own database, cloned from a migrated template that holds the sample county.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest

from floodctl.db.migrate import migrate
from floodctl.embedded.broker import BrokerProcess, mosquitto_binary, start_broker
from floodctl.embedded.postgres import LocalCluster
from floodctl.settings import Settings

TEMPLATE_DB = "floodctl_template"


def _scratch_dir(prefix: str) -> Path:
    # Under /tmp (traversable by the unprivileged server account), not pytest's 0700 tmp_path.
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    with LocalCluster(_scratch_dir("floodctl-pg-"), preload_timescaledb=False) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def template_db(pg_cluster: LocalCluster) -> str:
    from gis_data import loader

    url = pg_cluster.create_database(TEMPLATE_DB)
    with psycopg.connect(url) as conn:
        migrate(conn, prefer="native")
        loader.load(conn, loader.read_geojson(loader.DEFAULT_TOWNS),
                    loader.read_geojson(loader.DEFAULT_STATIONS))
    return url


@pytest.fixture
def database_url(pg_cluster: LocalCluster, template_db: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    yield f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/{name}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerProcess]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: run `make test` (it installs it) or apt-get install mosquitto")
    directory = _scratch_dir("floodctl-mqtt-")
    process = start_broker(directory)
    try:
        yield process
    finally:
        process.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A share group of its own: earlier tests' offline sessions would otherwise take their turn.
    unique = uuid.uuid4().hex[:8]
    return Settings(data_dir=tmp_path / "var", ingest_metrics_port=0, ingest_flush_ms=20,
                    mqtt_client_prefix=f"test-{unique}", mqtt_share_group=f"g{unique}",
                    _env_file=None)


class RunningWorker:
    """An ingest worker on a thread of the test process (for tests that don't kill it)."""

    def __init__(self, worker: object, thread: threading.Thread) -> None:
        self.worker = worker
        self.thread = thread

    def stop(self) -> None:
        self.worker.stop_event.set()  # type: ignore[attr-defined]
        self.thread.join(30)
        assert not self.thread.is_alive(), "ingest worker did not stop"


@pytest.fixture
def start_worker(settings: Settings, database_url: str, broker: BrokerProcess) -> Iterator[object]:
    from ingest.worker import IngestWorker

    running: list[RunningWorker] = []

    def start(index: int = 0, shared: bool = True, **overrides: object) -> IngestWorker:
        worker_settings = settings.model_copy(update=overrides) if overrides else settings
        worker = IngestWorker(worker_settings, index=index, database_url=database_url,
                              mqtt_url=broker.url, shared=shared, protocol=worker_settings.ingest_mqtt_protocol)
        thread = threading.Thread(target=worker.run, daemon=True, name=f"ingest-{index}")
        thread.start()
        assert worker.wait_connected(15), "ingest worker did not connect to the broker"
        running.append(RunningWorker(worker, thread))
        return worker

    yield start
    for item in running:
        item.stop()


@contextmanager
def _serving(app: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a thread; the socket is bound first, so no port race."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="api")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "the API server died while starting"
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "the API server did not stop"


@pytest.fixture(scope="session")
def serve_app() -> Callable[[object], AbstractContextManager[str]]:
    """``with serve_app(app) as base_url:`` — a real HTTP server for the app."""
    return _serving
