"""Accounts, roles, tokens and the audit log against a real database; ``floodctl user`` via CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import jwt
import psycopg
import pytest
from click.testing import CliRunner
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr

from floodctl.auth import Principal, store, throttle, tokens
from floodctl.auth.cli import user_group
from floodctl.core import audit, cli
from floodctl.core.cli import FloodGroup
from floodctl.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from floodctl.core.settings import Settings, get_settings

PASSWORD = "correct horse battery"
TOWN = "330225001"  # 丹西街道 in the sample county


def actions(conn: psycopg.Connection, name: str) -> list[str]:
    return [row["action"] for row in reversed(audit.recent(conn, subject=f"user:{name}"))]


# --- accounts ----------------------------------------------------------------------------------


def test_new_account_has_no_role_and_an_argon2_hash(db: psycopg.Connection) -> None:
    account = store.create_user(db, "alice", PASSWORD, display_name="Alice Wang")
    assert account.roles == frozenset() and account.active and account.token_version == 0
    stored = db.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()[0]
    assert stored.startswith("$argon2") and PASSWORD not in stored
    rows = audit.recent(db, subject="user:alice")
    assert [(r["actor"], r["action"]) for r in rows] == [("cli", "user.create")]
    assert rows[0]["details"]["roles"] == [] and rows[0]["drill_id"] == 0


def test_create_user_refusals(db: psycopg.Connection) -> None:
    with pytest.raises(BadRequest, match="at least 10 characters"):
        store.create_user(db, "bob", "short")
    with pytest.raises(BadRequest, match="2 to 64 characters"):
        store.create_user(db, "bob smith", PASSWORD)
    with pytest.raises(BadRequest, match="reserved"):
        store.create_user(db, "anonymous", PASSWORD)
    with pytest.raises(BadRequest, match="unknown role 'chief'"):
        store.create_user(db, "bob", PASSWORD, roles=["chief"])
    with pytest.raises(BadRequest, match="town_officer role needs a town"):
        store.create_user(db, "bob", PASSWORD, roles=["town_officer"])
    with pytest.raises(BadRequest, match="unknown town '999999999'"):
        store.create_user(db, "bob", PASSWORD, roles=["town_officer"], town="999999999")
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    store.create_user(db, "Bob", PASSWORD, roles=["town_officer"], town="丹西街道")  # name lowercased, town by name
    assert store.get_principal(db, "bob") == Principal("bob", frozenset({"town_officer"}), TOWN, authenticated=True)
    with pytest.raises(Conflict, match="'bob' already exists"):
        store.create_user(db, "bob", PASSWORD)


def test_audit_row_rolls_back_with_the_change(database_url: str, db: psycopg.Connection) -> None:
    with psycopg.connect(database_url) as conn:
        store.create_user(conn, "carol", PASSWORD, roles=["viewer"])
        conn.rollback()
    assert store.get_account(db, "carol") is None
    assert audit.recent(db, subject="user:carol") == []


def test_grant_revoke_and_their_audit(db: psycopg.Connection) -> None:
    store.create_user(db, "dave", PASSWORD)
    assert store.grant(db, "dave", "commander", "root") is True
    assert store.grant(db, "dave", "commander", "root") is False  # already held: no change, no row
    with pytest.raises(BadRequest, match="needs a town"):
        store.grant(db, "dave", "town_officer", "root")
    assert store.grant(db, "dave", "town_officer", "root", town=TOWN) is True
    assert store.revoke(db, "dave", "commander", "root") is True
    assert store.revoke(db, "dave", "commander", "root") is False
    with pytest.raises(NotFound, match="no user 'nobody'"):
        store.grant(db, "nobody", "viewer", "root")
    assert store.get_principal(db, "dave").roles == {"town_officer"}  # type: ignore[union-attr]
    assert actions(db, "dave") == ["user.create", "user.grant", "user.set_town", "user.grant", "user.revoke"]
    granted_by = db.execute(
        "SELECT granted_by FROM user_roles r JOIN users u ON u.id = r.user_id WHERE u.name = 'dave'"
    ).fetchone()[0]
    assert granted_by == "root"


def test_authenticate(db: psycopg.Connection) -> None:
    store.create_user(db, "erin", PASSWORD, roles=["duty_officer"])
    principal = store.authenticate(db, "Erin ", PASSWORD, client="10.0.0.7")
    assert principal == Principal("erin", frozenset({"duty_officer"}), None, authenticated=True)
    assert store.authenticate(db, "erin", PASSWORD + "x") is None
    assert store.authenticate(db, "nobody", PASSWORD) is None
    store.set_active(db, "erin", False, "root")
    assert store.authenticate(db, "erin", PASSWORD) is None
    assert store.get_principal(db, "erin") is None
    rows = audit.recent(db, limit=10)
    logins = [
        (r["actor"], r["action"], r["details"].get("reason"), r["details"]["client"])
        for r in reversed(rows)
        if r["action"].startswith("auth.")
    ]
    assert logins == [
        ("erin", "auth.login", None, "10.0.0.7"),
        ("erin", "auth.login_failed", "wrong password", None),
        ("nobody", "auth.login_failed", "unknown user", None),
        ("erin", "auth.login_failed", "account disabled", None),
    ]
    everything = json.dumps([r["details"] for r in audit.recent(db, limit=1000)])
    assert PASSWORD not in everything


def test_old_hash_parameters_are_upgraded_on_login(db: psycopg.Connection) -> None:
    store.create_user(db, "fay", PASSWORD)
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),)).hash(PASSWORD)
    db.execute("UPDATE users SET password_hash = %s WHERE name = 'fay'", (weak,))
    assert store.authenticate(db, "fay", PASSWORD) is not None
    upgraded = db.execute("SELECT password_hash FROM users WHERE name = 'fay'").fetchone()[0]
    assert upgraded != weak and upgraded.startswith("$argon2id$") and "m=65536" in upgraded


def test_password_change_and_token_revocation_bump_the_version(db: psycopg.Connection) -> None:
    store.create_user(db, "gus", PASSWORD)
    assert store.revoke_tokens(db, "gus", "root") == 1
    store.set_password(db, "gus", "another long password", "root")
    assert store.get_account(db, "gus").token_version == 2  # type: ignore[union-attr]
    assert store.authenticate(db, "gus", PASSWORD) is None
    assert store.authenticate(db, "gus", "another long password") is not None
    with pytest.raises(BadRequest):
        store.set_password(db, "gus", "short", "root")


def test_audit_masks_secret_details(db: psycopg.Connection) -> None:
    audit.record(
        db,
        "root",
        "test.secret",
        "x:1",
        {"password": "hunter2", "auth_token": "t", "token_version": 3, "note": "ok"},
        drill_id=7,
    )
    row = audit.recent(db, subject="x:1")[0]
    assert row["details"] == {"password": audit.MASK, "auth_token": audit.MASK, "token_version": 3, "note": "ok"}
    assert row["drill_id"] == 7


# --- tokens and settings -------------------------------------------------------------------------


def test_token_round_trip_and_refusals(settings: Settings) -> None:
    token = tokens.issue(settings, "alice", 3)
    claims = tokens.verify(settings, token)
    assert claims["sub"] == "alice" and claims["ver"] == 3 and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == settings.token_ttl_s and "roles" not in claims
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(settings, tokens.issue(settings, "alice", 3, ttl_s=-10))
    head, body, signature = token.split(".")
    forged = jwt.encode({**claims, "sub": "admin"}, "a guessed secret key of enough length", algorithm="HS256")
    other = settings.model_copy(update={"secret_key": SecretStr("another secret " * 3)})
    wrong_type = jwt.encode({**claims, "typ": "link"}, tokens._key(settings), algorithm="HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    for bad in (
        f"{head}.{body}.{signature[::-1]}",
        f"{head}.{body[:-2]}xy.{signature}",
        forged,
        tokens.issue(other, "alice", 3),
        wrong_type,
        unsigned,
        "not-a-token",
        "",
    ):
        with pytest.raises(Unauthorized, match="invalid access token"):
            tokens.verify(settings, bad)


def test_anonymous_read_defaults(settings: Settings) -> None:
    assert settings.allows_anonymous_read is True
    production = dict(
        environment="production",
        secret_key="s" * 40,
        database_url="postgresql://x@h/x",
        mqtt_url="mqtt://127.0.0.1:1883",
        public_url="https://floodctl.invalid",
        sms_base_url="https://sms.invalid",
        sms_auth_token="t" * 32,
        drill_sms_base_url="https://drill.invalid",
        drill_sms_auth_token="d" * 32,
        _env_file=None,
    )
    assert Settings(**production).allows_anonymous_read is False
    assert Settings(**production, anonymous_read=True).allows_anonymous_read is True
    assert Settings(anonymous_read=False, _env_file=None).allows_anonymous_read is False


def test_login_throttle_policy(db: psycopg.Connection) -> None:
    """The throttle in the database (floodctl.auth.throttle): locks at the limit, backs off, forgives."""
    policy = throttle.Policy(max_failures=3, window_s=60, backoff_max_s=200)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    for i in range(3):
        assert throttle.begin(db, ("user:a", "ip:1"), policy, now=at(i)).wait_s == 0
    assert throttle.begin(db, ("user:a", "ip:2"), policy, now=at(10)).wait_s == 52  # locked by the name
    assert throttle.begin(db, ("user:b", "ip:1"), policy, now=at(10)).wait_s == 52  # … and by the address
    # Once the lock has passed, every further failure doubles it (capped).
    assert throttle.begin(db, ("user:a",), policy, now=at(63)).wait_s == 0
    assert throttle.begin(db, ("user:a",), policy, now=at(64)).wait_s == 119  # 120 s from 63
    assert throttle.begin(db, ("user:a",), policy, now=at(183)).wait_s == 0
    assert throttle.begin(db, ("user:a",), policy, now=at(184)).wait_s == 199  # 240 capped at 200
    # A success is no failure: the address gets its state back, the name is forgotten.
    throttle.begin(db, ("user:x", "ip:9"), policy, now=at(0))  # someone else's guess
    attempt = throttle.begin(db, ("user:c", "ip:9", "ip:10"), policy, now=at(1))
    throttle.succeeded(db, attempt, forget=("user:c",))
    rows = dict(db.execute("SELECT key, failures FROM login_throttle WHERE key IN ('user:c', 'ip:9', 'ip:10')"))
    assert rows == {"ip:9": 1}  # no row left behind for a new key
    # A quiet window forgives a key's failures.
    for i in range(2):
        throttle.begin(db, ("user:d",), policy, now=at(i))
    assert throttle.begin(db, ("user:d",), policy, now=at(200)).wait_s == 0
    assert db.execute("SELECT failures FROM login_throttle WHERE key = 'user:d'").fetchone()[0] == 1
    assert policy.lock_s(10_000) == 200


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def run_cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``run_cli(*args, input=...)``: ``floodctl user …`` under a FloodGroup, against the test database."""

    @click.group(cls=FloodGroup)
    def root() -> None:
        pass

    root.add_command(user_group)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setattr(cli.err_console, "_width", 200)  # made at import, 80 columns when not a terminal
    get_settings.cache_clear()
    runner = CliRunner(env={"FLOOD_DATABASE_URL": database_url, "FLOOD_DATA_DIR": str(tmp_path / "var")})

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(root, ["user", *args], input=input)

    yield run
    get_settings.cache_clear()


def test_cli_user_add_grant_list(run_cli, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    added = run_cli("add", "hank", "--role", "duty_officer", "--display-name", "Hank [HQ]", input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "created user hank; roles: duty_officer" in added.stdout
    assert store.authenticate(db, "hank", PASSWORD) is not None
    bare = run_cli("add", "ivy", input=PASSWORD + "\n")
    assert bare.exit_code == 0 and "roles: none" in bare.stdout
    granted = run_cli("grant", "ivy", "town_officer", "--town", TOWN)
    assert granted.exit_code == 0, granted.output
    assert store.get_principal(db, "ivy") == Principal("ivy", frozenset({"town_officer"}), TOWN, authenticated=True)
    listed = run_cli("list")
    assert listed.exit_code == 0 and "hank" in listed.stdout and "Hank [HQ]" in listed.stdout
    assert "town_officer" in listed.stdout
    changes = [r for r in audit.recent(db) if r["action"].startswith("user.")]
    assert changes and all(r["actor"].startswith("cli") for r in changes)
    assert actions(db, "ivy") == ["user.create", "user.set_town", "user.grant"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "jack"), "short\n", "password too short: at least 10 characters"),
        (("add", "jack"), "", "no password"),
        (("add", "Jack Smith"), PASSWORD + "\n", "user name 'Jack Smith' must be 2 to 64 characters"),
        (("add", "jack", "--role", "town_officer"), PASSWORD + "\n", "the town_officer role needs a town"),
        (("add", "jack", "--town", "nowhere"), PASSWORD + "\n", "unknown town 'nowhere'"),
        (("grant", "nobody", "viewer"), None, "no user 'nobody'"),
    ],
)
def test_cli_errors_are_one_line(
    run_cli,
    db: psycopg.Connection,
    args: tuple[str, ...],  # type: ignore[no-untyped-def]
    stdin: str | None,
    message: str,
) -> None:
    done = run_cli(*args, input=stdin)
    assert done.exit_code == 1, done.output
    assert done.stderr.strip().startswith(f"error: {message}")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.output
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_cli_duplicate_name(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("add", "kim", input=PASSWORD + "\n").exit_code == 0
    again = run_cli("add", "kim", input=PASSWORD + "\n")
    assert again.exit_code == 1
    assert again.stderr.strip() == "error: user 'kim' already exists"
    assert "Traceback" not in again.output


def test_cli_disable_enable_passwd_revoke(run_cli, db: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("add", "lee", "--role", "viewer", input=PASSWORD + "\n").exit_code == 0
    assert run_cli("disable", "lee").exit_code == 0
    assert store.authenticate(db, "lee", PASSWORD) is None
    assert run_cli("enable", "lee").exit_code == 0
    assert run_cli("passwd", "lee", input="a new long password\n").exit_code == 0
    assert store.authenticate(db, "lee", "a new long password") is not None
    assert run_cli("revoke", "lee", "viewer").exit_code == 0
    assert store.get_principal(db, "lee").roles == frozenset()  # type: ignore[union-attr]
