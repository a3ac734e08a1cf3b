"""The wall's storm, camera and device overlays (dashboard/overlays.py) against the sample county in a real
database, and their drawing (assets/wall-overlays.js) in headless Chromium."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from dashboard.overlays import (
    OVERLAY_IDS,
    circle,
    overlay_data,
    overlay_layers,
    safe_url,
)
from dashboard.situation_map import export_map
from floodctl.core.errors import BadRequest
from floodctl.domain.geodesy import EARTH_RADIUS_KM, haversine_km

CST = timezone(timedelta(hours=8))
T0 = datetime(2021, 7, 25, tzinfo=UTC)
LOAD_TIMEOUT_MS = 30_000
ASSETS = Path(__file__).resolve().parents[2] / "dashboard" / "assets"
# Three fixes 6 h apart, then one past the 72 h forecast horizon of T0 + 3 h.
FIXES = [  # hours after T0, lat, lon, wind, pressure, r7, r10, r12
    (0, 27.0, 125.0, 40.0, 960.0, 240.0, 110.0, 60.0),
    (6, 28.0, 124.0, 44.0, 950.0, 260.0, 120.0, None),
    (12, 29.0, 123.0, 36.0, 965.0, 220.0, 100.0, None),
    (80, 33.0, 120.0, 20.0, 995.0, 120.0, None, None),
]
CAMERA_CODE = "CAM-70601001"
LED, SPEAKER, IDLE_LED = "LED-330225001201-1", "SPK-330225001201-1", "LED-330225001202-1"


def scalar(row: tuple[Any, ...] | None) -> Any:
    """The one value of a row the test knows is there."""
    assert row is not None
    return row[0]


def new_drill(db: psycopg.Connection, name: str = "overlay test") -> int:
    return int(
        scalar(
            db.execute("INSERT INTO drills (name, scenario) VALUES (%s, 'synthetic') RETURNING id", (name,)).fetchone()
        )
    )


def add_fixes(db: psycopg.Connection, drill: int, storm: str = "测试台风", start: datetime = T0) -> None:
    db.cursor().executemany(
        "INSERT INTO storm_fixes (drill_id, storm, at, lat, lon, max_wind_ms, pressure_hpa, r7_km, r10_km, r12_km) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [(drill, storm, start + timedelta(hours=h), *rest) for h, *rest in FIXES],
    )


def by_role(collection: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [f for f in collection["features"] if f["properties"]["role"] == role]


def ring_area_km2(ring: list[list[float]]) -> float:
    """Area of a lon/lat ring on the sphere (the spherical-excess sum used by d3 and turf)."""
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(ring, ring[1:], strict=False):
        total += math.radians(lon2 - lon1) * (2 + math.sin(math.radians(lat1)) + math.sin(math.radians(lat2)))
    return abs(total) * EARTH_RADIUS_KM**2 / 2


def km(a: list[float], b: list[float]) -> float:
    """Great-circle distance of two [lon, lat] points."""
    return haversine_km(a[1], a[0], b[1], b[0])


# --- storm ------------------------------------------------------------------------------------------


def test_storm_as_of_t_past_position_forecast_and_radii(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    add_fixes(db, drill)
    at = T0 + timedelta(hours=3)
    storm = overlay_data(db, drill, at)["storm"]

    [past] = by_role(storm, "past")
    [position] = by_role(storm, "position")
    [forecast] = by_role(storm, "forecast")
    # Halfway between the first two fixes: position, wind, pressure and radii interpolated.
    assert position["geometry"]["coordinates"] == [124.5, 27.5]
    p = position["properties"]
    assert (p["wind_ms"], p["pressure_hpa"], p["r7_km"], p["r10_km"]) == (42.0, 955.0, 250.0, 115.0)
    assert "r12_km" not in p, "with r12 unknown at one fix, the nearer fix's value counts (the later one half way)"
    assert p["grade"] == "强台风" and p["grade_en"] == "Severe typhoon"
    assert datetime.fromisoformat(p["time"]) == at
    # The past track runs from the fixes up to T to the position; the forecast from the position on.
    assert past["geometry"]["coordinates"] == [[125.0, 27.0], [124.5, 27.5]]
    assert forecast["geometry"]["coordinates"] == [[124.5, 27.5], [124.0, 28.0], [123.0, 29.0]]
    fixes = by_role(storm, "fix")
    assert [(f["properties"]["phase"], datetime.fromisoformat(f["properties"]["time"])) for f in fixes] == [
        ("past", T0),
        ("forecast", T0 + timedelta(hours=6)),
        ("forecast", T0 + timedelta(hours=12)),
    ]
    assert fixes[1]["properties"]["grade"] == "强台风" and fixes[2]["properties"]["grade"] == "台风"
    assert fixes[0]["properties"]["pressure_hpa"] == 960.0 and fixes[0]["properties"]["r12_km"] == 60.0

    radii = by_role(storm, "radius")
    assert [(f["properties"]["force"], f["properties"]["radius_km"]) for f in radii] == [(7, 250.0), (10, 115.0)]
    for feature in radii:
        radius = feature["properties"]["radius_km"]
        ring = feature["geometry"]["coordinates"][0]
        assert feature["geometry"]["type"] == "Polygon" and len(ring) == 73 and ring[0] == ring[-1]
        assert all(km([124.5, 27.5], point) == pytest.approx(radius, rel=0.002) for point in ring)
        assert ring_area_km2(ring) == pytest.approx(math.pi * radius**2, rel=0.01)
    # Drawn bottom to top: circles, tracks, fixes, the position last.
    roles = [f["properties"]["role"] for f in storm["features"]]
    assert roles == ["radius", "radius", "past", "forecast", "fix", "fix", "fix", "position"]


def test_storm_at_a_fix_and_outside_the_track(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    add_fixes(db, drill)
    at_fix = overlay_data(db, drill, T0 + timedelta(hours=6))["storm"]
    [position] = by_role(at_fix, "position")
    assert position["geometry"]["coordinates"] == [124.0, 28.0] and position["properties"]["r7_km"] == 260.0
    assert len(by_role(at_fix, "past")[0]["geometry"]["coordinates"]) == 2  # no duplicate vertex
    # Before the first fix: only a forecast, no position and so no circles.
    before = overlay_data(db, drill, T0 - timedelta(hours=2))["storm"]
    assert not by_role(before, "position") and not by_role(before, "radius") and not by_role(before, "past")
    assert by_role(before, "fix") and all(f["properties"]["phase"] == "forecast" for f in by_role(before, "fix"))
    # After the last fix: the whole track observed, nothing ahead.
    after = overlay_data(db, drill, T0 + timedelta(hours=100))["storm"]
    assert not by_role(after, "position") and not by_role(after, "forecast")
    assert len(by_role(after, "past")[0]["geometry"]["coordinates"]) == 4


def test_live_storms_within_ten_days_and_no_drill_storm(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    add_fixes(db, drill, "演练台风")
    add_fixes(db, 0, "实况台风", start=T0)
    add_fixes(db, 0, "旧台风", start=T0 - timedelta(days=30))
    storm = overlay_data(db, 0, T0 + timedelta(hours=3))["storm"]
    assert {f["properties"]["storm"] for f in storm["features"]} == {"实况台风"}
    assert {f["properties"]["storm"] for f in overlay_data(db, drill, T0)["storm"]["features"]} == {"演练台风"}


def test_circle_is_round_and_closed() -> None:
    ring = circle(29.4, 121.9, 300.0)
    assert len(ring) == 73 and ring[0] == ring[-1]
    assert max(point[1] for point in ring) == pytest.approx(29.4 + math.degrees(300.0 / EARTH_RADIUS_KM), abs=1e-4)
    assert ring_area_km2(ring) == pytest.approx(math.pi * 300.0**2, rel=0.01)
    assert ring_area_km2(circle(60.0, 10.0, 50.0)) == pytest.approx(math.pi * 50.0**2, rel=0.01)


def test_times_must_carry_a_zone(db: psycopg.Connection) -> None:
    with pytest.raises(BadRequest):
        overlay_data(db, 0, datetime(2021, 7, 25, 12))
    with pytest.raises(BadRequest):
        overlay_data(db, 0, T0, recorded_by=datetime(2021, 7, 25, 12))


# --- cameras ----------------------------------------------------------------------------------------


def camera_station(db: psycopg.Connection) -> int:
    return int(scalar(db.execute("SELECT id FROM stations WHERE code = '70601001'").fetchone()))


def add_video(
    db: psycopg.Connection,
    station: int,
    drill: int,
    ts: datetime,
    online: bool,
    snapshot: str | None,
    event: str | None = None,
    camera: str = "70601001-CAM1",
) -> None:
    db.execute(
        "INSERT INTO video_events (station_id, camera, ts, online, snapshot_url, stream_url, event, drill_id) "
        "VALUES (%s, %s, %s, %s, %s, NULL, %s, %s)",
        (station, camera, ts, online, snapshot, event, drill),
    )


def test_cameras_newest_report_at_or_before_t(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    station = camera_station(db)
    at = T0 + timedelta(hours=3)
    add_video(db, station, drill, at - timedelta(hours=2), True, "http://127.0.0.1/cameras/old.jpg")
    add_video(
        db, station, drill, at - timedelta(minutes=30), False, "https://cams.county.example/7060/now.jpg", "overtopping"
    )
    add_video(db, station, drill, at + timedelta(minutes=30), True, "http://127.0.0.1/cameras/later.jpg")
    add_video(db, station, 0, at - timedelta(minutes=10), True, "http://127.0.0.1/cameras/live.jpg")

    cameras = overlay_data(db, drill, at)["cameras"]["features"]
    assert len(cameras) == 20  # one per camera of the sample county's layer
    camera = next(f for f in cameras if f["properties"]["code"] == CAMERA_CODE)
    p = camera["properties"]
    assert (p["online"], p["event"], p["snapshot_url"]) == (
        False,
        "overtopping",
        "https://cams.county.example/7060/now.jpg",
    )
    assert datetime.fromisoformat(p["ts"]) == at - timedelta(minutes=30)
    assert p["station"] == "70601001" and p["name"] == "梅洋易涝点视频监控" and p["station_name"]
    assert camera["geometry"]["coordinates"] == [121.85852, 29.44174]
    others = [f["properties"] for f in cameras if f["properties"]["code"] != CAMERA_CODE]
    assert all(o["online"] is None and o["ts"] is None and o["event"] is None for o in others)
    # Without a report the layer's own snapshot link stands.
    assert all(o["snapshot_url"].startswith("http://127.0.0.1/cameras/") for o in others)

    earlier = overlay_data(db, drill, at - timedelta(hours=1))["cameras"]["features"]
    p = next(f for f in earlier if f["properties"]["code"] == CAMERA_CODE)["properties"]
    assert (p["online"], p["snapshot_url"], p["event"]) == (True, "http://127.0.0.1/cameras/old.jpg", None)
    # Live operations see only the live report; a report older than the look-back is not "latest".
    live = next(f for f in overlay_data(db, 0, at)["cameras"]["features"] if f["properties"]["code"] == CAMERA_CODE)
    assert live["properties"]["snapshot_url"] == "http://127.0.0.1/cameras/live.jpg"
    stale = overlay_data(db, drill, at + timedelta(days=8))["cameras"]["features"]
    assert next(f for f in stale if f["properties"]["code"] == CAMERA_CODE)["properties"]["online"] is None


def test_only_http_snapshot_urls_pass(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    station = camera_station(db)
    add_video(db, station, drill, T0, True, "javascript:alert(1)")
    p = next(
        f["properties"]
        for f in overlay_data(db, drill, T0)["cameras"]["features"]
        if f["properties"]["code"] == CAMERA_CODE
    )
    assert p["snapshot_url"] == "http://127.0.0.1/cameras/70601001/CAM01.jpg", "the bad URL gives way to the layer's"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "ftp://host/x.jpg",
        "//host/x.jpg",
        "/x.jpg",
        "http://",
        "http://host/a b.jpg",
        'http://host/x.jpg"onmouseover="x',
        "vbscript:x",
        None,
        42,
        "",
    ):
        assert safe_url(bad) is None, bad
    for good in ("http://127.0.0.1/cameras/1.jpg", "HTTPS://cams.example.org:8443/snap?id=3&size=l"):
        assert safe_url(good) == good


def test_a_camera_id_picks_its_reports_when_a_station_has_several(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    station = camera_station(db)
    second = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [121.86, 29.44]},
        "properties": {"code": "CAM-70601001-2", "camera": "CAM02", "station": "70601001", "name": "第二路"},
    }
    db.execute(
        "UPDATE layers SET geojson = jsonb_set(geojson, '{features}', (geojson -> 'features') || %s) "
        "WHERE name = 'cameras'",
        (Jsonb([second]),),
    )
    add_video(db, station, drill, T0 - timedelta(minutes=20), False, None, camera="CAM01")
    add_video(db, station, drill, T0 - timedelta(minutes=10), True, None, "water_over_marker", camera="CAM02")
    features = {f["properties"]["code"]: f["properties"] for f in overlay_data(db, drill, T0)["cameras"]["features"]}
    assert (features[CAMERA_CODE]["online"], features[CAMERA_CODE]["event"]) == (False, None)
    assert (features["CAM-70601001-2"]["online"], features["CAM-70601001-2"]["event"]) == (True, "water_over_marker")


# --- LED boards and loudspeakers --------------------------------------------------------------------


def add_order(db: psycopg.Connection, drill: int, number: str) -> int:
    return int(
        scalar(
            db.execute(
                "INSERT INTO orders (drill_id, msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, "
                "body_en, sms_zh, led_zh, speaker_zh, towns, source, drafted_by, approved_by, approved_at, "
                "ack_deadline_s, resend_after_s) VALUES (%s, 'alert', 'approved', 'typhoon', 'orange', %s, "
                "'防台紧急通知', '正文', "
                "'Typhoon notice', 'body', '短信', 'LED文字', '广播文字', '{330225001}', 'officer', 'duty', 'chief', "
                "now(), 300, 120) RETURNING id",
                (drill, number),
            ).fetchone()
        )
    )


def add_delivery(
    db: psycopg.Connection,
    order: int,
    drill: int,
    channel: str,
    device: str,
    state: str,
    created: datetime,
    sent: datetime | None,
    updated: datetime,
    body: str = "请立即转移",
) -> None:
    db.execute(
        "INSERT INTO deliveries (order_id, drill_id, town_code, recipient, channel, address, body, state, "
        "created_at, sent_at, updated_at) VALUES (%s, %s, '330225001', %s, %s, %s, %s, %s, %s, %s, %s)",
        (order, drill, device, channel, device, body, state, created, sent, updated),
    )


def devices_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["device"]: f for f in data["devices"]["features"]}


def test_devices_show_their_last_command(db: psycopg.Connection) -> None:
    drill = new_drill(db)
    first, second = add_order(db, drill, "象防指〔2021〕7号"), add_order(db, drill, "象防指〔2021〕8号")
    w = datetime(2026, 5, 1, 8, tzinfo=UTC)  # wall clock
    add_delivery(db, first, drill, "led", LED, "acked", w, w + timedelta(seconds=2), w + timedelta(seconds=5))
    add_delivery(
        db,
        second,
        drill,
        "led",
        LED,
        "failed",
        w + timedelta(minutes=10),
        None,
        w + timedelta(minutes=11),
        body="第二条",
    )
    add_delivery(
        db, second, drill, "speaker", SPEAKER, "pending", w + timedelta(minutes=10), None, w + timedelta(minutes=10)
    )
    other = new_drill(db, "another drill")
    add_delivery(db, add_order(db, other, "象防指〔2021〕9号"), other, "led", IDLE_LED, "acked", w, w, w)

    data = overlay_data(db, drill, T0)
    devices = devices_of(data)
    assert len(devices) == 202 + 398  # every LED board and loudspeaker of the villages layer
    led = devices[LED]["properties"]
    assert (led["kind"], led["state"], led["order_no"], led["text"]) == ("led", "failed", "象防指〔2021〕8号", "第二条")
    assert datetime.fromisoformat(led["when"]) == w + timedelta(minutes=11)
    assert led["title"] == "防台紧急通知" and led["title_en"] == "Typhoon notice" and led["village"] == "竹桥村"
    speaker = devices[SPEAKER]["properties"]
    assert (speaker["kind"], speaker["state"], speaker["order_no"]) == ("speaker", "pending", "象防指〔2021〕8号")
    assert devices[IDLE_LED]["properties"]["state"] is None, "another drill's command never shows"
    assert all(f["properties"]["state"] is None for f in overlay_data(db, 0, T0)["devices"]["features"])

    # As recorded by a wall-clock moment: the command queued by then, in the state it had then.
    def state_at(moment: datetime) -> tuple[str | None, str | None]:
        p = devices_of(overlay_data(db, drill, T0, recorded_by=moment))[LED]["properties"]
        return p["state"], p.get("order_no")

    assert state_at(w - timedelta(seconds=1)) == (None, None)
    assert state_at(w + timedelta(seconds=1)) == ("pending", "象防指〔2021〕7号")
    assert state_at(w + timedelta(seconds=3)) == ("sent", "象防指〔2021〕7号")
    assert state_at(w + timedelta(minutes=5)) == ("acked", "象防指〔2021〕7号")
    assert state_at(w + timedelta(minutes=10, seconds=30)) == ("pending", "象防指〔2021〕8号")
    assert state_at(w + timedelta(hours=1)) == ("failed", "象防指〔2021〕8号")


def test_devices_sit_apart_around_their_village(db: psycopg.Connection) -> None:
    devices = devices_of(overlay_data(db, 0, T0))
    village = [121.82584, 29.458493]  # 竹桥村: one LED board, two loudspeakers
    mine = [f["geometry"]["coordinates"] for d, f in devices.items() if "330225001201" in d]
    assert len(mine) == 3 and len({tuple(c) for c in mine}) == 3
    assert all(0.11 < km(village, c) < 0.13 for c in mine)
    assert len({tuple(f["geometry"]["coordinates"]) for f in devices.values()}) == len(devices)


# --- components and the offline map -----------------------------------------------------------------


def test_overlay_layers_are_bound_to_the_drawing_functions() -> None:
    overlays = overlay_layers("en", tz="Asia/Shanghai")
    layers = {o.children.id: o for o in overlays}
    assert set(layers) == set(OVERLAY_IDS.values())
    storm = layers["wall-layer-storm"].children
    assert storm.style == {"variable": "floodWall.stormStyle"}
    assert storm.pointToLayer == {"variable": "floodWall.stormPoint"}
    assert storm.onEachFeature == {"variable": "floodWall.stormFeature"}
    assert storm.hideout == {"layer": "storm", "lang": "en", "tz": "Asia/Shanghai"}
    assert layers["wall-layer-cameras-live"].children.pointToLayer == {"variable": "floodWall.cameraPoint"}
    assert layers["wall-layer-devices"].children.onEachFeature == {"variable": "floodWall.deviceFeature"}
    assert [o.id for o in overlays] == ["wall-overlay-storm", "wall-overlay-cameras-live", "wall-overlay-devices"]
    assert layers["wall-layer-storm"].name == "Typhoon track and wind radii"
    assert overlay_layers("fr")[0].name == "台风路径与风圈"  # unknown language: the default


def test_the_situation_map_draws_the_radii(db: psycopg.Connection, tmp_path: Path) -> None:
    drill = new_drill(db)
    add_fixes(db, drill)
    result = export_map(db, tmp_path / "radii.html", at=T0 + timedelta(hours=3), drill_id=drill, tz=CST)
    position = result.situation.storms[0].position
    assert position is not None and (position.r7_km, position.r10_km) == (250.0, 115.0)
    text = (tmp_path / "radii.html").read_text(encoding="utf-8")
    assert "7级风圈" in text and "10级风圈" in text and "12级风圈" not in text


# --- drawing in the browser -------------------------------------------------------------------------


@pytest.fixture
def overlay_page_url(db: psycopg.Connection, serve_app: Any) -> Iterator[str]:
    """A bare Dash page with the three overlays (and every asset of the wall, wall.js included) showing a
    replay of In-Fa recorded by register_drill, one camera report and two device commands."""
    import dash
    import dash_leaflet as dl
    from a2wsgi import WSGIMiddleware
    from dash import html

    from simulators.drill import register_drill
    from simulators.scenarios import get_scenario

    drill = register_drill(db, "in-fa-2106", "overlay browser test", track=get_scenario("in-fa-2106").load())
    at = datetime(2021, 7, 25, 4, tzinfo=CST)  # near landfall; r12 still known at the 02:00 fix
    add_video(
        db,
        camera_station(db),
        drill,
        at - timedelta(minutes=30),
        False,
        "http://127.0.0.1/cameras/70601001/now.jpg",
        "overtopping",
    )
    order = add_order(db, drill, "象防指〔2021〕12号")
    w = datetime.now(UTC)
    add_delivery(db, order, drill, "led", LED, "acked", w, w, w)
    add_delivery(db, order, drill, "speaker", SPEAKER, "failed", w, None, w)
    data = overlay_data(db, drill, at)
    overlays = overlay_layers("zh", tz="Asia/Shanghai")
    for overlay in overlays:
        key = "cameras" if overlay.children.id == "wall-layer-cameras-live" else overlay.children.id.split("-")[-1]
        overlay.children.data = data[key]
    app = dash.Dash("dashboard.overlays", assets_folder=str(ASSETS), serve_locally=True, update_title="")
    app.layout = html.Div(
        dl.MapContainer(
            # `overlays` given up front: dash-leaflet's LayersControl reads it when a layer is unchecked.
            [dl.LayersControl(overlays, id="wall-layers", collapsed=False, overlays=[o.name for o in overlays])],
            id="wall-map",
            center=[29.3, 122.0],
            zoom=8,
            style={"height": "100vh", "width": "100vw"},
        ),
        style={"height": "100vh"},
    )
    with serve_app(WSGIMiddleware(app.server, workers=4)) as base_url:
        yield base_url


def test_the_overlays_draw_in_chromium(overlay_page_url: str, page: Any) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(overlay_page_url + "/")
    page.wait_for_selector(".wall-storm-pos", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('.wall-dev').length === 600", timeout=LOAD_TIMEOUT_MS)
    seen = page.evaluate("""() => ({
        both: typeof window.floodWall.stationMarker === 'function' && typeof window.floodWall.stormStyle === 'function',
        labels: [...document.querySelectorAll('.wall-radius-label .radius-text')].map(e => e.textContent),
        paths: document.querySelectorAll('path.leaflet-interactive').length,
        dashed: [...document.querySelectorAll('path.leaflet-interactive')]
                .filter(e => e.getAttribute('stroke-dasharray')).length,
        cameras: document.querySelectorAll('.wall-cam').length,
        offline: [...document.querySelectorAll('.wall-cam.cam-offline.cam-event .cam-body')].map(e => e.dataset.code),
        acked: [...document.querySelectorAll('.wall-dev.dev-ok .dev-body')].map(e => e.dataset.device),
        failed: [...document.querySelectorAll('.wall-dev.dev-failed .dev-body')].map(e => e.dataset.device),
        none: document.querySelectorAll('.wall-dev.dev-none').length,
        zoom: document.getElementById('wall-map').getAttribute('data-dev-zoom'),
        overlays: [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
                  .map(e => e.textContent.trim()),
    })""")
    assert seen["both"], "wall.js's functions and these live side by side on window.floodWall"
    assert seen["labels"] == ["7级风圈", "10级风圈", "12级风圈"]
    assert seen["dashed"] >= 4 and seen["paths"] >= seen["dashed"] + 1  # 3 circles + forecast; the past track
    assert seen["cameras"] == 20 and seen["offline"] == [CAMERA_CODE]
    assert (seen["acked"], seen["failed"], seen["none"]) == ([LED], [SPEAKER], 598)
    assert seen["zoom"] == "far"
    assert seen["overlays"] == ["台风路径与风圈", "视频监控（最新截图）", "LED屏与高音喇叭"]

    page.hover(".wall-storm-pos")
    tip = page.wait_for_selector(".leaflet-tooltip", timeout=LOAD_TIMEOUT_MS).inner_text()
    assert "烟花" in tip and "7级风圈" in tip and "m/s" in tip and "hPa" in tip

    # The failed loudspeaker lies under the camera with an event here: hover it by its own element.
    page.dispatch_event(".wall-dev.dev-failed", "mouseover")
    tip = page.wait_for_selector(".leaflet-tooltip:has-text('SPK-')", timeout=LOAD_TIMEOUT_MS).inner_text()
    assert SPEAKER in tip and "象防指〔2021〕12号" in tip and "发送失败" in tip and "请立即转移" in tip

    page.click(f".wall-cam:has([data-code='{CAMERA_CODE}'])")
    link = page.wait_for_selector(".wall-cam-popup a.cam-snapshot", timeout=LOAD_TIMEOUT_MS)
    assert link.inner_text() == "最新截图"
    assert link.get_attribute("href") == "http://127.0.0.1/cameras/70601001/now.jpg"
    assert link.get_attribute("target") == "_blank" and "noopener" in (link.get_attribute("rel") or "")
    assert "漫堤" in page.inner_text(".wall-cam-popup") and "离线" in page.inner_text(".wall-cam-popup")

    page.keyboard.press("Escape")
    for _ in range(6):  # zoom 8 -> 14: the devices come apart and to full size
        page.click(".leaflet-control-zoom-in")
        page.wait_for_timeout(350)
    page.wait_for_function(
        "document.getElementById('wall-map').getAttribute('data-dev-zoom') === 'near'", timeout=LOAD_TIMEOUT_MS
    )
    # Unchecking the storm layer takes its circles' labels away with it.
    page.click(".leaflet-control-layers-overlays label:has-text('台风路径与风圈') input")
    page.wait_for_function("document.querySelectorAll('.wall-radius-label').length === 0", timeout=LOAD_TIMEOUT_MS)
    assert page.locator(".wall-storm-pos").count() == 0
