"""Accounts in the database: argon2 password hashes, roles, activation, token revocation.

Every change writes the audit log (:mod:`floodctl.core.audit`) in the caller's transaction, so the
change and its audit row commit together; these functions never commit. User names are compared in
lowercase (``Alice`` logs in as ``alice``). Audit subjects are ``user:<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import psycopg
from pwdlib import PasswordHash

from floodctl.auth import ROLES, Principal
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Conflict, NotFound

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per attempt
NAME_PATTERN = re.compile(r"^[a-z0-9_.-]{2,64}$")
# Names the system itself uses as audit actors or principals: no account may take them.
RESERVED_NAMES = frozenset({"anonymous", "cli", "system"})
_ACCOUNT_SQL = """
    SELECT u.id, u.name, u.display_name, u.town_code, u.active, u.token_version, u.created_at,
           coalesce(array_agg(r.role ORDER BY r.role) FILTER (WHERE r.role IS NOT NULL), '{}'::text[])
    FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
"""

_hasher = PasswordHash.recommended()  # argon2id with pwdlib's recommended parameters


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    display_name: str | None
    town: str | None
    active: bool
    token_version: int
    roles: frozenset[str]
    created_at: datetime

    def principal(self) -> Principal:
        return Principal(self.name, self.roles, self.town, authenticated=True)


def subject(name: str) -> str:
    return f"user:{name}"


def normalize_name(name: str) -> str:
    return name.strip().lower()


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that costs as much as a wrong password."""
    return _hasher.hash("no account has this password")


def _check_name(name: str) -> str:
    login = normalize_name(name)
    if not NAME_PATTERN.match(login):
        raise BadRequest(f"user name {name!r} must be 2 to 64 characters: lowercase letters, digits, '.', '_', '-'")
    if login in RESERVED_NAMES:
        raise BadRequest(f"user name {login!r} is reserved; choose another")
    return login


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    return role


def _town_code(conn: psycopg.Connection, town: str) -> str:
    """A town code, or a town's name (石浦镇), as its code."""
    row = conn.execute(
        "SELECT code FROM towns WHERE code = %s UNION ALL SELECT code FROM towns WHERE name = %s LIMIT 1",
        (town.strip(), town.strip()),
    ).fetchone()
    if row is None:
        raise BadRequest(f"unknown town {town!r}: give a township code (e.g. 330225100) or its name")
    return str(row[0])


def _account(row: tuple) -> Account:  # type: ignore[type-arg]
    return Account(
        id=row[0],
        name=row[1],
        display_name=row[2],
        town=row[3],
        active=row[4],
        token_version=row[5],
        created_at=row[6],
        roles=frozenset(row[7]),
    )


def _require_account(conn: psycopg.Connection, name: str) -> Account:
    account = get_account(conn, name)
    if account is None:
        raise NotFound(f"no user {normalize_name(name)!r}")
    return account


# --- reading --------------------------------------------------------------------------------


def get_account(conn: psycopg.Connection, name: str) -> Account | None:
    row = conn.execute(_ACCOUNT_SQL + " WHERE u.name = %s GROUP BY u.id", (normalize_name(name),)).fetchone()
    return _account(row) if row else None


def get_principal(conn: psycopg.Connection, name: str) -> Principal | None:
    """The account as a principal with its current roles; None when unknown or deactivated."""
    account = get_account(conn, name)
    return account.principal() if account is not None and account.active else None


def list_users(conn: psycopg.Connection) -> list[Account]:
    return [_account(row) for row in conn.execute(_ACCOUNT_SQL + " GROUP BY u.id ORDER BY u.name")]


# --- changes (each one audited) ---------------------------------------------------------------


def create_user(
    conn: psycopg.Connection,
    name: str,
    password: str,
    roles: Iterable[str] = (),
    town: str | None = None,
    display_name: str | None = None,
    actor: str = "cli",
) -> Account:
    """A new account, with no role unless ``roles`` grants some. Refuses (BadRequest) a bad name, a
    short password, an unknown role or town, and town_officer without a town; Conflict if taken."""
    login = _check_name(name)
    wanted = sorted({_check_role(role) for role in roles})
    town_code = _town_code(conn, town) if town else None
    if "town_officer" in wanted and town_code is None:
        raise BadRequest("the town_officer role needs a town")
    password_hash = hash_password(password)
    row = conn.execute(
        "INSERT INTO users (name, display_name, password_hash, town_code) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING RETURNING id",
        (login, display_name.strip() if display_name and display_name.strip() else None, password_hash, town_code),
    ).fetchone()
    if row is None:
        raise Conflict(f"user {login!r} already exists")
    for role in wanted:
        conn.execute("INSERT INTO user_roles (user_id, role, granted_by) VALUES (%s, %s, %s)", (row[0], role, actor))
    audit.record(
        conn, actor, "user.create", subject(login), {"roles": wanted, "town": town_code, "display_name": display_name}
    )
    return _require_account(conn, login)


def grant(conn: psycopg.Connection, name: str, role: str, actor: str, *, town: str | None = None) -> bool:
    """Grant ``role``; True when the account did not have it. ``town`` sets the account's town first
    (town_officer needs one). Takes effect on the holder's next request."""
    _check_role(role)
    account = _require_account(conn, name)
    town_code = _town_code(conn, town) if town else None
    if town_code is not None and town_code != account.town:
        conn.execute("UPDATE users SET town_code = %s WHERE id = %s", (town_code, account.id))
        audit.record(conn, actor, "user.set_town", subject(account.name), {"town": town_code, "was": account.town})
    if role == "town_officer" and (town_code or account.town) is None:
        raise BadRequest(f"the town_officer role needs a town: user {account.name!r} has none (give one)")
    added = (
        conn.execute(
            "INSERT INTO user_roles (user_id, role, granted_by) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id, role) DO NOTHING RETURNING role",
            (account.id, role, actor),
        ).fetchone()
        is not None
    )
    if added:
        audit.record(conn, actor, "user.grant", subject(account.name), {"role": role})
    return added


def revoke(conn: psycopg.Connection, name: str, role: str, actor: str) -> bool:
    """Take ``role`` away; True when the account had it. Effective on the holder's next request:
    roles are read from the database on each one, never trusted from the token."""
    _check_role(role)
    account = _require_account(conn, name)
    removed = (
        conn.execute(
            "DELETE FROM user_roles WHERE user_id = %s AND role = %s RETURNING role", (account.id, role)
        ).fetchone()
        is not None
    )
    if removed:
        audit.record(conn, actor, "user.revoke", subject(account.name), {"role": role})
    return removed


def set_active(conn: psycopg.Connection, name: str, active: bool, actor: str) -> bool:
    """Enable or disable an account; a disabled one can neither log in nor use its tokens."""
    account = _require_account(conn, name)
    if account.active == active:
        return False
    conn.execute("UPDATE users SET active = %s WHERE id = %s", (active, account.id))
    audit.record(conn, actor, "user.activate" if active else "user.deactivate", subject(account.name))
    return True


def revoke_tokens(conn: psycopg.Connection, name: str, actor: str) -> int:
    """Invalidate every token issued to the account so far; returns the new token version."""
    account = _require_account(conn, name)
    version = conn.execute(
        "UPDATE users SET token_version = token_version + 1 WHERE id = %s RETURNING token_version", (account.id,)
    ).fetchone()[0]  # type: ignore[index]
    audit.record(conn, actor, "user.revoke_tokens", subject(account.name), {"token_version": version})
    return int(version)


def set_password(conn: psycopg.Connection, name: str, password: str, actor: str) -> None:
    """A new password; tokens issued before it stop working."""
    account = _require_account(conn, name)
    conn.execute(
        "UPDATE users SET password_hash = %s, token_version = token_version + 1 WHERE id = %s",
        (hash_password(password), account.id),
    )
    audit.record(conn, actor, "user.set_password", subject(account.name))


def authenticate(conn: psycopg.Connection, name: str, password: str, *, client: str | None = None) -> Principal | None:
    """The principal when ``name`` and ``password`` match an active account, else None.

    An unknown user costs one argon2 verification like a wrong password does, and the caller must
    answer both alike. Hashes made with older parameters are upgraded on success. The attempt is
    audited (``auth.login`` / ``auth.login_failed``, with the client address, never the password):
    a caller that answers a failure by raising must commit first, or the failure row rolls back.
    """
    login = normalize_name(name)
    row = None
    if NAME_PATTERN.match(login) and len(password) <= MAX_PASSWORD_LENGTH:
        row = conn.execute("SELECT id, password_hash, active FROM users WHERE name = %s", (login,)).fetchone()
    if row is None:
        _hasher.verify(password[:MAX_PASSWORD_LENGTH], _dummy_hash())
        reason = "unknown user"
    else:
        valid, new_hash = _hasher.verify_and_update(password, row[1])
        reason = "wrong password" if not valid else "" if row[2] else "account disabled"
        if valid and new_hash is not None:
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, row[0]))
    if reason:
        audit.record(
            conn, login[:64] or "?", "auth.login_failed", subject(login[:64]), {"client": client, "reason": reason}
        )
        return None
    audit.record(conn, login, "auth.login", subject(login), {"client": client})
    return get_principal(conn, login)
