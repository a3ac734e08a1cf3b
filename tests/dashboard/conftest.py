"""Browser fixtures: the system's headless Chromium (/usr/bin/chromium, Debian's package, installed by
`make test` through deploy/ensure-system-deps.sh) driven by Playwright.

- ``browser`` (session): Chromium, headless, with every host name but 127.0.0.1 resolving to nothing
  (``--host-resolver-rules``). Without /usr/bin/chromium the browser tests skip with the reason,
  except under CI (``CI`` set), where a missing browser is a failure: `make test` installs it.
- ``page_log``: what the page did — console errors, uncaught exceptions, every request URL.
- ``page``: a fresh context and page per test. At teardown it saves a screenshot to
  ``test-artifacts/<test id>.png`` and fails the test if any request left the machine (anything but
  127.0.0.1 / ::1 over http(s)/ws(s); such requests are also aborted before they go) or if the page
  logged a console error. Markers: ``@pytest.mark.allow_console_errors`` opts out of the console
  check; ``@pytest.mark.browser_context(offline=True, …)`` passes options to ``browser.new_context``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about", "chrome-error"})
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_console_errors: the page fixture does not fail on console errors")
    config.addinivalue_line("markers", "browser_context(**options): options for browser.new_context in `page`")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed ({CHROMIUM}): `make test` installs it (deploy/ensure-system-deps.sh)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    # Playwright starts Chromium with --no-sandbox by default (chromium_sandbox=False), as it must as root.
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


def _artifact_path(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.removeprefix("tests/")).strip("_")
    return request.config.rootpath / "test-artifacts" / f"{name}.png"


@pytest.fixture
def page(browser: Any, page_log: PageLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    marker = request.node.get_closest_marker("browser_context")
    options: dict[str, Any] = {
        "viewport": {"width": 1280, "height": 860},
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    }
    if marker is not None:
        options.update(marker.kwargs)
    context = browser.new_context(**options)

    def guard(route: Any) -> None:  # nothing but loopback leaves the browser, even an IP literal
        if is_local(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("console", lambda msg: page_log.console_errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: page_log.console_errors.append(f"uncaught: {exc}"))
    tab.on("request", lambda req: page_log.requests.append(req.url))
    try:
        yield tab
    finally:
        path = _artifact_path(request)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            tab.screenshot(path=str(path))
        except Exception as exc:  # noqa: BLE001 - a lost screenshot must not hide the test's own outcome
            print(f"screenshot {path} not saved: {exc}")
        context.close()
    external = page_log.external_requests()
    assert not external, f"the page sent requests off the machine: {external[:10]}"
    if request.node.get_closest_marker("allow_console_errors") is None:
        assert not page_log.console_errors, f"console errors on the page: {page_log.console_errors[:10]}"
