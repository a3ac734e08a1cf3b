"""Consultations (会商) through a real uvicorn server serving the whole API app, against a real database holding
the sample county: start, attendees, snapshots of what the wall shows, decisions through the ordinary routes'
code (response level, order approval) with one audit trail, close, and the briefing in zh/en, Markdown/HTML.

One server and one database serve the module; every test starts from the template's state (``clean``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
from lxml import html as lxml_html
from psycopg.rows import dict_row

from alerts import orders
from dashboard import briefing
from dashboard.routes.consult import Attendee, Consultation, ConsultationList, DecisionResult, Snapshot
from floodctl.api.app import create_app
from floodctl.core.settings import Settings
from floodctl.domain.metrics import METRICS

CST = timezone(timedelta(hours=8))
TYPHOON_DAY = datetime(2021, 7, 25, 12, tzinfo=CST)  # 台汛期: the typhoon-season flood limit applies
WATER_LEVEL, RAINFALL = METRICS["water_level"].id, METRICS["rainfall"].id
RIVER = "70101001"  # 西溪丹西水位站: WRZ 18.57, GRZ 19.34
RESERVOIR = "70201001"  # 燕山水库: FSLTDZ 193.88 in the typhoon season
TOWN, OTHER_TOWN = "330225001", "330225003"  # 丹西街道, 爵溪街道
DRILL = 7
HQ_NAME = "象山县防汛防台抗旱指挥部"
CONSULTATION_TABLES = ("consultation_decisions", "consultation_snapshots", "consultation_attendees", "consultations")
# Attributes through which a page could pull something in or send the reader elsewhere.
REFERENCE_ATTRIBUTES = {
    "src",
    "href",
    "srcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "ping",
    "xlink:href",
    "manifest",
    "codebase",
    "cite",
    "longdesc",
}


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def consult_database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with clone_database("consult") as url:
        yield url


@pytest.fixture(scope="module")
def consult_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("var"),
        ingest_metrics_port=0,
        timezone="Asia/Shanghai",
        hq_name=HQ_NAME,
        anonymous_read=False,
        _env_file=None,
    )


@pytest.fixture(scope="module")
def server(consult_settings: Settings, consult_database_url: str, serve_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with serve_app(create_app(consult_settings, consult_database_url)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def who(
    http: httpx.Client,
    consult_database_url: str,
    account_headers: Callable[..., dict[str, str]],
) -> dict[str, dict[str, str]]:
    """Authorization headers by account: chief (commander), duty (duty officer), guest (viewer)."""
    return {
        "chief": account_headers(http, consult_database_url, "chief", "commander"),
        "duty": account_headers(http, consult_database_url, "duty", "duty_officer"),
        "guest": account_headers(http, consult_database_url, "guest", "viewer"),
    }


@pytest.fixture
def db(consult_database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(consult_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def clean(db: psycopg.Connection) -> None:
    for table in CONSULTATION_TABLES:
        db.execute(f"DELETE FROM {table}")
    for table in (
        "deliveries",
        "ack_links",
        "order_events",
        "order_towns",
        "order_warnings",
        "orders",
        "reports",
        "warnings",
        "response_levels",
        "observations",
        "latest_values",
        "device_status_latest",
    ):
        db.execute(f"DELETE FROM {table}")
    if scalar(db.execute("SELECT to_regclass('drill_clock')").fetchone()) is not None:  # written by ingest
        db.execute("DELETE FROM drill_clock")
    db.execute("DELETE FROM drills WHERE id <> 0")
    db.execute("DELETE FROM audit_log WHERE split_part(action, '.', 1) IN ('consultation', 'response_level', 'order')")


def scalar(row: tuple[Any, ...] | None) -> Any:
    """The one value of a row the test knows is there."""
    assert row is not None
    return row[0]


def station_id(db: psycopg.Connection, code: str) -> int:
    row = db.execute("SELECT id FROM stations WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return int(row[0])


def add_readings(
    db: psycopg.Connection, code: str, metric: int, end: datetime, values: list[float], drill: int = 0
) -> None:
    """Five-minute readings ending at ``end`` and the station's latest value."""
    sid = station_id(db, code)
    step = timedelta(minutes=5)
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


def add_warning(db: psycopg.Connection, subject: str, level: str, *, drill: int = 0) -> int:
    row = db.execute(
        "INSERT INTO warnings (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state, level, "
        "raised_at, last_seen, value, threshold, message_zh, message_en) VALUES (%s, %s, 'station', %s, %s, 'flood', "
        "'river_flood', 'active', %s, %s, %s, 18.9, 18.57, %s, %s) RETURNING id",
        (
            f"river-{level}-{uuid.uuid4().hex[:6]}",
            subject,
            TOWN,
            drill,
            level,
            TYPHOON_DAY,
            TYPHOON_DAY,
            "西溪丹西水位站超警戒水位0.33米",
            "Xixi Danxi above warning level by 0.33 m",
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_drill(db: psycopg.Connection, drill: int = DRILL, name: str = "烟花 replay") -> None:
    db.execute("INSERT INTO drills (id, name, scenario) VALUES (%s, %s, 'in-fa-2106')", (drill, name))


def draft_order(database_url: str, settings: Settings, *, drill: int, towns: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        order_id = orders.draft(
            conn,
            orders.OrderRequest(hazard="typhoon", towns=towns, level="orange", drill_id=drill, channels=["sms"]),
            actor="duty",
            settings=settings,
        )
    assert order_id is not None
    return order_id


def post(
    http: httpx.Client, path: str, headers: dict[str, str], body: dict[str, Any] | None = None, status: int = 201
) -> dict[str, Any]:
    response = http.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def start(
    http: httpx.Client,
    headers: dict[str, str],
    title: str = "烟花台风防御会商",
    drill: int = DRILL,
) -> dict[str, Any]:
    return post(http, "/api/v1/consultations", headers, {"title": title, "drill_id": drill})


def audit_rows(db: psycopg.Connection, action: str) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, actor, action, subject, drill_id, details FROM audit_log WHERE action = %s ORDER BY id",
            (action,),
        ).fetchall()


def external_references(page: str) -> list[str]:
    """Everything in an HTML page through which it could load or link anything (there should be nothing)."""
    found = []
    for element in lxml_html.document_fromstring(page).iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in {
            "script",
            "img",
            "link",
            "iframe",
            "object",
            "embed",
            "video",
            "audio",
            "source",
            "a",
            "form",
            "base",
            "svg",
            "image",
        }:
            found.append(f"<{tag}>")
        found += [
            f"{tag}[{name}={value}]" for name, value in element.attrib.items() if name.lower() in REFERENCE_ATTRIBUTES
        ]
    found += [marker for marker in ("url(", "@import") if marker in page]
    return found


# --------------------------------------------------------------------------------------------
# the whole flow


def test_a_drill_consultation_from_start_to_briefing(
    http: httpx.Client,
    db: psycopg.Connection,
    who: dict[str, dict[str, str]],
    consult_database_url: str,
    consult_settings: Settings,
) -> None:
    add_drill(db)
    rain_station = scalar(db.execute("SELECT code FROM stations WHERE kind = 'rain' ORDER BY code LIMIT 1").fetchone())
    add_readings(db, rain_station, RAINFALL, TYPHOON_DAY, [10.0] * 12, drill=DRILL)  # 120 mm in the hour
    add_readings(db, RESERVOIR, WATER_LEVEL, TYPHOON_DAY, [194.10, 194.38], drill=DRILL)  # over 193.88
    add_readings(db, RIVER, WATER_LEVEL, TYPHOON_DAY, [18.70, 18.90], drill=DRILL)
    warning_id = add_warning(db, RIVER, "orange", drill=DRILL)
    add_warning(db, RIVER, "red", drill=0)  # live operations: not in the drill's snapshot
    order_id = draft_order(consult_database_url, consult_settings, drill=DRILL, towns=[TOWN, OTHER_TOWN])

    # Start (duty officer), attendees recorded by the host.
    consultation = start(http, who["duty"])
    Consultation.model_validate(consultation)  # each answer is what its route's response_model says
    cid = consultation["id"]
    assert consultation["state"] == "open" and consultation["started_by"] == "duty"
    assert consultation["drill_id"] == DRILL and consultation["decisions"] == []
    Attendee.model_validate(
        post(http, f"/api/v1/consultations/{cid}/attendees", who["duty"], {"name": "王水利", "unit": "县水利局"})
    )
    post(http, f"/api/v1/consultations/{cid}/attendees", who["duty"], {"name": "李气象", "unit": "县气象局"})
    again = post(http, f"/api/v1/consultations/{cid}/attendees", who["duty"], {"name": "王水利"}, status=409)
    assert "王水利" in again["message"]

    # A snapshot freezes what the wall shows in the drill, at the drill's clock.
    shot = post(http, f"/api/v1/consultations/{cid}/snapshots", who["duty"])
    Snapshot.model_validate(shot)
    assert datetime.fromisoformat(shot["at"]) == TYPHOON_DAY
    assert shot["summary"]["warnings_by_level"]["orange"] == 1 and shot["summary"]["response_level"] == "none"
    lean = http.get(f"/api/v1/consultations/{cid}", headers=who["guest"]).json()
    assert [a["name"] for a in lean["attendees"]] == ["王水利", "李气象"]
    assert lean["attendees"][0]["unit"] == "县水利局"
    assert len(lean["snapshots"]) == 1 and "payload" not in lean["snapshots"][0]
    full = http.get(f"/api/v1/consultations/{cid}", params={"full": 1}, headers=who["guest"]).json()
    Consultation.model_validate(lean), Consultation.model_validate(full)
    payload = full["snapshots"][0]["payload"]
    assert payload["drill_id"] == DRILL
    assert payload["warnings"]["by_level"] == {"blue": 0, "yellow": 0, "orange": 1, "red": 0}
    assert [w["id"] for w in payload["warnings"]["items"]] == [warning_id]  # not the live red one
    raised = payload["stations"]["raised"]
    assert {k: raised[0][k] for k in ("code", "level", "value")} == {"code": RIVER, "level": "orange", "value": 18.9}
    assert payload["stations"]["by_level"]["orange"] == 1 and payload["stations"]["by_level"]["red"] == 0
    assert payload["stations"]["total"] > 100  # the whole county, counted …
    assert "geometry" not in json.dumps(payload)  # … but not its GeoJSON
    assert payload["rain"]["1h"][0]["code"] == rain_station and payload["rain"]["1h"][0]["mm"] == 120
    assert [r["code"] for r in payload["reservoirs"]["items"]] == [RESERVOIR]
    assert payload["reservoirs"]["season"] is not None
    assert [(o["id"], o["status"]) for o in payload["orders"]] == [(order_id, "draft")]

    # Decision 1: the response level, through the ordinary route's code.
    level = post(
        http,
        f"/api/v1/consultations/{cid}/decisions",
        who["chief"],
        {
            "kind": "response_level",
            "level": "IV",
            "text": "启动防台风Ⅳ级应急响应",
            "reason": "台风烟花72小时内影响我县",
        },
    )
    assert level["response_level"]["level"] == "IV" and level["decision"]["decided_by"] == "chief"
    DecisionResult.model_validate(level)
    shown = http.get("/api/v1/response-level", params={"drill": DRILL}, headers=who["guest"]).json()
    assert shown["level"] == "IV" and shown["decided_by"] == "chief" and shown["reason"] == "台风烟花72小时内影响我县"
    assert http.get("/api/v1/response-level", headers=who["guest"]).json()["level"] == "none"  # live untouched
    set_rows = audit_rows(db, "response_level.set")
    assert len(set_rows) == 1 and set_rows[0]["drill_id"] == DRILL and set_rows[0]["actor"] == "chief"
    assert set_rows[0]["details"]["consultation_id"] == cid and set_rows[0]["details"]["to"] == "IV"
    decide_rows = audit_rows(db, "consultation.decide")
    assert [r["id"] for r in decide_rows] == [level["decision"]["audit_id"]]
    assert decide_rows[0]["subject"] == f"consultation:{cid}" and decide_rows[0]["details"]["level"] == "IV"
    joined = db.execute(
        "SELECT rl.level, a.actor FROM consultation_decisions d JOIN response_levels rl ON rl.id = d.response_level_id "
        "JOIN audit_log a ON a.id = d.audit_id WHERE d.consultation_id = %s",
        (cid,),
    ).fetchall()
    assert joined == [("IV", "chief")]

    # Decision 2: approve the draft, exactly as POST /orders/{id}/approve does.
    approval = post(
        http,
        f"/api/v1/consultations/{cid}/decisions",
        who["chief"],
        {"kind": "approve_order", "order_id": order_id, "text": "同意下达"},
    )
    assert approval["order"]["status"] == "approved" and approval["order"]["approved_by"] == "chief"
    DecisionResult.model_validate(approval)
    order = http.get(f"/api/v1/orders/{order_id}", headers=who["guest"]).json()
    assert order["status"] == "approved" and {t["town_code"] for t in order["towns_status"]} == {TOWN, OTHER_TOWN}
    assert [r["subject"] for r in audit_rows(db, "order.approve")] == [f"order:{order_id}"]
    assert audit_rows(db, "consultation.decide")[-1]["details"]["order_id"] == order_id

    # Decision 3: a note (duty officer may).
    post(
        http,
        f"/api/v1/consultations/{cid}/decisions",
        who["duty"],
        {"kind": "note", "text": "请各乡镇今晚20时前完成危险区域人员转移"},
    )

    # One town does not answer; a second snapshot shows it as 未叫应.
    db.execute(
        "UPDATE order_towns SET state = 'unreached' WHERE order_id = %s AND town_code = %s", (order_id, OTHER_TOWN)
    )
    post(http, f"/api/v1/consultations/{cid}/snapshots", who["chief"])

    closed = post(http, f"/api/v1/consultations/{cid}/close", who["chief"], {"notes": "继续加强监测"}, status=200)
    assert closed["state"] == "closed" and closed["ended_by"] == "chief" and closed["notes"] == "继续加强监测"
    Consultation.model_validate(closed)
    ConsultationList.model_validate(
        http.get("/api/v1/consultations", params={"drill": DRILL}, headers=who["guest"]).json()
    )
    assert [d["kind"] for d in closed["decisions"]] == ["response_level", "approve_order", "note"]
    assert closed["decisions"][1]["order_no"] == order["order_no"]
    actions = db.execute("SELECT action FROM audit_log WHERE subject = %s ORDER BY id", (f"consultation:{cid}",))
    assert [a for (a,) in actions] == [
        "consultation.start",
        "consultation.attendee",
        "consultation.attendee",
        "consultation.snapshot",
        "consultation.decide",
        "consultation.decide",
        "consultation.decide",
        "consultation.snapshot",
        "consultation.close",
    ]

    # The briefing, zh by default.
    response = http.get(f"/api/v1/consultations/{cid}/briefing", params={"format": "md"}, headers=who["guest"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    zh = response.text.replace("\\", "")
    assert zh.startswith(f"# 【演练】{HQ_NAME} 会商简报")
    assert "烟花台风防御会商" in zh and "王水利（县水利局）" in zh and "李气象（县气象局）" in zh
    assert "县应急响应调整为 Ⅳ级（一般）（理由：台风烟花72小时内影响我县）" in zh
    assert f"批准下达指令 {order['order_no']}" in zh and "请各乡镇今晚20时前完成危险区域人员转移" in zh
    assert zh.index("县应急响应调整为") < zh.index("批准下达指令") < zh.index("会商意见")
    assert "2021-07-25 12:00" in zh  # the drill clock, in Beijing time
    assert "爵溪街道" in zh and "未叫应" in zh and "燕山水库" in zh and "继续加强监测" in zh
    assert "西溪丹西水位站超警戒水位0.33米" in zh

    english = http.get(
        f"/api/v1/consultations/{cid}/briefing", params={"format": "md", "lang": "en"}, headers=who["guest"]
    ).text.replace("\\", "")
    town_en = scalar(db.execute("SELECT name_en FROM towns WHERE code = %s", (OTHER_TOWN,)).fetchone())
    assert "【演练】" in english and "DRILL #7" in english and "Consultation briefing" in english
    assert "County response set to Level IV (general)" in english and "Approved order" in english
    assert "Note: 请各乡镇今晚20时前完成危险区域人员转移" in english and town_en in english
    assert "Xixi Danxi above warning level by 0.33 m" in english and "会商简报" not in english

    page = http.get(f"/api/v1/consultations/{cid}/briefing", params={"lang": "en"}, headers=who["guest"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<html lang="en">' in page.text and "<table>" in page.text and "County response set to" in page.text
    assert external_references(page.text) == []


# --------------------------------------------------------------------------------------------
# roles, refusals


def test_level_and_approval_decisions_need_a_commander_like_their_routes(
    http: httpx.Client,
    db: psycopg.Connection,
    who: dict[str, dict[str, str]],
    consult_database_url: str,
    consult_settings: Settings,
) -> None:
    assert http.post("/api/v1/consultations", json={"title": "x"}).status_code == 401
    refused = post(http, "/api/v1/consultations", who["guest"], {"title": "x"}, status=403)
    assert "duty_officer or commander" in refused["message"]
    cid = start(http, who["duty"], "日常会商", drill=0)["id"]
    order_id = draft_order(consult_database_url, consult_settings, drill=0, towns=[TOWN])
    decisions = f"/api/v1/consultations/{cid}/decisions"

    for account in ("guest", "duty"):
        refused = post(
            http, decisions, who[account], {"kind": "response_level", "level": "II", "reason": "测试"}, status=403
        )
        assert "commander" in refused["message"]
        post(http, decisions, who[account], {"kind": "approve_order", "order_id": order_id}, status=403)
    post(http, decisions, who["guest"], {"kind": "note", "text": "旁听"}, status=403)
    post(http, f"/api/v1/consultations/{cid}/attendees", who["guest"], {"name": "某人"}, status=403)
    post(http, f"/api/v1/consultations/{cid}/snapshots", who["guest"], status=403)
    post(http, f"/api/v1/consultations/{cid}/close", who["guest"], status=403)
    assert http.get("/api/v1/response-level", headers=who["guest"]).json()["level"] == "none"
    assert http.get(f"/api/v1/orders/{order_id}", headers=who["guest"]).json()["status"] == "draft"
    assert http.get(f"/api/v1/consultations/{cid}", headers=who["guest"]).json()["decisions"] == []

    # The ordinary route keeps its rule and its audit entry (without a consultation).
    post(http, "/api/v1/response-level", who["duty"], {"level": "II", "reason": "测试"}, status=403)
    post(http, "/api/v1/response-level", who["chief"], {"level": "II", "reason": "  暴雨持续  "})
    row = audit_rows(db, "response_level.set")[-1]
    assert row["details"] == {"from": "none", "to": "II", "reason": "暴雨持续"} and row["actor"] == "chief"
    post(http, "/api/v1/response-level", who["chief"], {"level": "II", "reason": "  "}, status=400)


def test_a_closed_consultation_takes_nothing_more(
    http: httpx.Client, db: psycopg.Connection, who: dict[str, dict[str, str]]
) -> None:
    cid = start(http, who["duty"], "收尾会商", drill=0)["id"]
    post(http, f"/api/v1/consultations/{cid}/close", who["duty"], status=200)
    decisions = f"/api/v1/consultations/{cid}/decisions"
    refused = post(
        http, decisions, who["chief"], {"kind": "response_level", "level": "IV", "reason": "迟到的决定"}, status=409
    )
    assert "closed by duty" in refused["message"] and "start a new one" in refused["message"]
    post(http, decisions, who["chief"], {"kind": "note", "text": "补记"}, status=409)
    post(http, f"/api/v1/consultations/{cid}/attendees", who["duty"], {"name": "迟到者"}, status=409)
    post(http, f"/api/v1/consultations/{cid}/snapshots", who["duty"], status=409)
    post(http, f"/api/v1/consultations/{cid}/close", who["chief"], status=409)
    assert http.get("/api/v1/response-level", headers=who["guest"]).json()["level"] == "none"
    assert audit_rows(db, "response_level.set") == []
    shown = http.get(f"/api/v1/consultations/{cid}", headers=who["guest"]).json()
    assert shown["state"] == "closed" and shown["decisions"] == [] and shown["attendees"] == []


def test_unknown_foreign_and_approved_orders_are_refused(
    http: httpx.Client,
    db: psycopg.Connection,
    who: dict[str, dict[str, str]],
    consult_database_url: str,
    consult_settings: Settings,
) -> None:
    add_drill(db)
    cid = start(http, who["duty"])["id"]
    decisions = f"/api/v1/consultations/{cid}/decisions"
    missing = post(http, decisions, who["chief"], {"kind": "approve_order", "order_id": 987654}, status=404)
    assert "987654" in missing["message"]
    live_order = draft_order(consult_database_url, consult_settings, drill=0, towns=[TOWN])
    foreign = post(http, decisions, who["chief"], {"kind": "approve_order", "order_id": live_order}, status=400)
    assert "live operations" in foreign["message"] and f"drill {DRILL}" in foreign["message"]
    assert http.get(f"/api/v1/orders/{live_order}", headers=who["guest"]).json()["status"] == "draft"

    drill_order = draft_order(consult_database_url, consult_settings, drill=DRILL, towns=[TOWN])
    post(http, f"/api/v1/orders/{drill_order}/approve", who["chief"], status=200)
    already = post(http, decisions, who["chief"], {"kind": "approve_order", "order_id": drill_order}, status=409)
    assert "already approved" in already["message"]

    assert (
        "order_id is required" in post(http, decisions, who["chief"], {"kind": "approve_order"}, status=400)["message"]
    )
    assert (
        "level is required"
        in post(http, decisions, who["chief"], {"kind": "response_level", "reason": "x"}, status=400)["message"]
    )
    assert (
        "reason"
        in post(http, decisions, who["chief"], {"kind": "response_level", "level": "IV"}, status=400)["message"]
    )
    assert (
        "text is required" in post(http, decisions, who["duty"], {"kind": "note", "text": "  "}, status=400)["message"]
    )
    post(http, decisions, who["chief"], {"kind": "veto", "text": "x"}, status=400)
    post(http, "/api/v1/consultations/987654/decisions", who["chief"], {"kind": "note", "text": "x"}, status=404)
    assert http.get("/api/v1/consultations/987654", headers=who["guest"]).status_code == 404
    assert http.get(f"/api/v1/consultations/{cid}", headers=who["guest"]).json()["decisions"] == []
    assert audit_rows(db, "consultation.decide") == []
    post(http, "/api/v1/consultations", who["duty"], {"title": "无此演练", "drill_id": 99}, status=400)


def test_list_by_drill_and_state(http: httpx.Client, db: psycopg.Connection, who: dict[str, dict[str, str]]) -> None:
    add_drill(db)
    live = start(http, who["duty"], "实时会商", drill=0)["id"]
    drill_open = start(http, who["duty"], "演练会商一")["id"]
    drill_closed = start(http, who["duty"], "演练会商二")["id"]
    post(http, f"/api/v1/consultations/{drill_closed}/attendees", who["duty"], {"name": "王水利"})
    post(http, f"/api/v1/consultations/{drill_closed}/close", who["duty"], status=200)

    def ids(**params: Any) -> list[int]:
        response = http.get("/api/v1/consultations", params=params, headers=who["guest"])
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["consultations"]]

    assert ids() == [live]
    assert ids(drill=DRILL) == [drill_closed, drill_open]
    assert ids(drill=DRILL, state="open") == [drill_open]
    assert ids(drill=DRILL, state="closed") == [drill_closed]
    listed = http.get("/api/v1/consultations", params={"drill": DRILL, "state": "closed"}, headers=who["guest"]).json()
    assert listed["consultations"][0]["attendees"] == 1 and listed["consultations"][0]["decisions"] == 0
    assert http.get("/api/v1/consultations", params={"state": "paused"}, headers=who["guest"]).status_code == 400


# --------------------------------------------------------------------------------------------
# the briefing page


HOSTILE = (
    '<script>alert(1)</script> <img src="http://evil.example/x.png"> [x](https://evil.example) '
    "![i](//evil.example/i.png) <https://evil.example> &amp; | *bold* `code`"
)


def test_briefing_html_escapes_everything_and_refers_to_nothing_outside(
    http: httpx.Client, db: psycopg.Connection, who: dict[str, dict[str, str]]
) -> None:
    cid = start(http, who["duty"], "会商 " + HOSTILE, drill=0)["id"]
    post(
        http,
        f"/api/v1/consultations/{cid}/attendees",
        who["duty"],
        {"name": "某人<script>alert(1)</script>", "unit": HOSTILE},
    )
    post(http, f"/api/v1/consultations/{cid}/snapshots", who["duty"])
    post(http, f"/api/v1/consultations/{cid}/decisions", who["duty"], {"kind": "note", "text": HOSTILE})
    post(http, f"/api/v1/consultations/{cid}/close", who["duty"], {"notes": "1. " + HOSTILE}, status=200)

    for lang in ("zh", "en"):
        page = http.get(f"/api/v1/consultations/{cid}/briefing", params={"lang": lang}, headers=who["guest"]).text
        assert external_references(page) == [], lang
        assert "<script" not in page and "<img" not in page and "<strong>bold</strong>" not in page
        assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title, name, unit, note, notes…
        assert "[x](https://evil.example)" in page and "&amp;amp;" in page  # shown as typed, inert
        assert "【演练】" not in page  # live operations
        assert "<ol>" not in page.split("会商结论" if lang == "zh" else "Conclusions")[-1]  # notes are not a list
        document = lxml_html.document_fromstring(page)
        assert document.find(".//title") is not None and "<script>" in document.find(".//title").text


def test_briefing_is_a_pure_function_of_its_data() -> None:
    tz = timezone(timedelta(hours=8))
    consultation = {
        "id": 3,
        "drill_id": 0,
        "title": "防御*梅花*台风会商",
        "started_by": "chief",
        "started_at": datetime(2022, 9, 14, 1, 0, tzinfo=UTC),
        "ended_at": None,
        "ended_by": None,
        "notes": "",
        "attendees": [],
        "snapshots": [],
        "decisions": [
            {"kind": "note", "text": "关注 | 海塘", "decided_by": "duty", "decided_at": "2022-09-14T01:30:00+00:00"}
        ],
    }
    text = briefing.markdown(consultation, None, hq_name=HQ_NAME, tz=tz)
    assert text.startswith(f"# {HQ_NAME} 会商简报") and "【演练】" not in text
    assert "## 防御\\*梅花\\*台风会商" in text  # escaped: not emphasis
    assert "2022-09-14 09:00 — 进行中" in text  # the county's time zone
    assert "1. 2022-09-14 09:30 duty：会商意见：关注 \\| 海塘" in text
    assert "本次会商未留存态势快照。" in text and "未登记参会人员" in text
    english = briefing.markdown(
        consultation | {"drill_id": 2, "drill_name": "演练"}, None, hq_name="HQ", tz=tz, lang="en"
    )
    assert english.startswith("# 【演练】HQ Consultation briefing") and "No situation snapshot was taken." in english
    with pytest.raises(ValueError):
        briefing.markdown(consultation, None, hq_name=HQ_NAME, tz=tz, lang="fr")  # type: ignore[arg-type]
