"""``floodctl bench wall``: the wall dashboard with N stations, from navigation to interactive in headless Chromium.

Everything runs here, in one run: a throw-away PostgreSQL cluster holding the sample county's layers with its
stations replaced by N replicas (``bench.county.seed_stations``: inside the county's bounds, so the fitted map
shows them all), each with a latest reading of its main metric and device health, 24 h of hourly rainfall on
the rain gauges, and ~5 % of the stations under an active flood warning at every level; ``floodctl serve`` as a
child process (``bench.common.serve_floodctl``); the system Chromium driven by Playwright, 1920×1080.

Each run (the first a warm-up, not counted) is a fresh browser context, so nothing is cached: navigate to
``/wall/`` and poll, on every animation frame inside the page, until the map is interactive —

* every station is on the map: single markers ``.wall-st`` plus the counts of the clusters ``.wall-cluster``
  add up to N;
* the panels are filled: ``#wall-warnings .w-row`` present;
* Dash is idle: its renderer's store (``window.store``) has no callback requested, blocked, executing or
  waiting to be applied, and ``isLoading`` is false;

and take the page's own ``performance.now()`` (milliseconds since navigation start) at that frame.

Breakdown: the stations query (``dashboard.queries.stations_state``) timed directly; each run's timeline
(HTML, assets, first ``_dash-update-component`` response, the response carrying the stations GeoJSON with its
size raw and gzipped as served, long tasks of the main thread); the callback requests during load, by callback;
the cost of one ``refresh`` tick after load; and one extra, uncounted load under the V8 sampling profiler, with
the main thread's time by script and by function.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from floodctl.bench.common import serve_floodctl, summarize, time_calls
from floodctl.bench.county import BenchStation, raise_warnings, seed_stations, write_device_status
from floodctl.core.db.migrate import migrate
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import ServiceUnavailable
from floodctl.domain.metrics import METRICS
from gis_data import loader

TARGET_MS = 3_000.0
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1920, "height": 1080}
LOCALE, TIMEZONE = "zh-CN", "Asia/Shanghai"
LOAD_TIMEOUT_MS = 120_000
TICK_TIMEOUT_MS = 30_000
SQL_REPEAT = 20
REFRESH_TICKS = 5
RAIN_HOURS = 24
PROFILE_INTERVAL_US = 250
TOP_SCRIPTS = 6
TOP_FUNCTIONS = 8
UPDATE_PATH = "_dash-update-component"
LAYOUT_PATH = "_dash-layout"  # the page's first frame: the layout with the panels and layers in it
STATIONS_PATH = "stations.geojson"  # the map's stations, fetched by URL
# Which callback a _dash-update-component request is, by one output it names (dashboard/wall/callbacks.py).
CALLBACK_BY_OUTPUT = (
    ("wall-stations.url", "refresh"),
    ("wall-title.children", "render_labels"),
    ("wall-drill.options", "drill_choices"),
    ("wall-selected.data", "select_station"),
    ("wall-series-box.children", "show_series"),
    ("wall-at.data", "set_moment"),
)
VALUE_RANGE = {"water_level": (1.0, 6.0), "tide_level": (1.0, 4.0), "rainfall": (0.0, 15.0), "wind_speed": (2.0, 20.0)}

# Long tasks of the main thread, recorded from the first script of the page on.
INIT_SCRIPT = """
window.__benchLongTasks = [];
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { window.__benchLongTasks.push([e.startTime, e.duration]); });
  }).observe({type: "longtask", buffered: true});
} catch (e) {}
"""
# performance.now() at the first frame where the wall is interactive, else false (polled every frame).
READY_JS = """
(n) => {
  const state = window.store && window.store.getState && window.store.getState();
  if (!state || state.isLoading) { return false; }
  const callbacks = state.callbacks || {};
  for (const key in callbacks) {
    if (Array.isArray(callbacks[key]) && callbacks[key].length) { return false; }
  }
  if (document.querySelector("._dash-loading, [data-dash-is-loading='true']")) { return false; }
  if (!document.querySelector("#wall-warnings .w-row")) { return false; }
  let shown = document.querySelectorAll(".wall-st").length;
  document.querySelectorAll(".wall-cluster .cl-count").forEach((e) => { shown += Number(e.textContent); });
  return shown === n ? performance.now() : false;
}
"""
# What the page looks like when it did not get there (for the error message).
STATE_JS = """
() => {
  const state = window.store && window.store.getState && window.store.getState();
  let shown = document.querySelectorAll(".wall-st").length;
  document.querySelectorAll(".wall-cluster .cl-count").forEach((e) => { shown += Number(e.textContent); });
  const lists = state ? Object.entries(state.callbacks || {}).filter(([, list]) => Array.isArray(list)) : [];
  const pending = state ? lists.reduce((n, [, list]) => n + list.length, 0) : -1;
  const which = lists.flatMap(([kind, list]) => list.map((cb) => kind + ":" + ((cb.callback && cb.callback.output)
    || "?"))).slice(0, 8);
  return {shown: shown, warnings: document.querySelectorAll("#wall-warnings .w-row").length, pending: pending,
          which: which,
          loading: state ? Boolean(state.isLoading) : null};
}
"""
TIMELINE_JS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0] || {};
  const assets = performance.getEntriesByType("resource").filter((e) => !e.name.includes("_dash-update-component")
    && !e.name.includes("_dash-layout") && !e.name.includes("stations.geojson") && !e.name.includes("/pulse"));
  const sum = (key) => assets.reduce((n, e) => n + (e[key] || 0), 0);
  return {
    time_origin: performance.timeOrigin, document_ms: nav.responseEnd || 0,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd || 0, load_event_ms: nav.loadEventEnd || 0,
    assets: assets.length, assets_encoded_bytes: sum("encodedBodySize"), assets_decoded_bytes: sum("decodedBodySize"),
    assets_end_ms: assets.reduce((m, e) => Math.max(m, e.responseEnd), 0),
    slowest_assets: assets.slice().sort((a, b) => b.duration - a.duration).slice(0, 5).map((e) => ({
      name: e.name.split("?")[0].split("/").pop(), ms: Math.round(e.duration), start_ms: Math.round(e.startTime),
      encoded_bytes: e.encodedBodySize, decoded_bytes: e.decodedBodySize})),
    long_tasks: window.__benchLongTasks || [],
  };
}
"""


# --- the county ---------------------------------------------------------------------------------------------


def _value(metric: str, rng: np.random.Generator) -> float:
    low, high = VALUE_RANGE.get(metric, (0.0, 10.0))
    return round(float(rng.uniform(low, high)), 2)


def write_readings(
    conn: psycopg.Connection, stations: list[BenchStation], now: datetime, rng: np.random.Generator
) -> int:
    """A latest reading of each station's main metric (observations and latest_values), and RAIN_HOURS of hourly
    rainfall on the rain gauges (their latest reading is the newest hour). Returns the observation rows."""
    names = {m.id: m.name for m in METRICS.values()}
    rainfall = METRICS["rainfall"].id
    observations: list[tuple[int, int, datetime, float]] = []
    latest: list[tuple[int, int, datetime, float]] = []
    for s in stations:
        ts = now - timedelta(seconds=int(rng.integers(0, 300)))
        hours = RAIN_HOURS if s.metric_id == rainfall else 1
        readings = [(s.id, s.metric_id, ts - timedelta(hours=h), _value(names[s.metric_id], rng)) for h in range(hours)]
        observations += readings
        latest.append(readings[0])
    with conn.transaction(), conn.cursor() as cur:
        for table, rows in (("observations", observations), ("latest_values", latest)):
            with cur.copy(
                sql.SQL("COPY {} (station_id, metric_id, ts, value) FROM STDIN").format(sql.Identifier(table))
            ) as copy:
                for row in rows:
                    copy.write_row(row)
    return len(observations)


def prepare_county(dsn: str, count: int) -> dict[str, Any]:
    """Migrate, load the sample county, and give it ``count`` stations with their state as of now."""
    now = datetime.now(UTC)
    rng = np.random.default_rng(5)
    with psycopg.connect(dsn) as conn:
        migrate(conn, prefer="native")
        conn.autocommit = True
        loader.load_layers(conn)
        stations = seed_stations(conn, count)
        readings = write_readings(conn, stations, now, rng)
        write_device_status(conn, stations, now, rng)
        warnings = raise_warnings(conn, stations, now, rng)
        conn.execute("VACUUM ANALYZE")
    return {"stations": len(stations), "warnings": warnings, "observations": readings}


# --- one page load ------------------------------------------------------------------------------------------


def _request_body(post_data: str | None) -> dict[str, Any]:
    try:
        body = json.loads(post_data or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def callback_name(post_data: str | None, url: str = "") -> str:
    if LAYOUT_PATH in url:
        return "layout"
    if STATIONS_PATH in url:
        return "stations"
    output = str(_request_body(post_data).get("output", ""))
    for needle, name in CALLBACK_BY_OUTPUT:
        if needle in output:
            return name
    return output.strip(".").split(".")[0] or "?"


def describe_call(response: Any, time_origin: float) -> dict[str, Any]:
    """One _dash-update-component exchange on the page's clock (ms since navigation start)."""
    request = response.request
    timing = request.timing
    start_ms = timing["startTime"] - time_origin
    end = timing["responseEnd"] if timing["responseEnd"] >= 0 else timing["responseStart"]
    try:
        raw = len(response.body())
    except Exception:  # noqa: BLE001 - a body the browser already dropped: the size is unknown, not an error
        raw = 0
    return {
        "callback": callback_name(request.post_data, request.url),
        "start_ms": round(start_ms, 1),
        "triggered_by": _request_body(request.post_data).get("changedPropIds") or [],
        "end_ms": round(start_ms + end, 1),
        "server_ms": round(timing["responseStart"] - timing["requestStart"], 1),
        "round_trip_ms": round(end - timing["requestStart"], 1),
        "bytes": raw,
        "encoded_bytes": request.sizes()["responseBodySize"],
        "gzip": (response.headers.get("content-encoding") or "") == "gzip",
    }


def _new_page(browser: Any) -> tuple[Any, Any, list[Any], list[str]]:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE, timezone_id=TIMEZONE)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    calls: list[Any] = []
    problems: list[str] = []
    page.on(
        "response",
        lambda r: calls.append(r) if any(p in r.url for p in (UPDATE_PATH, LAYOUT_PATH, STATIONS_PATH)) else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    return context, page, calls, problems


def _wait_ready(page: Any, stations: int) -> float:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return float(
            page.wait_for_function(READY_JS, arg=stations, polling="raf", timeout=LOAD_TIMEOUT_MS).json_value()
        )
    except PlaywrightTimeout:
        seen = page.evaluate(STATE_JS)
        raise ServiceUnavailable(
            f"the wall was not interactive within {LOAD_TIMEOUT_MS / 1000:.0f} s: {seen['shown']:,} of {stations:,} "
            f"stations on the map, {seen['warnings']} warning rows, {seen['pending']} callbacks pending "
            f"({', '.join(seen['which'])})"
        ) from None


def load_once(browser: Any, base: str, stations: int) -> dict[str, Any]:
    """One cold load of /wall/ in a fresh context: ready time and the timeline of the load."""
    context, page, calls, problems = _new_page(browser)
    try:
        page.goto(base + "/wall/", wait_until="commit")
        ready_ms = _wait_ready(page, stations)
        timeline = page.evaluate(TIMELINE_JS)
        exchanges = sorted(
            (describe_call(r, timeline["time_origin"]) for r in list(calls)), key=lambda c: c["start_ms"]
        )
    finally:
        context.close()
    during = [c for c in exchanges if c["start_ms"] <= ready_ms]
    with_stations = [c for c in during if c["callback"] == "stations"]
    tasks = [(s, d) for s, d in timeline.pop("long_tasks") if s <= ready_ms]
    timeline.pop("time_origin")
    return {
        "ready_ms": round(ready_ms, 1),
        **timeline,
        "calls": during,
        "first_call_ms": min(
            (c["end_ms"] for c in during if c["callback"] not in ("layout", "stations")), default=None
        ),
        "stations_response": with_stations[0] if with_stations else None,
        "long_tasks_ms": round(sum(d for _, d in tasks), 1),
        "longest_task_ms": round(max((d for _, d in tasks), default=0.0), 1),
        "problems": problems,
    }


def _is_refresh(response: Any) -> bool:
    return UPDATE_PATH in response.url and callback_name(response.request.post_data, response.url) == "refresh"


def refresh_ticks(browser: Any, base: str, stations: int, ticks: int) -> dict[str, Any]:
    """Load the wall, then time the next ``ticks`` ``refresh`` round trips (and count what else each tick asks)."""
    context, page, calls, _ = _new_page(browser)
    try:
        page.goto(base + "/wall/", wait_until="commit")
        ready_ms = _wait_ready(page, stations)
        time_origin = page.evaluate("performance.timeOrigin")
        before = len(calls)
        refreshes = []
        for _ in range(ticks):
            with page.expect_response(_is_refresh, timeout=TICK_TIMEOUT_MS) as caught:
                pass
            caught.value.finished()
            refreshes.append(describe_call(caught.value, time_origin))
        after = [describe_call(r, time_origin) for r in calls[before:]]
    finally:
        context.close()
    ticked = [c for c in after if c["start_ms"] > ready_ms]
    return {
        "round_trip": summarize([c["round_trip_ms"] for c in refreshes]),
        "server": summarize([c["server_ms"] for c in refreshes]),
        "bytes": int(np.median([c["bytes"] for c in refreshes])),
        "encoded_bytes": int(np.median([c["encoded_bytes"] for c in refreshes])),
        "requests_per_tick": round(len(ticked) / ticks, 1),
        "callbacks_per_tick": dict(Counter(c["callback"] for c in ticked)),
    }


def profile_load(browser: Any, base: str, stations: int) -> dict[str, Any]:
    """One more cold load under V8's sampling profiler: main-thread self time by script and by function, and
    Chromium's own totals (script, layout, style recalculation)."""
    context, page, _, _ = _new_page(browser)
    try:
        page.goto(base + "/healthz")  # same origin first: the profiler stays with the renderer process
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": PROFILE_INTERVAL_US})
        cdp.send("Profiler.start")
        page.goto(base + "/wall/", wait_until="commit")
        ready_ms = _wait_ready(page, stations)
        profile = cdp.send("Profiler.stop")["profile"]
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    finally:
        context.close()
    by_node: dict[int, float] = defaultdict(float)
    deltas = profile.get("timeDeltas") or []
    for sample, delta in zip(profile.get("samples") or [], deltas[1:] + [0], strict=True):
        by_node[sample] += delta / 1000
    by_script: dict[str, float] = defaultdict(float)
    by_function: dict[str, float] = defaultdict(float)
    for node in profile["nodes"]:
        ms = by_node.get(node["id"], 0.0)
        if not ms:
            continue
        frame = node["callFrame"]
        script = frame["url"].split("?")[0].rsplit("/", 1)[-1] or frame["functionName"] or "(native)"
        if script == "(idle)":
            continue
        by_script[script] += ms
        name = frame["functionName"] or "(anonymous)"
        by_function[f"{name} {script}:{frame['lineNumber'] + 1}" if frame["url"] else name] += ms

    def top(items: dict[str, float], n: int) -> list[list[Any]]:
        return [[k, round(v)] for k, v in sorted(items.items(), key=lambda kv: -kv[1])[:n]]

    return {
        "ready_ms": round(ready_ms, 1),
        "script_ms": round(metrics.get("ScriptDuration", 0) * 1000),
        "layout_ms": round(metrics.get("LayoutDuration", 0) * 1000),
        "style_ms": round(metrics.get("RecalcStyleDuration", 0) * 1000),
        "task_ms": round(metrics.get("TaskDuration", 0) * 1000),
        "by_script": top(by_script, TOP_SCRIPTS),
        "by_function": top(by_function, TOP_FUNCTIONS),
    }


# --- the bench ----------------------------------------------------------------------------------------------


def _median_run(loads: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(loads, key=lambda r: r["ready_ms"])
    return ordered[(len(ordered) - 1) // 2]


def _callbacks(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for call in run["calls"]:
        item = out.setdefault(call["callback"], {"count": 0, "server_ms": [], "bytes": 0, "encoded_bytes": 0})
        item["count"] += 1
        item["server_ms"].append(call["server_ms"])
        item["bytes"] += call["bytes"]
        item["encoded_bytes"] += call["encoded_bytes"]
    for item in out.values():
        item["server_ms"] = round(float(np.max(item["server_ms"])), 1)
    return out


def run_bench_wall(*, stations: int, runs: int, as_json: bool, console: Console) -> dict[str, Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ServiceUnavailable("playwright is not installed: pip install -e '.[dev]'") from None
    if not CHROMIUM.exists():
        raise ServiceUnavailable(f"Chromium is not installed ({CHROMIUM}): make system-deps installs it")
    from dashboard.queries import stations_state

    figures: dict[str, Any] = {
        "stations": stations,
        "runs": runs,
        "target_ms": TARGET_MS,
        "viewport": f"{VIEWPORT['width']}x{VIEWPORT['height']}",
    }
    directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-wall-"))
    directory.chmod(0o755)  # the server runs as an unprivileged account when we are root
    try:
        with LocalCluster(directory / "pg", preload_timescaledb=False) as cluster:
            dsn = cluster.create_database("bench")
            with console.status(f"a county of {stations:,} stations…"):
                figures.update(prepare_county(dsn, stations))
            with psycopg.connect(dsn, autocommit=True) as conn:
                geojson_bytes = len(stations_state(conn))
                figures["stations_sql"] = summarize(time_calls(lambda i: stations_state(conn), SQL_REPEAT))
            figures["stations_geojson_bytes"] = geojson_bytes
            console.print(
                f"bench wall: {stations:,} stations ({figures['warnings']:,} under flood warnings), "
                f"{runs} timed loads + 1 warm-up, headless Chromium {figures['viewport']}, floodctl serve, "
                f"PostgreSQL {cluster.bin_dir.parent.name}",
                highlight=False,
                soft_wrap=True,
            )
            with serve_floodctl(dsn, directory) as base, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                figures["chromium"] = browser.version
                try:
                    with Progress(
                        TextColumn("{task.description}"),
                        BarColumn(),
                        MofNCompleteColumn(),
                        TimeElapsedColumn(),
                        console=console,
                        transient=True,
                    ) as progress:
                        task = progress.add_task("page loads", total=runs + 1)
                        loads = []
                        for _ in range(runs + 1):
                            loads.append(load_once(browser, base, stations))
                            progress.advance(task)
                    with console.status(f"{REFRESH_TICKS} refresh ticks after load…"):
                        figures["refresh"] = refresh_ticks(browser, base, stations, REFRESH_TICKS)
                    with console.status("one more load under the profiler…"):
                        figures["profile"] = profile_load(browser, base, stations)
                finally:
                    browser.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    figures["warmup_ms"] = loads[0]["ready_ms"]
    figures["warmup_run"] = loads[0]
    timed = loads[1:]
    figures["load"] = summarize([r["ready_ms"] for r in timed], TARGET_MS)
    figures["runs_ms"] = [r["ready_ms"] for r in timed]
    median = _median_run(timed)
    figures["median_run"] = median
    figures["callbacks"] = _callbacks(median)
    figures["callback_requests"] = int(np.median([len(r["calls"]) for r in timed]))
    figures["first_callback_ms"] = summarize([r["first_call_ms"] for r in timed if r["first_call_ms"] is not None])
    figures["problems"] = sorted({p for r in loads for p in r["problems"]})[:10]
    _report(figures, console)
    if as_json:
        print(json.dumps(figures))
    return figures


def _kb(n: float) -> str:
    return f"{n / 1024:,.0f} KB"


def _report(f: dict[str, Any], console: Console) -> None:
    load, run, refresh, profile = f["load"], f["median_run"], f["refresh"], f["profile"]
    stations_call = run["stations_response"] or {}
    lines = [
        f"\n  load to interactive  median {load['median_ms']:,.0f} ms  p90 {load['p90_ms']:,.0f}  "
        f"min {load['min_ms']:,.0f}  max {load['max_ms']:,.0f}  (target {TARGET_MS:,.0f} ms; "
        f"ratio {load['ratio']:.2f}); runs {', '.join(f'{v:,.0f}' for v in f['runs_ms'])}; "
        f"warm-up {f['warmup_ms']:,.0f}",
        "  median run, ms after navigation start:",
        f"    {run['document_ms']:>7,.0f}  HTML received",
        f"    {run['assets_end_ms']:>7,.0f}  last asset received ({run['assets']} files, "
        f"{_kb(run['assets_encoded_bytes'])} as sent, {_kb(run['assets_decoded_bytes'])} decoded)",
        f"    {run['dom_content_loaded_ms']:>7,.0f}  DOMContentLoaded",
        f"    {run['first_call_ms'] or 0:>7,.0f}  first _dash-update-component response",
    ]
    if stations_call:
        lines.append(
            f"    {stations_call['end_ms']:>7,.0f}  stations GeoJSON received "
            f"({stations_call['callback']}: server "
            f"{stations_call['server_ms']:,.0f} ms; {_kb(stations_call['bytes'])} raw, "
            f"{_kb(stations_call['encoded_bytes'])} {'gzipped' if stations_call['gzip'] else 'as sent'})"
        )
    lines.append(
        f"    {run['ready_ms']:>7,.0f}  interactive"
        + (
            f" ({run['ready_ms'] - stations_call['end_ms']:,.0f} ms after the stations arrived)"
            if stations_call
            else ""
        )
    )
    lines.append(
        f"    main thread: long tasks {run['long_tasks_ms']:,.0f} ms in all, longest {run['longest_task_ms']:,.0f}"
    )
    lines.append(
        f"  callback requests during load: {f['callback_requests']}; median run, by callback: "
        + ", ".join(
            f"{name} ×{c['count']} {c['server_ms']:,.0f} ms {_kb(c['bytes'])}" for name, c in f["callbacks"].items()
        )
        + " (server time, max per callback)"
    )
    lines.append(
        "    in order (ms from navigation start to answer): "
        + ", ".join(f"{c['callback']} {c['start_ms']:,.0f}→{c['end_ms']:,.0f}" for c in run["calls"])
    )
    sql = f["stations_sql"]
    lines.append(
        f"  stations SQL (stations_state): median {sql['median_ms']:.1f} ms, p90 {sql['p90_ms']:.1f} "
        f"({sql['n']} runs); its GeoJSON {_kb(f['stations_geojson_bytes'])}"
    )
    lines.append(
        f"  refresh tick after load: round trip median {refresh['round_trip']['median_ms']:,.0f} ms, "
        f"p90 {refresh['round_trip']['p90_ms']:,.0f} (server {refresh['server']['median_ms']:,.0f}); "
        f"{_kb(refresh['bytes'])} raw; {refresh['requests_per_tick']} requests per tick "
        f"({', '.join(f'{k} ×{v}' for k, v in refresh['callbacks_per_tick'].items())})"
    )
    lines.append(
        f"  profiled load ({profile['ready_ms']:,.0f} ms): script {profile['script_ms']:,} ms, layout "
        f"{profile['layout_ms']:,}, style {profile['style_ms']:,}, all tasks {profile['task_ms']:,}"
    )
    lines.append("    self time by script: " + ", ".join(f"{k} {v:,}" for k, v in profile["by_script"]))
    lines.append("    by function: " + ", ".join(f"{k} {v:,}" for k, v in profile["by_function"]))
    if f["problems"]:
        lines.append(f"  page errors: {len(f['problems'])}: {f['problems'][0][:200]}")
    console.print("\n".join(lines), highlight=False, soft_wrap=True)
