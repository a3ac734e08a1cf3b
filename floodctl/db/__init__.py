"""Database access: connections with a bounded wait, a shared pool, and numbered migrations."""

from __future__ import annotations

import time

import psycopg
from psycopg_pool import ConnectionPool

from floodctl.errors import ServiceUnavailable

CONNECT_TIMEOUT_S = 5
WAIT_FOR_DB_S = 30.0


def connect(dsn: str, *, autocommit: bool = False, wait_s: float = 0.0) -> psycopg.Connection:
    """Open one connection; retry for up to ``wait_s`` seconds while the server is starting."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# Request handlers' sessions: short reads whose plans cost just enough to trigger PostgreSQL's JIT, which then
# spends ~40 ms compiling a 50 ms query (the 5,000-station map; `floodctl bench query`). Off for them.
REQUEST_SESSION = {"connect_timeout": CONNECT_TIMEOUT_S, "options": "-c jit=off"}


def make_pool(dsn: str, *, min_size: int = 1, max_size: int = 8, name: str = "floodctl") -> ConnectionPool:
    """A pool for request handlers; opening waits (bounded) for the database."""
    pool = ConnectionPool(
        dsn, min_size=min_size, max_size=max_size, name=name, open=False,
        kwargs=REQUEST_SESSION, reconnect_timeout=60,
    )
    try:
        pool.open(wait=True, timeout=WAIT_FOR_DB_S)
    except Exception as exc:  # PoolTimeout carries the connection error text
        pool.close()
        raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
    return pool


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
