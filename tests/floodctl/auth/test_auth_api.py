"""``/api/v1/auth`` and the role dependencies through a real uvicorn server and a real database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from floodctl.api.app import create_app
from floodctl.auth import store, tokens
from floodctl.auth.deps import AdminDep, AuthenticatedDep, CommanderDep, DutyDep, ViewerDep
from floodctl.auth.routes import LOGIN_FAILED, router
from floodctl.core import audit
from floodctl.core.settings import Settings

PASSWORD = "correct horse battery"


def build_app(settings: Settings, database_url: str) -> FastAPI:
    app = create_app(settings, database_url)
    if not any(getattr(route, "path", None) == "/api/v1/auth/token" for route in app.routes):
        app.include_router(router)  # until app.py includes it itself

    @app.get("/t/commander")
    def commander_only(who: CommanderDep) -> dict[str, str]:
        return {"name": who.name}

    @app.get("/t/duty")
    def duty_only(who: DutyDep) -> dict[str, str]:
        return {"name": who.name}

    @app.get("/t/admin")
    def admin_only(who: AdminDep) -> dict[str, str]:
        return {"name": who.name}

    @app.get("/t/any")
    def any_account(who: AuthenticatedDep) -> dict[str, str]:
        return {"name": who.name}

    @app.get("/t/read")
    def read(who: ViewerDep) -> dict[str, object]:
        return {"name": who.name, "authenticated": who.authenticated}

    return app


@pytest.fixture
def serve(
    settings: Settings,
    database_url: str,
    serve_api: Callable[..., AbstractContextManager[httpx.Client]],
) -> Callable[..., AbstractContextManager[httpx.Client]]:
    """``with serve(**setting_overrides) as client:`` an httpx client on a freshly served app."""

    @contextmanager
    def start(**overrides: object) -> Iterator[httpx.Client]:
        with serve_api(settings, database_url, build=build_app, **overrides) as client:
            yield client

    return start


@pytest.fixture
def api(serve: Callable[..., AbstractContextManager[httpx.Client]]) -> Iterator[httpx.Client]:
    with serve() as client:
        yield client


def login(api: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    return api.post("/api/v1/auth/token", data={"username": name, "password": password})


def token_of(api: httpx.Client, name: str, password: str = PASSWORD) -> str:
    response = login(api, name, password)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, error: str, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    if message is not None:
        assert message in body["message"], body
    return str(body["message"])


# --- logging in ------------------------------------------------------------------------------------


def test_account_without_roles_logs_in_but_is_forbidden_until_granted(
    api: httpx.Client, db: psycopg.Connection
) -> None:
    store.create_user(db, "nora", PASSWORD)
    response = login(api, "nora")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["roles"] == [] and body["expires_in"] == 8 * 3600
    assert response.headers["cache-control"] == "no-store"
    token = body["access_token"]
    me = api.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json() == {"name": "nora", "display_name": None, "roles": [], "town": None}
    assert_error(api.get("/t/commander", headers=bearer(token)), 403, "forbidden", "requires role commander")
    assert_error(api.get("/t/duty", headers=bearer(token)), 403, "forbidden", "requires role duty_officer or commander")
    store.grant(db, "nora", "commander", "root")  # same token: roles come from the database
    assert api.get("/t/commander", headers=bearer(token)).json() == {"name": "nora"}
    assert api.get("/t/duty", headers=bearer(token)).status_code == 200
    assert_error(api.get("/t/admin", headers=bearer(token)), 403, "forbidden", "requires role admin")


def test_admin_has_every_right(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "root.admin", PASSWORD, roles=["admin"])
    token = token_of(api, "root.admin")
    for path in ("/t/commander", "/t/duty", "/t/admin", "/t/any", "/t/read"):
        assert api.get(path, headers=bearer(token)).status_code == 200, path


def test_wrong_password_and_unknown_user_look_the_same(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "olga", PASSWORD, roles=["viewer"])
    wrong = login(api, "olga", "not the password")
    unknown = login(api, "nobody", PASSWORD)
    assert assert_error(wrong, 401, "unauthorized") == assert_error(unknown, 401, "unauthorized") == LOGIN_FAILED
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate") == "Bearer"
    failures = [
        (r["actor"], r["details"]["reason"], r["details"]["client"])
        for r in audit.recent(db)
        if r["action"] == "auth.login_failed"
    ]
    assert sorted(failures) == [("nobody", "unknown user", "127.0.0.1"), ("olga", "wrong password", "127.0.0.1")]
    token_of(api, "olga")
    assert [r["action"] for r in audit.recent(db, subject="user:olga")][:2] == ["auth.login", "auth.login_failed"]
    logged = json.dumps([r["details"] for r in audit.recent(db)])
    assert PASSWORD not in logged and "not the password" not in logged
    assert_error(api.post("/api/v1/auth/token", data={"username": "olga"}), 400, "invalid_query", "password")


def test_sixth_failure_is_rate_limited(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "pete", PASSWORD, roles=["viewer"])
    for _ in range(5):
        assert login(api, "pete", "wrong password!").status_code == 401
    limited = login(api, "pete", "wrong password!")
    assert_error(limited, 429, "too_many_requests", "too many failed logins")
    assert 1 <= int(limited.headers["retry-after"]) <= 300
    assert login(api, "pete").status_code == 429  # even the right password, until the window passes
    assert login(api, "someone.else").status_code == 429  # the address is limited too
    failed = [r for r in audit.recent(db) if r["action"] == "auth.login_failed"]
    assert len(failed) == 5  # refused attempts never reached the database


def test_failures_from_one_address_across_names_are_limited(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "quinn", PASSWORD, roles=["viewer"])
    with serve(login_max_failures=3, login_window_s=1) as api:
        for name in ("a1", "a2", "a3"):
            assert login(api, name).status_code == 401
        assert_error(login(api, "quinn"), 429, "too_many_requests")
        time.sleep(1.2)  # the window passes
        assert login(api, "quinn").status_code == 200


def test_a_success_does_not_reset_the_address_count(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    # (It does reset the user name's count: see test_login_limiter_window.)
    store.create_user(db, "rosa", PASSWORD, roles=["viewer"])
    with serve(login_max_failures=3) as api:
        for _ in range(2):
            assert login(api, "rosa", "mistyped password").status_code == 401
        token_of(api, "rosa")  # an attacker's own account …
        assert login(api, "victim", "guess number three").status_code == 401
        assert login(api, "victim", "guess number four").status_code == 429  # … does not buy more guesses


# --- tokens ------------------------------------------------------------------------------------------


def test_expired_tampered_and_malformed_tokens(api: httpx.Client, db: psycopg.Connection, settings: Settings) -> None:
    store.create_user(db, "sam", PASSWORD, roles=["commander"])
    expired = tokens.issue(settings, "sam", 0, ttl_s=-10)
    assert_error(api.get("/t/commander", headers=bearer(expired)), 401, "unauthorized", "expired")
    good = token_of(api, "sam")
    head, body, signature = good.split(".")
    for bad in (f"{head}.{body}.{signature[:-4]}AAAA", f"{head}.{body[:-3]}abc.{signature}", "garbage"):
        assert_error(api.get("/t/commander", headers=bearer(bad)), 401, "unauthorized", "invalid access token")
    other = settings.model_copy(update={"secret_key": SecretStr("x" * 40)})
    assert_error(api.get("/t/commander", headers=bearer(tokens.issue(other, "sam", 0))), 401, "unauthorized")
    assert_error(
        api.get("/t/commander", headers={"Authorization": "Basic c2FtOnB3"}), 401, "unauthorized", "Bearer <token>"
    )
    assert_error(api.get("/t/commander"), 401, "unauthorized", "authentication required")
    assert api.get("/t/commander", headers=bearer(good)).status_code == 200


def test_revocation_is_immediate(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "tina", PASSWORD, roles=["commander", "viewer"])
    token = token_of(api, "tina")
    assert api.get("/t/commander", headers=bearer(token)).status_code == 200
    store.revoke(db, "tina", "commander", "root")
    assert_error(api.get("/t/commander", headers=bearer(token)), 403, "forbidden")
    assert api.get("/t/read", headers=bearer(token)).status_code == 200
    store.revoke_tokens(db, "tina", "root")
    assert_error(api.get("/t/read", headers=bearer(token)), 401, "unauthorized", "revoked")
    assert api.get("/t/read", headers=bearer(token_of(api, "tina"))).status_code == 200  # a new login works


def test_disabled_account(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "uma", PASSWORD, roles=["viewer"])
    token = token_of(api, "uma")
    store.set_active(db, "uma", False, "root")
    assert_error(api.get("/api/v1/auth/me", headers=bearer(token)), 401, "unauthorized", "disabled")
    assert assert_error(login(api, "uma"), 401, "unauthorized") == LOGIN_FAILED
    store.set_active(db, "uma", True, "root")
    assert api.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


# --- reads ---------------------------------------------------------------------------------------------


def test_anonymous_reads_in_development(api: httpx.Client, db: psycopg.Connection) -> None:
    assert api.get("/api/v1/stations").status_code == 200
    assert api.get("/t/read").json() == {"name": "anonymous", "authenticated": False}
    store.create_user(db, "vic", PASSWORD)
    assert api.get("/t/read", headers=bearer(token_of(api, "vic"))).status_code == 200  # no more than anonymous
    assert_error(api.get("/api/v1/auth/me"), 401, "unauthorized")
    assert_error(api.get("/t/any"), 401, "unauthorized")


def test_closed_reads_need_an_account_with_a_role(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "wes", PASSWORD, roles=["inspector"])
    store.create_user(db, "xia", PASSWORD)
    with serve(anonymous_read=False) as api:
        assert_error(api.get("/api/v1/stations"), 401, "unauthorized", "authentication required")
        assert_error(api.get("/api/v1/layers"), 401, "unauthorized")
        assert api.get("/api/v1/stations", headers=bearer(token_of(api, "wes"))).status_code == 200
        assert_error(
            api.get("/api/v1/stations", headers=bearer(token_of(api, "xia"))), 403, "forbidden", "requires role viewer"
        )


# --- administration ------------------------------------------------------------------------------------


def test_admin_creates_accounts_and_grants_roles(api: httpx.Client, db: psycopg.Connection) -> None:
    store.create_user(db, "yan", PASSWORD, roles=["admin"])
    store.create_user(db, "zoe", PASSWORD, roles=["commander"])
    admin, commander = bearer(token_of(api, "yan")), bearer(token_of(api, "zoe"))
    new = {"name": "amy", "password": PASSWORD, "display_name": "Amy Chen"}
    assert_error(api.post("/api/v1/auth/users", json=new), 401, "unauthorized")
    assert_error(api.post("/api/v1/auth/users", json=new, headers=commander), 403, "forbidden", "requires role admin")
    created = api.post("/api/v1/auth/users", json=new, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == [] and created.json()["display_name"] == "Amy Chen"
    assert_error(api.post("/api/v1/auth/users", json=new, headers=admin), 409, "conflict", "already exists")
    assert_error(
        api.post("/api/v1/auth/users", json={**new, "name": "bo", "password": "short"}, headers=admin),
        400,
        "bad_request",
        "at least 10 characters",
    )
    assert_error(
        api.post("/api/v1/auth/users", json={**new, "name": "bo", "roles": ["god"]}, headers=admin),
        400,
        "bad_request",
        "unknown role",
    )
    granted = api.post("/api/v1/auth/users/amy/roles", json={"role": "duty_officer"}, headers=admin)
    assert granted.status_code == 200 and granted.json()["roles"] == ["duty_officer"] and granted.json()["granted"]
    assert_error(api.post("/api/v1/auth/users/nobody/roles", json={"role": "viewer"}, headers=admin), 404, "not_found")
    assert_error(
        api.post("/api/v1/auth/users/amy/roles", json={"role": "duty_officer"}, headers=commander), 403, "forbidden"
    )
    assert api.get("/t/duty", headers=bearer(token_of(api, "amy"))).status_code == 200
    revoked = api.delete("/api/v1/auth/users/amy/roles/duty_officer", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["roles"] == []
    listed = api.get("/api/v1/auth/users", headers=admin).json()["users"]
    assert [u["name"] for u in listed] == ["amy", "yan", "zoe"] and "password_hash" not in listed[0]
    rows = [(r["actor"], r["action"]) for r in reversed(audit.recent(db, subject="user:amy"))]
    assert rows == [("yan", "user.create"), ("yan", "user.grant"), ("amy", "auth.login"), ("yan", "user.revoke")]
    stored = db.execute("SELECT password_hash FROM users WHERE name = 'amy'").fetchone()[0]
    assert stored.startswith("$argon2")
