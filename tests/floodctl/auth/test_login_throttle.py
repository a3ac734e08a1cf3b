"""Failed logins are throttled by account and client address with back-off, a known device keeps the
account usable, an admin unlocks, every lock is audited, and the state holds across API processes
(issue 12, item 8). Real uvicorn servers and a real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from floodctl.api.app import create_app
from floodctl.auth import store
from floodctl.core import audit
from floodctl.core.settings import Settings

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"


@pytest.fixture
def serve(
    settings: Settings,
    database_url: str,
    serve_app: Callable[[object], AbstractContextManager[str]],
) -> Callable[..., AbstractContextManager[str]]:
    """``with serve(**overrides) as base_url:`` a freshly served app on the test database."""

    @contextmanager
    def start(**overrides: object) -> Iterator[str]:
        with serve_app(create_app(settings.model_copy(update=overrides), database_url)) as base:
            yield base

    return start


def login(http: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/token", data={"username": name, "password": password})


def locks(conn: psycopg.Connection) -> list[dict[str, object]]:
    return [row for row in audit.recent(conn) if row["action"] == "auth.locked"]


def test_known_device_logs_in_while_an_attacker_has_locked_the_account(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "chief", PASSWORD, roles=["commander"])
    with (
        serve() as base,
        httpx.Client(base_url=base, timeout=30) as commander,
        httpx.Client(base_url=base, timeout=30) as attacker,
    ):
        assert login(commander, "chief").status_code == 200  # the commander's browser: a known device now
        assert commander.cookies.get("floodctl_device")
        for _ in range(5):  # from the same address (one NAT)
            assert login(attacker, "chief", WRONG).status_code == 401
        refused = login(attacker, "chief", PASSWORD)  # even the right password: locked
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "登录失败次数过多" in refused.json()["message"] and "too many failed logins" in refused.json()["message"]
        # In the storm, the commander still gets in from their own browser — at once, from the same address.
        again = login(commander, "chief")
        assert again.status_code == 200, again.text
        token = again.json()["access_token"]
        assert commander.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "chief"
        # The attacker is still locked out, and a stolen-looking cookie for another account buys nothing.
        attacker.cookies.set("floodctl_device", commander.cookies.get("floodctl_device"), path="/api/v1/auth")
        store.create_user(db, "duty", PASSWORD, roles=["duty_officer"])
        assert login(attacker, "duty", WRONG).status_code == 429  # the address is locked
        # The known device itself gets no unlimited guesses either.
        for _ in range(5):
            assert login(commander, "chief", WRONG).status_code == 401
        assert login(commander, "chief").status_code == 429
    subjects = sorted({(row["subject"], row["details"]["key"]) for row in locks(db)})
    assert ("user:chief", "user") in subjects and ("address:127.0.0.1", "ip") in subjects
    assert ("user:chief", "device") in subjects
    assert all(row["actor"] == "system" and row["details"]["locked_s"] >= 1 for row in locks(db))


def test_a_password_change_revokes_known_devices(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "chief", PASSWORD, roles=["commander"])
    with (
        serve() as base,
        httpx.Client(base_url=base, timeout=30) as commander,
        httpx.Client(base_url=base, timeout=30) as attacker,
    ):
        assert login(commander, "chief").status_code == 200
        for _ in range(5):
            login(attacker, "chief", WRONG)
        store.set_password(db, "chief", "a brand new password", "root")
        assert login(commander, "chief", "a brand new password").status_code == 429  # no longer a known device


def test_an_unknown_client_backs_off_longer_each_time(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "pete", PASSWORD, roles=["viewer"])
    waits = []
    with (
        serve(login_max_failures=2, login_window_s=1, login_backoff_max_s=60) as base,
        httpx.Client(base_url=base, timeout=30) as guesser,
    ):
        for _ in range(2):
            assert login(guesser, "pete", WRONG).status_code == 401
        for _ in range(3):
            refused = login(guesser, "pete", WRONG)
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            waits.append(wait)
            time.sleep(wait + 0.2)
            assert login(guesser, "pete", WRONG).status_code == 401  # counted once the lock has passed …
        assert login(guesser, "pete").status_code == 429  # … and locked again, for longer
    assert waits == [1, 2, 4], waits
    assert len(locks(db)) >= 4


def test_the_count_holds_across_api_processes(serve, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "rosa", PASSWORD, roles=["viewer"])
    with ExitStack() as stack:
        bases = [stack.enter_context(serve(login_max_failures=4)) for _ in range(2)]
        clients = [stack.enter_context(httpx.Client(base_url=b, timeout=30)) for b in bases]
        for i in range(4):  # alternating between two API processes
            assert login(clients[i % 2], "rosa", WRONG).status_code == 401
        assert login(clients[0], "rosa").status_code == 429
        assert login(clients[1], "rosa").status_code == 429


def test_admin_unlocks_through_the_api_and_the_cli(
    serve, db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store.create_user(db, "chief", PASSWORD, roles=["commander"])
    store.create_user(db, "root", PASSWORD, roles=["admin"])
    with serve() as base, httpx.Client(base_url=base, timeout=30) as http:
        admin = {"Authorization": f"Bearer {login(http, 'root').json()['access_token']}"}
        commander = {"Authorization": f"Bearer {login(http, 'chief').json()['access_token']}"}
        http.cookies.clear()  # an unknown client from here on
        for _ in range(5):
            login(http, "chief", WRONG)
        assert login(http, "chief").status_code == 429
        assert http.post("/api/v1/auth/users/chief/unlock", headers=commander).status_code == 403
        assert http.post("/api/v1/auth/users/chief/unlock").status_code == 401
        assert http.post("/api/v1/auth/users/nobody/unlock", headers=admin).status_code == 404
        done = http.post("/api/v1/auth/users/chief/unlock", headers=admin, json={"address": "127.0.0.1"})
        assert done.status_code == 200, done.text
        assert done.json()["cleared"] == ["ip:127.0.0.1", "user:chief"]
        assert login(http, "chief").status_code == 200
        unlocked = [r for r in audit.recent(db, subject="user:chief") if r["action"] == "auth.unlock"]
        assert unlocked and unlocked[0]["actor"] == "root"

        http.cookies.clear()
        for _ in range(5):
            login(http, "chief", WRONG)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
            "FLOOD_DATABASE_URL": database_url,
            "FLOOD_DATA_DIR": str(tmp_path / "var"),
            "COLUMNS": "300",
        }
        cli = subprocess.run(
            [sys.executable, "-m", "floodctl", "user", "unlock", "chief", "--address", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0 and "unlocked chief" in cli.stdout, cli.stderr
        assert login(http, "chief").status_code == 200
    assert [r["actor"] for r in audit.recent(db, subject="user:chief") if r["action"] == "auth.unlock"][0].startswith(
        "cli"
    )
