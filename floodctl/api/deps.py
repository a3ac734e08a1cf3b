"""Request dependencies as ``Annotated`` aliases, so routes read like their purpose."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from floodctl.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. Accounts and roles arrive with the auth issue; until then every caller is
    an anonymous viewer, and read routes depend on this so the check slots in here."""

    name: str
    roles: frozenset[str]


def current_principal() -> Principal:
    return Principal("anonymous", frozenset({"viewer"}))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ConnDep = Annotated[psycopg.Connection, Depends(get_conn)]
ViewerDep = Annotated[Principal, Depends(current_principal)]
