"""``floodctl bench query``: the two read paths that must stay fast however big the time-series table grows.

Everything runs here, in one run, on a throw-away PostgreSQL cluster (fsync off: the figures are reads), once
per storage path — native day partitions always, and TimescaleDB hypertables as well when the server has the
extension (``LocalCluster.has_timescaledb``; each path is a database of its own, migrated with that storage):

* the sample county's layers, its stations replaced by N replicas (``bench.drill.replicate_stations``), each
  with device health, and ~5 % with an active flood warning;
* ``--rows`` observations, one per station and 5-minute step back from now (the newest step possibly
  partial), in time order as ingest writes them, loaded with binary COPY (rows built with numpy; two
  connections side by side, as the server's side of COPY is what limits it); the latest values follow from
  them. Then VACUUM ANALYZE. TimescaleDB's background jobs (compression, retention) are paused so that nothing
  else runs during the timing; the 7-day window is never compressed.

Figures, each query repeated (``--repeat``, after a few untimed runs) with median / p90 / min / max:

* latest state of all stations (target ≤ 50 ms): the wall's ``dashboard.queries.stations_state`` (and, beside
  it, the same with ``SET jit = off``: its cost estimate switches PostgreSQL's JIT on, and compiling costs more
  than it saves), the API's ``floodctl.stations.store.stations_geojson``, and ``GET /api/v1/stations``
  through ``floodctl serve`` (a child process, as in production);
* a 7-day series of one station (target ≤ 30 ms): ``floodctl.stations.store.series`` raw and in 1 h buckets,
  and ``GET /api/v1/stations/{code}/series`` (raw and ``bucket=1h``); a different river station each time.

Direct calls use one autocommit connection of this process; HTTP calls one keep-alive httpx client.

The station seeding (``seed_stations``, ``write_device_status``, ``raise_warnings``) and ``summarize`` are
shared with ``bench wall``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from floodctl.bench.drill import replicate_stations
from floodctl.core.db.migrate import StorageMode, migrate
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import BadRequest, ServiceUnavailable
from floodctl.core.net import free_port
from floodctl.domain.metrics import METRICS
from floodctl.stations.store import DEFAULT_METRIC_BY_KIND
from gis_data import loader

LATEST_TARGET_MS = 50.0
SERIES_TARGET_MS = 30.0
STEP = timedelta(minutes=5)
SERIES_SPAN = timedelta(days=7)
WARMUP = 3                        # untimed runs of each query first
SERVER_START_TIMEOUT_S = 60.0
WARNING_SHARE = 0.05
OFFLINE_SHARE = 0.02
COPY_CHUNK_ROWS = 500_000
LOAD_CONNECTIONS = 2              # the server side of COPY is the bottleneck: one backend per core
BOUNDS_MARGIN_DEG = 0.002
LEVELS = ("blue", "yellow", "orange", "red")
HAZARD_BY_KIND = {"river": "river_flood", "reservoir": "reservoir_flood", "tide": "storm_surge",
                  "rain": "rainstorm", "weather": "typhoon", "camera": "waterlogging"}
STORAGE_LABEL = {"native": "native partitions", "timescaledb": "TimescaleDB"}
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# One observations row in PostgreSQL's binary COPY format: field count, then (length, value) per column
# (station_id int4, metric_id int2, ts timestamptz = µs since 2000-01-01, value float8, flags int2, drill_id int4).
COPY_ROW = np.dtype([("fields", ">i2"), ("l_station", ">i4"), ("station", ">i4"), ("l_metric", ">i4"),
                     ("metric", ">i2"), ("l_ts", ">i4"), ("ts", ">i8"), ("l_value", ">i4"), ("value", ">f8"),
                     ("l_flags", ">i4"), ("flags", ">i2"), ("l_drill", ">i4"), ("drill", ">i4")])
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"


# --- shared with bench wall --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BenchStation:
    id: int
    code: str
    kind: str
    town: str | None
    metric_id: int          # its main metric (the one the wall shows)


def summarize(samples_ms: Sequence[float], target_ms: float | None = None) -> dict[str, Any]:
    """median / p90 / min / max of a list of milliseconds, with the ratio median/target when there is one."""
    values = np.asarray(samples_ms, dtype=float)
    out: dict[str, Any] = {"n": int(values.size), "median_ms": round(float(np.median(values)), 2),
                           "p90_ms": round(float(np.percentile(values, 90)), 2),
                           "min_ms": round(float(values.min()), 2), "max_ms": round(float(values.max()), 2)}
    if target_ms is not None:
        out["target_ms"] = target_ms
        out["ratio"] = round(out["median_ms"] / target_ms, 3)
    return out


def time_calls(call: Callable[[int], object], repeat: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of ``repeat`` timed calls, after ``warmup`` untimed ones; ``call`` gets the call's index
    (0 … warmup + repeat - 1), e.g. to pick a different station each time."""
    for i in range(warmup):
        call(i)
    out = []
    for i in range(warmup, warmup + repeat):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


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
                    min(max(lat, south + BOUNDS_MARGIN_DEG), north - BOUNDS_MARGIN_DEG)]
                row = loader.station_row(feature)
                row["properties"] = Jsonb(row["properties"])
                copy.write_row([row[c] for c in loader.STATION_ROW])
        rows = cur.execute("SELECT id, code, kind, town_code FROM stations WHERE active ORDER BY id").fetchall()
    return [BenchStation(sid, code, kind, town, METRICS[DEFAULT_METRIC_BY_KIND[kind]].id)
            for sid, code, kind, town in rows]


def write_device_status(conn: psycopg.Connection, stations: Sequence[BenchStation], now: datetime,
                        rng: np.random.Generator, offline_share: float = OFFLINE_SHARE) -> None:
    """Device health of every station (a few offline), current and in the history table."""
    offline = rng.random(len(stations)) < offline_share
    rows = [(s.id, now - timedelta(seconds=int(rng.integers(0, 600))), not off, round(12.0 + rng.random(), 2),
             -70.0 - int(rng.integers(0, 30))) for s, off in zip(stations, offline, strict=True)]
    with conn.transaction(), conn.cursor() as cur:
        for table in ("device_status", "device_status_latest"):
            with cur.copy(sql.SQL("COPY {} (station_id, ts, online, battery_v, signal_dbm) FROM STDIN").format(
                    sql.Identifier(table))) as copy:
                for row in rows:
                    copy.write_row(row)


def raise_warnings(conn: psycopg.Connection, stations: Sequence[BenchStation], now: datetime,
                   rng: np.random.Generator, share: float = WARNING_SHARE) -> int:
    """Active flood warnings on ``share`` of the stations, at every level, a third of them acknowledged."""
    chosen = sorted(rng.choice(len(stations), size=max(1, round(len(stations) * share)), replace=False))
    with conn.transaction(), conn.cursor() as cur, cur.copy(
            "COPY warnings (rule_id, subject, subject_kind, town_code, category, hazard, state, level, acknowledged, "
            "acknowledged_by, acknowledged_at, raised_at, last_seen, value, threshold, message_zh, message_en) "
            "FROM STDIN") as copy:
        for k, i in enumerate(chosen):
            s = stations[int(i)]
            level = LEVELS[k % len(LEVELS)]
            acked = k % 3 == 0
            raised = now - timedelta(minutes=int(rng.integers(5, 600)))
            copy.write_row((f"{s.kind}-level", s.code, "station", s.town, "flood", HAZARD_BY_KIND[s.kind], "active",
                            level, acked, "bench" if acked else None, now if acked else None, raised, now,
                            3.0 + k % 7 * 0.1, 3.0, f"基准测试{level}预警 {s.code}", f"bench {level} warning {s.code}"))
    return len(chosen)


@contextmanager
def serve_floodctl(dsn: str, directory: Path) -> Iterator[str]:
    """``floodctl serve`` on a free loopback port as a child process (as in production: its own interpreter,
    uvicorn's own listening socket), reads open to anonymous viewers; yields its base URL once /healthz
    answers. Runs in ``directory`` (its output in ``serve.log`` there) with no FLOOD_* setting inherited
    (no .env, no production settings)."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
        "FLOOD_DATABASE_URL": dsn, "FLOOD_DATA_DIR": str(directory / "var"), "FLOOD_ENVIRONMENT": "development",
        "FLOOD_ANONYMOUS_READ": "true", "FLOOD_LOG_LEVEL": "WARNING"}
    log = directory / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "floodctl", "serve", "--host", "127.0.0.1", "--port",
                                    str(port)], env=env, cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                last = (log.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
                raise ServiceUnavailable(f"floodctl serve exited with status {process.returncode} while starting: "
                                         f"{last[:300]}")
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"floodctl serve did not answer on {base} in {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- observations ------------------------------------------------------------------------------------------

def _pg_micros(moment: datetime) -> int:
    return (moment - PG_EPOCH) // timedelta(microseconds=1)


def observation_block(first: int, last: int, ids: np.ndarray, metrics: np.ndarray, end: datetime,
                      steps: int) -> np.ndarray:
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


def _copy_rows(dsn: str, first: int, last: int, block: Callable[[int, int], np.ndarray],
               advance: Callable[[int], None]) -> None:
    """Rows first..last-1 in one binary COPY on a connection of its own, committed at the end."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, cur.copy(
            "COPY observations (station_id, metric_id, ts, value, flags, drill_id) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(COPY_SIGNATURE)
        for a in range(first, last, COPY_CHUNK_ROWS):
            b = min(last, a + COPY_CHUNK_ROWS)
            copy.write(block(a, b).tobytes())
            advance(b - a)
        copy.write(COPY_TRAILER)


def load_observations(conn: psycopg.Connection, dsn: str, stations: Sequence[BenchStation], rows: int,
                      end: datetime, progress: Progress, label: str) -> tuple[float, datetime]:
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
        for job in [pool.submit(_copy_rows, dsn, int(a), int(b), block, advance)
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            job.result()
    copy_s = time.perf_counter() - t0
    with conn.transaction():
        conn.execute("""
            INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value, flags)
            SELECT DISTINCT ON (station_id) station_id, metric_id, drill_id, ts, value, flags
            FROM observations WHERE ts >= %s ORDER BY station_id, ts DESC""", (end - STEP,))
    return copy_s, end - (steps - 1) * STEP


def _one(conn: psycopg.Connection, query: LiteralString) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _table_bytes(conn: psycopg.Connection, storage: StorageMode) -> int:
    if storage == "timescaledb":
        return int(_one(conn, "SELECT hypertable_size('observations')") or 0)
    return int(_one(conn, "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                          "WHERE inhparent = 'observations'::regclass") or 0)


def prepare_database(cluster: LocalCluster, storage: StorageMode, stations: int, rows: int, end: datetime,
                     progress: Progress) -> tuple[str, list[BenchStation], dict[str, Any]]:
    """A database of its own for one storage path, loaded; returns (dsn, stations, load figures)."""
    dsn = cluster.create_database(f"bench_{storage}")
    rng = np.random.default_rng(7)
    with psycopg.connect(dsn) as conn:
        migrate(conn, prefer=storage)
        conn.autocommit = True
        loader.load_layers(conn)
        seeded = seed_stations(conn, stations)
        write_device_status(conn, seeded, end, rng)
        raise_warnings(conn, seeded, end, rng)
        steps = -(-rows // stations)
        first_day = (end - (steps - 1) * STEP).date()
        if storage == "native":
            conn.execute("SELECT ensure_observation_partitions(%s, %s)", (first_day, end.date() + timedelta(days=1)))
        else:   # nothing else may run while the queries are timed
            conn.execute("SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
                         "WHERE hypertable_name = 'observations'")
        copy_s, first_ts = load_observations(conn, dsn, seeded, rows, end, progress,
                                             f"{STORAGE_LABEL[storage]}: COPY")
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        vacuum_s = time.perf_counter() - t0
        figures = {"rows": rows, "rows_stored": _one(conn, "SELECT count(*) FROM observations"),
                   "latest_values": _one(conn, "SELECT count(*) FROM latest_values"),
                   "copy_s": round(copy_s, 2), "copy_rows_per_s": round(rows / copy_s),
                   "vacuum_analyze_s": round(vacuum_s, 2), "table_bytes": _table_bytes(conn, storage),
                   "first_ts": first_ts.isoformat(), "last_ts": end.isoformat()}
        if storage == "timescaledb":
            figures["timescaledb_version"] = _one(conn, "SELECT extversion FROM pg_extension "
                                                        "WHERE extname = 'timescaledb'")
            figures["chunks"] = _one(conn, "SELECT count(*) FROM show_chunks('observations')")
        else:
            figures["partitions"] = _one(conn, "SELECT count(*) FROM pg_inherits "
                                               "WHERE inhparent = 'observations'::regclass")
    return dsn, seeded, figures


def measure(dsn: str, stations: Sequence[BenchStation], end: datetime, repeat: int, directory: Path) -> dict[str, Any]:
    """Every query of the bench, ``repeat`` times each, directly and through the API's HTTP server."""
    import httpx

    from dashboard.queries import stations_state
    from floodctl.stations.store import SeriesQuery, series, stations_geojson

    rivers = [s for s in stations if s.kind == "river"] or list(stations)
    picks = [rivers[int(i)] for i in np.random.default_rng(11).integers(0, len(rivers), repeat + WARMUP)]
    start = end - SERIES_SPAN
    origin = datetime(2000, 1, 1, tzinfo=UTC)
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        sizes: dict[str, int] = {}

        def state(i: int) -> None:
            sizes["stations_state_bytes"] = len(stations_state(conn))

        def geojson(i: int) -> None:
            sizes["stations_geojson_bytes"] = len(stations_geojson(conn))

        points: dict[str, list[int]] = {"raw": [], "1h": []}

        def raw(i: int) -> None:
            points["raw"].append(len(series(conn, SeriesQuery(picks[i].code, None, start, end, None),
                                            origin=origin).points))

        def hourly(i: int) -> None:
            points["1h"].append(len(series(conn, SeriesQuery(picks[i].code, None, start, end, timedelta(hours=1)),
                                           origin=origin).points))

        out["stations_state"] = summarize(time_calls(state, repeat), LATEST_TARGET_MS)
        # Side by side: the same statement without PostgreSQL's JIT, which its cost estimate switches on.
        conn.execute("SET jit = off")
        out["stations_state_jit_off"] = summarize(time_calls(state, repeat), LATEST_TARGET_MS)
        conn.execute("RESET jit")
        out["stations_geojson"] = summarize(time_calls(geojson, repeat), LATEST_TARGET_MS)
        out["series_raw"] = summarize(time_calls(raw, repeat), SERIES_TARGET_MS)
        out["series_1h"] = summarize(time_calls(hourly, repeat), SERIES_TARGET_MS)
        out["series_raw"]["points"] = int(np.median(points["raw"]))
        out["series_1h"]["points"] = int(np.median(points["1h"]))
        out.update(sizes)

    window = {"start": start.isoformat(), "end": end.isoformat()}
    with serve_floodctl(dsn, directory) as base, httpx.Client(base_url=base, timeout=30) as http:

        def get(path: str, params: dict[str, str] | None = None) -> None:
            response = http.get(path, params=params)
            response.raise_for_status()

        out["http_stations"] = summarize(time_calls(lambda i: get("/api/v1/stations"), repeat), LATEST_TARGET_MS)
        out["http_series_raw"] = summarize(time_calls(
            lambda i: get(f"/api/v1/stations/{picks[i].code}/series", window), repeat), SERIES_TARGET_MS)
        out["http_series_1h"] = summarize(time_calls(
            lambda i: get(f"/api/v1/stations/{picks[i].code}/series", window | {"bucket": "1h"}), repeat),
            SERIES_TARGET_MS)
    return out


QUERY_LINES = (
    ("stations_state", "latest, all stations: wall stations_state"),
    ("stations_state_jit_off", "  the same with SET jit = off"),
    ("stations_geojson", "latest, all stations: API stations_geojson"),
    ("http_stations", "latest, all stations: GET /api/v1/stations"),
    ("series_raw", "7-day series, raw: store.series"),
    ("series_1h", "7-day series, 1 h buckets: store.series"),
    ("http_series_raw", "7-day series, raw: GET …/series"),
    ("http_series_1h", "7-day series, 1 h: GET …/series?bucket=1h"),
)


def run_bench_query(*, stations: int, rows: int, repeat: int, as_json: bool, console: Console) -> dict[str, Any]:
    if rows < stations:
        raise BadRequest(f"--rows ({rows:,}) must be at least --stations ({stations:,}): one reading per station")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 5)
    steps = -(-rows // stations)
    figures: dict[str, Any] = {"stations": stations, "rows": rows, "repeat": repeat,
                               "span_days": round(steps * STEP / timedelta(days=1), 2),
                               "targets_ms": {"latest": LATEST_TARGET_MS, "series": SERIES_TARGET_MS}, "paths": {}}
    directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-query-"))
    directory.chmod(0o755)   # the server runs as an unprivileged account when we are root
    try:
        with LocalCluster(directory / "pg") as cluster:
            storages: list[StorageMode] = ["native", "timescaledb"] if cluster.has_timescaledb() else ["native"]
            figures["storage"] = storages
            figures["postgresql"] = cluster.bin_dir.parent.name
            shown = " + ".join(STORAGE_LABEL[s] for s in storages)
            console.print(f"bench query: {stations:,} stations, {rows:,} observation rows ({figures['span_days']} "
                          f"days at 5 min), {repeat} runs per query, PostgreSQL {figures['postgresql']}; storage: "
                          f"{shown}{'' if 'timescaledb' in storages else ' (TimescaleDB not installed)'}",
                          highlight=False, soft_wrap=True)
            for storage in storages:
                with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console,
                              transient=True) as progress:
                    dsn, seeded, load = prepare_database(cluster, storage, stations, rows, end, progress)
                console.print(f"  {STORAGE_LABEL[storage]}: loaded {rows:,} rows in {load['copy_s']} s "
                              f"({load['copy_rows_per_s']:,} rows/s, binary COPY on {LOAD_CONNECTIONS} connections); "
                              f"VACUUM ANALYZE {load['vacuum_analyze_s']} s; table "
                              f"{load['table_bytes'] / 2**20:,.0f} MB",
                              highlight=False, soft_wrap=True)
                with console.status(f"{STORAGE_LABEL[storage]}: timing the queries…"):
                    queries = measure(dsn, seeded, end, repeat, directory)
                figures["paths"][storage] = {"load": load, "queries": queries}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    _report(figures, console)
    if as_json:
        print(json.dumps(figures))
    return figures


def _report(f: dict[str, Any], console: Console) -> None:
    lines = [f"\n  {'(ms)':<44}{'median':>8}{'p90':>8}{'min':>8}{'max':>8}{'target':>8}{'ratio':>7}"]
    for storage, path in f["paths"].items():
        q = path["queries"]
        lines.append(f"  {STORAGE_LABEL[storage]}"
                     + (f" {path['load'].get('timescaledb_version')}" if storage == "timescaledb" else ""))
        for key, label in QUERY_LINES:
            s = q[key]
            lines.append(f"    {label:<42}{s['median_ms']:>8.1f}{s['p90_ms']:>8.1f}{s['min_ms']:>8.1f}"
                         f"{s['max_ms']:>8.1f}{s['target_ms']:>8.0f}{s['ratio']:>7.2f}")
        lines.append(f"    stations GeoJSON: wall {q['stations_state_bytes'] / 1024:,.0f} KB, API "
                     f"{q['stations_geojson_bytes'] / 1024:,.0f} KB; series points: raw {q['series_raw']['points']:,}, "
                     f"1 h {q['series_1h']['points']:,}")
    lines.append(f"  targets: latest state ≤ {LATEST_TARGET_MS:.0f} ms, 7-day series ≤ {SERIES_TARGET_MS:.0f} ms "
                 "(ratio = median / target)")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
