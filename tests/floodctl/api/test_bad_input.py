"""Bad input at the HTTP boundary gets a clear 4xx, never a 500 (issue 12, item 10): non-ASCII in a
webhook signature header or a bearer token, NUL in a login name or anywhere a text reaches the database,
a year-1 time in a map export (HTTP and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from floodctl.core.settings import Settings


@pytest.fixture
def api(
    settings: Settings, database_url: str, serve_api: Callable[..., AbstractContextManager[httpx.Client]]
) -> Iterator[httpx.Client]:
    with serve_api(settings, database_url) as http:
        yield http


def assert_clear_4xx(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] != "internal_error" and body["message"], body
    for word in words:
        assert word in body["message"], body


def test_non_ascii_signature_header_is_a_403(api: httpx.Client) -> None:
    form = {
        "content": "From=%2B8613900000401&Body=1",
        "headers": {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "签名签名".encode()},
    }
    for path in ("/api/v1/hooks/sms/inbound", "/api/v1/hooks/sms/status"):
        assert_clear_4xx(api.post(path, **form), 403, "X-Twilio-Signature")
    latin = {**form, "headers": {**form["headers"], "X-Twilio-Signature": b"\xe9\xff=="}}
    assert_clear_4xx(api.post("/api/v1/hooks/sms/inbound", **latin), 403, "X-Twilio-Signature")


def test_non_ascii_link_token_is_an_invalid_link(api: httpx.Client) -> None:
    for token in ("令牌.签名", "abc.d\u00e9f", "x" * 10 + ".ü"):
        response = api.get(f"/a/{token}")
        assert response.status_code == 404 and "链接无效" in response.text, response.text
        assert (
            api.post(
                f"/a/{token}", content="action=ack", headers={"Content-Type": "application/x-www-form-urlencoded"}
            ).status_code
            == 404
        )


def test_non_ascii_bearer_token_is_a_401(api: httpx.Client) -> None:
    for token in ("令牌".encode(), b"eyJ\xe9.\xff.\x80", b"a.b.c" + "ü".encode()):
        response = api.get("/api/v1/auth/me", headers={"Authorization": b"Bearer " + token})
        assert_clear_4xx(response, 401, "access token")
        assert_clear_4xx(api.get("/api/v1/stations", headers={"Authorization": b"Bearer " + token}), 401)


def test_nul_in_a_login_name_or_password_is_a_400(api: httpx.Client) -> None:
    for form in (
        {"username": "chief\x00", "password": "correct horse battery"},
        {"username": "\x00", "password": "x"},
        {"username": "chief", "password": "pass\x00word"},
    ):
        assert_clear_4xx(api.post("/api/v1/auth/token", data=form), 400, "NUL")


def test_nul_in_a_query_or_body_text_is_a_400(api: httpx.Client, account_headers, database_url: str) -> None:  # type: ignore[no-untyped-def]
    admin = account_headers(api, database_url, "root", "admin")
    assert_clear_4xx(api.get("/api/v1/stations/ab%00cd/series", headers=admin), 404, "no station")
    assert_clear_4xx(api.post("/api/v1/orders/1/towns/33%00/ack", headers=admin), 400, "NUL")
    assert_clear_4xx(api.get("/api/v1/warnings", params={"category": "flood\x00"}, headers=admin), 400, "NUL")
    assert_clear_4xx(
        api.post("/api/v1/response-level", headers=admin, json={"level": "IV", "reason": "storm\x00surge"}), 400, "NUL"
    )


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1000-06-01T00:00:00+08:00"],
)
def test_map_export_at_an_absurd_time_is_a_400(api: httpx.Client, at: str) -> None:
    assert_clear_4xx(api.get("/api/v1/map/export", params={"at": at}), 400, "at")


def test_map_export_of_a_drill_whose_readings_are_dated_year_one_is_a_400(api: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    # A station clock reset to year 1 during a drill: the drill's clock (its newest reading) is then year 1.
    drill = db.execute("INSERT INTO drills (name) VALUES ('reset clock') RETURNING id").fetchone()[0]
    db.execute(
        "INSERT INTO latest_values (station_id, metric_id, drill_id, ts, value) "
        "SELECT (SELECT min(id) FROM stations), (SELECT min(id) FROM metrics), %s, "
        "'0001-01-01T00:00:00Z', 1.0",
        (drill,),
    )
    assert_clear_4xx(api.get("/api/v1/map/export", params={"drill": drill}), 400, "drill's clock")


def test_map_export_cli_at_year_one_is_one_line(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
        "FLOOD_DATABASE_URL": database_url,
        "FLOOD_DATA_DIR": str(tmp_path / "var"),
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "floodctl",
            "map",
            "export",
            "--at",
            "0001-01-01T00:00:00Z",
            "--out",
            str(tmp_path / "map.html"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--at" in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "map.html").exists()
