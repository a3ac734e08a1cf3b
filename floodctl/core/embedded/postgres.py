"""Embedded PostgreSQL: the ``pgserver`` wheel for ``floodctl up``, and a local cluster runner.

``start_pgserver`` is the embedded default (no ``FLOOD_DATABASE_URL``): data under
``FLOOD_DATA_DIR/pg``, reached over a Unix socket. ``LocalCluster`` runs ``initdb``/``pg_ctl``
from a PostgreSQL bin directory on a loopback TCP port; tests and benchmarks use it because they
must stop and restart the server, and because it picks up TimescaleDB when the server has it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from floodctl.core.errors import ServiceUnavailable
from floodctl.core.net import free_port

PG_START_TIMEOUT_S = 60


def start_pgserver(data_dir: Path) -> str:
    """Start (or join) the embedded pgserver instance; returns its connection URI."""
    import pgserver  # heavy import, only when the embedded default is used

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as exc:  # pgserver reports initdb/pg_ctl failures as plain exceptions
        raise ServiceUnavailable(f"embedded PostgreSQL did not start: {exc}") from None
    return str(server.get_uri())


def find_pg_bin() -> Path:
    """A PostgreSQL bin directory: $FLOOD_PG_BIN, the system's newest, else pgserver's own."""
    explicit = os.environ.get("FLOOD_PG_BIN")
    if explicit:
        return Path(explicit)
    system = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if system:
        return system[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: pick the account to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "pgserver"], check=True)
    return "pgserver"


@dataclass
class LocalCluster:
    """A throw-away PostgreSQL cluster in ``directory``, listening on 127.0.0.1:``port``.

    Run as root, the server runs as an unprivileged account, so ``directory``'s parents must be
    traversable by it (``/tmp/...`` is; pytest's ``tmp_path`` is not).
    """

    directory: Path
    port: int = field(default_factory=free_port)
    bin_dir: Path = field(default_factory=find_pg_bin)
    preload_timescaledb: bool | None = None  # None: when the server has the extension
    durable: bool = False  # fsync as in production (benchmarks); tests skip it

    def __post_init__(self) -> None:
        self.directory = self.directory.resolve()
        self.pgdata = self.directory / "data"
        self.user = _unprivileged_user()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def has_timescaledb(self) -> bool:
        pg_config = self.bin_dir / "pg_config"
        if not pg_config.exists():
            return False
        libdir = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True).stdout.strip()
        sharedir = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True).stdout.strip()
        return (Path(libdir) / "timescaledb.so").exists() and (
            Path(sharedir) / "extension" / "timescaledb.control"
        ).exists()

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), user=self.user, capture_output=True, text=True, check=False)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.directory, self.user)
        if (self.pgdata / "PG_VERSION").exists():
            return
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        if done.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {done.stderr.strip()}")

    def start(self) -> None:
        self.init()
        preload = self.has_timescaledb() if self.preload_timescaledb is None else self.preload_timescaledb
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            *([] if self.durable else ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            "-c timescaledb.telemetry_level=off" if preload else "",
            f"-c shared_preload_libraries={'timescaledb' if preload else ''}",
        ]
        done = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            str(PG_START_TIMEOUT_S),
            "-o",
            " ".join(o for o in options if o),
            "start",
        )
        if done.returncode != 0:
            log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
            raise ServiceUnavailable(f"PostgreSQL did not start: {done.stderr.strip()}\n{log}")
        self.wait_ready()

    def wait_ready(self, timeout_s: float = PG_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable("PostgreSQL did not accept connections") from None
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """A throw-away cluster: stop it and remove its directory."""
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
