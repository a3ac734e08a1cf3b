"""``/api/v1/auth``: log in for a bearer token, who am I, and account administration (admin).

Failed logins are rate-limited per user name and per client address: more than
FLOOD_LOGIN_MAX_FAILURES failures within FLOOD_LOGIN_WINDOW_S seconds, and further attempts get 429
with Retry-After until the oldest counted failure leaves the window. The counts live in the API
process (one limiter per app): several API processes each count on their own, and a restart
forgets. Behind a reverse proxy the client address is the proxy's unless uvicorn is told to trust
its forwarding headers (``--proxy-headers --forwarded-allow-ips``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from floodctl.api.deps import AdminDep, AuthenticatedDep, ConnDep, SettingsDep
from floodctl.auth import store, tokens
from floodctl.auth.store import Account
from floodctl.errors import TooManyRequests, Unauthorized

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

LOGIN_FAILED = "wrong user name or password"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class LoginLimiter:
    """Failed logins per key (user name, client address) in a sliding window, in this process.

    A key is blocked once it has ``max_failures`` failures younger than ``window_s``; only the
    newest ``max_failures`` times are kept per key, and at most ``max_keys`` keys (the least recently
    failed are forgotten first), so memory stays bounded whatever names an attacker tries.
    """

    def __init__(self, max_failures: int, window_s: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, *keys: str) -> tuple[int, float]:
        """Check an attempt against every key: ``(seconds to wait, 0.0)`` when blocked, else
        ``(0, stamp)`` with the attempt already counted as a failure (so concurrent attempts cannot
        slip past the limit while a password is being verified); :meth:`succeeded` takes it back."""
        now = self._clock()
        with self._lock:
            wait = 0.0
            for key in keys:
                times = self._failures.get(key)
                if times is not None and len(times) >= self.max_failures:
                    wait = max(wait, times[0] + self.window_s - now)
            if wait > 0:
                return max(1, math.ceil(wait)), 0.0
            for key in keys:
                times = self._failures.pop(key, None) or deque(maxlen=self.max_failures)
                times.append(now)
                self._failures[key] = times      # (re)inserted last: the most recently failed
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
            return 0, now

    def succeeded(self, stamp: float, *keys: str, forget: str | None = None) -> None:
        """The attempt counted at ``stamp`` succeeded: uncount it; ``forget`` clears a key (the user
        name: a correct password ends its run of failures, an address's count stays)."""
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is not None and stamp in times:
                    times.remove(stamp)
            if forget is not None:
                self._failures.pop(forget, None)


_limiter_lock = threading.Lock()


def login_limiter(request: Request) -> LoginLimiter:
    """The app's limiter, made on first use from its settings."""
    state = request.app.state
    with _limiter_lock:
        limiter = getattr(state, "login_limiter", None)
        if limiter is None:
            settings = state.settings
            limiter = state.login_limiter = LoginLimiter(settings.login_max_failures, settings.login_window_s)
    return limiter


LimiterDep = Annotated[LoginLimiter, Depends(login_limiter)]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="login name: 2-64 lowercase letters, digits, '.', '_', '-'")
    password: SecretStr = Field(description=f"at least {store.MIN_PASSWORD_LENGTH} characters")
    roles: list[str] = Field(default_factory=list, description="none by default: no right until granted")
    town: str | None = Field(None, description="township code or name; needed for town_officer")
    display_name: str | None = None


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    town: str | None = Field(None, description="set the account's town too (town_officer needs one)")


def _account_json(account: Account) -> dict[str, object]:
    return {"name": account.name, "display_name": account.display_name, "roles": sorted(account.roles),
            "town": account.town, "active": account.active, "created_at": account.created_at.isoformat()}


def _error(exc: TooManyRequests | Unauthorized) -> JSONResponse:
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.http_status,
                        headers={**exc.headers, **NO_STORE})


@router.post("/token", summary="Log in (OAuth2 password form): a bearer access token")
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: ConnDep,
          settings: SettingsDep, limiter: LimiterDep) -> JSONResponse:
    name = store.normalize_name(form.username)[:64]
    client = request.client.host if request.client else "unknown"
    keys = (f"user:{name}", f"ip:{client}")
    wait, stamp = limiter.attempt(*keys)
    if wait:
        return _error(TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after_s=wait))
    principal = store.authenticate(conn, form.username, form.password, client=client)
    if principal is None:
        conn.commit()                   # keep the auth.login_failed audit row
        return _error(Unauthorized(LOGIN_FAILED))
    limiter.succeeded(stamp, *keys, forget=keys[0])
    account = store.get_account(conn, principal.name)
    assert account is not None          # authenticate just read it, in this transaction
    token = tokens.issue(settings, principal, account.token_version)
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl_s,
                         "roles": sorted(principal.roles)}, headers=NO_STORE)


@router.get("/me", summary="The logged-in account: name, roles, town")
def me(principal: AuthenticatedDep, conn: ConnDep) -> JSONResponse:
    account = store.get_account(conn, principal.name)
    return JSONResponse({"name": principal.name, "display_name": account.display_name if account else None,
                         "roles": sorted(principal.roles), "town": principal.town})


@router.get("/users", summary="Accounts (admin)")
def list_users(admin: AdminDep, conn: ConnDep) -> JSONResponse:
    return JSONResponse({"users": [_account_json(account) for account in store.list_users(conn)]})


@router.post("/users", status_code=201, summary="Create an account (admin); it has no role unless given")
def create_user(body: NewUser, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    account = store.create_user(conn, body.name, body.password.get_secret_value(), roles=body.roles,
                                town=body.town, display_name=body.display_name, actor=admin.name)
    return JSONResponse(_account_json(account), status_code=201)


@router.post("/users/{name}/roles", summary="Grant a role (admin); effective on the holder's next request")
def grant_role(name: str, body: Grant, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    granted = store.grant(conn, name, body.role, admin.name, town=body.town)
    account = store.get_account(conn, name)
    assert account is not None
    return JSONResponse({**_account_json(account), "granted": granted})


@router.delete("/users/{name}/roles/{role}", summary="Revoke a role (admin); effective at once")
def revoke_role(name: str, role: str, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    revoked = store.revoke(conn, name, role, admin.name)
    account = store.get_account(conn, name)
    assert account is not None
    return JSONResponse({**_account_json(account), "revoked": revoked})
