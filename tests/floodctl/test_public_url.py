"""Links and callbacks follow the address the API really serves (issue 12, item 1).

With ``FLOOD_HTTP_PORT`` set and no ``FLOOD_PUBLIC_URL``, every SMS link, CAP ``<web>`` and SMS status
callback must point at that port, where a real ``floodctl serve`` answers; production refuses to start
without an explicit public URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from lxml import etree

from alerts import orders
from alerts.cap import cap_document
from alerts.channels import Delivery, channels_for
from floodctl.core.net import free_port, wait_for_port
from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN, Settings, served_url
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

TOWN = "330225001"  # 丹西街道
CAP_NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def _env_free_of_public_url() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "FLOOD_PUBLIC_URL"}


def test_the_default_public_url_is_the_served_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOOD_PUBLIC_URL", raising=False)
    assert Settings(_env_file=None, http_port=18600).public_url == "http://127.0.0.1:18600"
    assert Settings(_env_file=None, http_host="0.0.0.0", http_port=18601).public_url == "http://127.0.0.1:18601"
    assert Settings(_env_file=None, http_host="::1", http_port=18602).public_url == "http://[::1]:18602"
    explicit = Settings(_env_file=None, http_port=18600, public_url="https://fx.example.cn/")
    assert explicit.public_url == "https://fx.example.cn"
    # `floodctl serve --port`: a derived URL follows the port, an explicit one stays.
    assert Settings(_env_file=None).serving_at("127.0.0.1", 18603).public_url == "http://127.0.0.1:18603"
    assert explicit.serving_at("127.0.0.1", 18603).public_url == "https://fx.example.cn"


def test_production_refuses_to_start_without_a_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOOD_PUBLIC_URL", raising=False)
    with pytest.raises(ValueError, match="FLOOD_PUBLIC_URL"):
        Settings(
            _env_file=None,
            environment="production",
            http_port=18600,
            secret_key="x" * 40,
            database_url="postgresql://floodctl@db.invalid/floodctl",
            mqtt_url="mqtt://mq.invalid:1883",
            sms_base_url="https://sms.invalid",
            sms_auth_token="t" * 40,
            drill_sms_base_url="https://d.invalid",
            drill_sms_auth_token="d" * 40,
        )
    with pytest.raises(ValueError, match="FLOOD_PUBLIC_URL"):
        Settings(_env_file=None, public_url="ftp://somewhere")


@pytest.fixture
def served(database_url: str, serve_app: Any, floodctl_process: Any, tmp_path: Any) -> Iterator[tuple[int, Any, str]]:
    """A real ``floodctl serve`` on a free port given only as FLOOD_HTTP_PORT, and the SMS stub."""
    port = free_port()
    gateway_app = create_sms_app(
        SmsGatewayConfig(account_sid=DEV_SMS_ACCOUNT_SID, auth_token=DEV_SMS_AUTH_TOKEN, callback_delay_ms=10)
    )
    with serve_app(gateway_app) as gateway_url:
        env = dict(
            _env_free_of_public_url(),
            FLOOD_DATABASE_URL=database_url,
            FLOOD_HTTP_PORT=str(port),
            FLOOD_DATA_DIR=str(tmp_path / "var"),
            FLOOD_SMS_BASE_URL=gateway_url,
            FLOOD_LOG_LEVEL="WARNING",
        )
        server = floodctl_process(["serve"], env).start()
        try:
            assert wait_for_port("127.0.0.1", port, 30), "floodctl serve did not listen"
            yield port, gateway_app.state.gateway, gateway_url
        finally:
            server.stop()


def test_links_cap_and_callbacks_reach_the_served_port(
    served: tuple[int, Any, str], database_url: str, monkeypatch: pytest.MonkeyPatch, wait_until: Any
) -> None:
    port, gateway, gateway_url = served
    monkeypatch.delenv("FLOOD_PUBLIC_URL", raising=False)
    settings = Settings(_env_file=None, http_port=port, sms_base_url=gateway_url)
    base = served_url("127.0.0.1", port)
    assert settings.public_url == base

    with psycopg.connect(database_url, autocommit=False) as conn:
        order_id = orders.draft(
            conn,
            orders.OrderRequest(hazard="river_flood", towns=[TOWN], level="yellow", channels=["sms"]),
            actor="duty",
            settings=settings,
        )
        assert order_id is not None
        orders.approve(conn, order_id, actor="chief", settings=settings)
        conn.commit()
        body, phone = conn.execute(
            "SELECT body, address FROM deliveries WHERE order_id = %s AND channel = 'sms'", (order_id,)
        ).fetchone()  # type: ignore[misc]
        cap = etree.fromstring(cap_document(conn, order_id, settings))

    # The signed link in the SMS opens the acknowledgement page on the served port.
    link = re.search(r"(http://\S+/a/\S+)", body)
    assert link and link[1].startswith(f"{base}/a/"), body
    page = httpx.get(link[1], timeout=10)
    assert page.status_code == 200 and "确认" in page.text

    # CAP <web> names the order on the served port, and it answers there.
    web = cap.findtext("cap:info/cap:web", namespaces=CAP_NS)
    assert web == f"{base}/api/v1/orders/{order_id}"

    # The SMS goes out with a status callback to the served port; the stub calls it, the API checks the
    # signature against its own (derived) public URL and records the status.
    sms = channels_for(settings, False, None)["sms"]
    result = sms.send(
        Delivery(
            id=1,
            order_id=order_id,
            drill_id=0,
            town_code=TOWN,
            recipient="primary",
            channel="sms",
            address=phone,
            round=1,
            body=body,
            attempts=1,
            created_at=datetime.now(UTC),
        )
    )
    assert result.provider_id, result
    callback = f"{base}/api/v1/hooks/sms/status"

    def recorded() -> Any:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT status FROM sms_status WHERE sid = %s", (result.provider_id,)).fetchone()
        return row is not None and row[0] in ("delivered", "undelivered")

    wait_until(recorded, timeout_s=15, what="the status callbacks to reach the served API")
    attempts = [c for c in gateway.callbacks if c.params["MessageSid"] == result.provider_id]
    assert attempts and all(c.url == callback and c.outcome == "sent" for c in attempts), attempts
