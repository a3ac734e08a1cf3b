"""Nothing forged gets in through public development constants (issue 12, item 6).

Production refuses to start without both SMS providers' auth tokens, or with the stub's public token;
a webhook signed with that token is refused even by settings that slipped past the validator; and a
development configuration (public secret key, stub SMS token) refuses to listen beyond loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from alerts.signing import twilio_signature
from floodctl.api.app import create_app
from floodctl.core.errors import ConfigError
from floodctl.core.settings import DEV_SECRET_KEY, DEV_SMS_AUTH_TOKEN, Settings

TOWN = "330225100"  # 石浦镇: primary 陈敏 +8613900000401
PRIMARY = "+8613900000401"
LIVE_TOKEN = "live-provider-token-" + "a" * 20
DRILL_TOKEN = "drill-provider-token-" + "b" * 20
PRODUCTION: dict[str, Any] = dict(
    environment="production",
    secret_key="s" * 40,
    database_url="postgresql://floodctl@db.invalid/floodctl",
    mqtt_url="mqtt://127.0.0.1:1883",
    public_url="https://floodctl.county.invalid",
    sms_base_url="https://sms.invalid",
    sms_auth_token=LIVE_TOKEN,
    drill_sms_base_url="https://drill-sms.invalid",
    drill_sms_auth_token=DRILL_TOKEN,
    _env_file=None,
)


def _refused(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**(PRODUCTION | overrides))
    return str(caught.value)


def test_production_requires_both_sms_tokens_and_refuses_the_dev_token() -> None:
    assert Settings(**PRODUCTION).sms_credentials()[1] == LIVE_TOKEN
    message = _refused(sms_auth_token=None, drill_sms_auth_token=None)
    assert "FLOOD_SMS_AUTH_TOKEN must be set" in message and "FLOOD_DRILL_SMS_AUTH_TOKEN must be set" in message
    assert "FLOOD_DRILL_SMS_AUTH_TOKEN must be set" in _refused(drill_sms_auth_token=None)
    assert "FLOOD_SMS_AUTH_TOKEN must be set" in _refused(sms_auth_token="  ")
    assert "FLOOD_SMS_AUTH_TOKEN is the development stub's token" in _refused(sms_auth_token=DEV_SMS_AUTH_TOKEN)
    assert "FLOOD_DRILL_SMS_AUTH_TOKEN is the development stub's token" in _refused(
        drill_sms_auth_token=DEV_SMS_AUTH_TOKEN
    )
    assert "FLOOD_DRILL_SMS_AUTH_TOKEN is the development stub's token or a placeholder" in _refused(
        drill_sms_auth_token="changeme"
    )
    assert "FLOOD_SMS_BASE_URL must be set" in _refused(sms_base_url=None)
    assert "FLOOD_DRILL_SMS_BASE_URL must be set" in _refused(drill_sms_base_url="")


def test_production_never_hands_out_the_dev_token() -> None:
    # Settings copied past the validator (model_copy does not validate) still never yield the stub's token.
    slipped = Settings(**PRODUCTION).model_copy(update={"sms_auth_token": None, "drill_sms_auth_token": None})
    assert DEV_SMS_AUTH_TOKEN not in (slipped.sms_credentials()[1], slipped.drill_sms_credentials()[1])
    dev = Settings(_env_file=None)
    assert dev.sms_credentials()[1] == dev.drill_sms_credentials()[1] == DEV_SMS_AUTH_TOKEN


def test_config_show_names_the_missing_tokens(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
        "FLOOD_ENVIRONMENT": "production",
        "FLOOD_SECRET_KEY": "s" * 40,
        "FLOOD_DATABASE_URL": "postgresql://x@127.0.0.1/x",
        "FLOOD_MQTT_URL": "mqtt://127.0.0.1:1883",
        "FLOOD_PUBLIC_URL": "https://floodctl.county.invalid",
        "FLOOD_SMS_BASE_URL": "https://sms.invalid",
        "FLOOD_DRILL_SMS_BASE_URL": "https://drill-sms.invalid",
        "FLOOD_DRILL_SMS_AUTH_TOKEN": DEV_SMS_AUTH_TOKEN,
    }
    done = subprocess.run(
        [sys.executable, "-m", "floodctl", "config", "show"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "FLOOD_SMS_AUTH_TOKEN must be set" in done.stderr and "FLOOD_DRILL_SMS_AUTH_TOKEN is" in done.stderr
    assert "Traceback" not in done.stderr


# --- a forged "1" never acknowledges a live order ------------------------------------------------------


class ProductionApi:
    def __init__(self, http: httpx.Client, app: Any, duty: dict[str, str], order_id: int) -> None:
        self.http, self.app, self.duty, self.order_id = http, app, duty, order_id

    @property
    def settings(self) -> Settings:
        return self.app.state.settings  # type: ignore[no-any-return]

    def signed(self, path: str, params: dict[str, str], key: str) -> httpx.Response:
        return self.http.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(key, self.settings.public_url + path, params),
            },
        )

    def town_state(self) -> str:
        order = self.http.get(f"/api/v1/orders/{self.order_id}", headers=self.duty).json()
        return str(next(t["state"] for t in order["towns_status"] if t["town_code"] == TOWN))


@pytest.fixture
def production_api(
    database_url: str,
    serve_app: Callable[[object], AbstractContextManager[str]],
    account_headers: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> Iterator[ProductionApi]:
    """A production-mode API (real tokens set) with an approved red order to 石浦镇 awaiting its 叫应."""
    settings = Settings(**(PRODUCTION | {"database_url": database_url, "data_dir": tmp_path / "var"}))
    app = create_app(settings, database_url)
    with serve_app(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        app.state.settings = settings.model_copy(update={"public_url": base})
        duty = account_headers(http, database_url, "duty", "duty_officer")
        chief = account_headers(http, database_url, "chief", "commander")
        draft = http.post(
            "/api/v1/orders",
            headers=duty,
            json={"hazard": "typhoon", "level": "red", "towns": [TOWN], "channels": ["sms"]},
        )
        assert draft.status_code == 201, draft.text
        order_id = draft.json()["id"]
        assert http.post(f"/api/v1/orders/{order_id}/approve", headers=chief).status_code == 200
        yield ProductionApi(http, app, duty, order_id)


def test_webhook_signed_with_the_dev_token_is_refused_in_production(
    production_api: ProductionApi, database_url: str
) -> None:
    api = production_api
    real = api.settings
    reply = {"From": PRIMARY, "To": "floodctl", "Body": "1", "MessageSid": "SM" + "f" * 32}
    status = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"}
    # Even settings that lost a token on the way (copied past the validator) accept no dev signature.
    for settings in (
        real,
        real.model_copy(update={"drill_sms_auth_token": None}),
        real.model_copy(update={"sms_auth_token": None}),
    ):
        api.app.state.settings = settings
        forged = api.signed("/api/v1/hooks/sms/inbound", reply, DEV_SMS_AUTH_TOKEN)
        assert forged.status_code == 403, forged.text
        assert api.signed("/api/v1/hooks/sms/status", status, DEV_SMS_AUTH_TOKEN).status_code == 403
        assert api.town_state() == "pending"
    with psycopg.connect(database_url) as conn:
        acked = conn.execute("SELECT count(*) FROM order_towns WHERE acknowledged_at IS NOT NULL").fetchone()[0]
    assert acked == 0
    # The providers' real tokens are accepted (the check above does not refuse everything).
    api.app.state.settings = real
    assert api.signed("/api/v1/hooks/sms/status", status, LIVE_TOKEN).status_code == 204
    assert api.signed("/api/v1/hooks/sms/status", status, DRILL_TOKEN).status_code == 204


# --- development constants never listen beyond loopback -------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "floodctl.lan"])
def test_dev_defaults_refuse_to_serve_beyond_loopback(host: str, database_url: str) -> None:
    with pytest.raises(ConfigError, match="beyond loopback") as caught:
        create_app(Settings(_env_file=None, http_host=host), database_url)
    assert "FLOOD_SECRET_KEY" in caught.value.message and "FLOOD_SMS_AUTH_TOKEN" in caught.value.message
    # Real secrets everywhere: a LAN demo may listen there.
    real = Settings(
        _env_file=None, http_host=host, secret_key="k" * 40, sms_auth_token=LIVE_TOKEN, drill_sms_auth_token=DRILL_TOKEN
    )
    assert real.dev_constants_in_use() == []
    real.refuse_public_dev_exposure()
    # Loopback with development defaults is the embedded default and stays allowed.
    for loopback in ("127.0.0.1", "::1", "localhost", "127.0.0.5"):
        Settings(_env_file=None, http_host=loopback).refuse_public_dev_exposure()
    assert Settings(_env_file=None).secret_key.get_secret_value() == DEV_SECRET_KEY


@pytest.mark.parametrize("command", [["serve", "--host", "192.0.2.10", "--port", "18999"], ["up", "--no-drill"]])
def test_floodctl_serve_and_up_refuse_in_one_line(command: list[str], database_url: str, tmp_path: Path) -> None:
    # 192.0.2.10 (TEST-NET-1) is on no interface: the command must refuse before it would try to bind.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
        "FLOOD_DATABASE_URL": database_url,
        "FLOOD_DATA_DIR": str(tmp_path / "var"),
        "COLUMNS": "300",
        "FLOOD_HTTP_HOST": "192.0.2.10",
    }
    done = subprocess.run(
        [sys.executable, "-m", "floodctl", *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "beyond loopback" in lines[0] and "FLOOD_SECRET_KEY" in lines[0], done.stderr
