"""Request dependencies as ``Annotated`` aliases, so routes read like their purpose.

Who is asking: ``Authorization: Bearer <token>`` (from ``POST /api/v1/auth/token``) names an account,
reloaded from the database on every request (roles, active, token_version), so revocation is
immediate. Without the header the caller is the anonymous viewer when reads are open
(``Settings.allows_anonymous_read``: development by default), else 401.

- ``ViewerDep``: reads. Anonymous (when open) or an account holding any role (each role may read).
- ``AuthenticatedDep``: any logged-in account, even one without roles.
- ``require(*roles)``: an account holding one of ``roles`` (admin holds every right); 401 when not
  logged in, 403 otherwise. Aliases: ``AdminDep``, ``CommanderDep``, ``DutyDep`` (duty officer or
  commander), ``InspectorDep``, ``TownOfficerDep``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from psycopg_pool import ConnectionPool

from floodctl.auth import ANONYMOUS, ROLES, Principal, store, tokens
from floodctl.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from floodctl.core.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


POOL_WAIT_S = 10.0
T = TypeVar("T")


@contextmanager
def pooled(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection (committed on success). A pool that stays exhausted (PoolTimeout) or a lost
    connection (OperationalError) is the database being unavailable: 503, not a 500."""
    pool: ConnectionPool = request.app.state.pool
    try:
        with pool.connection(timeout=POOL_WAIT_S) as conn:
            yield conn
    except psycopg.OperationalError as exc:  # PoolTimeout is one too
        first_line = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise ServiceUnavailable(f"database not available: {first_line}") from None


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection for the request (sync routes: they run on worker threads)."""
    with pooled(request) as conn:
        yield conn


async def in_database(request: Request, work: Callable[[psycopg.Connection], T]) -> T:
    """For ``async`` routes (those that read the body themselves): their database work on a worker thread,
    with a connection taken only then. The event loop never waits on the database (a lock wait there would
    stall every request of the process), and no connection is held while a slow client sends its body."""

    def call() -> T:
        with pooled(request) as conn:
            return work(conn)

    return await run_in_threadpool(call)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DrillQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="drill id; 0 = live operations")]
# scope="function": the transaction ends (commit, or rollback and the 503 mapping above) before the
# response is sent. FastAPI's default for yield dependencies is after it, where a failing commit can
# no longer be reported and the client would already have its 200.
ConnDep = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]


# Only for OpenAPI (the "Authorize" button of /docs); the header is read by current_principal.
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
LOGIN_HINT = "log in: send Authorization: Bearer <token> from POST /api/v1/auth/token"


SAFE_METHODS = frozenset({"GET", "HEAD"})


def principal_for_token(conn: psycopg.Connection, settings: Settings, token: str) -> Principal:
    """The account an access token names, reloaded now (roles, active, token_version); Unauthorized when
    the token is bad, expired or revoked. Shared by the API and the wall's session cookie."""
    claims = tokens.verify(settings, token)
    account = store.get_account(conn, claims["sub"])
    if account is None or account.token_version != claims["ver"]:
        raise Unauthorized("access token revoked; log in again")
    if not account.active:
        raise Unauthorized("account disabled")
    return account.principal()


def _principal(request: Request, conn: psycopg.Connection, settings: Settings, *, session_cookie: bool) -> Principal:
    header = request.headers.get("authorization")
    if header is None:
        cookie = request.cookies.get(tokens.SESSION_COOKIE) if session_cookie else None
        if cookie and request.method in SAFE_METHODS:
            try:
                return principal_for_token(conn, settings, cookie)
            except Unauthorized:
                if not settings.allows_anonymous_read:
                    raise
        if settings.allows_anonymous_read:
            return ANONYMOUS
        raise Unauthorized(f"authentication required; {LOGIN_HINT}")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return principal_for_token(conn, settings, token.strip())


def current_principal(
    request: Request, settings: SettingsDep, _token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    """The account named by the bearer token, or the anonymous viewer when reads are open. Its connection
    is returned at once (an upload that follows holds none)."""
    if request.headers.get("authorization") is None:  # no account to load
        if settings.allows_anonymous_read:
            return ANONYMOUS
        raise Unauthorized(f"authentication required; {LOGIN_HINT}")
    with pooled(request) as conn:
        return _principal(request, conn, settings, session_cookie=False)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def current_viewer(principal: PrincipalDep, settings: SettingsDep) -> Principal:
    """Reads: every role may read; an account without any role may read only what anonymous may."""
    if principal.authenticated and not principal.roles and not settings.allows_anonymous_read:
        raise Forbidden("requires role viewer")
    return principal


def require(*roles: str) -> Any:
    """A dependency (``Depends``) demanding a logged-in account with one of ``roles`` (any account
    when none are given). Use as ``Annotated[Principal, require("commander")]`` or in a route's
    ``dependencies=[require("admin")]``."""
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; one of {ROLES}")
    needed = " or ".join(roles)

    def dependency(principal: PrincipalDep) -> Principal:
        if not principal.authenticated:
            raise Unauthorized(f"authentication required; {LOGIN_HINT}")
        if roles and not principal.has_any(*roles):
            raise Forbidden(f"requires role {needed}")
        return principal

    dependency.__name__ = f"require_{'_or_'.join(roles) or 'login'}"
    return Depends(dependency)


def page_viewer(
    request: Request, conn: ConnDep, settings: SettingsDep, _token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    """Reads opened by a plain navigation from the web pages (the wall's map download link): the
    bearer token, else the session cookie set at login (``tokens.SESSION_COOKIE``), else the viewer
    rule. Only GET/HEAD routes use it, so the cookie never makes a change (no CSRF through it); the
    rest of the API stays bearer-only."""
    principal = _principal(request, conn, settings, session_cookie=True)
    return current_viewer(principal, settings)


ViewerDep = Annotated[Principal, Depends(current_viewer)]
PageViewerDep = Annotated[Principal, Depends(page_viewer)]
AuthenticatedDep = Annotated[Principal, require()]
AdminDep = Annotated[Principal, require("admin")]
CommanderDep = Annotated[Principal, require("commander")]
DutyDep = Annotated[Principal, require("duty_officer", "commander")]
InspectorDep = Annotated[Principal, require("inspector")]
TownOfficerDep = Annotated[Principal, require("town_officer")]

__all__ = [
    "AdminDep",
    "AuthenticatedDep",
    "CommanderDep",
    "ConnDep",
    "DutyDep",
    "InspectorDep",
    "PageViewerDep",
    "Principal",
    "PrincipalDep",
    "SettingsDep",
    "TownOfficerDep",
    "ViewerDep",
    "current_principal",
    "current_viewer",
    "get_conn",
    "get_settings_dep",
    "require",
]
