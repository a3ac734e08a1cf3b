"""Failed-login throttling in the database, so every API process counts the same failures.

Keys: ``user:<name>`` and ``ip:<address>`` for a client the account has not seen before, and
``device:<name>:<id>`` for a browser or script holding a known-device cookie of that account (OWASP's "device
cookies": issued at a successful login, :mod:`floodctl.auth.tokens`). A known device is held only by
its own key, so an attacker's guesses — from anywhere — never lock the commander's own browser out;
a stolen device cookie still buys no more guesses than ``login_max_failures``.

Policy per key: a failure counts; at ``login_max_failures`` the key locks for ``login_window_s``, and
every further failure (once the lock has passed) doubles it, up to ``login_backoff_max_s``; a quiet
``login_window_s`` after the last failure or lock forgives the key. An attempt is counted as a failure
*before* the password is checked and committed at once (concurrent guesses cannot slip past the limit
during the check); a success takes it back (:func:`succeeded`). Every lock is audited
(``auth.locked``); an admin unlocks an account (``auth.unlock``: API, ``floodctl user unlock``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from floodctl.core import audit
from floodctl.core.settings import Settings

MAX_DOUBLINGS = 30
CLEANUP_CHANCE = 1 / 64  # of a counted failure: forget keys quiet for window + back-off cap


@dataclass(frozen=True, slots=True)
class Policy:
    max_failures: int
    window_s: int
    backoff_max_s: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            settings.login_max_failures,
            settings.login_window_s,
            max(settings.login_backoff_max_s, settings.login_window_s),
        )

    def lock_s(self, failures: int) -> int:
        """How long a key with ``failures`` counted failures stays locked (0: not locked)."""
        if failures < self.max_failures:
            return 0
        doublings = min(failures - self.max_failures, MAX_DOUBLINGS)
        return int(min(self.window_s * 2**doublings, self.backoff_max_s))


@dataclass(slots=True)
class Attempt:
    keys: tuple[str, ...]
    now: datetime
    wait_s: int = 0  # > 0: refused, retry after this
    previous: dict[str, tuple[int, datetime | None, datetime | None]] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)  # key -> failures with this attempt
    locking: dict[str, int] = field(default_factory=dict)  # key -> seconds it locks if it fails


def begin(conn: psycopg.Connection, keys: tuple[str, ...], policy: Policy, *, now: datetime | None = None) -> Attempt:
    """Check an attempt against every key and count it as a failure of each; commits (the count must be
    visible to concurrent attempts before the password is checked). ``wait_s`` > 0: refused, nothing counted."""
    at = now or datetime.now(UTC)
    ordered = tuple(sorted(set(keys)))
    attempt = Attempt(ordered, at)
    conn.execute(
        "INSERT INTO login_throttle (key) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT (key) DO NOTHING",
        (list(ordered),),
    )
    rows = {
        row[0]: (row[1], row[2], row[3])
        for row in conn.execute(
            "SELECT key, failures, last_failure_at, locked_until FROM login_throttle WHERE key = ANY(%s) "
            "ORDER BY key FOR UPDATE",
            (list(ordered),),
        )
    }
    wait = max(((locked - at).total_seconds() for _, _, locked in rows.values() if locked and locked > at), default=0)
    if wait > 0:
        conn.commit()
        attempt.wait_s = max(1, math.ceil(wait))
        return attempt
    for key in ordered:
        failures, last, locked = rows[key]
        attempt.previous[key] = (failures, last, locked)
        quiet_since = max((t for t in (last, locked) if t is not None), default=None)
        if quiet_since is not None and (at - quiet_since).total_seconds() > policy.window_s:
            failures = 0  # a quiet window forgives
        failures += 1
        lock_s = policy.lock_s(failures)
        if lock_s:
            attempt.locking[key] = lock_s
            locked = at + timedelta(seconds=lock_s)
        attempt.counted[key] = failures
        conn.execute(
            "UPDATE login_throttle SET failures = %s, last_failure_at = %s, locked_until = %s WHERE key = %s",
            (failures, at, locked, key),
        )
    conn.commit()
    return attempt


def failed(conn: psycopg.Connection, attempt: Attempt, *, name: str, client: str) -> None:
    """The attempt failed: its count stands; audit every lock it caused (in the caller's transaction)."""
    for key, lock_s in attempt.locking.items():
        kind, _, value = key.partition(":")
        subject = f"address:{value}" if kind == "ip" else f"user:{name}"  # device:<name>:<id> is the account's
        audit.record(
            conn,
            "system",
            "auth.locked",
            subject,
            {
                "key": kind,
                "client": client,
                "failures": attempt.counted[key],
                "locked_s": lock_s,
                "until": (attempt.now + timedelta(seconds=lock_s)).isoformat(),
            },
        )
    if random.random() < CLEANUP_CHANCE:
        _forget_quiet(conn, attempt.now)


def succeeded(conn: psycopg.Connection, attempt: Attempt, *, forget: tuple[str, ...] = ()) -> None:
    """The attempt succeeded: it was no failure. Keys in ``forget`` are cleared (the account's run of
    failures ends with its password); the others get back the state they had before it (an address keeps
    the failures of others' guesses)."""
    for key in attempt.keys:
        if key in forget:
            conn.execute("DELETE FROM login_throttle WHERE key = %s", (key,))
            continue
        failures, last, locked = attempt.previous[key]
        ours = (key, attempt.counted[key], attempt.now)
        if failures == 0 and last is None and locked is None:  # the key is new: leave no row behind
            restored = conn.execute(
                "DELETE FROM login_throttle WHERE key = %s AND failures = %s AND last_failure_at = %s RETURNING key",
                ours,
            ).fetchone()
        else:
            restored = conn.execute(
                "UPDATE login_throttle SET failures = %s, last_failure_at = %s, locked_until = %s "
                "WHERE key = %s AND failures = %s AND last_failure_at = %s RETURNING key",
                (failures, last, locked, *ours),
            ).fetchone()
        if restored is None:  # another attempt counted since: take back only this one
            conn.execute("UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = %s", (key,))


def device_key(name: str, device_id: str) -> str:
    return f"device:{name}:{device_id}"


def unlock(conn: psycopg.Connection, name: str, actor: str, *, address: str | None = None) -> list[str]:
    """Clear the account's lock and failures, its known devices' too (and an address's, when given);
    audited as ``auth.unlock``. Returns the keys cleared."""
    login = name.strip().lower()
    keys = [f"user:{login}"] + ([f"ip:{address.strip()}"] if address else [])
    prefix = f"device:{login}:"
    cleared = sorted(
        row[0]
        for row in conn.execute(
            "DELETE FROM login_throttle WHERE key = ANY(%s) OR left(key, %s) = %s RETURNING key",
            (keys, len(prefix), prefix),
        )
    )
    audit.record(conn, actor, "auth.unlock", f"user:{login}", {"address": address, "cleared": cleared})
    return cleared


def state(conn: psycopg.Connection, name: str, *, now: datetime | None = None) -> dict[str, object]:
    """The account's throttle as the admin sees it: failures and seconds left locked (0 when not)."""
    at = now or datetime.now(UTC)
    row = conn.execute(
        "SELECT failures, locked_until FROM login_throttle WHERE key = %s", (f"user:{name.strip().lower()}",)
    ).fetchone()
    if row is None:
        return {"failures": 0, "locked_s": 0}
    left = (row[1] - at).total_seconds() if row[1] is not None else 0
    return {"failures": row[0], "locked_s": max(0, math.ceil(left))}


def _forget_quiet(conn: psycopg.Connection, now: datetime) -> None:
    conn.execute(
        "DELETE FROM login_throttle WHERE (last_failure_at IS NULL OR last_failure_at < %s - interval "
        "'7 days') AND (locked_until IS NULL OR locked_until < %s)",
        (now, now),
    )
