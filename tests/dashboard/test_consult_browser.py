"""The consultation (会商) drawer and login on the wall (/wall/) in headless Chromium, against the whole app served
on 127.0.0.1 with a real database: a commander runs a consultation from start to briefing and the wall follows
its decisions; a duty officer acknowledges a warning on a drill's wall; refusals show the API's own message.

Ids and body classes are the ones dashboard/consult_panel.py documents. The `page` fixture fails a test on any
console error (unless marked) or any request leaving the machine, and keeps a screenshot.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerts import orders
from dashboard.consult_panel import t
from floodctl.api.app import create_app
from floodctl.auth import store
from floodctl.core.settings import Settings

PASSWORD = "wall consult password"
ACCOUNTS = {"chief": ("commander",), "duty": ("duty_officer",), "guest": ("viewer",)}
TOWN = "330225001"  # 丹西街道
RIVER = "70101001"  # 西溪丹西水位站
DRILL = 7
LOAD_TIMEOUT_MS = 30_000
WALL_FOLLOWS_MS = 5_000  # the wall shows a decision within this (its pulse is 1 s)
STEP_MS = 10_000  # one action through the API and the drawer's reload
# What Chromium logs for a fetch answered 401 or 403: the only console errors a refusal may cause.
REFUSED = re.compile(r"^Failed to load resource: the server responded with a status of 40[13]")


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def consult_ui_database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with clone_database("consultui") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for name, roles in ACCOUNTS.items():
                store.create_user(conn, name, PASSWORD, roles=roles, actor="test")
        yield url


@pytest.fixture(scope="module")
def consult_ui_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("var"), ingest_metrics_port=0, timezone="Asia/Shanghai", _env_file=None
    )


# Module-scoped, so it is up before and down after every test's `page` (whose teardown checks the console).
@pytest.fixture(scope="module")
def wall_url(consult_ui_settings: Settings, consult_ui_database_url: str, serve_app: Any) -> Iterator[str]:
    with serve_app(create_app(consult_ui_settings, consult_ui_database_url)) as base_url:
        yield base_url


@pytest.fixture
def db(consult_ui_database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(consult_ui_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def clean(db: psycopg.Connection) -> None:
    for table in (
        "consultation_decisions",
        "consultation_snapshots",
        "consultation_attendees",
        "consultations",
        "deliveries",
        "ack_links",
        "order_events",
        "order_towns",
        "order_warnings",
        "orders",
        "warning_events",
        "warnings",
        "response_levels",
    ):
        db.execute(f"DELETE FROM {table}")
    db.execute("DELETE FROM drills WHERE id <> 0")


def add_warning(db: psycopg.Connection, drill: int = 0) -> int:
    now = datetime.now(UTC)
    row = db.execute(
        "INSERT INTO warnings (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state, level, "
        "raised_at, last_seen, value, threshold, message_zh, message_en) VALUES ('river-level', %s, 'station', %s, "
        "%s, 'flood', 'river_flood', 'active', 'orange', %s, %s, 18.9, 18.57, '西溪丹西水位站超警戒水位0.33米', "
        "'Xixi Danxi above warning level by 0.33 m') RETURNING id",
        (RIVER, TOWN, drill, now - timedelta(minutes=10), now),
    ).fetchone()
    assert row is not None
    return int(row[0])


def draft_order(database_url: str, settings: Settings, drill: int = 0) -> int:
    with psycopg.connect(database_url) as conn:
        order_id = orders.draft(
            conn,
            orders.OrderRequest(hazard="typhoon", towns=[TOWN], level="orange", drill_id=drill, channels=["sms"]),
            actor="duty",
            settings=settings,
        )
    assert order_id is not None
    return order_id


def open_wall(page: Any, url: str) -> None:
    page.goto(url)
    # The scope line is written by the drawer's clientside callback: Dash has rendered and the script runs.
    page.wait_for_function(
        "document.getElementById('wall-consult-scope')?.textContent.length > 0", timeout=LOAD_TIMEOUT_MS
    )


def log_in(page: Any, name: str, password: str = PASSWORD) -> None:
    if not page.locator("#wall-consult").is_visible():
        page.click("#wall-consult-button")
    page.fill("#wall-login-name", name)
    page.fill("#wall-login-password", password)
    page.click("#wall-login-submit")


def text_of(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text())


def wait_text(page: Any, selector: str, text: str, timeout: int = STEP_MS) -> None:
    page.wait_for_function(
        "([s, x]) => (document.querySelector(s)?.textContent || '').includes(x)", arg=[selector, text], timeout=timeout
    )


# --------------------------------------------------------------------------------------------
# the commander's consultation


def test_a_commander_runs_a_consultation_and_the_wall_follows(
    wall_url: str,
    page: Any,
    page_log: Any,
    db: psycopg.Connection,
    consult_ui_database_url: str,
    consult_ui_settings: Settings,
) -> None:
    order_id = draft_order(consult_ui_database_url, consult_ui_settings)
    open_wall(page, wall_url + "/wall/")
    assert not page.locator("#wall-consult").is_visible()
    assert page.locator("#wall-response-level.resp-none").count() == 1

    log_in(page, "chief")
    page.wait_for_selector("body.logged-in.can-act.can-decide", timeout=STEP_MS)
    assert text_of(page, "#wall-login-user") == "chief（指挥长）"
    assert page.input_value("#wall-login-password") == ""
    assert page.evaluate("sessionStorage.getItem('floodctl.token')")
    assert page.context.cookies() == []

    title = "防御台风“烟花”会商"
    page.wait_for_selector("#wall-consult-start", state="visible", timeout=STEP_MS)
    assert text_of(page, "#wall-consult-scope") == t("zh", "scope_live")
    page.fill("#wall-consult-start-title", title)
    page.click("#wall-consult-start-submit")
    page.wait_for_selector("#wall-consult-current", state="visible", timeout=STEP_MS)
    assert text_of(page, "#wall-consult-title") == title
    assert "chief" in text_of(page, "#wall-consult-meta")
    assert page.locator("#wall-consult-start").is_hidden()

    page.fill("#wall-consult-attendee-name", "王水利")
    page.fill("#wall-consult-attendee-unit", "县水利局")
    page.press("#wall-consult-attendee-unit", "Enter")  # Enter submits the little form
    wait_text(page, "#wall-consult-attendees", "王水利")
    assert "县水利局" in text_of(page, "#wall-consult-attendees .wc-attendee")
    assert page.input_value("#wall-consult-attendee-name") == ""

    page.click("#wall-consult-snapshot")
    wait_text(page, "#wall-consult-snapshot-info", "已冻结 1 次")

    page.select_option("#wall-consult-level", "III")
    page.fill("#wall-consult-level-reason", "台风登陆，启动Ⅲ级响应")
    clicked = time.monotonic()
    page.click("#wall-consult-level-submit")
    page.wait_for_selector("#wall-response-level.resp-III", timeout=WALL_FOLLOWS_MS)
    print(f"the banner showed Ⅲ {time.monotonic() - clicked:.2f} s after the click")
    wait_text(page, "#wall-consult-decisions li[data-kind='response_level']", "台风登陆，启动Ⅲ级响应")
    assert "Ⅲ级" in text_of(page, "#wall-consult-decisions li[data-kind='response_level']")

    approve = page.locator(f"#wall-consult-orders .wc-order[data-id='{order_id}'] .wall-consult-approve")
    approve.wait_for(timeout=STEP_MS)
    clicked = time.monotonic()
    approve.click()
    page.wait_for_selector(
        f"#wall-orders .o-card[data-id='{order_id}'][data-status='approved']", timeout=WALL_FOLLOWS_MS
    )
    print(f"the order card showed approved {time.monotonic() - clicked:.2f} s after the click")
    wait_text(page, "#wall-consult-orders", t("zh", "no_orders"))
    wait_text(page, "#wall-consult-decisions li[data-kind='approve_order']", "批准指令")

    hostile = "<img src=x onerror=alert(1)> 请各乡镇20时前完成转移"
    page.fill("#wall-consult-note", hostile)
    page.click("#wall-consult-note-submit")
    wait_text(page, "#wall-consult-decisions li[data-kind='note']", hostile)  # shown as typed, inert
    assert page.locator("#wall-consult img").count() == 0

    with page.context.expect_page() as opened:
        page.click("#wall-consult-briefing")
    briefing = opened.value
    briefing.wait_for_url(re.compile(r"^blob:http://127\.0\.0\.1:\d+/"), timeout=STEP_MS)
    briefing.wait_for_load_state()
    body = briefing.inner_text("body")
    assert "会商简报" in body and title in body and "王水利" in body
    assert "县应急响应调整为 Ⅲ级" in body and "台风登陆，启动Ⅲ级响应" in body and "请各乡镇20时前完成转移" in body
    briefing.close()

    with page.expect_download() as downloaded:
        page.click("#wall-consult-briefing-md")
    markdown = Path(downloaded.value.path()).read_text(encoding="utf-8")
    assert downloaded.value.suggested_filename.endswith(".md")
    assert "会商简报" in markdown and "王水利" in markdown and "批准下达指令" in markdown

    confirmed: list[str] = []

    def accept(dialog: Any) -> None:
        confirmed.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#wall-consult-end")
    page.wait_for_selector("body:not(.consult-open) #wall-consult-last", state="visible", timeout=STEP_MS)
    assert confirmed and title in confirmed[0]
    assert text_of(page, "#wall-consult-last-title") == title
    page.wait_for_selector("#wall-consult-start", state="visible", timeout=STEP_MS)

    consultation = db.execute("SELECT id, state, started_by, ended_by, drill_id FROM consultations").fetchall()
    assert [row[1:] for row in consultation] == [("closed", "chief", "chief", 0)]
    kinds = db.execute("SELECT kind, decided_by FROM consultation_decisions ORDER BY id").fetchall()
    assert kinds == [("response_level", "chief"), ("approve_order", "chief"), ("note", "chief")]
    assert db.execute("SELECT status, approved_by FROM orders WHERE id = %s", (order_id,)).fetchone() == (
        "approved",
        "chief",
    )
    assert db.execute("SELECT count(*) FROM consultation_snapshots").fetchone() == (1,)

    # The language toggle relabels the drawer too, and the page says which language it is in.
    page.click("#wall-lang")
    page.wait_for_function("document.documentElement.lang === 'en'", timeout=STEP_MS)
    wait_text(page, "#wall-consult-start-submit", t("en", "start_submit"))
    assert t("en", "button") in text_of(page, "#wall-consult-button")
    assert text_of(page, "#wall-login-user") == "chief (commander)"
    assert page.get_attribute("#wall-consult-start-title", "placeholder") == t("en", "start_title")

    # The token went only into the Authorization header: never into a URL.
    assert not [url for url in page_log.requests if "token" in url.lower() and not url.endswith("/auth/token")]
    page.click("#wall-login-logout")
    page.wait_for_selector("body:not(.logged-in)", timeout=STEP_MS)
    assert page.evaluate("sessionStorage.getItem('floodctl.token')") is None


# --------------------------------------------------------------------------------------------
# the duty officer on a drill's wall


def test_a_duty_officer_acknowledges_a_warning_on_a_drills_wall(
    wall_url: str, page: Any, db: psycopg.Connection
) -> None:
    db.execute("INSERT INTO drills (id, name, scenario) VALUES (%s, '烟花 replay', 'in-fa-2106')", (DRILL,))
    warning_id = add_warning(db, drill=DRILL)
    row = f"#wall-warnings .w-row[data-id='{warning_id}']"
    open_wall(page, wall_url + f"/wall/?drill={DRILL}")
    page.wait_for_selector(f"{row} .w-ack.unack", timeout=LOAD_TIMEOUT_MS)
    assert page.locator(".wall-ack-button").count() == 0, "no 确认 before a duty officer logs in"

    log_in(page, "duty")
    page.wait_for_selector("body.logged-in.can-act:not(.can-decide)", timeout=STEP_MS)
    assert text_of(page, "#wall-login-user") == "duty（值班员）"
    button = page.locator(f"{row} .wall-ack-button")
    button.wait_for(timeout=STEP_MS)
    assert button.inner_text() == t("zh", "ack")
    clicked = time.monotonic()
    button.click()
    page.wait_for_selector(f"{row} .w-ack.acked", timeout=WALL_FOLLOWS_MS)
    print(f"the row showed acknowledged {time.monotonic() - clicked:.2f} s after the click")
    assert "duty" in text_of(page, f"{row} .w-ack")
    page.wait_for_selector(f"{row} .wall-ack-button", state="detached", timeout=STEP_MS)
    assert db.execute("SELECT acknowledged_by FROM warnings WHERE id = %s", (warning_id,)).fetchone() == ("duty",)

    # The drawer works on the drill shown; a duty officer's level control is tagged as the commander's.
    assert text_of(page, "#wall-consult-scope") == t("zh", "scope_drill").format(id=DRILL)
    page.fill("#wall-consult-start-title", "演练会商")
    page.click("#wall-consult-start-submit")
    page.wait_for_selector("#wall-consult-current", state="visible", timeout=STEP_MS)
    assert db.execute("SELECT drill_id, started_by FROM consultations").fetchall() == [(DRILL, "duty")]
    assert page.locator("#wall-consult-level-section .wc-role").is_visible()
    assert page.locator("#wall-consult-attendees-section .wc-role").is_hidden()


# --------------------------------------------------------------------------------------------
# refusals: the API's message, in the drawer


@pytest.mark.allow_console_errors  # Chromium logs each 401/403 answer; checked below to be only those
def test_refusals_show_the_apis_message(wall_url: str, page: Any, page_log: Any, db: psycopg.Connection) -> None:
    add_warning(db)
    open_wall(page, wall_url + "/wall/")
    page.wait_for_selector("#wall-warnings .w-row .w-ack.unack", timeout=LOAD_TIMEOUT_MS)

    log_in(page, "chief", "not the password")
    wait_text(page, "#wall-login-error", "wrong user name or password")
    assert page.locator("body.logged-in").count() == 0

    log_in(page, "guest")
    page.wait_for_selector("body.logged-in:not(.can-act)", timeout=STEP_MS)
    assert page.locator("#wall-login-error").inner_text() == ""
    assert text_of(page, "#wall-login-user") == "guest（查看）"
    assert page.locator(".wall-ack-button").count() == 0, "a viewer gets no 确认"
    page.wait_for_selector("#wall-consult-start", state="visible", timeout=STEP_MS)
    assert page.locator("#wall-consult-start .wc-role").is_visible()
    page.fill("#wall-consult-start-title", "旁听者的会商")
    page.click("#wall-consult-start-submit")
    wait_text(page, "#wall-consult-message", "requires role duty_officer or commander")
    assert db.execute("SELECT count(*) FROM consultations").fetchone() == (0,)

    page.click("#wall-login-logout")
    log_in(page, "duty")
    page.wait_for_selector("body.can-act", timeout=STEP_MS)
    page.fill("#wall-consult-start-title", "值班会商")
    page.click("#wall-consult-start-submit")
    page.wait_for_selector("#wall-consult-current", state="visible", timeout=STEP_MS)
    assert page.locator("#wall-consult-message").inner_text() == "", "a success clears the last refusal"
    page.select_option("#wall-consult-level", "II")
    page.fill("#wall-consult-level-reason", "越权尝试")
    page.click("#wall-consult-level-submit")
    wait_text(page, "#wall-consult-message", "a response_level decision requires role commander")
    assert db.execute("SELECT count(*) FROM response_levels").fetchone() == (0,)

    # A token the API no longer accepts: back to the login, with the API's reason.
    page.evaluate("sessionStorage.setItem('floodctl.token', 'not-a-token')")
    open_wall(page, wall_url + "/wall/")
    page.click("#wall-consult-button")
    wait_text(page, "#wall-login-error", "invalid access token")
    assert page.locator("body.logged-in").count() == 0
    assert page.evaluate("sessionStorage.getItem('floodctl.token')") is None
    assert page.locator("#wall-login-name").is_visible()

    unexpected = [message for message in page_log.console_errors if not REFUSED.match(message)]
    assert unexpected == [], unexpected
