"""Database access: connections with a bounded wait, a shared pool, and numbered migrations."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from floodctl.core.errors import ServiceUnavailable

CONNECT_TIMEOUT_S = 5
WAIT_FOR_DB_S = 30.0


# For long-lived sessions that must notice a dead server or network (not only a closed socket) in seconds:
# TCP keepalive probes on an idle connection, and a bound on unacknowledged data (tcp_user_timeout, ms).
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


def connect(dsn: str, *, autocommit: bool = False, wait_s: float = 0.0, **kwargs: Any) -> psycopg.Connection:
    """Open one connection; retry for up to ``wait_s`` seconds while the server is starting.
    ``kwargs``: more connection parameters (e.g. ``**KEEPALIVE``)."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# Request handlers' sessions: short reads whose plans cost just enough to trigger PostgreSQL's JIT, which then
# spends ~40 ms compiling a 50 ms query (the 5,000-station map; `floodctl bench query`). Off for them.
REQUEST_SESSION = {"connect_timeout": CONNECT_TIMEOUT_S, "options": "-c jit=off"}


def make_pool(dsn: str, *, min_size: int = 1, max_size: int = 8, name: str = "floodctl") -> ConnectionPool:
    """A pool for request handlers; opening waits (bounded) for the database. Each connection is checked as
    it is handed out (``check_and_sweep``): after a database restart requests get fresh connections, not 503s."""
    pool = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs=REQUEST_SESSION,
        reconnect_timeout=60,
        check=lambda conn: check_and_sweep(pool, conn),
    )
    try:
        pool.open(wait=True, timeout=WAIT_FOR_DB_S)
    except Exception as exc:  # PoolTimeout carries the connection error text
        pool.close()
        raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
    return pool


def check_and_sweep(pool: ConnectionPool | None, conn: psycopg.Connection) -> None:
    """A pool's ``check``: test a connection (an empty query) as it is handed out. When it is broken the
    server has most likely restarted and every idle connection of the pool is as dead: check them all at
    once (``ConnectionPool.check`` replaces the broken ones), rather than let the pool try them one by one
    with its growing pause between failed checks (1 s, 2 s, 4 s, …: 8 dead connections outlast a
    request's wait, and each of those requests is a 503)."""
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        if pool is not None:
            pool.check()
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
