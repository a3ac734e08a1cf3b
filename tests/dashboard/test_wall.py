"""The wall dashboard (/wall/) through a real uvicorn server serving the whole API app, against a real
database holding the sample county. No browser here: the page, its assets and its callbacks are
checked over HTTP exactly as Dash's renderer talks to the server (``POST /wall/_dash-update-component``).

One server and one database serve the module; every test starts from the template's state (``clean``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import psycopg
import pytest

from alerts import orders
from dashboard import queries
from dashboard.wall import create_wall
from dashboard.wall.layout import layer_names
from dashboard.wall.panels import render_orders
from floodctl.api.app import create_app
from floodctl.core.settings import Settings
from floodctl.domain.metrics import METRICS

CST = timezone(timedelta(hours=8))
TYPHOON_DAY = datetime(2021, 7, 25, 12, tzinfo=CST)  # in the 台汛期: the typhoon-season flood limit applies
WATER_LEVEL, RAINFALL = METRICS["water_level"].id, METRICS["rainfall"].id
RIVER = "70101001"  # 西溪丹西水位站: WRZ 18.57, GRZ 19.34
RESERVOIR = "70201001"  # 燕山水库: FSLTDZ 195.23 (梅汛期) / 193.88 (台汛期)
DRILL = 7
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
URL_IN_TEXT = re.compile(r"""(?:https?:|wss?:)?//[^\s"'<>()\\]+""", re.I)


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def wall_database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with clone_database("wall") as url:
        yield url


@pytest.fixture(scope="module")
def wall_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("var"), ingest_metrics_port=0, timezone="Asia/Shanghai", _env_file=None
    )


@pytest.fixture(scope="module")
def server(wall_settings: Settings, wall_database_url: str, serve_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serve_app(create_app(wall_settings, wall_database_url)) as base_url:
        yield base_url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=20) as client:
        yield client


@pytest.fixture
def db(wall_database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(wall_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def clean(db: psycopg.Connection) -> None:
    for statement in (
        "DELETE FROM deliveries",
        "DELETE FROM ack_links",
        "DELETE FROM orders",
        "DELETE FROM reports",
        "DELETE FROM warnings",
        "DELETE FROM response_levels",
        "DELETE FROM observations",
        "DELETE FROM latest_values",
        "DELETE FROM device_status_latest",
        "DELETE FROM device_status",
        "DELETE FROM drills WHERE id <> 0",
    ):
        db.execute(statement)


@pytest.fixture
def dependencies(http: httpx.Client) -> list[dict[str, Any]]:
    response = http.get("/wall/_dash-dependencies")
    assert response.status_code == 200, response.text[:300]
    return response.json()  # type: ignore[no-any-return]


def scalar(row: tuple[Any, ...] | None) -> Any:
    """The one value of a row the test knows is there."""
    assert row is not None
    return row[0]


def _outputs(dep: dict[str, Any]) -> list[tuple[str, str]]:
    spec = dep["output"]
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [tuple(part.rsplit(".", 1)) for part in parts]


def call(
    http: httpx.Client, deps: list[dict[str, Any]], output: str, values: dict[str, Any], changed: str | None = None
) -> dict[str, dict[str, Any]]:
    """POST /wall/_dash-update-component for the callback that writes ``output`` ("id.prop"), as the
    renderer does: every input and state with its value from ``values`` (None when absent)."""
    dep = next(d for d in deps if tuple(output.rsplit(".", 1)) in _outputs(d))
    outputs = [{"id": i, "property": p} for i, p in _outputs(dep)]

    def filled(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"id": x["id"], "property": x["property"], "value": values.get(f"{x['id']}.{x['property']}")} for x in items
        ]

    inputs = filled(dep["inputs"])
    body = {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": inputs,
        "state": filled(dep["state"]),
        "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    response = http.post("/wall/_dash-update-component", json=body)
    assert response.status_code == 200, response.text[:1000]
    return response.json()["response"]  # type: ignore[no-any-return]


def refresh(
    http: httpx.Client,
    deps: list[dict[str, Any]],
    drill: int = 0,
    lang: str = "zh",
    version: str | None = None,
    at: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    return call(
        http,
        deps,
        "wall-stations.url",
        {
            "wall-tick.n_intervals": 1,
            "wall-drill.value": drill,
            "wall-lang-store.data": lang,
            "wall-stations-version.data": version,
            "wall-at.data": at.isoformat() if at else None,
        },
        changed="wall-drill.value",
    )  # as when the drill (or the moment) is chosen: every output


def stations_of(http: httpx.Client, response: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The stations GeoJSON a refresh pointed the map at (the map fetches it by URL)."""
    url = response["wall-stations"]["url"]
    assert url.startswith("/wall/stations.geojson?v="), url
    fetched = http.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("application/json")
    return fetched.json()  # type: ignore[no-any-return]


def texts(node: Any) -> str:
    """All text of a rendered component tree (Dash's JSON form), joined."""
    if isinstance(node, list):
        return " ".join(texts(x) for x in node)
    if isinstance(node, dict):
        return texts(node.get("props", {}).get("children"))
    return "" if node is None else str(node)


def find(node: Any, **props: Any) -> list[dict[str, Any]]:
    """Components of a rendered tree whose props include ``props`` (underscores in keys become dashes)."""
    wanted = {k.replace("_", "-"): v for k, v in props.items()}
    found = []
    if isinstance(node, list):
        for x in node:
            found += find(x, **props)
    elif isinstance(node, dict):
        p = node.get("props", {})
        if all(p.get(k) == v for k, v in wanted.items()):
            found.append(node)
        found += find(p.get("children"), **props)
    return found


def station_id(db: psycopg.Connection, code: str) -> int:
    row = db.execute("SELECT id FROM stations WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return int(row[0])


def add_warning(
    db: psycopg.Connection,
    subject: str,
    level: str,
    *,
    drill: int = 0,
    state: str = "active",
    category: str = "flood",
    acknowledged: bool = False,
    rule: str | None = None,
) -> int:
    row = db.execute(
        "INSERT INTO warnings (rule_id, subject, subject_kind, drill_id, category, hazard, state, level, acknowledged, "
        "raised_at, last_seen, cleared_at, message_zh, message_en) VALUES (%s, %s, 'station', %s, %s, 'river_flood', "
        "%s, %s, %s, now(), now(), CASE WHEN %s = 'cleared' THEN now() END, %s, %s) RETURNING id",
        (
            rule or f"rule-{level}-{uuid.uuid4().hex[:6]}",
            subject,
            drill,
            category,
            state,
            level,
            acknowledged,
            state,
            f"{subject} {level} 预警",
            f"{subject} {level} warning",
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_readings(
    db: psycopg.Connection,
    code: str,
    metric: int,
    end: datetime,
    values: list[float],
    step: timedelta = timedelta(minutes=5),
    drill: int = 0,
) -> None:
    """Readings ending at ``end`` (the last value is the newest) and the station's latest value."""
    sid = station_id(db, code)
    rows = [(sid, metric, end - (len(values) - 1 - i) * step, v, 0, drill) for i, v in enumerate(values)]
    days = sorted({r[2].astimezone(UTC).date() for r in rows})
    db.execute("SELECT ensure_observation_partitions(%s, %s)", (days[0], days[-1]))
    with db.cursor().copy("COPY observations (station_id, metric_id, ts, value, flags, drill_id) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    db.execute(
        "INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (station_id, metric_id, drill_id) DO UPDATE SET ts = excluded.ts, value = excluded.value",
        (sid, metric, drill, rows[-1][2], rows[-1][3]),
    )


def add_drill(db: psycopg.Connection, drill: int = DRILL, name: str = "烟花 replay") -> None:
    db.execute("INSERT INTO drills (id, name, scenario) VALUES (%s, %s, 'in-fa-2106')", (drill, name))


# --------------------------------------------------------------------------------------------
# the page and its assets


def test_page_is_dash_html_with_nothing_from_off_the_machine(http: httpx.Client) -> None:
    response = http.get("/wall/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page
    assert "<title>象山县防汛防台指挥 — 会商大屏</title>" in page
    config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    assert config is not None, "no Dash config in the page"
    assert '"requests_pathname_prefix":"\\u002fwall\\u002f"' in config.group(1)
    assert '"serve_locally":true' in config.group(1)
    unescaped = page.replace("\\u002f", "/")
    for url in URL_IN_TEXT.findall(unescaped):
        host = urlsplit(url if "//" in url[:8] else "http:" + url).hostname
        assert host in LOCAL_HOSTS, f"the page refers to {url} off the machine"
    for attribute in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert attribute.startswith("/wall/"), f"{attribute} is not served under /wall/"

    redirect = http.get("/wall", follow_redirects=False)
    assert redirect.status_code in (307, 308) and redirect.headers["location"].endswith("/wall/")


def test_every_script_and_stylesheet_of_the_page_is_served_here(http: httpx.Client) -> None:
    page = http.get("/wall/").text
    references = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert any("/wall/assets/wall.css" in r for r in references), references
    assert any("/wall/assets/wall.js" in r for r in references), references
    assert any("dash_leaflet" in r for r in references), references
    for reference in references:
        response = http.get(urljoin(str(http.base_url) + "/wall/", reference))
        assert response.status_code == 200, f"{reference}: {response.status_code}"
        assert response.content, reference


def test_layout_and_dependencies_are_json_with_the_documented_ids(
    http: httpx.Client, dependencies: list[dict[str, Any]]
) -> None:
    layout = http.get("/wall/_dash-layout")
    assert layout.status_code == 200 and layout.headers["content-type"].startswith("application/json")
    ids = {node["props"]["id"] for node in find(layout.json()) if "id" in node.get("props", {})}
    documented = {
        "wall-root",
        "wall-url",
        "wall-title",
        "wall-lang",
        "wall-lang-store",
        "wall-drill",
        "wall-drill-banner",
        "wall-response-level",
        "wall-clock",
        "wall-data-time",
        "wall-status",
        "wall-tick",
        "wall-map",
        "wall-layers",
        "wall-county",
        "wall-towns",
        "wall-stations",
        "wall-stations-version",
        "wall-legend",
        "wall-warnings",
        "wall-warnings-count",
        "wall-rain-rank",
        "wall-reservoirs",
        "wall-orders",
        "wall-reports",
        "wall-selected",
        "wall-series-box",
        "wall-series-title",
        "wall-overlay-stations",
    }
    documented |= {
        f"wall-layer-{n}"
        for n in (
            "villages",
            "reservoirs",
            "seawalls",
            "rivers",
            "shelters",
            "waterlogging",
            "storm",
            "cameras-live",
            "devices",
        )
    }
    documented |= {
        "wall-time",
        "wall-at",
        "wall-timebar",
        "wall-time-label",
        "wall-live",
        "wall-download",
        "wall-history-banner",
        "wall-pulse",
    }
    assert documented <= ids, documented - ids
    stations = find(layout.json(), id="wall-stations")[0]["props"]
    assert stations["cluster"] is True
    assert stations["pointToLayer"] == {"variable": "floodWall.stationMarker"}
    assert isinstance(dependencies, list) and dependencies
    assert any(("wall-stations", "url") in _outputs(d) for d in dependencies)


def test_reads_follow_the_viewer_rule(wall_settings: Settings, wall_database_url: str) -> None:
    closed = wall_settings.model_copy(update={"anonymous_read": False})
    client = create_wall(closed, wall_database_url).server.test_client()
    assert client.get("/").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    opened = create_wall(wall_settings, wall_database_url).server.test_client()
    assert opened.get("/").status_code == 200


def test_database_away_shows_stale_instead_of_failing(wall_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import wall
    from dashboard.wall import data as wall_data
    from floodctl.core.net import free_port

    monkeypatch.setattr(wall_data, "POOL_WAIT_S", 0.5)
    app = create_wall(wall_settings, f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        client = app.server.test_client()
        deps = client.get("/_dash-dependencies").get_json()
        dep = next(d for d in deps if ("wall-stations", "url") in _outputs(d))
        body = {
            "output": dep["output"],
            "outputs": [{"id": i, "property": p} for i, p in _outputs(dep)],
            "inputs": [{**x, "value": None} for x in dep["inputs"]],
            "state": [{**x, "value": None} for x in dep["state"]],
            "changedPropIds": ["wall-tick.n_intervals"],
        }
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        out = response.get_json()["response"]
        assert out["wall-status"] == {"children": out["wall-status"]["children"], "className": "stale"}
        assert out["wall-status"]["children"].startswith("数据中断")
        assert "wall-stations" not in out  # what the wall shows stays as it was
    finally:
        wall.close_wall(app)


# --------------------------------------------------------------------------------------------
# the refresh callback


def test_refresh_sends_every_station_with_its_most_severe_active_flood_warning(
    http: httpx.Client, db: psycopg.Connection, dependencies: list[dict[str, Any]]
) -> None:
    codes = [r[0] for r in db.execute("SELECT code FROM stations WHERE active ORDER BY code LIMIT 5")]
    add_warning(db, codes[0], "yellow")
    add_warning(db, codes[0], "red")  # two rules on one station: the worst counts
    add_warning(db, codes[1], "orange", acknowledged=True)
    add_warning(db, codes[2], "red", category="device")  # about the gauge, not the water
    add_warning(db, codes[3], "red", state="cleared")
    add_drill(db)
    add_warning(db, codes[4], "blue", drill=DRILL)  # another drill's warning stays there
    add_readings(db, RIVER, WATER_LEVEL, datetime.now(UTC), [18.0, 18.2])

    response = refresh(http, dependencies)
    collection = stations_of(http, response)
    assert collection["type"] == "FeatureCollection"
    features = {f["properties"]["code"]: f["properties"] for f in collection["features"]}
    assert len(features) == 162
    assert features[codes[0]]["level"] == "red" and features[codes[0]]["ack"] is False
    assert features[codes[1]]["level"] == "orange" and features[codes[1]]["ack"] is True
    assert features[codes[2]].get("level") is None
    assert features[codes[3]].get("level") is None
    assert features[codes[4]].get("level") is None
    river = features[RIVER]
    assert (river["kind"], river["metric"], river["value"]) == ("river", "water_level", 18.2)
    warnings = response["wall-warnings"]["children"]
    assert [w["props"]["data-level"] for w in find(warnings, className="w-row level-red")] == ["red"]
    assert len(find(warnings)) and "未确认" in texts(warnings) and "已确认" in texts(warnings)

    # Unchanged stations are not sent again; the drill's own warning shows in the drill.
    again = refresh(http, dependencies, version=response["wall-stations-version"]["data"])
    assert "wall-stations" not in again and "wall-warnings" in again
    in_drill = refresh(http, dependencies, drill=DRILL)
    drill_features = {f["properties"]["code"]: f["properties"] for f in stations_of(http, in_drill)["features"]}
    assert drill_features[codes[4]]["level"] == "blue" and drill_features[codes[0]].get("level") is None
    assert in_drill["wall-drill-banner"]["className"] == "drill-on"
    assert "烟花 replay" in in_drill["wall-drill-banner"]["children"]


def test_drill_selector_offers_running_drills_and_takes_the_one_in_the_url(
    http: httpx.Client, db: psycopg.Connection, dependencies: list[dict[str, Any]]
) -> None:
    add_drill(db)
    add_drill(db, 8, "ended")
    db.execute("UPDATE drills SET ended_at = now() WHERE id = 8")
    values = {
        "wall-url.search": f"?drill={DRILL}",
        "wall-tick.n_intervals": 0,
        "wall-lang-store.data": "zh",
        "wall-drill.options": None,
        "wall-drill.value": 0,
    }
    response = call(http, dependencies, "wall-drill.options", values, changed="wall-url.search")
    assert response["wall-drill"]["value"] == DRILL  # value and options arrive together
    assert response["wall-drill"]["options"] == [
        {"label": "实时（非演练）", "value": 0},
        {"label": "演练 #7：烟花 replay", "value": DRILL},
    ]
    on_tick = call(
        http,
        dependencies,
        "wall-drill.options",
        {**values, "wall-drill.options": response["wall-drill"]["options"], "wall-drill.value": DRILL},
        changed="wall-tick.n_intervals",
    )
    assert on_tick == {} or "value" not in on_tick.get("wall-drill", {})  # a tick never moves the selection
    unknown = call(
        http, dependencies, "wall-drill.options", {**values, "wall-url.search": "?drill=99"}, changed="wall-url.search"
    )
    assert "value" not in unknown.get("wall-drill", {})  # an unknown drill: the wall stays live


def test_refresh_panels_show_level_rain_reservoirs_orders_and_reports(
    http: httpx.Client,
    db: psycopg.Connection,
    wall_settings: Settings,
    wall_database_url: str,
    dependencies: list[dict[str, Any]],
) -> None:
    add_drill(db)
    db.execute(
        "INSERT INTO response_levels (drill_id, level, reason, decided_by) VALUES (%s, 'III', '台风逼近', '张指挥')",
        (DRILL,),
    )
    rain = [r[0] for r in db.execute("SELECT code FROM stations WHERE kind = 'rain' ORDER BY code LIMIT 2")]
    add_readings(db, rain[0], RAINFALL, TYPHOON_DAY, [10.0] * 12, drill=DRILL)  # 120 mm in the last hour
    add_readings(db, rain[1], RAINFALL, TYPHOON_DAY - timedelta(hours=2), [5.0] * 12, drill=DRILL)  # 60 mm, 2 h ago
    add_readings(db, RESERVOIR, WATER_LEVEL, TYPHOON_DAY, [194.10, 194.38], drill=DRILL)  # limit 193.88 in July
    with psycopg.connect(wall_database_url) as conn:
        order_id = orders.draft(
            conn,
            orders.OrderRequest(
                hazard="typhoon", towns=["330225001", "330225003"], level="orange", drill_id=DRILL, channels=["sms"]
            ),
            actor="duty",
            settings=wall_settings,
        )
        assert order_id is not None
        orders.approve(conn, order_id, actor="commander", settings=wall_settings)
        conn.execute(
            "UPDATE order_towns SET state = 'unreached' WHERE order_id = %s AND town_code = '330225003'", (order_id,)
        )
    db.execute(
        "INSERT INTO reports (drill_id, kind, town_code, text, people_affected, reported_by) "
        "VALUES (%s, 'seawall_breach', '330225003', '钱家山海塘出现管涌', 40, 'inspector')",
        (DRILL,),
    )

    response = refresh(http, dependencies, drill=DRILL)
    assert response["wall-response-level"]["className"] == "resp-III"
    assert "Ⅲ级（较大）" in texts(response["wall-response-level"]["children"])
    ranking = response["wall-rain-rank"]["children"]
    one_hour = find(ranking, id="wall-rain-1h")[0]
    assert [li["props"]["data-code"] for li in find(one_hour) if "data-code" in li["props"]] == [rain[0]]
    day = find(ranking, id="wall-rain-24h")[0]
    assert [li["props"]["data-code"] for li in find(day) if "data-code" in li["props"]] == rain
    assert "120.0" in texts(one_hour)
    reservoirs = response["wall-reservoirs"]["children"]
    assert [r["props"]["data-code"] for r in find(reservoirs) if r["props"].get("data-code")] == [RESERVOIR]
    assert "台汛期" in texts(reservoirs) and "0.50" in texts(reservoirs)
    card = find(response["wall-orders"]["children"], className="o-card")[0]
    assert card["props"]["data-id"] == str(order_id)
    assert find(card, className="c-unreached")[0]["props"]["data-count"] == "1"
    assert find(card, className="c-pending")[0]["props"]["data-count"] == "1"
    assert "爵溪街道" in texts(find(card, className="o-unreached"))
    assert "钱家山海塘出现管涌" in texts(response["wall-reports"]["children"])
    assert "演练时钟 2021-07-25 12:00" in response["wall-data-time"]["children"]

    english = refresh(http, dependencies, drill=DRILL, lang="en")
    assert "Level III (major)" in texts(english["wall-response-level"]["children"])
    assert "Unreached" in texts(english["wall-orders"]["children"])


def test_orders_panel_renders_disjoint_call_counts() -> None:
    row = {
        "id": 3,
        "order_no": "象防指〔2026〕3号",
        "status": "approved",
        "level": "red",
        "title_zh": "台风紧急",
        "title_en": "Typhoon",
        "approved_at": datetime(2026, 7, 1, tzinfo=UTC),
        "drafted_at": None,
        "acknowledged": 2,
        "carried_out": 1,
        "pending": 0,
        "unreached": 1,
        "unreached_towns": ["石浦镇"],
        "unreached_towns_en": ["Shipu"],
    }
    settings = Settings(_env_file=None)
    tree = json.loads(json.dumps(render_orders([row], "zh", settings), default=lambda c: c.to_plotly_json()))
    assert "■ 红Ⅰ" in texts(tree) and "未叫应：石浦镇" in texts(tree)


# --------------------------------------------------------------------------------------------
# series, language


def test_series_callback_draws_the_station_with_its_threshold_lines(
    http: httpx.Client, db: psycopg.Connection, dependencies: list[dict[str, Any]]
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    add_readings(db, RIVER, WATER_LEVEL, now, [18.2, 18.4, 18.6, 18.9, 19.1])
    add_readings(db, RIVER, RAINFALL, now, [3.0, 4.0, 5.0, 6.0, 7.0])
    values = {
        "wall-selected.data": RIVER,
        "wall-lang-store.data": "zh",
        "wall-drill.value": 0,
        "wall-tick.n_intervals": 0,
    }
    response = call(http, dependencies, "wall-series-box.children", values, changed="wall-selected.data")
    figure = series_figure(response)
    line = next(trace for trace in figure["data"] if trace["type"] == "scatter")
    assert line["y"] == [18.2, 18.4, 18.6, 18.9, 19.1]
    assert sum(next(trace for trace in figure["data"] if trace["type"] == "bar")["y"]) == pytest.approx(25.0)
    levels = sorted(shape["y0"] for shape in figure["layout"]["shapes"])
    assert levels == [18.57, 19.34]
    labels = " ".join(a["text"] for a in figure["layout"]["annotations"])
    assert "警戒水位 18.57" in labels and "保证水位 19.34" in labels
    assert "西溪丹西水位站" in response["wall-series-title"]["children"]

    # A reservoir in a July drill: the typhoon-season flood limit, plus its design levels and crest.
    add_drill(db)
    add_readings(db, RESERVOIR, WATER_LEVEL, TYPHOON_DAY, [194.0, 194.2], drill=DRILL)
    values.update(
        {"wall-selected.data": RESERVOIR, "wall-drill.value": DRILL, "wall-lang-store.data": "en", "wall-scale.data": 2}
    )  # a 3840-pixel wall: plotly's pixel sizes double
    response = call(http, dependencies, "wall-series-box.children", values, changed="wall-selected.data")
    figure = series_figure(response)
    assert figure["layout"]["font"]["size"] == 30
    assert sorted(shape["y0"] for shape in figure["layout"]["shapes"]) == [193.88, 197.51, 197.78, 198.38]
    assert "flood-limit level (FSLTDZ) 193.88" in " ".join(a["text"] for a in figure["layout"]["annotations"])

    nothing = call(
        http,
        dependencies,
        "wall-series-box.children",
        {**values, "wall-selected.data": "NOSUCH99"},
        changed="wall-selected.data",
    )
    assert not find(nothing["wall-series-box"]["children"], id="wall-series")  # no chart, no plotly
    assert texts(nothing["wall-series-box"]["children"]) == "No data"


def series_figure(response: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figure of the chart the series callback mounted in its box."""
    graphs = find(response["wall-series-box"]["children"], id="wall-series")
    assert len(graphs) == 1, response["wall-series-box"]["children"]
    return graphs[0]["props"]["figure"]  # type: ignore[no-any-return]


def test_language_labels_come_from_the_server(http: httpx.Client, dependencies: list[dict[str, Any]]) -> None:
    # The toggle itself runs in the page (test_wall_browser); the labels of each language come from here.
    english = call(http, dependencies, "wall-title.children", {"wall-lang-store.data": "en"})
    assert english["wall-title"]["children"].startswith("Xiangshan Flood")
    assert english["wall-lang"]["children"] == "中文"
    assert english["wall-title-warnings"]["children"] == "Active warnings"
    assert english["wall-stations"]["hideout"]["lang"] == "en"
    assert english["wall-layer-shelters"]["hideout"]["lang"] == "en"
    assert layer_names()["names"]["en"]["shelters"] == "Shelters"  # the layers control's entries (wall.js)
    chinese = call(http, dependencies, "wall-title.children", {"wall-lang-store.data": "zh"})
    assert chinese["wall-title"]["children"] == "象山县防汛防台指挥 — 会商大屏"
    assert chinese["wall-lang"]["children"] == "English"


def test_map_layers_come_from_the_database(http: httpx.Client, dependencies: list[dict[str, Any]]) -> None:
    # A page that came without them (the database was away) gets them from its next refresh, and only then.
    values = {
        "wall-tick.n_intervals": 1,
        "wall-drill.value": 0,
        "wall-lang-store.data": "zh",
        "wall-layers-loaded.data": False,
    }
    response = call(http, dependencies, "wall-county.data", values)
    assert response["wall-layers-loaded"]["data"] is True
    again = call(http, dependencies, "wall-county.data", {**values, "wall-layers-loaded.data": True})
    assert "wall-county" not in again
    assert len(response["wall-towns"]["data"]["features"]) == 18
    assert response["wall-county"]["data"]["features"]
    for name in ("villages", "reservoirs", "seawalls", "rivers", "shelters", "waterlogging"):
        assert response[f"wall-layer-{name}"]["data"]["features"], name


def test_refresh_sends_the_live_layers_once_until_they_change(
    http: httpx.Client, dependencies: list[dict[str, Any]], db: psycopg.Connection
) -> None:
    first = refresh(http, dependencies)
    cameras = first["wall-layer-cameras-live"]["data"]["features"]
    assert len(cameras) == 20 and all(c["properties"]["code"].startswith("CAM-") for c in cameras)
    devices = first["wall-layer-devices"]["data"]["features"]
    assert devices and all(d["properties"].get("state") in (None, "none") for d in devices)
    assert first["wall-layer-storm"]["data"]["features"] == []
    versions = first["wall-overlays-version"]["data"]
    again = call(
        http,
        dependencies,
        "wall-stations.url",
        {
            "wall-tick.n_intervals": 2,
            "wall-drill.value": 0,
            "wall-lang-store.data": "zh",
            "wall-stations-version.data": first["wall-stations-version"]["data"],
            "wall-overlays-version.data": versions,
        },
    )
    assert "wall-layer-cameras-live" not in again and "wall-layer-devices" not in again  # unchanged: not re-sent
    assert "wall-warnings" not in again and "wall-rain-rank" not in again and "wall-status" in again
    db.execute(
        "INSERT INTO storm_fixes (storm, at, lat, lon, max_wind_ms, pressure_hpa, r7_km) VALUES "
        "('烟花', now() - interval '1 hour', 29.0, 123.0, 38, 965, 250), "
        "('烟花', now() + interval '5 hours', 29.6, 122.2, 35, 970, 230)"
    )
    try:
        moved = call(
            http,
            dependencies,
            "wall-stations.url",
            {
                "wall-tick.n_intervals": 3,
                "wall-drill.value": 0,
                "wall-lang-store.data": "zh",
                "wall-stations-version.data": first["wall-stations-version"]["data"],
                "wall-overlays-version.data": versions,
            },
        )
        roles = {f["properties"]["role"] for f in moved["wall-layer-storm"]["data"]["features"]}
        assert {"past", "forecast", "position", "radius"} <= roles
        assert "wall-layer-devices" not in moved
    finally:
        db.execute("DELETE FROM storm_fixes")


# --------------------------------------------------------------------------------------------
# the query behind the map


class CountingConnection(psycopg.Connection):
    statements: list[str]

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.statements.append(str(query))
        return super().execute(query, params, **kwargs)


def test_stations_state_is_one_statement_over_all_stations(wall_database_url: str, db: psycopg.Connection) -> None:
    add_warning(db, RIVER, "orange")
    with CountingConnection.connect(wall_database_url) as conn:
        conn.statements = []
        text = queries.stations_state(conn, 0)
        assert len(conn.statements) == 1
    assert ";" not in queries.STATIONS_STATE

    collection = json.loads(text)
    codes = [f["properties"]["code"] for f in collection["features"]]
    assert len(codes) == 162 and codes == sorted(codes)
    assert {f["properties"].get("level") for f in collection["features"]} == {None, "orange"}
    db.execute("UPDATE stations SET active = false WHERE code = %s", (RIVER,))
    try:
        with psycopg.connect(wall_database_url) as conn:
            assert len(json.loads(queries.stations_state(conn, 0))["features"]) == 161
    finally:
        db.execute("UPDATE stations SET active = true WHERE code = %s", (RIVER,))


# --------------------------------------------------------------------------------------------
# looking back: the time slider


def test_time_slider_shows_readings_warnings_and_calls_as_they_were(
    http: httpx.Client, dependencies: list[dict[str, Any]], db: psycopg.Connection
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # The river rose over its warning level (18.57) two hours ago and has since fallen back.
    add_readings(db, RIVER, WATER_LEVEL, now, [17.0] * 12 + [18.9] * 12 + [17.2] * 12, step=timedelta(minutes=5))
    then = now - timedelta(hours=1, minutes=30)
    warning = add_warning(db, RIVER, "yellow", state="cleared")
    db.execute(
        "UPDATE warnings SET raised_at = %s, cleared_at = %s, acknowledged = true, acknowledged_by = 'duty', "
        "acknowledged_at = %s, level_history = %s WHERE id = %s",
        (
            now - timedelta(hours=2),
            now - timedelta(minutes=50),
            now - timedelta(minutes=40),
            json.dumps(
                [
                    [(now - timedelta(hours=2)).timestamp(), "blue"],
                    [(now - timedelta(hours=1, minutes=45)).timestamp(), "yellow"],
                ]
            ),
            warning,
        ),
    )
    db.execute(
        "INSERT INTO response_levels (level, reason, decided_by, decided_at) VALUES "
        "('IV', '河道超警', 'chief', %s), ('none', '退水', 'chief', %s)",
        (now - timedelta(hours=1, minutes=40), now - timedelta(minutes=20)),
    )

    live = refresh(http, dependencies)
    props = {f["properties"]["code"]: f["properties"] for f in stations_of(http, live)["features"]}
    assert props[RIVER]["value"] == 17.2 and "level" not in props[RIVER]
    assert find(live["wall-warnings"]["children"], className="empty")
    assert live["wall-response-level"]["className"] == "resp-none"
    assert live["wall-timebar"]["className"] == "timebar"
    assert live["wall-history-banner"]["children"] == ""

    past = refresh(http, dependencies, at=then)
    props = {f["properties"]["code"]: f["properties"] for f in stations_of(http, past)["features"]}
    assert props[RIVER]["value"] == 18.9
    assert props[RIVER]["level"] == "yellow" and props[RIVER]["ack"] is False  # acknowledged only later
    rows = find(past["wall-warnings"]["children"], className="w-row level-yellow")
    assert [r["props"]["data-id"] for r in rows] == [str(warning)]
    assert "未确认" in texts(rows)
    assert past["wall-response-level"]["className"] == "resp-IV"
    assert past["wall-timebar"]["className"] == "timebar history-on"
    assert "历史回看" in past["wall-history-banner"]["children"]
    assert "at=" in past["wall-download"]["href"]

    # Before the level history's second entry the warning was blue.
    early = refresh(http, dependencies, at=now - timedelta(hours=1, minutes=55))
    props = {f["properties"]["code"]: f["properties"] for f in stations_of(http, early)["features"]}
    assert props[RIVER]["level"] == "blue"


def test_orders_as_of_a_moment_rebuild_the_call_states(db: psycopg.Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    order = scalar(
        db.execute(
            "INSERT INTO orders (msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, body_en, "
            "sms_zh, led_zh, speaker_zh, towns, source, drafted_by, drafted_at, approved_by, approved_at, "
            "ack_deadline_s, resend_after_s) VALUES ('alert', 'approved', 'river_flood', 'yellow', "
            "'象防指〔2026〕9号', 't', 'b', 't', "
            "'b', 's', 'l', 'p', '{330225001,330225002}', 'officer', 'duty', %s, 'chief', %s, 300, 120) RETURNING id",
            (now - timedelta(minutes=30), now - timedelta(minutes=25)),
        ).fetchone()
    )
    db.execute(
        "INSERT INTO order_towns (order_id, town_code, state, called_at, deadline_at, acknowledged_at) VALUES "
        "(%s, '330225001', 'acknowledged', %s, %s, %s), (%s, '330225002', 'unreached', %s, %s, NULL)",
        (
            order,
            now - timedelta(minutes=25),
            now - timedelta(minutes=20),
            now - timedelta(minutes=22),
            order,
            now - timedelta(minutes=25),
            now - timedelta(minutes=20),
        ),
    )
    db.execute(
        "INSERT INTO order_events (order_id, town_code, at, kind, actor) VALUES "
        "(%s, '330225002', %s, 'unreached', 'system')",
        (order, now - timedelta(minutes=15)),
    )

    def orders_at(minutes_ago: int | None) -> list[dict[str, Any]]:
        when = queries.NOW if minutes_ago is None else queries.moment(db, 0, now - timedelta(minutes=minutes_ago))
        return queries.orders_with_calls(db, 0, when=when)

    def state_at(minutes_ago: int | None) -> dict[str, Any]:
        rows = orders_at(minutes_ago)
        assert len(rows) == 1, rows
        return rows[0]

    assert state_at(28)["status"] == "draft"  # drafted, not yet approved
    assert orders_at(31) == []  # not yet drafted
    at_24 = state_at(24)
    assert (at_24["status"], at_24["pending"], at_24["acknowledged"]) == ("approved", 2, 0)
    at_21 = state_at(21)
    assert (at_21["pending"], at_21["acknowledged"], at_21["unreached"]) == (1, 1, 0)
    at_10 = state_at(10)
    assert (at_10["pending"], at_10["unreached"], list(at_10["unreached_towns"])) == (0, 1, ["丹东街道"])
    live = state_at(None)
    assert (live["acknowledged"], live["unreached"]) == (1, 1)


def test_a_drill_moment_maps_to_the_wall_clock_through_the_drill_clock(
    http: httpx.Client, dependencies: list[dict[str, Any]], db: psycopg.Connection
) -> None:
    add_drill(db)
    now = datetime.now(UTC).replace(microsecond=0)
    # The replay reached 12:00 (drill time) at now - 10 min and 14:00 at now - 5 min.
    db.execute(
        "INSERT INTO drill_clock (drill_id, wall_at, drill_at) VALUES (%s, %s, %s), (%s, %s, %s)",
        (
            DRILL,
            now - timedelta(minutes=10),
            TYPHOON_DAY,
            DRILL,
            now - timedelta(minutes=5),
            TYPHOON_DAY + timedelta(hours=2),
        ),
    )
    db.execute(
        "INSERT INTO response_levels (drill_id, level, reason, decided_by, decided_at) VALUES "
        "(%s, 'III', '演练', 'chief', %s)",
        (DRILL, now - timedelta(minutes=7)),
    )
    add_readings(db, RIVER, WATER_LEVEL, TYPHOON_DAY + timedelta(hours=2), [18.0] * 25, drill=DRILL)

    when = queries.moment(db, DRILL, TYPHOON_DAY + timedelta(hours=1))
    assert when.recorded_by == now - timedelta(minutes=10)
    assert queries.response_level(db, DRILL, when)["level"] == "none"
    assert (
        queries.response_level(db, DRILL, queries.moment(db, DRILL, TYPHOON_DAY + timedelta(hours=2)))["level"] == "III"
    )
    first, last = queries.history_span(db, DRILL, TYPHOON_DAY + timedelta(hours=2))
    assert (first, last) == (TYPHOON_DAY, TYPHOON_DAY + timedelta(hours=2))

    # The slider, 90 minutes back from the drill's clock, fixes that drill time; at 0 it is live again.
    moved = call(
        http,
        dependencies,
        "wall-at.data",
        {"wall-time.value": -90, "wall-drill.value": DRILL},
        changed="wall-time.value",
    )
    assert datetime.fromisoformat(moved["wall-at"]["data"]) == TYPHOON_DAY + timedelta(minutes=30)
    far = call(
        http,
        dependencies,
        "wall-at.data",
        {"wall-time.value": -4000, "wall-drill.value": DRILL},
        changed="wall-time.value",
    )
    assert datetime.fromisoformat(far["wall-at"]["data"]) == TYPHOON_DAY  # not before the drill began
    back = call(
        http, dependencies, "wall-at.data", {"wall-time.value": 0, "wall-drill.value": DRILL}, changed="wall-time.value"
    )
    assert back["wall-at"]["data"] is None  # the slider back at "now"
    shown = refresh(http, dependencies, drill=DRILL, at=TYPHOON_DAY + timedelta(minutes=30))
    assert "演练时间" in shown["wall-time-label"]["children"]


def test_situation_map_download_is_one_offline_file(http: httpx.Client, db: psycopg.Connection) -> None:
    add_drill(db)
    add_readings(db, RIVER, WATER_LEVEL, TYPHOON_DAY, [18.9] * 3, drill=DRILL)
    response = http.get("/api/v1/map/export", params={"drill": DRILL, "at": TYPHOON_DAY.isoformat()})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-disposition"].startswith('attachment; filename="situation-map-drill7-')
    page = response.text
    assert "<html" in page and "L.map(" in page and "2021年7月25日 12:00" in page and RIVER in page
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)
    bad = http.get("/api/v1/map/export", params={"at": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["message"]
    assert http.get("/api/v1/map/export", params={"drill": 999}).status_code == 404
