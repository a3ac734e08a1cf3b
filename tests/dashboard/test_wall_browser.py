"""The wall dashboard (/wall/) in headless Chromium: served by the real app on 127.0.0.1, nothing fetched
from off the machine, no console error (the `page` fixture checks both and keeps a screenshot).

Element ids and classes are the ones dashboard/wall/layout.py documents."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import run_engine
from dashboard.i18n import t
from floodctl.api.app import create_app
from floodctl.core.settings import Settings
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND
from floodctl.domain.topics import station_topic
from simulators.publisher import Publisher

STATIONS = 162
LOAD_TIMEOUT_MS = 30_000
# Markers shown one by one plus the stations inside every cluster.
RIVER = "70101001"  # 西溪丹西水位站: WRZ 18.57, GRZ 19.34
RECOLOUR_WITHIN_MS = 5_000
COUNT_STATIONS = """() => document.querySelectorAll('.wall-st').length +
    [...document.querySelectorAll('.wall-cluster .cl-count')].reduce((n, e) => n + Number(e.textContent), 0)"""


def _seed_hour_of_readings(database_url: str, now: datetime) -> list[tuple[Any, ...]]:
    """Every station, its main metric, every 5 minutes for an hour, all normal; the stations' rows."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, code, kind, town_code FROM stations ORDER BY code").fetchall()
        metrics: dict[str, int] = dict(conn.execute("SELECT name, id FROM metrics").fetchall())
        readings = [
            (sid, metrics[DEFAULT_METRIC_BY_KIND[kind]], now - timedelta(minutes=5 * k), 1.0 + 0.1 * k)
            for sid, _code, kind, _town in rows
            for k in range(12)
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO observations (station_id, metric_id, ts, value) VALUES (%s, %s, %s, %s)", readings
            )
            cur.executemany(
                "INSERT INTO latest_values (station_id, metric_id, ts, value) VALUES (%s, %s, %s, %s)",
                [(sid, metrics[DEFAULT_METRIC_BY_KIND[kind]], now, 1.0) for sid, _code, kind, _town in rows],
            )
    return rows


# Requested before `page` by every test: the server must outlive the page (its teardown checks the console).
@pytest.fixture
def wall_url(settings: Settings, database_url: str, serve_app: Any) -> Iterator[str]:
    """The sample county with an hour of readings (every station, its main metric, every 5 minutes) and
    one red river warning, served by the whole app."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = _seed_hour_of_readings(database_url, now)
    with psycopg.connect(database_url, autocommit=True) as conn:
        river = next(r for r in rows if r[2] == "river")
        conn.execute(
            "INSERT INTO warnings (rule_id, subject, subject_kind, town_code, category, hazard, state, level, "
            "raised_at, last_seen, message_zh, message_en) VALUES ('river-level', %s, 'station', %s, 'flood', "
            "'river_flood', 'active', 'red', %s, %s, '测试红色预警', 'test red warning')",
            (river[1], river[3], now - timedelta(minutes=30), now),
        )
    with serve_app(create_app(settings, database_url)) as base_url:
        yield base_url


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".wall-st, .wall-cluster", timeout=LOAD_TIMEOUT_MS)


def test_wall_loads_with_one_marker_or_cluster_per_station(wall_url: str, page: Any, page_log: Any) -> None:
    _open(page, wall_url + "/wall/")
    # Clusters settle after the map fits the county: every station is in exactly one marker or cluster.
    page.wait_for_function(f"({COUNT_STATIONS})() === {STATIONS}", timeout=LOAD_TIMEOUT_MS)
    red = page.locator(".wall-st[class*='level-red'], .wall-cluster.level-red")
    assert red.count() >= 1, "the red warning shows on its station or its cluster"
    assert page.locator("#wall-warnings .w-row[data-level='red']").count() == 1
    assert page.title() == t("zh", "title")
    assert all(url.startswith(wall_url) for url in page_log.requests if url.startswith("http"))


def test_language_toggle_switches_the_labels(wall_url: str, page: Any) -> None:
    _open(page, wall_url + "/wall/")
    title, button, series = page.locator("#wall-title"), page.locator("#wall-lang"), page.locator("#wall-series-title")
    assert title.inner_text() == t("zh", "title") and button.inner_text() == t("zh", "lang_button")
    assert series.inner_text() == t("zh", "panel_series")
    button.click()
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=["wall-lang", t("en", "lang_button")],
        timeout=LOAD_TIMEOUT_MS,
    )
    assert title.inner_text() == t("en", "title") != t("zh", "title")
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",  # its own callback
        arg=["wall-series-title", t("en", "panel_series")],
        timeout=LOAD_TIMEOUT_MS,
    )
    button.click()
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=["wall-lang", t("zh", "lang_button")],
        timeout=LOAD_TIMEOUT_MS,
    )
    assert title.inner_text() == t("zh", "title")
    _open(page, wall_url + "/wall/?lang=en")
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=["wall-title", t("en", "title")],
        timeout=LOAD_TIMEOUT_MS,
    )


def test_clicking_a_station_shows_its_series(wall_url: str, page: Any) -> None:
    _open(page, wall_url + "/wall/")
    page.wait_for_function(f"({COUNT_STATIONS})() === {STATIONS}", timeout=LOAD_TIMEOUT_MS)
    marker = page.locator(".wall-st").first
    code = marker.locator("[data-code]").get_attribute("data-code")
    assert code
    marker.click()
    page.wait_for_function(
        f"document.getElementById('wall-series-title').textContent.includes('{code}')", timeout=LOAD_TIMEOUT_MS
    )
    # The plotly figure draws the station's hour of readings.
    page.wait_for_function(
        "document.querySelectorAll('#wall-series .scatterlayer .trace path.js-line, #wall-series .barlayer .point')"
        ".length > 0",
        timeout=LOAD_TIMEOUT_MS,
    )


@pytest.fixture
def live_wall(settings: Settings, database_url: str, broker: Any, start_worker: Any, serve_app: Any) -> Iterator[str]:
    """The whole live chain: MQTT -> ingest worker -> rule engine -> wall, on the sample county with an hour of
    normal readings and no warning."""
    _seed_hour_of_readings(database_url, datetime.now(UTC).replace(second=0, microsecond=0))
    start_worker()
    stop = threading.Event()
    engine = threading.Thread(target=run_engine, args=(settings, database_url, stop), daemon=True, name="engine")
    engine.start()
    try:
        with serve_app(create_app(settings, database_url)) as base_url:
            yield base_url
    finally:
        stop.set()
        engine.join(10)


def test_a_reading_over_its_threshold_recolours_its_station_within_5_s(
    live_wall: str, broker: Any, page: Any, page_log: Any
) -> None:
    _open(page, live_wall + "/wall/")
    page.wait_for_function(f"({COUNT_STATIONS})() === {STATIONS}", timeout=LOAD_TIMEOUT_MS)
    coloured = ".wall-st:not(.level-none), .wall-cluster:not(.level-none)"
    assert page.locator(coloured).count() == 0, "no station has a warning before the reading"
    with Publisher(broker.url, f"test-wall-{uuid.uuid4().hex[:8]}").connect() as pub:
        published = time.monotonic()
        pub.publish(
            station_topic(RIVER), json.dumps({"ts": datetime.now(UTC).isoformat(), "values": {"water_level": 19.6}})
        )  # over its GRZ 19.34
        # The station, or the cluster holding it (no other station has a warning), takes the warning's colour.
        page.wait_for_function(f"document.querySelectorAll({coloured!r}).length > 0", timeout=RECOLOUR_WITHIN_MS)
        elapsed = time.monotonic() - published
    single = page.locator(f".wall-st .st-shape[data-code='{RIVER}']")
    level = (
        single.get_attribute("data-level")
        if single.count()
        else page.locator(".wall-cluster:not(.level-none) .cl-body").first.get_attribute("data-level")
    )
    assert level == "red", f"a reading over the guaranteed level (保证水位) is a red warning, the wall shows {level}"
    page.wait_for_selector(f"#wall-warnings .w-row[data-level='{level}']", timeout=RECOLOUR_WITHIN_MS)
    print(f"recoloured {elapsed:.2f} s after the reading was published")


def test_time_slider_looks_back_and_returns_to_live(wall_url: str, page: Any) -> None:
    _open(page, wall_url + "/wall/")
    page.wait_for_function(f"({COUNT_STATIONS})() === {STATIONS}", timeout=LOAD_TIMEOUT_MS)
    assert page.locator("#wall-time-label").inner_text() == t("zh", "time_live")
    # Click the slider's track at its middle: 36 h back.
    rail = page.locator("#wall-time .dash-slider-track").bounding_box()
    assert rail is not None
    page.mouse.click(rail["x"] + rail["width"] / 2, rail["y"] + rail["height"] / 2)
    page.wait_for_selector("#wall-timebar.history-on", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector("#wall-history-banner.history-on", timeout=LOAD_TIMEOUT_MS)
    assert "历史回看" in page.locator("#wall-time-label").inner_text()
    # An hour of readings only: 36 h ago the stations had none and no warning was active.
    page.wait_for_function("document.querySelectorAll('#wall-warnings .w-row').length === 0", timeout=LOAD_TIMEOUT_MS)
    assert "at=" in (page.locator("#wall-download").get_attribute("href") or "")
    page.locator("#wall-live").click()
    page.wait_for_selector("#wall-timebar:not(.history-on)", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector("#wall-warnings .w-row[data-level='red']", timeout=LOAD_TIMEOUT_MS)


# What the map has drawn: the vector paths (lines, areas, circle markers) and the marker icons of every layer.
COUNT_DRAWN = """() => document.querySelectorAll('#wall-map .leaflet-overlay-pane path').length +
    document.querySelectorAll('#wall-map .leaflet-marker-pane .leaflet-marker-icon').length"""


def test_layers_switch_on_and_off_without_errors(wall_url: str, database_url: str, page: Any, page_log: Any) -> None:
    """Every entry of the layers control draws its layer when checked and takes all of it away when unchecked."""
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:  # a live storm, so its layer has a track
        conn.cursor().executemany(
            "INSERT INTO storm_fixes (drill_id, storm, at, lat, lon, max_wind_ms, pressure_hpa, r7_km) "
            "VALUES (0, '测试台风', %s, %s, %s, %s, %s, %s)",
            [(now - timedelta(hours=6), 27.5, 124.0, 38.0, 965.0, 300.0), (now, 28.5, 123.0, 40.0, 960.0, 320.0)],
        )
    _open(page, wall_url + "/wall/")
    page.wait_for_function(f"({COUNT_STATIONS})() === {STATIONS}", timeout=LOAD_TIMEOUT_MS)
    entries = page.locator("#wall-map .leaflet-control-layers-overlays label")
    names = [name.strip() for name in entries.all_inner_texts()]
    assert len(names) == 10, names  # six county layers, storm, cameras, devices, stations
    boxes = {
        name: entries.filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).locator("input") for name in names
    }
    shown_first = {name: box.is_checked() for name, box in boxes.items()}
    everything = page.evaluate(COUNT_DRAWN)
    for name, box in boxes.items():  # every layer off: the offline basemap alone is left
        if shown_first[name]:
            drawn = page.evaluate(COUNT_DRAWN)
            box.uncheck()
            page.wait_for_function(f"({COUNT_DRAWN})() < {drawn}", timeout=LOAD_TIMEOUT_MS)
    basemap = page.evaluate(COUNT_DRAWN)
    for name, box in boxes.items():  # each one alone: drawn when on, all gone when off
        box.check()
        page.wait_for_function(f"({COUNT_DRAWN})() > {basemap}", timeout=LOAD_TIMEOUT_MS)
        box.uncheck()
        page.wait_for_function(f"({COUNT_DRAWN})() === {basemap}", timeout=LOAD_TIMEOUT_MS)
        assert not page_log.console_errors, f"{name}: {page_log.console_errors[:5]}"
    for name, box in boxes.items():
        box.set_checked(shown_first[name])
    page.wait_for_function(f"({COUNT_DRAWN})() === {everything}", timeout=LOAD_TIMEOUT_MS)
    assert not page_log.console_errors, page_log.console_errors[:5]
