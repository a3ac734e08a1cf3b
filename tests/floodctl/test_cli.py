"""The command line as a user meets it: clear one-line errors, masked secrets, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gis_data import loader


def floodctl(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
    return subprocess.run(
        [sys.executable, "-m", "floodctl", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {}), "COLUMNS": "200"},
        cwd=cwd,
        timeout=120,
    )


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    done = floodctl(
        "config",
        "show",
        cwd=tmp_path,
        env={
            "FLOOD_DATABASE_URL": "postgresql://flood:hunter2@db.example:5432/flood",
            "FLOOD_MQTT_URL": "mqtts://ingest:s3cret@127.0.0.1:8883",
            "FLOOD_SMS_AUTH_TOKEN": "tok-123456",
            "FLOOD_SECRET_KEY": "k" * 40,
        },
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for secret in ("hunter2", "s3cret", "tok-123456", "k" * 40):
        assert secret not in out
    assert "FLOOD_DATABASE_URL" in out and "flood:********@db.example" in out
    assert "FLOOD_TIMEZONE" in out and "Asia/Shanghai" in out


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    done = floodctl("config", "show", cwd=tmp_path, env={"FLOOD_HTTP_PORT": "eighty"})
    assert done.returncode == 1
    assert "FLOOD_HTTP_PORT" in done.stderr and "Traceback" not in done.stderr


def test_production_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    done = floodctl(
        "config",
        "show",
        cwd=tmp_path,
        env={
            "FLOOD_ENVIRONMENT": "production",
            "FLOOD_DATABASE_URL": "postgresql://x@127.0.0.1/x",
            "FLOOD_MQTT_URL": "mqtt://127.0.0.1:1883",
        },
    )
    assert done.returncode == 1
    assert "FLOOD_SECRET_KEY" in done.stderr and "Traceback" not in done.stderr


def test_gis_validate_sample_and_broken_copy(tmp_path: Path) -> None:
    assert floodctl("gis", "validate").returncode == 0
    stations = json.loads(loader.DEFAULT_STATIONS.read_text(encoding="utf-8"))
    stations["features"][11]["properties"]["wrz"] = "high"
    (tmp_path / "stations.geojson").write_text(json.dumps(stations, ensure_ascii=False), encoding="utf-8")
    done = floodctl("gis", "validate", str(tmp_path / "stations.geojson"))
    assert done.returncode == 1
    assert "feature #12" in done.stderr and "'wrz'" in done.stderr and "Traceback" not in done.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = floodctl("gis", "validate", str(tmp_path / "nope.geojson"))
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_ingest_without_a_broker_says_what_to_do(tmp_path: Path, database_url: str) -> None:
    done = floodctl(
        "ingest", cwd=tmp_path, env={"FLOOD_DATABASE_URL": database_url, "FLOOD_DATA_DIR": str(tmp_path / "var")}
    )
    assert done.returncode == 1
    assert "FLOOD_MQTT_URL" in done.stderr and "Traceback" not in done.stderr


def test_db_status_and_gis_load_against_a_real_database(tmp_path: Path, pg_cluster) -> None:
    url = pg_cluster.create_database("cli_db")
    env = {"FLOOD_DATABASE_URL": url}
    migrated = floodctl("db", "migrate", "--storage", "native", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001 registry" in migrated.stdout
    shown = floodctl("db", "status", env=env, cwd=tmp_path)
    assert "storage: native" in shown.stdout and "pending" not in shown.stdout
    loaded = floodctl("gis", "load", env=env, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "stations: 162" in loaded.stdout


def test_production_refuses_placeholders_whatever_their_case(tmp_path: Path) -> None:
    for secret in ("CHANGE-ME", " change-me ", "short-but-real"):
        done = floodctl(
            "config",
            "show",
            cwd=tmp_path,
            env={
                "FLOOD_ENVIRONMENT": "production",
                "FLOOD_SECRET_KEY": secret,
                "FLOOD_DATABASE_URL": "postgresql://x@127.0.0.1/x",
                "FLOOD_MQTT_URL": "mqtt://127.0.0.1:1883",
            },
        )
        assert done.returncode == 1 and "FLOOD_SECRET_KEY" in done.stderr, secret


def test_migrate_and_status_work_for_a_role_that_is_not_superuser(tmp_path: Path, pg_cluster) -> None:
    import psycopg

    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE flood_app LOGIN")
        conn.execute("CREATE DATABASE app_db OWNER flood_app")
    url = f"postgresql://flood_app@127.0.0.1:{pg_cluster.port}/app_db"
    migrated = floodctl("db", "migrate", env={"FLOOD_DATABASE_URL": url}, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    shown = floodctl("db", "status", env={"FLOOD_DATABASE_URL": url}, cwd=tmp_path)
    assert shown.returncode == 0 and "storage: native" in shown.stdout, shown.stderr


def test_rules_check_passes_the_packaged_rules_and_points_at_a_broken_rule(tmp_path: Path) -> None:
    from alerts.rules import DEFAULT_PATH

    ok = floodctl("rules", "check")
    assert ok.returncode == 0 and "ok:" in ok.stdout
    broken = DEFAULT_PATH.read_text(encoding="utf-8").replace('threshold = "grz"', 'threshold = "grzz"', 1)
    (tmp_path / "rules.toml").write_text(broken, encoding="utf-8")
    done = floodctl("rules", "check", str(tmp_path / "rules.toml"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "rule 'river-level'" in done.stderr and "'grzz'" in done.stderr
