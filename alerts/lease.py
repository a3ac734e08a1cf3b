"""The rule engine's lease: one engine judges at a time, and a former holder can never write.

The active engine holds the ``engine_lease`` row (migration 0015) and renews it in every write
transaction; a standby polls for it and takes it over, with the next epoch, once it has gone
unrenewed for ``FLOOD_ENGINE_LEASE_S``. **Fencing**: every write transaction of the active engine
first locks and renews the row for its own holder and epoch (``FENCE``); a former holder that wakes
up finds it taken over, writes nothing (``LeaseLost``) and stands by. After a takeover the former
holder's sessions are ended (a frozen process still LISTENing would pin the NOTIFY queue).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid

import psycopg

log = logging.getLogger("floodctl.alerts.engine")

LEASE_NAME = "rules"

# The lease (see the module docstring). Taking it: free, expired, or already ours (a reconnect); next epoch.
ACQUIRE = """
INSERT INTO engine_lease AS l (name, holder, epoch, expires_at)
VALUES (%(name)s, %(holder)s, 1, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (name) DO UPDATE
   SET holder = excluded.holder, epoch = l.epoch + 1, acquired_at = now(), expires_at = excluded.expires_at
 WHERE l.expires_at < now() OR l.holder = excluded.holder
RETURNING epoch
"""
# First statement of every write transaction: still ours (holder and epoch)? Locks the row until commit and
# renews it. No row: taken over meanwhile.
FENCE = """
UPDATE engine_lease SET expires_at = now() + make_interval(secs => %(ttl)s)
 WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s
RETURNING epoch
"""
RELEASE = (
    "UPDATE engine_lease SET expires_at = now() WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s"
)
PREVIOUS = "SELECT holder, extract(epoch FROM expires_at)::float8 FROM engine_lease WHERE name = %s FOR UPDATE"
# After a takeover: the former holder's sessions (a frozen process still LISTENing would pin the NOTIFY queue
# until the server's TCP keepalive gives up on it, hours later). Same role, so no superuser needed.
END_SESSIONS = """
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE application_name = %s AND pid <> pg_backend_pid()
"""
HOLDER = "SELECT holder, extract(epoch FROM expires_at - now())::float8 FROM engine_lease WHERE name = %s"


class LeaseLost(Exception):
    """Another engine took the lease over (this one was frozen or cut off): stand by."""


class Lease:
    """The lease as one engine holds it, on the engine's own (autocommit) connection."""

    def __init__(self, conn: psycopg.Connection, holder: str, lease_s: float) -> None:
        self.conn = conn
        self.holder = holder
        self.lease_s = lease_s
        self.epoch: int | None = None
        self.previous_until: float | None = None  # when the lease's previous term was last renewed

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or ours; never waits behind the holder's transaction."""
        params = {"name": LEASE_NAME, "holder": self.holder, "ttl": self.lease_s}
        try:
            with self.conn.transaction():
                self.conn.execute("SET LOCAL lock_timeout = '1s'")
                previous = self.conn.execute(PREVIOUS, (LEASE_NAME,)).fetchone()
                row = self.conn.execute(ACQUIRE, params).fetchone()
        except psycopg.errors.LockNotAvailable:
            return False  # the holder is writing: it is alive
        if row is None:
            return False
        self.epoch = int(row[0])
        self.previous_until = float(previous[1]) - self.lease_s if previous else None
        if previous and previous[0] != self.holder:
            with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                ended = self.conn.execute(END_SESSIONS, (session_name(previous[0]),)).fetchone()
                if ended and ended[0]:
                    log.info(
                        "rule engine %s: ended %d session(s) of the former holder %s",
                        self.holder,
                        ended[0],
                        previous[0],
                    )
        return True

    def wait(self, stop: threading.Event) -> bool:
        """Stand by (no LISTEN, nothing held) until this engine holds the lease; False if stopped first."""
        poll = min(1.0, self.lease_s / 5)
        told = False
        while not stop.is_set():
            if self.try_acquire():
                return True
            if not told:
                row = self.conn.execute(HOLDER, (LEASE_NAME,)).fetchone()
                log.info("rule engine %s standing by: %s holds the lease", self.holder, row[0] if row else "another")
                told = True
            stop.wait(poll)
        return False

    def fence(self, cur: psycopg.Cursor | psycopg.Connection) -> None:
        """Inside a write transaction: lock and renew the lease, or raise LeaseLost (see the module docstring).
        An engine used without ``run`` (a script judging a reference database) takes it on its first write."""
        if self.epoch is None and not self.try_acquire():
            raise LeaseLost(f"rule engine {self.holder}: another engine holds the lease")
        row = cur.execute(
            FENCE, {"name": LEASE_NAME, "holder": self.holder, "epoch": self.epoch, "ttl": self.lease_s}
        ).fetchone()
        if row is None:
            raise LeaseLost(f"rule engine {self.holder}: the lease (epoch {self.epoch}) was taken over")

    def renew(self) -> None:
        """Renew the lease outside a write (after a long read: the registry, a catch-up's fetch)."""
        if self.epoch is not None:
            self.fence(self.conn)

    def release(self) -> None:
        """On a clean stop: let a standby take over at once."""
        if self.epoch is not None and not self.conn.closed:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute(RELEASE, {"name": LEASE_NAME, "holder": self.holder, "epoch": self.epoch})


def engine_holder() -> str:
    """Who holds the lease: host, process and a random part (two engines in one process stay apart)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def session_name(holder: str) -> str:
    """The application_name of an engine's sessions (at most 63 bytes, as PostgreSQL keeps it)."""
    return f"floodctl-engine {holder}"[:63]
