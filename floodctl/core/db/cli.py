"""``floodctl db …``: the schema (migrations) and the storage's state."""

from __future__ import annotations

import click

from floodctl.core.cli import FloodGroup, console
from floodctl.core.settings import get_settings


@click.group(cls=FloodGroup)
def db() -> None:
    """Database schema: numbered migrations."""


@db.command("migrate")
@click.option(
    "--storage",
    type=click.Choice(["auto", "timescaledb", "native"]),
    default="auto",
    help="time-series storage for a new database (default: TimescaleDB when available)",
)
def db_migrate(storage: str) -> None:
    """Apply pending migrations."""
    from floodctl.core import db as database
    from floodctl.core.db.migrate import migrate
    from floodctl.core.embedded import database_url

    with database.connect(database_url(get_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        applied = migrate(conn, prefer=None if storage == "auto" else storage)  # type: ignore[arg-type]
    if applied:
        for m in applied:
            console.print(f"applied {m.version:04d} {m.name}")
    else:
        console.print("schema is up to date")


@db.command("status")
def db_status() -> None:
    """Show the storage mode and applied / pending migrations."""
    from floodctl.core import db as database
    from floodctl.core.db.migrate import status
    from floodctl.core.embedded import database_url

    with database.connect(database_url(get_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        st = status(conn)
    console.print(
        f"storage: {st.storage or '(not migrated yet)'}; TimescaleDB available: "
        f"{'yes' if st.timescaledb_available else 'no'}"
    )
    for version, name in st.applied:
        console.print(f"  applied  {version:04d} {name}")
    for m in st.pending:
        console.print(f"  pending  {m.version:04d} {m.name}")
