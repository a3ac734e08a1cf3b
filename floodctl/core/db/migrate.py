"""Numbered SQL migrations: ``NNNN_name.sql``, or ``NNNN_name.<storage>.sql`` per storage mode.

The storage mode is decided once, at the first migration, and recorded in ``floodctl_meta``:
``timescaledb`` when the extension is installable on the server, else ``native`` (range
partitions by day). Pending migrations run in one transaction (all or nothing) under an advisory
lock, so two processes never migrate at once. Application code never creates tables on the side.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from floodctl.core.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_ID = 0x466C6F6F64  # "Flood"
StorageMode = Literal["timescaledb", "native"]
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(timescaledb|native))?\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    storage: StorageMode | None
    applied: list[tuple[int, str]]
    pending: list[Migration]
    timescaledb_available: bool


def available_migrations(storage: StorageMode, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ConfigError(f"migration file with a bad name: {path.name}")
        version, name, variant = int(match[1]), match[2], match[3]
        if variant is not None and variant != storage:
            continue
        if version in found:
            raise ConfigError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, name, path)
    return [found[v] for v in sorted(found)]


def timescaledb_available(conn: psycopg.Connection) -> bool:
    """True when the extension is installed on the server and preloaded (it must be).

    A preloaded TimescaleDB registers its ``timescaledb.*`` settings, which any role may see in
    ``pg_settings``; ``shared_preload_libraries`` itself needs superuser or pg_read_all_settings.
    """
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
        " EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'timescaledb.%')"
    ).fetchone()
    return bool(row and row[0] and row[1])


def _ensure_meta(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS floodctl_meta (key text PRIMARY KEY, value text NOT NULL)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def storage_mode(conn: psycopg.Connection) -> StorageMode | None:
    if conn.execute("SELECT to_regclass('floodctl_meta')").fetchone()[0] is None:  # type: ignore[index]
        return None
    row = conn.execute("SELECT value FROM floodctl_meta WHERE key = 'storage'").fetchone()
    return row[0] if row else None  # type: ignore[no-any-return, unused-ignore]


def status(conn: psycopg.Connection) -> MigrationStatus:
    mode = storage_mode(conn)
    ts_ok = timescaledb_available(conn)
    applied: list[tuple[int, str]] = []
    if mode is not None:
        applied = [(r[0], r[1]) for r in conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")]
    done = {v for v, _ in applied}
    planned = mode or ("timescaledb" if ts_ok else "native")
    pending = [m for m in available_migrations(planned) if m.version not in done]
    conn.rollback()
    return MigrationStatus(mode, applied, pending, ts_ok)


def migrate(conn: psycopg.Connection, *, prefer: StorageMode | None = None) -> list[Migration]:
    """Apply pending migrations; returns those applied. ``prefer='native'`` forces native storage."""
    conn.autocommit = False
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        _ensure_meta(conn)
        mode = storage_mode(conn)
        if mode is None:
            if prefer == "timescaledb" and not timescaledb_available(conn):
                raise ConfigError("TimescaleDB requested but the extension is not available on the server")
            mode = prefer or ("timescaledb" if timescaledb_available(conn) else "native")
            conn.execute("INSERT INTO floodctl_meta (key, value) VALUES ('storage', %s)", (mode,))
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for migration in available_migrations(mode):
            if migration.version in done:
                continue
            conn.execute(migration.path.read_text(encoding="utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied.append(migration)
    return applied
