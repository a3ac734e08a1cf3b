"""The read API through a real uvicorn server on a free local port, against a real database.

Data is set up with plain SQL (``observations``, ``latest_values``, ``device_status_latest``) so the
tests check the HTTP contract and the query maths, not ingest. One server and one database (cloned from
the sample-county template) serve the whole module; each test starts from the template's state.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone

import httpx
import psycopg
import pytest

from floodctl.api.app import api_routes, create_app
from floodctl.core.settings import Settings
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import THRESHOLD_NAMES as THRESHOLD_COLUMNS
from floodctl.stations import store
from floodctl.stations.store import MAX_RAW_POINTS

CST = timezone(timedelta(hours=8))  # Asia/Shanghai has had no DST since 1991
DAY = datetime(2021, 7, 25, tzinfo=CST)  # typhoon In-Fa's landfall day, local midnight
WATER_LEVEL = METRICS["water_level"].id
RAINFALL = METRICS["rainfall"].id
SERIES_COLUMNS = "station_id, metric_id, ts, value, flags, drill_id"


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def api_database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    """One database for the whole module, cloned from the sample-county template like ``database_url``.

    A database and a server per test would cost most of this module's run time; instead every test
    starts from the template's state (see ``clean``)."""
    with clone_database("api") as url:
        yield url


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("var"), ingest_metrics_port=0, timezone="Asia/Shanghai", _env_file=None
    )


@pytest.fixture(scope="module")
def api(
    api_settings: Settings, api_database_url: str, serve_api: Callable[..., AbstractContextManager[httpx.Client]]
) -> Iterator[httpx.Client]:
    with serve_api(api_settings, api_database_url) as client:
        yield client


@pytest.fixture
def db(api_database_url: str) -> Iterator[psycopg.Connection]:
    """Overrides the conftest ``db``: an autocommit connection to the module's (served) database."""
    with psycopg.connect(api_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def clean(db: psycopg.Connection) -> None:
    """Back to the template's state: no readings, no drills, every station active."""
    db.execute("DELETE FROM observations")
    db.execute("DELETE FROM latest_values")
    db.execute("DELETE FROM device_status_latest")
    db.execute("DELETE FROM drills WHERE id <> 0")
    db.execute("UPDATE stations SET active = true WHERE NOT active")


def station(db: psycopg.Connection, kind: str, index: int = 0) -> tuple[int, str]:
    row = db.execute(
        "SELECT id, code FROM stations WHERE active AND kind = %s ORDER BY code OFFSET %s LIMIT 1", (kind, index)
    ).fetchone()
    assert row is not None, f"the sample county has no {kind} station #{index}"
    return row[0], row[1]


def insert_observations(db: psycopg.Connection, rows: list[tuple[int, int, datetime, float, int, int]]) -> None:
    """COPY rows (station_id, metric_id, ts, value, flags, drill_id), creating day partitions first."""
    days = sorted({r[2].astimezone(UTC).date() for r in rows})
    db.execute("SELECT ensure_observation_partitions(%s, %s)", (days[0], days[-1]))
    with db.cursor().copy(f"COPY observations ({SERIES_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def readings(
    sid: int, metric: int, start: datetime, step: timedelta, values: list[float], drill: int = 0
) -> list[tuple[int, int, datetime, float, int, int]]:
    return [(sid, metric, start + i * step, v, 0, drill) for i, v in enumerate(values)]


def features(response: httpx.Response) -> dict[str, dict]:
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["type"] == "FeatureCollection"
    return {f["properties"]["code"]: f for f in body["features"]}


def series(api: httpx.Client, code: str, **params: object) -> dict:
    response = api.get(f"/api/v1/stations/{code}/series", params=params)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def times(points: list[list[object]]) -> list[datetime]:
    return [datetime.fromisoformat(str(p[0])) for p in points]


def assert_error(response: httpx.Response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    if error is not None:
        assert body["error"] == error, body
    return body


# --------------------------------------------------------------------------------------------
# health and metrics


def test_healthz_reports_database_ok(api: httpx.Client) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    # No `floodctl alerts` runs beside this API: the API serves, alerting needs a hand.
    assert response.json()["status"] == "degraded"
    assert response.json()["rule_engine"]["status"] == "none"


def test_metrics_is_prometheus_text(api: httpx.Client) -> None:
    api.get("/healthz")
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE floodctl_http_requests_total counter" in response.text
    assert 'floodctl_http_requests_total{status="200"}' in response.text


def test_unknown_route_is_json_404(api: httpx.Client) -> None:
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(api.post("/api/v1/stations"), 405, "method_not_allowed")


# --------------------------------------------------------------------------------------------
# GET /api/v1/stations


def test_stations_feature_collection(api: httpx.Client, db: psycopg.Connection) -> None:
    response = api.get("/api/v1/stations")
    assert response.headers["content-type"].startswith("application/geo+json")
    by_code = features(response)
    assert len(by_code) == 162
    rows = db.execute(f"""SELECT s.code, s.name, s.kind, s.town_code, t.name, s.lon, s.lat,
                                 {", ".join("s." + c for c in THRESHOLD_COLUMNS)}
                          FROM stations s LEFT JOIN towns t ON t.code = s.town_code WHERE s.active""").fetchall()
    assert set(by_code) == {r[0] for r in rows}
    for code, name, kind, town, town_name, lon, lat, *limits in rows:
        feature = by_code[code]
        assert feature["type"] == "Feature" and feature["id"] == code
        assert feature["geometry"] == {"type": "Point", "coordinates": [lon, lat]}
        props = feature["properties"]
        assert (props["code"], props["name"], props["kind"], props["town"], props["town_name"]) == (
            code,
            name,
            kind,
            town,
            town_name,
        )
        expected = {c: v for c, v in zip(THRESHOLD_COLUMNS, limits, strict=True) if v is not None}
        assert props["thresholds"] == expected
        assert props["latest"] == {}
        assert "device" in props and props["device"] is None
    river = next(f["properties"] for f in by_code.values() if f["properties"]["kind"] == "river")
    assert set(river["thresholds"]) >= {"wrz", "grz"}


def test_stations_show_latest_values_and_device(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    ts = datetime(2021, 7, 25, 12, 5, tzinfo=CST)
    db.execute(
        "INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value, flags) VALUES"
        " (%s, %s, 0, %s, 3.42, 0), (%s, %s, 0, %s, 1.5, 1)",
        (sid, WATER_LEVEL, ts, sid, RAINFALL, ts - timedelta(minutes=5)),
    )
    db.execute(
        "INSERT INTO device_status_latest (station_id, drill_id, ts, online, battery_v, signal_dbm)"
        " VALUES (%s, 0, %s, true, 12.6, -71)",
        (sid, ts),
    )
    props = features(api.get("/api/v1/stations"))[code]["properties"]
    latest = props["latest"]
    assert set(latest) == {"water_level", "rainfall"}
    assert latest["water_level"]["value"] == 3.42
    assert datetime.fromisoformat(latest["water_level"]["ts"]) == ts
    assert latest["water_level"]["late"] is False
    assert latest["rainfall"]["value"] == 1.5 and latest["rainfall"]["late"] is True
    assert datetime.fromisoformat(latest["rainfall"]["ts"]) == ts - timedelta(minutes=5)
    device = props["device"]
    assert device["online"] is True and device["battery_v"] == 12.6 and device["signal_dbm"] == -71
    assert datetime.fromisoformat(device["ts"]) == ts


@pytest.mark.parametrize("kind", ["river", "reservoir", "tide", "rain", "weather", "camera"])
def test_stations_filter_by_kind(api: httpx.Client, db: psycopg.Connection, kind: str) -> None:
    expected = {r[0] for r in db.execute("SELECT code FROM stations WHERE active AND kind = %s", (kind,))}
    by_code = features(api.get("/api/v1/stations", params={"kind": kind}))
    assert expected and set(by_code) == expected
    assert {f["properties"]["kind"] for f in by_code.values()} == {kind}


def test_stations_filter_by_town(api: httpx.Client, db: psycopg.Connection) -> None:
    town, count = db.execute(
        "SELECT town_code, count(*) FROM stations WHERE active GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    by_code = features(api.get("/api/v1/stations", params={"town": town}))
    assert len(by_code) == count
    assert {f["properties"]["town"] for f in by_code.values()} == {town}
    assert features(api.get("/api/v1/stations", params={"town": "999999999"})) == {}


def test_inactive_stations_are_left_out(api: httpx.Client, db: psycopg.Connection) -> None:
    _, code = station(db, "tide")
    db.execute("UPDATE stations SET active = false WHERE code = %s", (code,))
    by_code = features(api.get("/api/v1/stations"))
    assert len(by_code) == 161 and code not in by_code


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "bogus"},
        {"kind": "RIVER"},
        {"drill": "-1"},
        {"drill": "x"},
        {"drill": "1.5"},
        {"drill": str(2**31)},
        {"drill": "9" * 40},
        {"town": "33\x00"},
        {"town": "x" * 200},
    ],
)
def test_stations_bad_query_is_400(api: httpx.Client, params: dict[str, str]) -> None:
    body = assert_error(api.get("/api/v1/stations", params=params), 400, "invalid_query")
    assert next(iter(params)) in body["message"]


def test_stations_drill_shows_only_that_drills_latest(api: httpx.Client, db: psycopg.Connection) -> None:
    db.execute("INSERT INTO drills (id, name) VALUES (5, 'test')")
    sid, code = station(db, "reservoir")
    other_sid, other_code = station(db, "reservoir", 1)
    live_ts = datetime(2021, 7, 25, 12, 0, tzinfo=CST)
    drill_ts = datetime(2021, 7, 25, 13, 0, tzinfo=CST)
    db.execute(
        "INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value) VALUES"
        " (%s, %s, 0, %s, 10.0), (%s, %s, 5, %s, 25.5), (%s, %s, 0, %s, 11.0)",
        (sid, WATER_LEVEL, live_ts, sid, WATER_LEVEL, drill_ts, other_sid, WATER_LEVEL, live_ts),
    )
    db.execute(
        "INSERT INTO device_status_latest (station_id, drill_id, ts, online) VALUES (%s, 5, %s, false)", (sid, drill_ts)
    )

    live = features(api.get("/api/v1/stations"))
    assert live[code]["properties"]["latest"]["water_level"]["value"] == 10.0
    assert live[other_code]["properties"]["latest"]["water_level"]["value"] == 11.0
    assert live[code]["properties"]["device"] is None

    drill = features(api.get("/api/v1/stations", params={"drill": 5}))
    assert len(drill) == 162
    assert drill[code]["properties"]["latest"]["water_level"]["value"] == 25.5
    assert datetime.fromisoformat(drill[code]["properties"]["latest"]["water_level"]["ts"]) == drill_ts
    assert drill[other_code]["properties"]["latest"] == {}
    assert drill[code]["properties"]["device"]["online"] is False
    assert sum(1 for f in drill.values() if f["properties"]["latest"]) == 1


# --------------------------------------------------------------------------------------------
# GET /api/v1/stations/{code}/series: raw points


def test_raw_series_in_order_within_half_open_range(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    values = [3.0 + i / 100 for i in range(37)]  # 00:00 .. 03:00 every 5 min
    rows = readings(sid, WATER_LEVEL, DAY, timedelta(minutes=5), values)
    rows.reverse()  # stored order must not matter
    rows.append((sid, WATER_LEVEL, DAY + timedelta(minutes=62), 9.9, 1, 0))  # a late reading
    insert_observations(db, rows)

    body = series(api, code, start="2021-07-25T01:00:00", end="2021-07-25T02:00:00")
    assert body["station"] == code and body["metric"] == "water_level" and body["unit"] == "m"
    assert body["bucket"] is None and body["aggregate"] is None
    assert body["columns"] == ["ts", "value", "late"]
    assert datetime.fromisoformat(body["start"]) == DAY + timedelta(hours=1)
    assert datetime.fromisoformat(body["end"]) == DAY + timedelta(hours=2)
    expected = sorted(
        [(DAY + timedelta(minutes=5 * i), values[i], False) for i in range(12, 24)]
        + [(DAY + timedelta(minutes=62), 9.9, True)]
    )
    assert [(datetime.fromisoformat(p[0]), p[1], p[2]) for p in body["points"]] == expected

    everything = series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T03:00:00.000001")
    assert len(everything["points"]) == 38
    assert times(everything["points"]) == sorted(times(everything["points"]))
    # Nothing for another metric of the same station.
    assert series(api, code, metric="flow", start="2021-07-25T00:00:00", end="2021-07-26T00:00:00")["points"] == []


@pytest.mark.parametrize(
    ("kind", "metric", "unit"),
    [
        ("river", "water_level", "m"),
        ("reservoir", "water_level", "m"),
        ("tide", "tide_level", "m"),
        ("rain", "rainfall", "mm"),
        ("weather", "wind_speed", "m/s"),
        ("camera", "water_level", "m"),
    ],
)
def test_default_metric_per_station_kind(
    api: httpx.Client, db: psycopg.Connection, kind: str, metric: str, unit: str
) -> None:
    sid, code = station(db, kind)
    other = "pressure" if metric != "pressure" else "water_level"
    ts = DAY + timedelta(hours=12)
    insert_observations(db, [(sid, METRICS[metric].id, ts, 7.5, 0, 0), (sid, METRICS[other].id, ts, 999.0, 0, 0)])
    body = series(api, code, start="2021-07-25T00:00:00", end="2021-07-26T00:00:00")
    assert (body["metric"], body["unit"]) == (metric, unit)
    assert [p[1] for p in body["points"]] == [7.5]
    explicit = series(api, code, metric=other, start="2021-07-25T00:00:00", end="2021-07-26T00:00:00")
    assert explicit["metric"] == other and [p[1] for p in explicit["points"]] == [999.0]


def test_default_range_is_the_last_24_hours(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    now = datetime.now(UTC).replace(microsecond=0)
    insert_observations(
        db,
        [
            (sid, WATER_LEVEL, now - timedelta(hours=25), 1.0, 0, 0),
            (sid, WATER_LEVEL, now - timedelta(hours=23), 2.0, 0, 0),
            (sid, WATER_LEVEL, now - timedelta(minutes=1), 3.0, 0, 0),
        ],
    )
    body = series(api, code)
    assert [p[1] for p in body["points"]] == [2.0, 3.0]
    span = datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"])
    assert span == timedelta(hours=24)


# --------------------------------------------------------------------------------------------
# buckets


def test_water_level_hourly_buckets_mean_max_min(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    start = DAY + timedelta(hours=6)
    values = [2.0 + ((i * 37) % 23) / 10 for i in range(48)]  # 06:00 .. 09:55 every 5 min
    insert_observations(db, readings(sid, WATER_LEVEL, start, timedelta(minutes=5), values))

    body = series(api, code, start="2021-07-25T06:00:00", end="2021-07-25T10:00:00", bucket="1h")
    assert body["bucket"] == 3600 and body["aggregate"] == "mean/max/min"
    assert body["columns"] == ["bucket_start", "mean", "max", "min", "count"]
    assert len(body["points"]) == 4
    for hour, point in enumerate(body["points"]):
        chunk = values[12 * hour : 12 * hour + 12]
        assert datetime.fromisoformat(point[0]) == start + timedelta(hours=hour)
        assert point[1] == pytest.approx(sum(chunk) / 12)
        assert point[2] == max(chunk) and point[3] == min(chunk) and point[4] == 12

    # A range that cuts into hours: only the readings inside it count, buckets stay on the hour.
    part = series(api, code, start="2021-07-25T06:30:00", end="2021-07-25T07:30:00", bucket="60m")
    assert times(part["points"]) == [start, start + timedelta(hours=1)]
    assert part["points"][0][4] == 6 and part["points"][1][4] == 6
    assert part["points"][0][1] == pytest.approx(sum(values[6:12]) / 6)
    assert part["points"][1][2] == max(values[12:18])


def test_daily_buckets_align_to_local_midnight(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    # 23:30 local on the 24th and 00:30 local on the 25th fall on the same UTC day, not the same local day.
    insert_observations(
        db,
        [
            (sid, WATER_LEVEL, DAY - timedelta(minutes=30), 1.0, 0, 0),
            (sid, WATER_LEVEL, DAY + timedelta(minutes=30), 3.0, 0, 0),
        ],
    )
    body = series(api, code, start="2021-07-24", end="2021-07-26", bucket="1d")
    assert body["bucket"] == 86400
    assert times(body["points"]) == [DAY - timedelta(days=1), DAY]
    assert [p[1] for p in body["points"]] == [1.0, 3.0]


def test_rainfall_buckets_are_sums_labelled_by_bucket_end(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "rain")
    # Readings 00:05 .. 03:00 every 5 minutes; multiples of 0.5 mm so the sums are exact.
    values = [0.5 * ((i * 7) % 11) for i in range(36)]
    insert_observations(db, readings(sid, RAINFALL, DAY + timedelta(minutes=5), timedelta(minutes=5), values))

    body = series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T03:00:00", bucket="1h")
    assert body["metric"] == "rainfall" and body["aggregate"] == "sum"
    assert body["columns"] == ["bucket_end", "sum", "count"]
    # The bucket ending 01:00 holds 00:05 .. 01:00 (the reading at 01:00 is the rain of 00:55-01:00).
    assert [(datetime.fromisoformat(p[0]), p[1], p[2]) for p in body["points"]] == [
        (DAY + timedelta(hours=1), sum(values[0:12]), 12),
        (DAY + timedelta(hours=2), sum(values[12:24]), 12),
        (DAY + timedelta(hours=3), sum(values[24:36]), 12),
    ]

    # 3-hour total, and a 30-minute view with a reading exactly on each boundary.
    total = series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T03:00:00", bucket="3h")
    assert [(datetime.fromisoformat(p[0]), p[1]) for p in total["points"]] == [(DAY + timedelta(hours=3), sum(values))]
    half = series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T01:00:00", bucket="30m")
    assert [(datetime.fromisoformat(p[0]), p[1], p[2]) for p in half["points"]] == [
        (DAY + timedelta(minutes=30), sum(values[0:6]), 6),
        (DAY + timedelta(hours=1), sum(values[6:12]), 6),
    ]


def test_bucket_spellings(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    insert_observations(db, readings(sid, WATER_LEVEL, DAY, timedelta(minutes=10), [1.0] * 12))
    for text, seconds in [
        ("1h", 3600),
        ("60min", 3600),
        ("PT1H", 3600),
        ("3600s", 3600),
        ("1d", 86400),
        (" 15m ", 900),
        ("1m", 60),
    ]:
        body = series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T02:00:00", bucket=text)
        assert body["bucket"] == seconds, text
        assert sum(p[4] for p in body["points"]) == 12
    assert series(api, code, start="2021-07-25T00:00:00", end="2021-07-25T02:00:00", bucket="raw")["bucket"] is None


# --------------------------------------------------------------------------------------------
# times and time zones


def test_naive_times_are_county_local_and_offsets_are_honoured(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    noon = DAY + timedelta(hours=12)
    insert_observations(
        db, readings(sid, WATER_LEVEL, noon - timedelta(hours=1), timedelta(minutes=30), [1.0, 2.0, 3.0, 4.0, 5.0])
    )  # 11:00 .. 13:00 local
    spellings = [
        ("2021-07-25T12:00:00", "2021-07-25T13:00:00"),  # naive: Asia/Shanghai
        ("2021-07-25 12:00", "2021-07-25 13:00"),  # space instead of T
        ("2021-07-25T04:00:00Z", "2021-07-25T05:00:00Z"),
        ("2021-07-25T04:00:00+00:00", "2021-07-25T05:00:00+00:00"),
        ("2021-07-24T23:00:00-05:00", "2021-07-25T00:00:00-05:00"),
    ]
    for start, end in spellings:
        body = series(api, code, start=start, end=end)
        assert [p[1] for p in body["points"]] == [3.0, 4.0], (start, end)
        assert datetime.fromisoformat(body["start"]) == noon


def test_unencoded_plus_offset_arrives_as_space_and_still_works(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    noon = DAY + timedelta(hours=12)
    insert_observations(
        db, readings(sid, WATER_LEVEL, noon - timedelta(hours=1), timedelta(minutes=30), [1.0, 2.0, 3.0, 4.0, 5.0])
    )
    for start, end in [
        ("2021-07-25T12:00:00+08:00", "2021-07-25T13:00:00+08:00"),
        ("2021-07-25T12:00:00+0800", "2021-07-25T13:00:00+0800"),
        ("2021-07-25 12:00:00+08:00", "2021-07-25 13:00:00+08:00"),
        ("2021-07-25T12:00+08", "2021-07-25T13:00+08"),
        ("2021-07-25T04:00:00.000+00:00", "2021-07-25T05:00:00.000+00:00"),
    ]:
        # A raw query string: '+' is not percent-encoded, so the server decodes it as a space.
        response = api.get(f"/api/v1/stations/{code}/series?start={start}&end={end}")
        assert response.status_code == 200, (start, response.text)
        body = response.json()
        assert [p[1] for p in body["points"]] == [3.0, 4.0], start
        assert datetime.fromisoformat(body["start"]) == noon
        assert datetime.fromisoformat(body["end"]) == noon + timedelta(hours=1)
    # The same offset properly encoded (%2B) is of course fine too.
    body = series(api, code, start="2021-07-25T12:00:00+08:00", end="2021-07-25T13:00:00+08:00")
    assert [p[1] for p in body["points"]] == [3.0, 4.0]


# --------------------------------------------------------------------------------------------
# errors: always a clear 4xx JSON, never a 500


def test_unknown_station_is_404(api: httpx.Client) -> None:
    body = assert_error(api.get("/api/v1/stations/ZZ999999/series"), 404, "unknown_station")
    assert "ZZ999999" in body["message"]
    assert_error(api.get("/api/v1/stations/no%00such/series"), 404, "unknown_station")
    assert_error(api.get("/api/v1/stations/%E7%9F%B3%E6%B5%A6/series"), 404, "unknown_station")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"metric": "humidity"}, "humidity"),
        ({"metric": "water\x00level"}, "metric"),
        ({"start": "2021-07-26T00:00:00", "end": "2021-07-25T00:00:00"}, "start"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-25T00:00:00"}, "start"),
        ({"start": "2020-07-23T23:59:59", "end": "2021-07-25T00:00:00"}, "366"),  # 366 days and 1 s
        ({"start": "2999-01-01T00:00:00"}, "start"),  # after "now" (the default end)
        ({"start": "2021-07-25T00:00:00"}, "366"),  # to "now": far more than 366 days
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "hourly"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "30s"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "0m"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "-PT1H"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "32d"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "99999999999999d"}, "bucket"),
        ({"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00", "bucket": "9" * 5000 + "h"}, "bucket"),
        ({"start": "2021-13-45"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2021-07-25T25:00:00"}, "end"),
        ({"end": "2021-07-25T12:00:00+25:00"}, "end"),
        ({"end": "0001-01-01T00:00:00"}, "end"),  # no room for the default 24 h
        ({"start": "2021-07-25\x00"}, "start"),
        ({"drill": "-1"}, "drill"),
        ({"drill": "abc"}, "drill"),
        ({"drill": "9" * 30}, "drill"),
        ({"drill": str(2**31)}, "drill"),
    ],
)
def test_bad_series_query_is_400(
    api: httpx.Client, db: psycopg.Connection, params: dict[str, str], needle: str | None
) -> None:
    _, code = station(db, "river")
    body = assert_error(api.get(f"/api/v1/stations/{code}/series", params=params), 400)
    if needle is not None:
        assert needle in body["message"], body


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00", "0001-01-01T12:00:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00-12:00"),
        ("9999-12-31T00:00:00", "9999-12-31T23:59:59.999999"),
        ("9999-12-31T00:00:00-12:00", "9999-12-31T23:59:59-12:00"),
    ],
)
def test_extreme_but_valid_times_are_not_errors(
    api: httpx.Client, db: psycopg.Connection, start: str, end: str
) -> None:
    _, code = station(db, "rain")
    assert series(api, code, start=start, end=end)["points"] == []
    assert series(api, code, start=start, end=end, bucket="1h")["points"] == []


def test_too_many_raw_points_asks_for_a_bucket(api: httpx.Client, db: psycopg.Connection) -> None:
    sid, code = station(db, "river")
    step = timedelta(milliseconds=500)
    db.execute("SELECT ensure_observation_partitions('2021-07-24', '2021-07-26')")
    db.execute(
        f"INSERT INTO observations ({SERIES_COLUMNS})"
        " SELECT %s, %s, %s + i * %s, 1.0, 0, 0 FROM generate_series(0, %s) AS i",
        (sid, WATER_LEVEL, DAY, step, MAX_RAW_POINTS),
    )
    params = {"start": "2021-07-25T00:00:00", "end": "2021-07-26T00:00:00"}
    body = assert_error(api.get(f"/api/v1/stations/{code}/series", params=params), 400, "invalid_query")
    assert "bucket" in body["message"]
    # Exactly the limit is still served raw, and a bucket serves the whole range.
    last = (DAY + MAX_RAW_POINTS * step).isoformat()
    assert len(series(api, code, start=params["start"], end=last)["points"]) == MAX_RAW_POINTS
    hourly = series(api, code, **params, bucket="1h")
    assert sum(p[4] for p in hourly["points"]) == MAX_RAW_POINTS + 1


# --------------------------------------------------------------------------------------------
# drills


def test_drill_readings_stay_out_of_the_live_series(api: httpx.Client, db: psycopg.Connection) -> None:
    db.execute("INSERT INTO drills (id, name) VALUES (5, 'test')")
    sid, code = station(db, "rain")
    live = readings(sid, RAINFALL, DAY + timedelta(minutes=5), timedelta(minutes=5), [1.0] * 12)
    drill = readings(sid, RAINFALL, DAY + timedelta(minutes=5), timedelta(minutes=5), [20.0] * 12, drill=5)
    drill += readings(sid, RAINFALL, DAY + timedelta(hours=1, minutes=5), timedelta(minutes=5), [30.0] * 12, drill=5)
    insert_observations(db, live + drill)
    window = {"start": "2021-07-25T00:00:00", "end": "2021-07-25T02:00:00"}

    assert [p[1] for p in series(api, code, **window)["points"]] == [1.0] * 12
    assert [p[1] for p in series(api, code, **window, drill=0)["points"]] == [1.0] * 12
    # Raw points are [start, end): the drill's reading at 02:00 is outside; its rain bucket (01:00, 02:00] is not.
    assert [p[1] for p in series(api, code, **window, drill=5)["points"]] == [20.0] * 12 + [30.0] * 11
    assert [p[1] for p in series(api, code, **window, bucket="1h")["points"]] == [12.0]
    assert [p[1] for p in series(api, code, **window, bucket="1h", drill=5)["points"]] == [240.0, 360.0]
    assert series(api, code, **window, drill=6)["points"] == []


def test_a_bug_is_a_json_500_without_details(api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "stations_geojson", broken)  # the server runs in this process
    body = assert_error(api.get("/api/v1/stations"), 500, "internal_error")
    assert "secret" not in body["message"]


# --------------------------------------------------------------------------------------------
# database trouble


def test_lost_database_connections_are_replaced_before_a_request_gets_one(
    api: httpx.Client, db: psycopg.Connection
) -> None:
    """The pool checks a connection as it hands it out (floodctl.core.db.check_and_sweep): a request after the
    server dropped every session (a restart, an admin) gets a fresh one, not a 503."""
    assert api.get("/api/v1/stations", params={"kind": "tide"}).status_code == 200
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    statuses = []
    for _ in range(5):
        response = api.get("/api/v1/stations", params={"kind": "tide"})
        statuses.append(response.status_code)
        if response.status_code != 200:
            assert_error(response, 503, "service_unavailable")
    assert statuses == [200] * 5, statuses


def test_request_connection_is_released_before_the_response(api_settings: Settings) -> None:
    """The pooled connection's transaction must end before the response is sent (FastAPI's default for
    yield dependencies is after it: a failing commit would go unreported behind a 200, and a connection
    lost in between turned into a dropped HTTP connection instead of a 503 in
    test_lost_database_connections_are_replaced_before_a_request_gets_one)."""
    app = create_app(api_settings, "postgresql://unused@127.0.0.1:1/unused")  # routes only, never started
    scopes = {
        (route.path, dep.call.__name__): dep.scope
        for route in api_routes(app.routes)
        for dep in route.dependant.dependencies
        if inspect.isgeneratorfunction(dep.call)
    }
    assert scopes and set(scopes.values()) == {"function"}, scopes
