"""In production the wall and the API need a login, and phone numbers are masked for roles that do not
call people (issue 12, item 9). A production-mode app over a real server and the sample county."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from floodctl.api.app import create_app
from floodctl.auth import store
from floodctl.core.settings import Settings

PASSWORD = "correct horse battery"
TOWN = "330225100"  # 石浦镇
FULL_PHONE = re.compile(r"1[3-9]\d{9}")
MASKED_PHONE = re.compile(r"^(\+86)?1[3-9]\d\*{4}\d{4}$")
PRODUCTION: dict[str, Any] = dict(
    environment="production",
    secret_key="s" * 40,
    mqtt_url="mqtt://127.0.0.1:1883",
    public_url="https://floodctl.county.invalid",
    sms_base_url="https://sms.invalid",
    sms_auth_token="live-provider-token-" + "a" * 20,
    drill_sms_base_url="https://drill-sms.invalid",
    drill_sms_auth_token="drill-provider-token-" + "b" * 20,
    _env_file=None,
)


@pytest.fixture
def production(
    database_url: str, serve_app: Callable[[object], AbstractContextManager[str]], tmp_path: Path
) -> Iterator[str]:
    settings = Settings(**(PRODUCTION | {"database_url": database_url, "data_dir": tmp_path / "var"}))
    with psycopg.connect(database_url) as conn:
        for name, roles, town in (
            ("viewer1", ["viewer"], None),
            ("insp", ["inspector"], None),
            ("duty", ["duty_officer"], None),
            ("chief", ["commander"], None),
            ("shipu", ["town_officer"], TOWN),
            ("danxi", ["town_officer"], "330225001"),
            ("norole", [], None),
        ):
            store.create_user(conn, name, PASSWORD, roles=roles, town=town, actor="test")
    with serve_app(create_app(settings, database_url)) as base:
        yield base


@contextmanager
def client(base: str, name: str | None = None) -> Iterator[httpx.Client]:
    """An httpx client (keeping cookies like a browser); logged in as ``name`` (bearer) when given."""
    with httpx.Client(base_url=base, timeout=30) as http:
        if name is not None:
            r = http.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield http


def test_anonymous_reads_need_a_login_in_production(production: str) -> None:
    with client(production) as anonymous:
        for path in (
            "/api/v1/stations",
            "/api/v1/layers/roster",
            "/api/v1/layers",
            "/api/v1/orders",
            "/api/v1/warnings",
            "/api/v1/map/export",
            "/api/v1/response-level",
            "/api/v1/reports",
            "/api/v1/consultations",
            "/api/v1/stations/63000100/series",
        ):
            r = anonymous.get(path)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text)
        wall = anonymous.get("/wall/")
        assert wall.status_code == 401 and "登录" in wall.text and "Log in" in wall.text
        assert "13900000" not in wall.text
        for path in ("/wall/_dash-layout", "/wall/_dash-dependencies", "/wall/pulse.json", "/wall/stations.geojson"):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.post("/wall/_dash-update-component", json={}).status_code == 401


def test_a_logged_in_browser_sees_the_wall_by_its_session_cookie(production: str) -> None:
    with client(production) as browser:
        r = browser.post("/api/v1/auth/token", data={"username": "viewer1", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
        # The test server is plain http: send the cookie as a browser would over https.
        browser.cookies.set("floodctl_session", r.json()["access_token"])
        page = browser.get("/wall/")
        assert page.status_code == 200 and "_dash-config" in page.text, page.text[:300]
        assert browser.get("/wall/_dash-layout").status_code == 200
        # The wall's download link (a navigation) works with the cookie alone; the rest of the API stays
        # bearer-only, and a change never rides on the cookie.
        assert browser.get("/api/v1/map/export").status_code == 200
        assert browser.get("/api/v1/stations").status_code == 401
        denied = browser.post("/api/v1/response-level", json={"level": "IV", "reason": "cookie only"})
        assert denied.status_code == 401
        # Logging out drops the cookie.
        out = browser.delete("/api/v1/auth/session")
        assert out.status_code == 204 and "floodctl_session" in out.headers.get("set-cookie", "")
    with client(production) as stranger:
        stranger.cookies.set("floodctl_session", "not-a-token")
        assert stranger.get("/wall/").status_code == 401
        assert stranger.get("/api/v1/map/export").status_code == 401
    with client(production) as nobody:  # an account without a role: no wall either
        r = nobody.post("/api/v1/auth/token", data={"username": "norole", "password": PASSWORD})
        nobody.cookies.set("floodctl_session", r.json()["access_token"])
        assert nobody.get("/wall/").status_code == 401


def _roster_phones(http: httpx.Client) -> dict[str, list[str]]:
    r = http.get("/api/v1/layers/roster")
    assert r.status_code == 200, r.text
    return {
        entry["town"]: [entry[rank]["phone"] for rank in ("primary", "deputy", "superior")]
        for entry in r.json()["towns"]
    }


def test_roster_phones_are_masked_for_roles_that_do_not_call_people(production: str) -> None:
    for name in ("viewer1", "insp"):
        with client(production, name) as http:
            phones = _roster_phones(http)
        assert len(phones) == 18
        assert all(MASKED_PHONE.match(p) for ps in phones.values() for p in ps), phones
        assert phones[TOWN][0] == "139****0401"
    for name in ("duty", "chief"):
        with client(production, name) as http:
            phones = _roster_phones(http)
        assert all(FULL_PHONE.fullmatch(p) for ps in phones.values() for p in ps), phones
        assert phones[TOWN][0] == "13900000401"
    with client(production, "shipu") as http:  # a town officer: its own town in full, others masked
        phones = _roster_phones(http)
    assert phones[TOWN] == ["13900000401", "13900000402", "13900000403"]
    assert all(MASKED_PHONE.match(p) for town, ps in phones.items() if town != TOWN for p in ps)


def test_order_deliveries_are_masked_for_a_viewer(production: str) -> None:
    with client(production, "duty") as duty, client(production, "chief") as chief:
        draft = duty.post(
            "/api/v1/orders",
            json={"hazard": "typhoon", "level": "orange", "towns": [TOWN, "330225001"], "channels": ["sms"]},
        )
        assert draft.status_code == 201, draft.text
        order_id = draft.json()["id"]
        assert chief.post(f"/api/v1/orders/{order_id}/approve").status_code == 200
        full = duty.get(f"/api/v1/orders/{order_id}").json()
    sms = [d for d in full["deliveries"] if d["channel"] == "sms"]
    assert sms and all(FULL_PHONE.search(d["address"]) for d in sms)
    assert "+8613900000401" in {d["address"] for d in sms}
    with client(production, "viewer1") as viewer:
        seen = viewer.get(f"/api/v1/orders/{order_id}")
    assert seen.status_code == 200
    assert not FULL_PHONE.search(seen.text), "a viewer sees a full phone number"
    masked = {d["address"] for d in seen.json()["deliveries"] if d["channel"] == "sms"}
    assert "+86139****0401" in masked and all(MASKED_PHONE.match(a) for a in masked)
    with client(production, "shipu") as officer:
        own = officer.get(f"/api/v1/orders/{order_id}").json()
    by_town = {(d["town_code"], d["address"]) for d in own["deliveries"] if d["channel"] == "sms"}
    assert (TOWN, "+8613900000401") in by_town
    assert all(MASKED_PHONE.match(a) for town, a in by_town if town != TOWN)
