"""``floodctl bench wall`` end to end at a tiny size, in the system's headless Chromium: the figures are there and
hang together (no timing threshold)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def floodctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "floodctl", *args], capture_output=True, text=True, env=env, timeout=280
    )


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed ({CHROMIUM}): `make test` installs it (deploy/ensure-system-deps.sh)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def test_bench_wall_measures_load_to_interactive_with_its_breakdown() -> None:
    done = floodctl("bench", "wall", "--stations", "300", "--runs", "1", "--json")
    assert done.returncode == 0, done.stderr
    f = json.loads(done.stdout.strip().splitlines()[-1])
    assert (f["stations"], f["runs"], f["target_ms"], f["viewport"]) == (300, 1, 3000, "1920x1080")
    assert f["warnings"] == 15  # 5 % of the stations
    load = f["load"]
    assert load["n"] == 1 and len(f["runs_ms"]) == 1 and f["warmup_ms"] > 0
    assert 0 < load["min_ms"] <= load["median_ms"] <= load["max_ms"]
    assert load["ratio"] == round(load["median_ms"] / 3000, 3)
    run = f["median_run"]
    # The timeline is ordered: HTML, then the first callback answer, then the stations, then interactive.
    assert 0 < run["document_ms"] < run["first_call_ms"] <= run["ready_ms"] == load["median_ms"]
    stations = run["stations_response"]
    assert stations["callback"] == "stations" and stations["end_ms"] <= run["ready_ms"]
    assert stations["bytes"] >= f["stations_geojson_bytes"] > 0  # the map fetches the GeoJSON by its URL
    assert 0 < stations["encoded_bytes"] < stations["bytes"] and stations["gzip"]
    assert run["assets"] > 0 and run["assets_decoded_bytes"] > 0
    assert "layout" in f["callbacks"] and f["callback_requests"] >= len(f["callbacks"])
    assert f["stations_sql"]["n"] == 20 and f["stations_sql"]["median_ms"] > 0
    refresh = f["refresh"]
    assert refresh["round_trip"]["n"] == 5 and refresh["round_trip"]["median_ms"] > 0
    assert refresh["callbacks_per_tick"].get("refresh", 0) >= 5 and refresh["bytes"] > 0
    profile = f["profile"]
    assert profile["ready_ms"] > 0 and profile["script_ms"] > 0 and profile["by_script"]
    out = done.stdout
    assert "load to interactive" in out and "target 3,000 ms" in out and "stations GeoJSON received" in out
    assert "refresh tick after load" in out and "self time by script" in out
