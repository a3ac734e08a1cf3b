"""`floodctl map export`: the situation map as one HTML file that opens with the network off."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from click.testing import CliRunner

from dashboard.situation_map import export_map, load_situation
from floodctl.cli import main
from floodctl.core.settings import get_settings

CST = ZoneInfo("Asia/Shanghai")
T = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
# Resource references to anything but the file itself: src=/href=/srcset=, CSS url(…) and @import.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|srcset)\s*=\s*\\?["']?|url\(\s*\\?["']?|@import\s+\\?["']?)\s*"""
    r"""(?:https?:|wss?:)?//""",
    re.IGNORECASE,
)


def scalar(row: tuple[Any, ...] | None) -> Any:
    """The one value of a row the test knows is there."""
    assert row is not None
    return row[0]


def _station(db: psycopg.Connection, kind: str, offset: int = 0) -> tuple[int, str, str]:
    row = db.execute(
        "SELECT id, code, town_code FROM stations WHERE kind = %s ORDER BY code OFFSET %s", (kind, offset)
    ).fetchone()
    assert row is not None
    return row


def _warning(
    db: psycopg.Connection,
    subject: str,
    town: str,
    level: str,
    raised: datetime,
    *,
    cleared: datetime | None = None,
    category: str = "flood",
    kind: str = "station",
    history: str | None = None,
    drill: int = 0,
) -> None:
    db.execute(
        "INSERT INTO warnings (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state, level, "
        "raised_at, last_seen, cleared_at, message_zh, message_en, level_history) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            f"test-{category}-{kind}",
            subject,
            kind,
            town,
            drill,
            category,
            "river_flood" if category == "flood" else None,
            "cleared" if cleared else "active",
            level,
            raised,
            cleared or raised,
            cleared,
            f"测试{level}预警",
            f"test {level} warning",
            history or f'[[{raised.timestamp()}, "{level}"]]',
        ),
    )


def _reading(db: psycopg.Connection, station_id: int, metric: str, ts: datetime, value: float, drill: int = 0) -> None:
    db.execute(
        "INSERT INTO observations (station_id, metric_id, ts, value, drill_id) "
        "SELECT %s, id, %s, %s, %s FROM metrics WHERE name = %s",
        (station_id, ts, value, drill, metric),
    )
    db.execute(
        "INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value) "
        "SELECT %s, id, %s, %s, %s FROM metrics WHERE name = %s "
        "ON CONFLICT (station_id, metric_id, drill_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
        "WHERE latest_values.ts < excluded.ts",
        (station_id, drill, ts, value, metric),
    )


@pytest.fixture
def situation_db(db: psycopg.Connection) -> dict[str, str]:
    """The sample county with warnings around T: one station red at T, one yellow at T (red only
    later), others cleared before T, raised after T, or device-only; a town under an area warning."""
    red_id, red, red_town = _station(db, "river")
    _, yellow, yellow_town = _station(db, "river", 1)
    _, cleared, cleared_town = _station(db, "tide")
    _, later, later_town = _station(db, "reservoir")
    _, device, device_town = _station(db, "rain")
    _warning(db, red, red_town, "red", T - timedelta(hours=1))
    _warning(
        db,
        yellow,
        yellow_town,
        "red",
        T - timedelta(hours=2),
        history=f'[[{(T - timedelta(hours=2)).timestamp()}, "yellow"], '
        f'[{(T + timedelta(minutes=5)).timestamp()}, "red"]]',
    )
    _warning(db, cleared, cleared_town, "orange", T - timedelta(hours=3), cleared=T - timedelta(hours=1))
    _warning(db, later, later_town, "red", T + timedelta(minutes=5))
    _warning(db, device, device_town, "yellow", T - timedelta(hours=1), category="device")
    _warning(db, red_town, red_town, "orange", T - timedelta(hours=1), kind="area")
    _reading(db, red_id, "water_level", T - timedelta(minutes=20), 4.56)
    _reading(db, red_id, "water_level", T + timedelta(minutes=10), 9.87)  # after T: not on the map
    return {"red": red, "yellow": yellow, "cleared": cleared, "later": later, "device": device, "town": red_town}


def test_situation_as_of_t(db: psycopg.Connection, situation_db: dict[str, str]) -> None:
    situation = load_situation(db, at=T)
    by_code = {s.code: s for s in situation.stations}
    assert len(by_code) == 162
    assert {code: s.level for code, s in by_code.items() if s.level} == {
        situation_db["red"]: "red",
        situation_db["yellow"]: "yellow",
    }
    assert by_code[situation_db["device"]].device_warning and by_code[situation_db["device"]].level is None
    reading = by_code[situation_db["red"]].latest["water_level"]
    assert (reading.value, reading.ts) == (4.56, T - timedelta(minutes=20))
    assert situation.area_levels == {situation_db["town"]: "orange"}
    assert set(situation.layers) == {"county", "towns", "rivers", "seawalls", "reservoirs", "shelters"}
    # Later on, the newest reading and the escalation show.
    later = {s.code: s for s in load_situation(db, at=T + timedelta(minutes=15)).stations}
    assert later[situation_db["red"]].latest["water_level"].value == 9.87
    assert later[situation_db["yellow"]].level == "red"
    assert later[situation_db["later"]].level == "red"


@pytest.mark.browser_context(offline=True)
def test_export_opens_offline_in_chromium(
    db: psycopg.Connection, situation_db: dict[str, str], tmp_path: Path, page: Any
) -> None:
    out = tmp_path / "situation.html"
    started = time.perf_counter()
    result = export_map(db, out, at=T, tz=CST)
    export_s = time.perf_counter() - started
    text = out.read_text(encoding="utf-8")
    assert result.size_bytes == len(text.encode()) and result.levels == {"blue": 0, "yellow": 1, "orange": 0, "red": 1}
    assert EXTERNAL.findall(text) == [], "the file must not reference anything outside itself"
    assert "<script src" not in text and "<link " not in text
    assert 100_000 < result.size_bytes < 2_000_000, result.size_bytes
    assert export_s < 20, export_s
    assert '<html lang="zh-CN">' in text and "防汛防台形势图" in text

    page.goto(out.as_uri())
    page.wait_for_selector(".leaflet-marker-icon svg.fc-sym")
    counts = page.evaluate("""() => ({
        interactive: document.querySelectorAll('.leaflet-interactive').length,
        stations: document.querySelectorAll('.leaflet-marker-icon svg.fc-sym').length,
        red: [...document.querySelectorAll('.leaflet-marker-icon svg.fc-sym[data-level=red]')]
               .map(e => e.dataset.code),
        yellow: [...document.querySelectorAll('.leaflet-marker-icon svg.fc-sym[data-level=yellow]')]
               .map(e => e.dataset.code),
        towns: document.querySelectorAll('.fc-town').length,
        overlays: [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
               .map(e => e.textContent.trim()),
        title: document.getElementById('fc-title').textContent,
        leaflet: typeof L === 'object' && typeof L.markerClusterGroup === 'function',
    })""")
    assert counts["leaflet"]
    assert counts["stations"] == 162
    assert counts["interactive"] >= 18 + 162, counts
    assert counts["red"] == [situation_db["red"]] and counts["yellow"] == [situation_db["yellow"]]
    assert counts["towns"] == 18
    assert counts["overlays"] == [
        "县界与海岸线",
        "乡镇（街道）",
        "河流",
        "水库",
        "海塘",
        "避灾安置点",
        "测站（按预警等级）",
    ]
    local = T.astimezone(CST)
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" in counts["title"]
    assert "预警测站 2 个" in counts["title"]
    # The red station's popup: the value as of T, not the later one.
    page.click(f".leaflet-marker-icon:has(svg[data-code='{situation_db['red']}'])")
    popup = page.wait_for_selector(".leaflet-popup-content")
    content = popup.inner_text()
    assert "4.56 m" in content and "9.87" not in content and "红色" in content


def test_drill_storm_track_up_to_t(db: psycopg.Connection, tmp_path: Path) -> None:
    drill = scalar(
        db.execute("INSERT INTO drills (name, scenario) VALUES ('map test', 'synthetic') RETURNING id").fetchone()
    )
    t0 = datetime(2021, 7, 25, tzinfo=UTC)
    db.cursor().executemany(
        "INSERT INTO storm_fixes (drill_id, storm, at, lat, lon, max_wind_ms, pressure_hpa) "
        "VALUES (%s, '测试台风', %s, 29.4, %s, %s, 950)",
        [(drill, t0 + timedelta(hours=h), 124.0 - 0.2 * h, 30 + h) for h in range(0, 25, 3)],
    )
    red_id, red, town = _station(db, "river")
    db.execute("SELECT ensure_observation_partitions('2021-07-24', '2021-07-26')")
    _reading(db, red_id, "water_level", t0 + timedelta(hours=10), 5.5, drill=drill)
    _warning(db, red, town, "orange", t0 + timedelta(hours=9), drill=drill)
    _warning(db, "county", None, "red", t0 + timedelta(hours=8), kind="area", drill=drill)  # type: ignore[arg-type]

    result = export_map(db, tmp_path / "drill.html", drill_id=drill, tz=CST)
    assert result.at == t0 + timedelta(hours=10)  # a drill's clock: its newest reading
    assert result.storm_fixes == 4  # 0, 3, 6, 9 h
    storm = result.situation.storms[0]
    assert storm.position is not None and storm.position.time == result.at
    assert [f.time for f in storm.forecast][:1] == [t0 + timedelta(hours=12)]
    assert result.levels["orange"] == 1 and result.situation.area_levels == {"county": "red"}
    text = (tmp_path / "drill.html").read_text(encoding="utf-8")
    assert "台风实况路径" in text and "测试台风" in text and "【演练】" in text and "全县" in text
    assert EXTERNAL.findall(text) == []
    # Earlier, fewer fixes; the live map (drill 0) has no storm at all.
    assert export_map(db, tmp_path / "early.html", drill_id=drill, at=t0 + timedelta(hours=4), tz=CST).storm_fixes == 2
    assert export_map(db, tmp_path / "live.html", tz=CST).situation.storms == []


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLOOD_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOOD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), prog_name="floodctl")

    yield run
    get_settings.cache_clear()


def test_cli_export(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "map.html"
    done = cli("map", "export", "--at", "2021-07-25T12:00", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert out.stat().st_size > 100_000 and "2021年7月25日 12:00" in out.read_text(encoding="utf-8")
    assert str(out) in done.output
    assert cli("map", "export", "--out", str(tmp_path / "now.html")).exit_code == 0
    # A county with its own tile server: the one reference outside the file is that server.
    tiles = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"
    done = cli("map", "export", "--tiles", tiles, "--out", str(tmp_path / "tiles.html"))
    assert done.exit_code == 0, done.output
    assert tiles in (tmp_path / "tiles.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "yesterday"], "--at: 'yesterday' is not an ISO 8601 time"),
        (["--at", "2021-02-30T10:00"], "--at: '2021-02-30T10:00' is not an ISO 8601 time"),
        (["--drill", "999"], "no drill 999"),
        (["--tiles", "https://tiles.example/tile.png"], "not a tile URL template"),
    ],
)
def test_cli_bad_input(cli, tmp_path: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "map.html"
    done = cli("map", "export", *args, "--out", str(out))
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.output
    assert "Traceback" not in done.output and not out.exists()


def test_cli_unwritable_path(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for out, message in ((tmp_path / "missing" / "map.html", "no directory"), (tmp_path, "it is a directory")):
        done = cli("map", "export", "--out", str(out))
        assert done.exit_code == 1, done.output
        lines = done.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {out}") and message in lines[0], lines
        assert "Traceback" not in done.output
