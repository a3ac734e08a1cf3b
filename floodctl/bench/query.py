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
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

import numpy as np
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from floodctl.bench.common import WARMUP, serve_floodctl, summarize, time_calls
from floodctl.bench.county import (
    LOAD_CONNECTIONS,
    STEP,
    BenchStation,
    load_observations,
    raise_warnings,
    seed_stations,
    write_device_status,
)
from floodctl.core.db.migrate import StorageMode, migrate
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import BadRequest
from gis_data import loader

LATEST_TARGET_MS = 50.0
SERIES_TARGET_MS = 30.0
SERIES_SPAN = timedelta(days=7)
STORAGE_LABEL = {"native": "native partitions", "timescaledb": "TimescaleDB"}


# --- shared with bench wall --------------------------------------------------------------------------------


# --- observations ------------------------------------------------------------------------------------------


def _one(conn: psycopg.Connection, query: LiteralString) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _table_bytes(conn: psycopg.Connection, storage: StorageMode) -> int:
    if storage == "timescaledb":
        return int(_one(conn, "SELECT hypertable_size('observations')") or 0)
    return int(
        _one(
            conn,
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'observations'::regclass",
        )
        or 0
    )


def prepare_database(
    cluster: LocalCluster, storage: StorageMode, stations: int, rows: int, end: datetime, progress: Progress
) -> tuple[str, list[BenchStation], dict[str, Any]]:
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
        else:  # nothing else may run while the queries are timed
            conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
                "WHERE hypertable_name = 'observations'"
            )
        copy_s, first_ts = load_observations(conn, dsn, seeded, rows, end, progress, f"{STORAGE_LABEL[storage]}: COPY")
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        vacuum_s = time.perf_counter() - t0
        figures = {
            "rows": rows,
            "rows_stored": _one(conn, "SELECT count(*) FROM observations"),
            "latest_values": _one(conn, "SELECT count(*) FROM latest_values"),
            "copy_s": round(copy_s, 2),
            "copy_rows_per_s": round(rows / copy_s),
            "vacuum_analyze_s": round(vacuum_s, 2),
            "table_bytes": _table_bytes(conn, storage),
            "first_ts": first_ts.isoformat(),
            "last_ts": end.isoformat(),
        }
        if storage == "timescaledb":
            figures["timescaledb_version"] = _one(
                conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            )
            figures["chunks"] = _one(conn, "SELECT count(*) FROM show_chunks('observations')")
        else:
            figures["partitions"] = _one(
                conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'observations'::regclass"
            )
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
            points["raw"].append(
                len(series(conn, SeriesQuery(picks[i].code, None, start, end, None), origin=origin).points)
            )

        def hourly(i: int) -> None:
            points["1h"].append(
                len(
                    series(conn, SeriesQuery(picks[i].code, None, start, end, timedelta(hours=1)), origin=origin).points
                )
            )

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
        out["http_series_raw"] = summarize(
            time_calls(lambda i: get(f"/api/v1/stations/{picks[i].code}/series", window), repeat), SERIES_TARGET_MS
        )
        out["http_series_1h"] = summarize(
            time_calls(lambda i: get(f"/api/v1/stations/{picks[i].code}/series", window | {"bucket": "1h"}), repeat),
            SERIES_TARGET_MS,
        )
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
    figures: dict[str, Any] = {
        "stations": stations,
        "rows": rows,
        "repeat": repeat,
        "span_days": round(steps * STEP / timedelta(days=1), 2),
        "targets_ms": {"latest": LATEST_TARGET_MS, "series": SERIES_TARGET_MS},
        "paths": {},
    }
    directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-query-"))
    directory.chmod(0o755)  # the server runs as an unprivileged account when we are root
    try:
        with LocalCluster(directory / "pg") as cluster:
            storages: list[StorageMode] = ["native", "timescaledb"] if cluster.has_timescaledb() else ["native"]
            figures["storage"] = storages
            figures["postgresql"] = cluster.bin_dir.parent.name
            shown = " + ".join(STORAGE_LABEL[s] for s in storages)
            console.print(
                f"bench query: {stations:,} stations, {rows:,} observation rows ({figures['span_days']} "
                f"days at 5 min), {repeat} runs per query, PostgreSQL {figures['postgresql']}; storage: "
                f"{shown}{'' if 'timescaledb' in storages else ' (TimescaleDB not installed)'}",
                highlight=False,
                soft_wrap=True,
            )
            for storage in storages:
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                ) as progress:
                    dsn, seeded, load = prepare_database(cluster, storage, stations, rows, end, progress)
                console.print(
                    f"  {STORAGE_LABEL[storage]}: loaded {rows:,} rows in {load['copy_s']} s "
                    f"({load['copy_rows_per_s']:,} rows/s, binary COPY on {LOAD_CONNECTIONS} connections); "
                    f"VACUUM ANALYZE {load['vacuum_analyze_s']} s; table "
                    f"{load['table_bytes'] / 2**20:,.0f} MB",
                    highlight=False,
                    soft_wrap=True,
                )
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
        lines.append(
            f"  {STORAGE_LABEL[storage]}"
            + (f" {path['load'].get('timescaledb_version')}" if storage == "timescaledb" else "")
        )
        for key, label in QUERY_LINES:
            s = q[key]
            lines.append(
                f"    {label:<42}{s['median_ms']:>8.1f}{s['p90_ms']:>8.1f}{s['min_ms']:>8.1f}"
                f"{s['max_ms']:>8.1f}{s['target_ms']:>8.0f}{s['ratio']:>7.2f}"
            )
        lines.append(
            f"    stations GeoJSON: wall {q['stations_state_bytes'] / 1024:,.0f} KB, API "
            f"{q['stations_geojson_bytes'] / 1024:,.0f} KB; series points: raw {q['series_raw']['points']:,}, "
            f"1 h {q['series_1h']['points']:,}"
        )
    lines.append(
        f"  targets: latest state ≤ {LATEST_TARGET_MS:.0f} ms, 7-day series ≤ {SERIES_TARGET_MS:.0f} ms "
        "(ratio = median / target)"
    )
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
