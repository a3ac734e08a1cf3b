"""``floodctl bench query`` end to end at a tiny size: the figures are there and make sense (no timing threshold)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

QUERIES = (
    "stations_state",
    "stations_state_jit_off",
    "stations_geojson",
    "http_stations",
    "series_raw",
    "series_1h",
    "http_series_raw",
    "http_series_1h",
)


def floodctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "floodctl", *args], capture_output=True, text=True, env=env, timeout=240
    )


def test_bench_query_times_both_reads_on_every_storage_path() -> None:
    done = floodctl("bench", "query", "--stations", "300", "--rows", "20000", "--repeat", "3", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert (figures["stations"], figures["rows"], figures["repeat"]) == (300, 20000, 3)
    assert figures["storage"][0] == "native" and set(figures["paths"]) == set(figures["storage"])
    for storage, path in figures["paths"].items():
        load = path["load"]
        assert load["rows_stored"] == 20000, storage  # the binary COPY wrote every row, once
        assert load["latest_values"] == 300, storage  # one latest value per station
        assert load["copy_rows_per_s"] > 0 and load["table_bytes"] > 0
        queries = path["queries"]
        for key in QUERIES:
            s = queries[key]
            assert s["n"] == 3, (storage, key)
            assert 0 < s["min_ms"] <= s["median_ms"] <= s["p90_ms"] <= s["max_ms"], (storage, key, s)
            assert s["ratio"] == round(s["median_ms"] / s["target_ms"], 3)
        assert queries["series_raw"]["target_ms"] == 30 and queries["stations_state"]["target_ms"] == 50
        # 20,000 rows over 300 stations: 67 five-minute steps, all inside the 7-day window.
        assert queries["series_raw"]["points"] in (66, 67) and queries["series_1h"]["points"] >= 6
        assert queries["stations_state_bytes"] > 0 and queries["stations_geojson_bytes"] > 0
    out = done.stdout
    assert "native partitions" in out and "rows/s, binary COPY" in out and "VACUUM ANALYZE" in out
    assert "latest, all stations: wall stations_state" in out and "7-day series, raw: GET …/series" in out


def test_fewer_rows_than_stations_is_one_clear_line() -> None:
    done = floodctl("bench", "query", "--stations", "3000", "--rows", "2000")
    assert done.returncode == 1
    assert "--rows" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
