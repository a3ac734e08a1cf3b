"""Shared fixtures: a real PostgreSQL cluster and a real Mosquitto broker, started once per session.

Each test gets its own database, cloned from a migrated template that holds the sample county.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from floodctl.core.db.migrate import migrate
from floodctl.core.embedded.broker import BrokerProcess, mosquitto_binary, start_broker
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.net import serve_in_thread
from floodctl.core.settings import Settings

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
        loader.load_layers(conn)  # the whole sample county: towns, stations, villages, roster, …
    return url


@contextmanager
def _cloned(cluster: LocalCluster, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"
    finally:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def clone_database(pg_cluster: LocalCluster, template_db: str) -> Callable[[str], AbstractContextManager[str]]:
    """``with clone_database("api") as url:`` — a database cloned from the sample-county template, dropped
    afterwards (for module-scoped databases; ``database_url`` gives each test its own)."""
    return lambda prefix: _cloned(pg_cluster, prefix)


@pytest.fixture
def database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with clone_database("t") as url:
        yield url


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
    return Settings(
        data_dir=tmp_path / "var",
        ingest_metrics_port=0,
        ingest_flush_ms=20,
        mqtt_client_prefix=f"test-{unique}",
        mqtt_share_group=f"g{unique}",
        _env_file=None,
    )


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
        worker = IngestWorker(
            worker_settings,
            index=index,
            database_url=database_url,
            mqtt_url=broker.url,
            shared=shared,
            protocol=worker_settings.ingest_mqtt_protocol,
        )
        thread = threading.Thread(target=worker.run, daemon=True, name=f"ingest-{index}")
        thread.start()
        assert worker.wait_connected(15), "ingest worker did not connect to the broker"
        running.append(RunningWorker(worker, thread))
        return worker

    yield start
    for item in running:
        item.stop()


@pytest.fixture(scope="session")
def serve_app() -> Callable[[object], AbstractContextManager[str]]:
    """``with serve_app(app) as base_url:`` — a real HTTP server for the app."""
    return serve_in_thread


@pytest.fixture(scope="session")
def serve_api() -> Callable[..., AbstractContextManager[httpx.Client]]:
    """``with serve_api(settings, database_url, **setting_overrides) as client:`` an httpx client on the
    API app (``build``: another app factory taking the same arguments), served by uvicorn on a free
    loopback port and stopped on leaving."""

    @contextmanager
    def start(
        settings: Settings,
        database_url: str,
        *,
        build: Callable[[Settings, str], object] | None = None,
        **overrides: object,
    ) -> Iterator[httpx.Client]:
        from floodctl.api.app import create_app

        app_settings = settings.model_copy(update=overrides) if overrides else settings
        app = (build or create_app)(app_settings, database_url)
        with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
            yield client

    return start


class Spawned:
    """``python -m floodctl ARGS`` as a real child process (for kill -9 tests)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Spawned:
        self.process = subprocess.Popen([sys.executable, "-m", "floodctl", *self.args], env=self.env)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(30)
        return self.process.returncode


@pytest.fixture(scope="session")
def floodctl_process() -> type[Spawned]:
    """The :class:`Spawned` class: ``floodctl_process(["ingest"], env).start()``."""
    return Spawned


def _wait_until(check: Callable[[], object], timeout_s: float = 15, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., object]:
    """``wait_until(check, timeout_s=15, what="…")``: poll until ``check()`` is truthy; returns its value."""
    return _wait_until


TEST_PASSWORD = "correct horse battery"


def _account_headers(
    http: object, database_url: str, name: str, *roles: str, town: str | None = None
) -> dict[str, str]:
    from floodctl.auth import store

    with psycopg.connect(database_url) as conn:
        store.create_user(conn, name, TEST_PASSWORD, roles=roles, town=town, actor="test")
    response = http.post("/api/v1/auth/token", data={"username": name, "password": TEST_PASSWORD})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="session")
def account_headers() -> Callable[..., dict[str, str]]:
    """``account_headers(http, database_url, name, *roles, town=None)``: create the account, log in
    through the API client ``http`` and return the Authorization header."""
    return _account_headers
