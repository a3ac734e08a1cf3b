"""``floodctl config check``: a production configuration with development defaults or missing secrets
is refused, with every setting to change named at once (issue 12, item 15)."""

from __future__ import annotations

from pathlib import Path

from floodctl.core.settings import DEV_SMS_AUTH_TOKEN
from tests.floodctl.test_cli import floodctl

READY = {
    "FLOOD_ENVIRONMENT": "production",
    "FLOOD_SECRET_KEY": "f" * 64,
    "FLOOD_DATABASE_URL": "postgresql://floodctl:pw@db.county.invalid:5432/floodctl",
    "FLOOD_MQTT_URL": "mqtts://floodctl-ingest:pw@mq.county.invalid:8883",
    "FLOOD_PUBLIC_URL": "https://fx.county.invalid",
    "FLOOD_SMS_BASE_URL": "https://sms.provider.invalid",
    "FLOOD_SMS_ACCOUNT_SID": "AC" + "1" * 32,
    "FLOOD_SMS_AUTH_TOKEN": "live-token-" + "a" * 24,
    "FLOOD_SMS_FROM": "+8610690000",
    "FLOOD_DRILL_SMS_BASE_URL": "http://127.0.0.1:8026",
    "FLOOD_DRILL_SMS_ACCOUNT_SID": "AC" + "2" * 32,
    "FLOOD_DRILL_SMS_AUTH_TOKEN": "drill-token-" + "b" * 24,
    "FLOOD_HQ_PHONES": "+8657400000001",
}


def test_a_complete_production_configuration_passes(tmp_path: Path) -> None:
    done = floodctl("config", "check", "--production", env=READY, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "production configuration: ok" in done.stdout


def test_an_empty_environment_is_refused_with_everything_to_set(tmp_path: Path) -> None:
    done = floodctl("config", "check", "--production", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for setting in (
        "FLOOD_ENVIRONMENT",
        "FLOOD_SECRET_KEY",
        "FLOOD_DATABASE_URL",
        "FLOOD_MQTT_URL",
        "FLOOD_PUBLIC_URL",
        "FLOOD_SMS_AUTH_TOKEN",
        "FLOOD_DRILL_SMS_AUTH_TOKEN",
    ):
        assert setting in done.stdout and setting in done.stderr, setting


def test_development_constants_are_refused_one_by_one(tmp_path: Path) -> None:
    for setting, value in (
        ("FLOOD_SMS_AUTH_TOKEN", DEV_SMS_AUTH_TOKEN),
        ("FLOOD_DRILL_SMS_AUTH_TOKEN", "changeme"),
        ("FLOOD_SECRET_KEY", "dev-insecure-secret"),
        ("FLOOD_ANONYMOUS_READ", "true"),
    ):
        done = floodctl("config", "check", env={**READY, setting: value}, cwd=tmp_path)
        assert done.returncode == 1, (setting, done.stdout)
        assert f"set {setting}" in done.stderr or setting in done.stderr.split("set ", 1)[1], (setting, done.stderr)
    # Without a public URL the links would point at the served address.
    env = {k: v for k, v in READY.items() if k != "FLOOD_PUBLIC_URL"}
    done = floodctl("config", "check", env=env, cwd=tmp_path)
    assert done.returncode == 1 and "FLOOD_PUBLIC_URL" in done.stderr


def test_a_development_configuration_is_valid_for_development(tmp_path: Path) -> None:
    done = floodctl("config", "check", cwd=tmp_path)
    assert done.returncode == 0 and "development configuration" in done.stdout
