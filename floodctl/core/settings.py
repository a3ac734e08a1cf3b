"""The one settings object of floodctl (env prefix ``FLOOD_``, optional ``.env``).

Nothing reads ``os.environ`` at import time: call :func:`get_settings` where settings are needed.
Unset ``database_url`` / ``mqtt_url`` mean "embedded default" (see ``floodctl.core.embedded``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from floodctl.core.errors import ConfigError

# Credentials of the built-in SMS gateway stub when no provider is configured (development only).
DEV_SMS_ACCOUNT_SID = "AC" + "0" * 32
DEV_SMS_AUTH_TOKEN = "dev-sms-stub-token"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "change_me", "dev-insecure-secret", "secret", "placeholder"}
MIN_SECRET_LENGTH = 32
DEV_SECRET_KEY = "dev-insecure-secret"


@dataclass(frozen=True, slots=True)
class Problem:
    """A setting production refuses (``fatal``) or cautions against, and what to set it to."""

    setting: str
    problem: str  # reads after the setting's name: "FLOOD_X must be set in production"
    fix: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.setting} {self.problem}"


def _dev_token(token: SecretStr) -> bool:
    value = token.get_secret_value().strip()
    return value == DEV_SMS_AUTH_TOKEN or value.lower() in PLACEHOLDER_SECRETS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOOD_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production"] = "development"
    _public_url_derived: bool = PrivateAttr(False)

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
    ingest_metrics_port: int = Field(9108, ge=0, le=65535)  # worker i listens on port + i; 0 = off
    late_after_s: int = Field(900, ge=0)  # older than this when it arrives -> flagged late
    future_tolerance_s: int = Field(600, ge=0)  # newer than now + this -> refused
    retention_days: int = Field(3650, ge=0)  # 0 keeps everything (native partitions path)
    max_backfill_days: int = Field(31, ge=1)  # one message's readings spanning more -> refused

    # Accounts and tokens (floodctl.auth).
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600)  # bearer token lifetime
    # Failed logins (floodctl.auth.throttle): this many per account, client address or known device lock that
    # key for FLOOD_LOGIN_WINDOW_S, doubling with each further failure up to FLOOD_LOGIN_BACKOFF_MAX_S; a quiet
    # FLOOD_LOGIN_WINDOW_S forgives. A browser that logged in before (device cookie) is not held by the others.
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_window_s: int = Field(300, ge=1, le=86_400)
    login_backoff_max_s: int = Field(3600, ge=1, le=7 * 86_400)
    # Reads without logging in: unset = allowed in development only (see allows_anonymous_read).
    anonymous_read: bool | None = None

    # Warnings, orders and dispatch (alerts/). Rules file: None = the packaged alerts/rules.toml.
    rules_path: Path | None = None
    # How gateways and SMS recipients reach this API (links, CAP <web>, callbacks, webhook signatures).
    # Unset: derived from FLOOD_HTTP_HOST / FLOOD_HTTP_PORT (development only; production must set it).
    public_url: str = ""
    county_code: str = Field("330225", pattern=r"^[0-9]{6}$")  # GB/T 2260 code of the county
    hq_name: str = "象山县防汛防台抗旱指挥部"
    # A tile server under the wall's county layers, e.g. a local one (http://127.0.0.1:8080/{z}/{x}/{y}.png) or
    # Tianditu with its key; none by default: the wall then needs nothing off the machine.
    map_tile_url: str | None = None
    ack_deadline: int = Field(300, ge=5, le=86_400)  # 叫应: seconds a town has to acknowledge
    ack_resend_after: int = Field(120, ge=1, le=86_400)  # … resend to the same person after this
    ack_link_ttl_s: int = Field(86_400, ge=60)  # signed /a/{token} links expire after this
    hq_phones: str = ""  # comma-separated HQ duty phones told of every 叫应 escalation and 未叫应
    # Drill SMS go only through this gateway (never FLOOD_SMS_BASE_URL). Unset: the built-in stub in
    # development; in production drill SMS are then not sent at all (marked failed, "no drill gateway").
    drill_sms_base_url: str | None = None
    drill_sms_account_sid: str | None = None
    drill_sms_auth_token: SecretStr | None = None
    sms_rate_per_s: float = Field(100.0, gt=0)  # per dispatcher process and gateway
    sms_timeout_s: float = Field(10.0, gt=0)
    dispatch_threads: int = Field(16, ge=1, le=256)
    # A delivery that fails for a passing reason (5xx, 429, no gateway, no broker) is retried until its
    # 叫应 deadline (its order's ack_deadline_s), however many attempts that takes, then failed with the reason.
    dispatch_backoff_s: float = Field(2.0, gt=0)  # first retry; doubles each time …
    dispatch_backoff_max_s: float = Field(30.0, gt=0)  # … up to this
    dispatch_lease_s: int = Field(30, ge=1, le=3600)  # a claimed delivery not finished by then is retried
    # The active rule engine's lease (a row in engine_lease), renewed by each of its writes and its 叫应 tick
    # (every second): a standby takes over once it has gone unrenewed for this long (a frozen or dead engine).
    engine_lease_s: float = Field(15.0, ge=3, le=600)

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
    def _production_refuses_development_settings(self) -> Settings:
        if self.environment == "production" and (problems := self.production_problems()):
            raise ValueError("; ".join(map(str, problems)))
        return self

    def production_problems(self) -> list[Problem]:
        """What production refuses to start with, each with what to set: its validator raises them all at
        once, and ``floodctl config check`` lists them (with its cautions)."""
        out: list[Problem] = []
        if "FLOOD_SECRET_KEY" in self.dev_constants_in_use():
            out.append(
                Problem(
                    "FLOOD_SECRET_KEY",
                    f"is a placeholder or shorter than {MIN_SECRET_LENGTH} characters: "
                    "anyone could sign a commander's token or an acknowledgement link",
                    "openssl rand -hex 32",
                )
            )
        if self.database_url is None:
            out.append(
                Problem(
                    "FLOOD_DATABASE_URL",
                    "must be set in production (unset: the embedded development database)",
                    "postgresql://floodctl:PASSWORD@db-host:5432/floodctl",
                )
            )
        if self.mqtt_url is None:
            out.append(
                Problem(
                    "FLOOD_MQTT_URL",
                    "must be set in production (unset: the embedded development broker)",
                    "mqtts://floodctl-ingest:PASSWORD@broker-host:8883",
                )
            )
        if not self.public_url.strip() or self._public_url_derived:
            out.append(
                Problem(
                    "FLOOD_PUBLIC_URL",
                    "must be set in production: SMS links, CAP <web> and the SMS provider's callbacks use it",
                    "the HTTPS address of the reverse proxy, e.g. https://fx.county.gov.cn",
                )
            )
        for prefix, url, token, what in (
            ("FLOOD_SMS", self.sms_base_url, self.sms_auth_token, "the provider's"),
            ("FLOOD_DRILL_SMS", self.drill_sms_base_url, self.drill_sms_auth_token, "the drill stub's"),
        ):
            if not (url or "").strip():
                out.append(Problem(f"{prefix}_BASE_URL", "must be set in production", f"{what} API base URL"))
            if token is None or not token.get_secret_value().strip():
                out.append(
                    Problem(
                        f"{prefix}_AUTH_TOKEN",
                        "must be set in production (webhook signatures are checked with it)",
                        f"{what} own auth token",
                    )
                )
            elif _dev_token(token):
                out.append(
                    Problem(
                        f"{prefix}_AUTH_TOKEN",
                        "is the development stub's token or a placeholder: anyone could sign a webhook with it",
                        f"{what} own auth token",
                    )
                )
        return out

    def dev_constants_in_use(self) -> list[str]:
        """The settings left at a public development constant, with which anyone could forge a bearer
        token (FLOOD_SECRET_KEY) or a signed SMS webhook (the stub's auth token)."""
        found = []
        secret = self.secret_key.get_secret_value().strip()
        if secret.lower() in PLACEHOLDER_SECRETS or secret == DEV_SECRET_KEY or len(secret) < MIN_SECRET_LENGTH:
            found.append("FLOOD_SECRET_KEY")
        for name, token in (
            ("FLOOD_SMS_AUTH_TOKEN", self.sms_auth_token),
            ("FLOOD_DRILL_SMS_AUTH_TOKEN", self.drill_sms_auth_token),
        ):
            if token is None or not token.get_secret_value().strip() or _dev_token(token):
                found.append(name)
        return found

    def refuse_public_dev_exposure(self) -> None:
        """ConfigError when the API would listen beyond loopback while accepting public development
        constants (the placeholder secret key, the stub's SMS token): fail closed. The one check that
        ``floodctl serve`` and ``floodctl up`` (through ``create_app``) make before serving."""
        if is_loopback_host(self.http_host):
            return
        found = self.dev_constants_in_use()
        if found:
            raise ConfigError(
                f"refusing to listen on {self.http_host or '*'} (beyond loopback) with development defaults: "
                f"set {', '.join(found)} to real secrets, or FLOOD_HTTP_HOST=127.0.0.1"
            )

    @model_validator(mode="after")
    def _public_url_follows_the_served_address(self) -> Settings:
        if self.public_url.strip():
            self.public_url = self.public_url.strip().rstrip("/")
            if urlsplit(self.public_url).scheme not in ("http", "https") or not urlsplit(self.public_url).netloc:
                raise ValueError(f"FLOOD_PUBLIC_URL must be an http(s) URL, got {self.public_url!r}")
            return self
        self.public_url = served_url(self.http_host, self.http_port)  # production refused this above
        self._public_url_derived = True
        return self

    @property
    def public_url_derived(self) -> bool:
        """True when FLOOD_PUBLIC_URL was not set and the URL was derived from the served address."""
        return self._public_url_derived

    def serving_at(self, host: str, port: int) -> Settings:
        """These settings for a server listening on host:port (``floodctl serve --host/--port``): a public
        URL that was derived from the address follows it; an explicit FLOOD_PUBLIC_URL stays."""
        update: dict[str, Any] = {"http_host": host, "http_port": port}
        if self._public_url_derived:
            update["public_url"] = served_url(host, port)
        return self.model_copy(update=update)

    def hq_phone_list(self) -> list[str]:
        return [p.strip() for p in self.hq_phones.split(",") if p.strip()]

    def drill_sms_credentials(self) -> tuple[str, str]:
        """Like :meth:`sms_credentials`, for the drill gateway."""
        return self.drill_sms_account_sid or DEV_SMS_ACCOUNT_SID, self._sms_token(self.drill_sms_auth_token)

    def sms_credentials(self) -> tuple[str, str]:
        """Account SID and auth token: the configured ones, else the stub's development pair. In
        production the token is never the development one: an unset or development token is "" (no
        signature verifies against it; the production validator refuses such settings anyway)."""
        return self.sms_account_sid or DEV_SMS_ACCOUNT_SID, self._sms_token(self.sms_auth_token)

    def _sms_token(self, token: SecretStr | None) -> str:
        value = token.get_secret_value() if token is not None else ""
        if self.environment == "production":
            return "" if value.strip() in ("", DEV_SMS_AUTH_TOKEN) else value
        return value or DEV_SMS_AUTH_TOKEN

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


def served_url(host: str, port: int) -> str:
    """The URL of a server listening on host:port; a wildcard address is reached on loopback."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def is_loopback_host(host: str) -> bool:
    """Whether a listening address is loopback only (127.0.0.0/8, ::1, localhost); a wildcard is not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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
            f"FLOOD_{'_'.join(str(p) for p in err['loc']).upper() or '?'}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("invalid settings: " + "; ".join(problems), details=problems) from None
