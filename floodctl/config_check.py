"""``floodctl config check``: is this configuration fit for production, and if not, what to set.

Production settings refuse to load with the first problem they meet; this check lists *every*
problem at once, each with the setting to change and how, so that an operator fixes the environment
file in one go. The systemd units and the compose services run it before they start.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from floodctl.core.errors import ConfigError
from floodctl.core.net import is_loopback_url
from floodctl.core.settings import Problem, Settings, is_loopback_host


class _Mode(BaseSettings):
    """Just FLOOD_ENVIRONMENT, read the way :class:`Settings` reads it."""

    model_config = Settings.model_config
    environment: str = "development"


def declared_environment() -> str:
    return _Mode().environment


def load_for_check() -> Settings:
    """The settings as configured, but loaded in development mode so that no production check stops
    the load half way (they are all made by :func:`production_problems`). Errors that are not about
    production (a malformed value) still raise ConfigError."""
    try:
        return Settings(environment="development")
    except ValidationError as exc:
        problems = [f"FLOOD_{'_'.join(str(p) for p in e['loc']).upper() or '?'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(problems), details=problems) from None


def production_problems(s: Settings, environment: str) -> list[Problem]:
    """What production refuses (:meth:`Settings.production_problems`), and the cautions of a production
    configuration that may still run."""
    out: list[Problem] = []
    if environment != "production":
        out.append(
            Problem(
                "FLOOD_ENVIRONMENT",
                f"is {environment!r}: the embedded database, the stub gateways and "
                "development secrets would be accepted",
                "FLOOD_ENVIRONMENT=production",
            )
        )
    out += s.production_problems()
    if not s.public_url_derived and not s.public_url.startswith("https://"):
        out.append(
            Problem(
                "FLOOD_PUBLIC_URL",
                "is not https: links and webhooks would travel in clear text",
                "https://…",
                fatal=False,
            )
        )
    if s.sms_base_url and is_loopback_url(s.sms_base_url):
        out.append(
            Problem(
                "FLOOD_SMS_BASE_URL",
                f"{s.sms_base_url} is on this machine: live orders must go to the "
                "real SMS provider (the stub is a development and drill tool)",
                "the provider's API base URL",
                fatal=False,
            )
        )
    if s.allows_anonymous_read and s.anonymous_read is not None:
        out.append(
            Problem(
                "FLOOD_ANONYMOUS_READ",
                "true: the situation and the roster's phone numbers would be readable without logging in",
                "remove it (production needs a login)",
            )
        )
    if not s.hq_phone_list():
        out.append(
            Problem(
                "FLOOD_HQ_PHONES",
                "empty: 叫应 escalations and 未叫应 reach only the wall, no duty phone",
                "the HQ duty room's phones, comma-separated",
                fatal=False,
            )
        )
    if not is_loopback_host(s.http_host):
        out.append(
            Problem(
                "FLOOD_HTTP_HOST",
                f"{s.http_host}: the API listens beyond loopback without TLS",
                "127.0.0.1 behind a TLS reverse proxy",
                fatal=False,
            )
        )
    return out
