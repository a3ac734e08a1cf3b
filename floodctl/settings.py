"""The one settings object of floodctl (env prefix ``FLOOD_``, optional ``.env``).

Nothing reads ``os.environ`` at import time: call :func:`get_settings` where settings are needed.
Unset ``database_url`` / ``mqtt_url`` mean "embedded default" (see ``floodctl.embedded``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from floodctl.errors import ConfigError

# Credentials of the built-in SMS gateway stub when no provider is configured (development only).
DEV_SMS_ACCOUNT_SID = "AC" + "0" * 32
DEV_SMS_AUTH_TOKEN = "dev-sms-stub-token"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "change_me", "dev-insecure-secret", "secret", "placeholder"}
MIN_SECRET_LENGTH = 32
DEV_SECRET_KEY = "dev-insecure-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOOD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"

    database_url: SecretStr | None = None
    mqtt_url: SecretStr | None = None
    data_dir: Path = Path("./var")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    timezone: str = "Asia/Shanghai"

    sms_base_url: str | None = None
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None

    # MQTT client behaviour.
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    mqtt_client_prefix: str = "floodctl"
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600)
    mqtt_share_group: str = Field("ingest", pattern=r"^[A-Za-z0-9_-]+$")

    # Ingest tuning: see ingest/worker.py for what each one trades.
    ingest_batch_rows: int = Field(5_000, ge=1, le=200_000)
    ingest_flush_ms: int = Field(100, ge=1, le=60_000)
    ingest_receive_max: int = Field(20_000, ge=10, le=65_535)
    # MQTT 3.1.1 for ingest: paho's MQTT 5 property parsing costs ~25 % of a worker's CPU per message.
    # Flow control then comes from the broker's per-client in-flight limit (max_inflight_messages).
    ingest_mqtt_protocol: Literal["5", "3.1.1"] = "3.1.1"
    ingest_metrics_port: int = Field(9108, ge=0, le=65535)   # worker i listens on port + i; 0 = off
    late_after_s: int = Field(900, ge=0)            # older than this when it arrives -> flagged late
    future_tolerance_s: int = Field(600, ge=0)      # newer than now + this -> refused
    retention_days: int = Field(3650, ge=0)         # 0 keeps everything (native partitions path)

    # Accounts and tokens (floodctl.auth).
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600)   # bearer token lifetime
    login_max_failures: int = Field(5, ge=1, le=1000)   # failed logins per user name or client address …
    login_window_s: int = Field(300, ge=1, le=86_400)   # … within this window, then 429 until it passes
    # Reads without logging in: unset = allowed in development only (see allows_anonymous_read).
    anonymous_read: bool | None = None

    # Warnings, orders and dispatch (alerts/). Rules file: None = the packaged alerts/rules.toml.
    rules_path: Path | None = None
    public_url: str = "http://127.0.0.1:8000"       # how gateways and SMS recipients reach this API
    county_code: str = Field("330225", pattern=r"^[0-9]{6}$")   # GB/T 2260 code of the county
    hq_name: str = "象山县防汛防台抗旱指挥部"
    # A tile server under the wall's county layers, e.g. a local one (http://127.0.0.1:8080/{z}/{x}/{y}.png) or
    # Tianditu with its key; none by default: the wall then needs nothing off the machine.
    map_tile_url: str | None = None
    ack_deadline: int = Field(300, ge=5, le=86_400)       # 叫应: seconds a town has to acknowledge
    ack_resend_after: int = Field(120, ge=1, le=86_400)   # … resend to the same person after this
    ack_link_ttl_s: int = Field(86_400, ge=60)           # signed /a/{token} links expire after this
    hq_phones: str = ""        # comma-separated HQ duty phones told of every 叫应 escalation and 未叫应
    # Drill SMS go only through this gateway (never FLOOD_SMS_BASE_URL). Unset: the built-in stub in
    # development; in production drill SMS are then not sent at all (marked failed, "no drill gateway").
    drill_sms_base_url: str | None = None
    drill_sms_account_sid: str | None = None
    drill_sms_auth_token: SecretStr | None = None
    sms_rate_per_s: float = Field(100.0, gt=0)            # per dispatcher process and gateway
    sms_timeout_s: float = Field(10.0, gt=0)
    dispatch_threads: int = Field(16, ge=1, le=256)
    dispatch_max_attempts: int = Field(6, ge=1, le=100)
    dispatch_backoff_s: float = Field(2.0, gt=0)          # first retry; doubles each time (capped at 5 min)
    dispatch_lease_s: int = Field(30, ge=1, le=3600)      # a claimed delivery not finished by then is retried

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("database_url", "mqtt_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = urlsplit(value.get_secret_value()).scheme
            if scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
                raise ValueError("must start with mqtt:// or mqtts://")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> Settings:
        if self.environment == "production":
            secret = self.secret_key.get_secret_value().strip()
            if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"FLOOD_SECRET_KEY is a placeholder or shorter than {MIN_SECRET_LENGTH} characters; "
                                 "set a real secret in production (e.g. `openssl rand -hex 32`)")
            if self.database_url is None:
                raise ValueError("FLOOD_DATABASE_URL must be set in production")
            if self.mqtt_url is None:
                raise ValueError("FLOOD_MQTT_URL must be set in production")
        return self

    def hq_phone_list(self) -> list[str]:
        return [p.strip() for p in self.hq_phones.split(",") if p.strip()]

    def drill_sms_credentials(self) -> tuple[str, str]:
        token = self.drill_sms_auth_token.get_secret_value() if self.drill_sms_auth_token else DEV_SMS_AUTH_TOKEN
        return self.drill_sms_account_sid or DEV_SMS_ACCOUNT_SID, token

    def sms_credentials(self) -> tuple[str, str]:
        """Account SID and auth token: the configured ones, else the stub's development pair."""
        token = self.sms_auth_token.get_secret_value() if self.sms_auth_token else DEV_SMS_AUTH_TOKEN
        return self.sms_account_sid or DEV_SMS_ACCOUNT_SID, token

    @property
    def allows_anonymous_read(self) -> bool:
        """FLOOD_ANONYMOUS_READ when set, else true in development and false in production."""
        return self.anonymous_read if self.anonymous_read is not None else self.environment == "development"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def shown(self) -> dict[str, str]:
        """Effective settings as text, secrets masked (credentials inside URLs too)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                text = _mask_url(raw) if "://" in raw else "********"
            elif value is None:
                text = "(embedded default)" if name in ("database_url", "mqtt_url") else "(unset)"
            else:
                text = str(value)
            out[f"FLOOD_{name.upper()}"] = text
        return out


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@")
    return parts._replace(netloc=netloc).geturl()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load settings once per process; errors become one readable ConfigError."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"FLOOD_{'_'.join(str(p) for p in err['loc']).upper() or '?'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("invalid settings: " + "; ".join(problems), details=problems) from None
