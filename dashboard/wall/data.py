"""What the wall's callbacks read: its own small pool, the caches shared by every browser, and the checks of
what a browser sends (drill ids, moments)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg_pool import ConnectionPool

from alerts.rules import RuleSet
from dashboard import queries
from floodctl.auth.deps import principal_for_token
from floodctl.core import db
from floodctl.core.errors import ServiceUnavailable, Unauthorized
from floodctl.core.settings import Settings

PREFIX = "/wall/"
POOL_MAX = 4  # the wall's own pool: a few walls and browsers, short reads
POOL_WAIT_S = 5.0
RAIN_RANK_TTL_S = 15.0  # the 24 h rainfall sums scan a day of readings: shared, at most every 15 s
RAIN_CACHE_MAX = 64
STATIONS_PATH = "stations.geojson"  # under PREFIX: the map's stations, by URL (WallData.stations_url)
STATIONS_CACHE_MAX = 32  # documents kept by digest (a few walls × drills × moments)
PULSE_PATH = "pulse"  # under PREFIX: the fingerprint wall.js polls every second (its PULSE_MS)
MAX_DRILL_ID = 2**31 - 1
SESSION_CHECK_S = 5.0  # a session cookie's account is re-read at most this often (revocation delay)
SESSION_CACHE_MAX = 1000
DATA_ERRORS = (psycopg.Error, ServiceUnavailable)  # PoolTimeout is a psycopg.OperationalError


class WallData:
    """The wall's database side: a small pool of its own, opened on first use, and the rainfall cache."""

    def __init__(self, database_url: str, settings: Settings, rules: RuleSet) -> None:
        self.database_url = database_url
        self.settings = settings
        self.rules = rules
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._rain: dict[int, tuple[float, datetime, dict[str, Any]]] = {}
        self._stations: OrderedDict[str, bytes] = OrderedDict()  # digest -> stations GeoJSON, newest last
        self._sessions: dict[str, tuple[float, bool]] = {}  # session token -> (checked at, allowed)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._pool is None:
                # Not opened with a wait (unlike db.make_pool): with the database away, a refresh gives up after
                # POOL_WAIT_S and the wall shows "no data" instead of hanging on its first request.
                self._pool = ConnectionPool(
                    self.database_url,
                    min_size=1,
                    max_size=POOL_MAX,
                    name="wall",
                    open=False,
                    kwargs=db.REQUEST_SESSION,
                    reconnect_timeout=60,
                    check=lambda conn: db.check_and_sweep(self._pool, conn),
                )
                self._pool.open(wait=False)
            pool = self._pool
        with pool.connection(timeout=POOL_WAIT_S) as conn:
            yield conn

    def rain_ranking(self, conn: psycopg.Connection, drill_id: int, at: datetime) -> dict[str, Any]:
        """Shared by every browser for RAIN_RANK_TTL_S. Live, "now" moves on each call, so the windows are up
        to that old; a drill's windows end at its clock, so a new reading in the drill recomputes at once."""
        now = time.monotonic()
        with self._lock:
            hit = self._rain.get(drill_id)
            if hit is not None and now - hit[0] < RAIN_RANK_TTL_S and (drill_id == 0 or hit[1] == at):
                return hit[2]
        value = queries.rain_ranking(conn, drill_id, at)
        with self._lock:
            if len(self._rain) >= RAIN_CACHE_MAX:
                self._rain.clear()
            self._rain[drill_id] = (now, at, value)
        return value

    def stations_url(
        self, conn: psycopg.Connection, drill: int, at: datetime | None, when: queries.Moment
    ) -> tuple[str, str]:
        """(digest, URL) of the stations GeoJSON as of ``when``: read once here, kept by its digest for the
        browser's fetch of the URL (``serve_stations``). The map loads it by URL, so the 5,000-station
        document never passes through Dash's callbacks or its in-page store."""
        text = queries.stations_state(conn, drill, when).encode()
        digest = digest_of_bytes(text)
        with self._lock:
            self._stations[digest] = text
            self._stations.move_to_end(digest)
            while len(self._stations) > STATIONS_CACHE_MAX:
                self._stations.popitem(last=False)
        query = {"v": digest, "drill": str(drill)} | ({"at": at.isoformat()} if at else {})
        return digest, f"{PREFIX}{STATIONS_PATH}?{urlencode(query)}"

    def session_allowed(self, token: str) -> bool:
        """Whether a session cookie's token names an active account with a role, now (cached for
        SESSION_CHECK_S, so a revoked token stops opening the wall within that)."""
        now = time.monotonic()
        with self._lock:
            hit = self._sessions.get(token)
            if hit is not None and now - hit[0] < SESSION_CHECK_S:
                return hit[1]
        try:
            with self.connection() as conn:
                allowed = bool(principal_for_token(conn, self.settings, token).roles)
        except Unauthorized:
            allowed = False
        with self._lock:
            if len(self._sessions) >= SESSION_CACHE_MAX:
                self._sessions.clear()
            self._sessions[token] = (now, allowed)
        return allowed

    def cached_stations(self, digest: str) -> bytes | None:
        with self._lock:
            return self._stations.get(digest)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def collection_bounds(collection: dict[str, Any]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of a GeoJSON FeatureCollection (Leaflet's order), None when empty."""
    lons: list[float] = []
    lats: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
        elif isinstance(coords, list):
            for item in coords:
                walk(item)

    for feature in collection.get("features") or []:
        walk((feature.get("geometry") or {}).get("coordinates"))
    return [[min(lats), min(lons)], [max(lats), max(lons)]] if lons else None


def as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def drill_of(value: Any) -> int:
    """A drill id from the browser (untrusted): an int in PostgreSQL's range, else 0 (live)."""
    try:
        drill = int(value)
    except (TypeError, ValueError):
        return 0
    return drill if 0 <= drill <= MAX_DRILL_ID else 0


def moment_of(value: Any) -> datetime | None:
    """The time slider's moment from the browser (untrusted): an ISO time with an offset, else None (live)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    moment = as_datetime(value)
    return moment if moment is not None and moment.tzinfo is not None else None


def digest_of(text: str) -> str:
    """What the page already has: a short hash of the last data sent (re-sent only when it changed)."""
    return digest_of_bytes(text.encode())


def digest_of_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()
