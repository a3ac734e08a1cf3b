"""``floodctl user …``: accounts and roles from the command line (audited as ``cli:<os user>``).

Passwords are never arguments (they would land in shell history and ``ps``): on a terminal they are
prompted twice, hidden; otherwise the first line of standard input is the password.

This module imports nothing from ``floodctl.cli`` at import time (that module adds ``user_group``
to its ``main`` group, and FloodGroup there prints errors as one line); run under ``main``, a
FloodError raised here becomes that one line and exit code 1.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

import click

from floodctl.auth import ROLES
from floodctl.core.errors import BadRequest
from floodctl.core.settings import get_settings

if TYPE_CHECKING:
    import psycopg


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in the environment or the password database
        return "cli"


def _read_password() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        return str(click.prompt("password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise BadRequest("no password: type it at the prompt, or give it as the first line of standard input")
    return password


def _connect() -> psycopg.Connection:
    from floodctl.core import db as database
    from floodctl.core.embedded import database_url

    return database.connect(database_url(get_settings()), wait_s=database.WAIT_FOR_DB_S)


def _say(text: str) -> None:
    from floodctl.core.cli import console

    console.print(text, highlight=False, markup=False)


@click.group("user")
def user_group() -> None:
    """Accounts and roles (a new account has no right until a role is granted)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help="grant this role (repeatable)")
@click.option("--town", default=None, help="township code or name (needed for town_officer)")
@click.option("--display-name", default=None, help="full name shown in the dashboard and audit views")
def user_add(name: str, roles: tuple[str, ...], town: str | None, display_name: str | None) -> None:
    """Create account NAME; the password is prompted (or read from the first line of stdin)."""
    from floodctl.auth import store

    password = _read_password()
    store.check_password(password)  # before connecting: a short password needs no database
    with _connect() as conn:
        account = store.create_user(
            conn, name, password, roles=roles, town=town, display_name=display_name, actor=_actor()
        )
    shown = ", ".join(sorted(account.roles)) or "none (grant one with `floodctl user grant`)"
    _say(f"created user {account.name}; roles: {shown}")


@user_group.command("grant")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--town", default=None, help="set the account's town too (town_officer needs one)")
def user_grant(name: str, role: str, town: str | None) -> None:
    """Grant ROLE to account NAME."""
    from floodctl.auth import store

    with _connect() as conn:
        added = store.grant(conn, name, role, _actor(), town=town)
    _say(f"granted {role} to {name}" if added else f"{name} already has {role}")


@user_group.command("revoke")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def user_revoke(name: str, role: str) -> None:
    """Take ROLE away from account NAME (effective on its next request)."""
    from floodctl.auth import store

    with _connect() as conn:
        removed = store.revoke(conn, name, role, _actor())
    _say(f"revoked {role} from {name}" if removed else f"{name} does not have {role}")


@user_group.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Disable account NAME: no login, and its tokens stop working at once."""
    from floodctl.auth import store

    with _connect() as conn:
        store.set_active(conn, name, False, _actor())
    _say(f"disabled {name}")


@user_group.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Enable account NAME again."""
    from floodctl.auth import store

    with _connect() as conn:
        store.set_active(conn, name, True, _actor())
    _say(f"enabled {name}")


@user_group.command("unlock")
@click.argument("name")
@click.option("--address", default=None, help="also clear this client address's failed logins")
def user_unlock(name: str, address: str | None) -> None:
    """Unlock account NAME after failed logins (audited)."""
    from floodctl.auth import store, throttle
    from floodctl.core.errors import NotFound

    with _connect() as conn:
        account = store.get_account(conn, name)
        if account is None:
            raise NotFound(f"no user {store.normalize_name(name)!r}")
        cleared = throttle.unlock(conn, account.name, _actor(), address=address)
    _say(f"unlocked {account.name}" + (f" ({', '.join(cleared)} cleared)" if cleared else " (it was not locked)"))


@user_group.command("passwd")
@click.argument("name")
def user_passwd(name: str) -> None:
    """Set a new password for NAME (prompted, or first line of stdin); its tokens stop working."""
    from floodctl.auth import store

    password = _read_password()
    store.check_password(password)
    with _connect() as conn:
        store.set_password(conn, name, password, _actor())
    _say(f"password of {name} changed; its tokens were revoked")


@user_group.command("list")
def user_list() -> None:
    """Accounts with their roles and town."""
    from rich.table import Table
    from rich.text import Text

    from floodctl.auth import store
    from floodctl.core.cli import console

    with _connect() as conn:
        accounts = store.list_users(conn)
    table = Table("name", "display name", "roles", "town", "active", "created", title="floodctl users")
    for account in accounts:
        cells = (
            account.name,
            account.display_name or "",
            ", ".join(sorted(account.roles)) or "(none)",
            account.town or "",
            "yes" if account.active else "no",
            f"{account.created_at:%Y-%m-%d %H:%M}",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
