"""``/api/v1/auth``: log in for a bearer token, who am I, and account administration (admin).

Failed logins are throttled in the database (:mod:`floodctl.auth.throttle`, shared by every API
process) per account and per client address, with back-off: FLOOD_LOGIN_MAX_FAILURES failures lock
the key for FLOOD_LOGIN_WINDOW_S, doubling with each further failure up to FLOOD_LOGIN_BACKOFF_MAX_S
(429 with Retry-After, in Chinese and English). A successful login sets a known-device cookie
(``floodctl_device``, HttpOnly, path /api/v1/auth, 180 days): a client that shows it for that account
is held only by its own failures, so an attacker's guesses never lock the commander's own browser out.
Every lock is audited; an admin unlocks (``POST /api/v1/auth/users/{name}/unlock``, ``floodctl user
unlock``). Behind a reverse proxy the client address is the proxy's unless uvicorn is told to trust
its forwarding headers (``--proxy-headers --forwarded-allow-ips``).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from floodctl.auth import store, throttle, tokens
from floodctl.auth.deps import AdminDep, AuthenticatedDep, ConnDep, SettingsDep
from floodctl.auth.store import Account
from floodctl.core.errors import BadRequest, NotFound, TooManyRequests, Unauthorized
from floodctl.core.settings import Settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

LOGIN_FAILED = "wrong user name or password"
DEVICE_COOKIE_PATH = "/api/v1/auth"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


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


class Token(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    roles: list[str]


class Me(BaseModel):
    name: str
    display_name: str | None
    roles: list[str]
    town: str | None


class AccountOut(BaseModel):
    name: str
    display_name: str | None
    roles: list[str]
    town: str | None
    active: bool
    created_at: str
    granted: bool | None = None  # POST …/roles: whether the role was new
    revoked: bool | None = None  # DELETE …/roles/{role}: whether it was held
    cleared: list[str] | None = None  # POST …/unlock: the throttle keys cleared


class Users(BaseModel):
    users: list[AccountOut]


def _account_json(account: Account) -> dict[str, object]:
    return {
        "name": account.name,
        "display_name": account.display_name,
        "roles": sorted(account.roles),
        "town": account.town,
        "active": account.active,
        "created_at": account.created_at.isoformat(),
    }


def _error(exc: TooManyRequests | Unauthorized) -> JSONResponse:
    return JSONResponse(
        {"error": exc.code, "message": exc.message}, status_code=exc.http_status, headers={**exc.headers, **NO_STORE}
    )


@router.post("/token", response_model=Token, summary="Log in (OAuth2 password form): a bearer access token")
def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: ConnDep, settings: SettingsDep
) -> JSONResponse:
    if "\x00" in form.username or "\x00" in form.password:
        raise BadRequest("the user name or password contains a NUL character")
    name = store.normalize_name(form.username)[:64]
    client = request.client.host if request.client else "unknown"
    device = _known_device(conn, settings, request, name)
    keys = (throttle.device_key(name, device),) if device else (f"user:{name}", f"ip:{client}")
    attempt = throttle.begin(conn, keys, throttle.Policy.of(settings))
    if attempt.wait_s:
        wait = attempt.wait_s
        return _error(
            TooManyRequests(
                f"登录失败次数过多，请 {wait} 秒后再试 / too many failed logins; try again in {wait} s",
                retry_after_s=wait,
            )
        )
    principal = store.authenticate(conn, form.username, form.password, client=client)
    if principal is None:
        throttle.failed(conn, attempt, name=name, client=client)
        conn.commit()  # keep the auth.login_failed and auth.locked audit rows
        return _error(Unauthorized(LOGIN_FAILED))
    throttle.succeeded(conn, attempt, forget=tuple(key for key in keys if not key.startswith("ip:")))
    account = store.get_account(conn, principal.name)
    assert account is not None  # authenticate just read it, in this transaction
    token = tokens.issue(settings, principal, account.token_version)
    response = JSONResponse(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": settings.token_ttl_s,
            "roles": sorted(principal.roles),
        },
        headers=NO_STORE,
    )
    # The web pages' session (the wall; reads only in the API): HttpOnly, so no script can take it.
    response.set_cookie(
        tokens.SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
    # This client is now a known device of the account (kept, renewed, when it already was).
    device_id = device or secrets.token_urlsafe(12)
    response.set_cookie(
        tokens.DEVICE_COOKIE,
        tokens.issue_device(settings, account.name, account.token_version, device_id),
        max_age=tokens.DEVICE_TTL_S,
        path=DEVICE_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
    return response


def _known_device(conn: ConnDep, settings: Settings, request: Request, name: str) -> str | None:
    """The device id of a valid known-device cookie issued to account ``name`` since its tokens were last
    revoked (a password change revokes them too); None for an unknown client."""
    claims = tokens.device_claims(settings, request.cookies.get(tokens.DEVICE_COOKIE))
    if claims is None or claims["sub"] != name:
        return None
    account = store.get_account(conn, name)
    if account is None or not account.active or account.token_version != claims["ver"]:
        return None
    return str(claims["did"])[:64]


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


@router.delete("/session", status_code=204, summary="Log out of the web pages (drops the session cookie)")
def logout() -> Response:
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(tokens.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=Me, summary="The logged-in account: name, roles, town")
def me(principal: AuthenticatedDep, conn: ConnDep) -> JSONResponse:
    account = store.get_account(conn, principal.name)
    return JSONResponse(
        {
            "name": principal.name,
            "display_name": account.display_name if account else None,
            "roles": sorted(principal.roles),
            "town": principal.town,
        }
    )


@router.get("/users", response_model=Users, summary="Accounts (admin)")
def list_users(admin: AdminDep, conn: ConnDep) -> JSONResponse:
    return JSONResponse({"users": [_account_json(account) for account in store.list_users(conn)]})


@router.post(
    "/users",
    status_code=201,
    response_model=AccountOut,
    summary="Create an account (admin); it has no role unless given",
)
def create_user(body: NewUser, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    account = store.create_user(
        conn,
        body.name,
        body.password.get_secret_value(),
        roles=body.roles,
        town=body.town,
        display_name=body.display_name,
        actor=admin.name,
    )
    return JSONResponse(_account_json(account), status_code=201)


@router.post(
    "/users/{name}/roles",
    response_model=AccountOut,
    summary="Grant a role (admin); effective on the holder's next request",
)
def grant_role(name: str, body: Grant, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    granted = store.grant(conn, name, body.role, admin.name, town=body.town)
    account = store.get_account(conn, name)
    assert account is not None
    return JSONResponse({**_account_json(account), "granted": granted})


@router.delete(
    "/users/{name}/roles/{role}", response_model=AccountOut, summary="Revoke a role (admin); effective at once"
)
def revoke_role(name: str, role: str, admin: AdminDep, conn: ConnDep) -> JSONResponse:
    revoked = store.revoke(conn, name, role, admin.name)
    account = store.get_account(conn, name)
    assert account is not None
    return JSONResponse({**_account_json(account), "revoked": revoked})


class Unlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, max_length=64, description="also clear this client address's failures")


@router.post(
    "/users/{name}/unlock",
    response_model=AccountOut,
    summary="Unlock an account locked by failed logins (admin); audited",
)
def unlock_user(name: str, admin: AdminDep, conn: ConnDep, body: Unlock | None = None) -> JSONResponse:
    account = store.get_account(conn, name)
    if account is None:
        raise NotFound(f"no user {store.normalize_name(name)!r}")
    address = body.address if body is not None else None
    if address is not None and "\x00" in address:
        raise BadRequest("the address contains a NUL character")
    cleared = throttle.unlock(conn, account.name, admin.name, address=address)
    return JSONResponse({**_account_json(account), "cleared": cleared})
