"""A synthetic county at any scale for the benchmarks: stations inside the real county's bounds, device
status, warnings, and observations loaded by binary COPY."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from rich.progress import Progress

from floodctl.bench.drill import replicate_stations
from floodctl.domain.levels import LEVELS
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND
from gis_data import loader

STEP = timedelta(minutes=5)  # between two readings of a station
WARNING_SHARE = 0.05


OFFLINE_SHARE = 0.02


COPY_CHUNK_ROWS = 500_000


LOAD_CONNECTIONS = 2  # the server side of COPY is the bottleneck: one backend per core


BOUNDS_MARGIN_DEG = 0.002


HAZARD_BY_KIND = {
    "river": "river_flood",
    "reservoir": "reservoir",
    "tide": "storm_tide",
    "rain": "rainstorm",
    "weather": "typhoon",
    "camera": "waterlogging",
}


PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


# One observations row in PostgreSQL's binary COPY format: field count, then (length, value) per column
# (station_id int4, metric_id int2, ts timestamptz = µs since 2000-01-01, value float8, flags int2, drill_id int4).
COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l_station", ">i4"),
        ("station", ">i4"),
        ("l_metric", ">i4"),
        ("metric", ">i2"),
        ("l_ts", ">i4"),
        ("ts", ">i8"),
        ("l_value", ">i4"),
        ("value", ">f8"),
        ("l_flags", ">i4"),
        ("flags", ">i2"),
        ("l_drill", ">i4"),
        ("drill", ">i4"),
    ]
)


COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


COPY_TRAILER = b"\xff\xff"


@dataclass(frozen=True, slots=True)
class BenchStation:
    id: int
    code: str
    kind: str
    town: str | None
    metric_id: int  # its main metric (the one the wall shows)


def county_bounds() -> tuple[float, float, float, float]:
    """(west, south, east, north) of the sample's towns: the view the wall fits its map to."""
    from dashboard.wall import collection_bounds

    bounds = collection_bounds(loader.read_geojson(loader.DEFAULT_TOWNS))
    assert bounds is not None, "the sample has towns"
    (south, west), (north, east) = bounds
    return west, south, east, north


STATION_COPY = f"COPY stations ({', '.join(loader.STATION_ROW)}) FROM STDIN"


def seed_stations(conn: psycopg.Connection, count: int, seed: int = 0) -> list[BenchStation]:
    """Replace the loaded stations by ``count`` replicas of the sample's, kept inside the towns' bounds (so a map
    fitted to the county shows every one): the old ones are deactivated, as a reload of the layer would."""
    west, south, east, north = county_bounds()
    features = replicate_stations(count, seed)["features"]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("UPDATE stations SET active = false")
        with cur.copy(STATION_COPY) as copy:
            for feature in features:
                lon, lat = feature["geometry"]["coordinates"]
                feature["geometry"]["coordinates"] = [
                    min(max(lon, west + BOUNDS_MARGIN_DEG), east - BOUNDS_MARGIN_DEG),
                    min(max(lat, south + BOUNDS_MARGIN_DEG), north - BOUNDS_MARGIN_DEG),
                ]
                row = loader.station_row(feature)
                row["properties"] = Jsonb(row["properties"])
                copy.write_row([row[c] for c in loader.STATION_ROW])
        rows = cur.execute("SELECT id, code, kind, town_code FROM stations WHERE active ORDER BY id").fetchall()
    return [
        BenchStation(sid, code, kind, town, METRICS[DEFAULT_METRIC_BY_KIND[kind]].id) for sid, code, kind, town in rows
    ]


def write_device_status(
    conn: psycopg.Connection,
    stations: Sequence[BenchStation],
    now: datetime,
    rng: np.random.Generator,
    offline_share: float = OFFLINE_SHARE,
) -> None:
    """Device health of every station (a few offline), current and in the history table."""
    offline = rng.random(len(stations)) < offline_share
    rows = [
        (
            s.id,
            now - timedelta(seconds=int(rng.integers(0, 600))),
            not off,
            round(12.0 + rng.random(), 2),
            -70.0 - int(rng.integers(0, 30)),
        )
        for s, off in zip(stations, offline, strict=True)
    ]
    with conn.transaction(), conn.cursor() as cur:
        for table in ("device_status", "device_status_latest"):
            with cur.copy(
                sql.SQL("COPY {} (station_id, ts, online, battery_v, signal_dbm) FROM STDIN").format(
                    sql.Identifier(table)
                )
            ) as copy:
                for row in rows:
                    copy.write_row(row)


def raise_warnings(
    conn: psycopg.Connection,
    stations: Sequence[BenchStation],
    now: datetime,
    rng: np.random.Generator,
    share: float = WARNING_SHARE,
) -> int:
    """Active flood warnings on ``share`` of the stations, at every level, a third of them acknowledged."""
    chosen = sorted(rng.choice(len(stations), size=max(1, round(len(stations) * share)), replace=False))
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(
            "COPY warnings (rule_id, subject, subject_kind, town_code, category, hazard, state, level, acknowledged, "
            "acknowledged_by, acknowledged_at, raised_at, last_seen, value, threshold, message_zh, message_en) "
            "FROM STDIN"
        ) as copy,
    ):
        for k, i in enumerate(chosen):
            s = stations[int(i)]
            level = LEVELS[k % len(LEVELS)]
            acked = k % 3 == 0
            raised = now - timedelta(minutes=int(rng.integers(5, 600)))
            copy.write_row(
                (
                    f"{s.kind}-level",
                    s.code,
                    "station",
                    s.town,
                    "flood",
                    HAZARD_BY_KIND[s.kind],
                    "active",
                    level,
                    acked,
                    "bench" if acked else None,
                    now if acked else None,
                    raised,
                    now,
                    3.0 + k % 7 * 0.1,
                    3.0,
                    f"基准测试{level}预警 {s.code}",
                    f"bench {level} warning {s.code}",
                )
            )
    return len(chosen)


def _pg_micros(moment: datetime) -> int:
    return (moment - PG_EPOCH) // timedelta(microseconds=1)


def observation_block(
    first: int, last: int, ids: np.ndarray, metrics: np.ndarray, end: datetime, steps: int
) -> np.ndarray:
    """Rows first..last-1 (row k: step k // N, station k % N; the last step ends at ``end``) in COPY_ROW form."""
    n = len(ids)
    k = np.arange(first, last, dtype=np.int64)
    step, idx = k // n, k % n
    block = np.empty(len(k), dtype=COPY_ROW)
    block["fields"] = 6
    block["l_station"], block["l_metric"], block["l_ts"] = 4, 2, 8
    block["l_value"], block["l_flags"], block["l_drill"] = 8, 2, 4
    block["station"] = ids[idx]
    block["metric"] = metrics[idx]
    step_us = STEP // timedelta(microseconds=1)
    block["ts"] = _pg_micros(end) - (steps - 1 - step) * step_us
    hours = step * (STEP / timedelta(hours=1))
    # A semidiurnal tide-like swing per station (its own phase), never negative (rainfall is a metric here too).
    block["value"] = np.round(2.0 + 1.5 * np.sin(2 * np.pi * hours / 12.42 + idx * 0.7), 3)
    block["flags"], block["drill"] = 0, 0
    return block


def _copy_rows(
    dsn: str, first: int, last: int, block: Callable[[int, int], np.ndarray], advance: Callable[[int], None]
) -> None:
    """Rows first..last-1 in one binary COPY on a connection of its own, committed at the end."""
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY observations (station_id, metric_id, ts, value, flags, drill_id) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(COPY_SIGNATURE)
        for a in range(first, last, COPY_CHUNK_ROWS):
            b = min(last, a + COPY_CHUNK_ROWS)
            copy.write(block(a, b).tobytes())
            advance(b - a)
        copy.write(COPY_TRAILER)


def load_observations(
    conn: psycopg.Connection,
    dsn: str,
    stations: Sequence[BenchStation],
    rows: int,
    end: datetime,
    progress: Progress,
    label: str,
) -> tuple[float, datetime]:
    """Binary COPY of ``rows`` observations ending at ``end`` (LOAD_CONNECTIONS of them side by side, each a
    contiguous slice), then the latest values they imply. Returns (seconds the COPY took, oldest row's time)."""
    ids = np.array([s.id for s in stations], dtype=np.int32)
    metrics = np.array([s.metric_id for s in stations], dtype=np.int16)
    steps = -(-rows // len(stations))
    task = progress.add_task(label, total=rows, rate="")
    lock = threading.Lock()
    done = [0]
    t0 = time.perf_counter()

    def advance(n: int) -> None:
        with lock:
            done[0] += n
            progress.update(task, completed=done[0], rate=f"{done[0] / (time.perf_counter() - t0):,.0f} rows/s")

    def block(a: int, b: int) -> np.ndarray:
        return observation_block(a, b, ids, metrics, end, steps)

    bounds = np.linspace(0, rows, LOAD_CONNECTIONS + 1).astype(int)
    with ThreadPoolExecutor(LOAD_CONNECTIONS) as pool:
        for job in [
            pool.submit(_copy_rows, dsn, int(a), int(b), block, advance)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]:
            job.result()
    copy_s = time.perf_counter() - t0
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value, flags)
            SELECT DISTINCT ON (station_id) station_id, metric_id, drill_id, ts, value, flags
            FROM observations WHERE ts >= %s ORDER BY station_id, ts DESC""",
            (end - STEP,),
        )
    return copy_s, end - (steps - 1) * STEP
