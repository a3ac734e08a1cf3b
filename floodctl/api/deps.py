"""Request dependencies as ``Annotated`` aliases, so routes read like their purpose."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from floodctl.errors import ServiceUnavailable
from floodctl.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


POOL_WAIT_S = 10.0


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection for the request. A pool that stays exhausted (PoolTimeout) or a lost
    connection (OperationalError) is the database being unavailable: 503, not a 500."""
    pool: ConnectionPool = request.app.state.pool
    try:
        with pool.connection(timeout=POOL_WAIT_S) as conn:
            yield conn
    except psycopg.OperationalError as exc:   # PoolTimeout is one too
        first_line = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise ServiceUnavailable(f"database not available: {first_line}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. Accounts and roles arrive with the auth issue; until then every caller is
    an anonymous viewer, and read routes depend on this so the check slots in here."""

    name: str
    roles: frozenset[str]


def current_principal() -> Principal:
    return Principal("anonymous", frozenset({"viewer"}))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the transaction ends (commit, or rollback and the 503 mapping above) before the
# response is sent. FastAPI's default for yield dependencies is after it, where a failing commit can
# no longer be reported and the client would already have its 200.
ConnDep = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]
ViewerDep = Annotated[Principal, Depends(current_principal)]
