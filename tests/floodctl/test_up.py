"""`floodctl up` with the embedded default: pgserver + the broker + ingest + API, then Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from floodctl.core.net import free_port


def test_up_serves_the_api_ingests_and_stops_cleanly_on_ctrl_c() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="floodctl-up-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
    env.update(
        FLOOD_DATA_DIR=str(data_dir),
        FLOOD_HTTP_PORT=str(port),
        FLOOD_INGEST_METRICS_PORT="0",
        FLOOD_MQTT_CLIENT_PREFIX=f"up-{uuid.uuid4().hex[:6]}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "floodctl", "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        stations = None
        while time.monotonic() - started < 60:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    stations = httpx.get(f"{base}/api/v1/stations", timeout=5)
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.25)
        assert stations is not None and stations.status_code == 200, "API not up within 60 s"
        features = stations.json()["features"]
        assert len(features) >= 150
        # A reading published to the embedded broker shows in the series within a second or so.
        runtime = json.loads((data_dir / "runtime.json").read_text())
        mqtt_port = runtime["mqtt"]["url"].rsplit(":", 1)[1]
        code = features[0]["properties"]["code"]
        ts = datetime.now(UTC).replace(microsecond=0).astimezone().isoformat()
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                mqtt_port,
                "-q",
                "1",
                "-t",
                f"flood/v1/{code}/obs",
                "-m",
                f'{{"ts": "{ts}", "values": {{"water_level": 2.34}}}}',
            ],
            check=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        points: list = []
        while time.monotonic() < deadline and not points:
            series = httpx.get(f"{base}/api/v1/stations/{code}/series", params={"metric": "water_level"})
            points = series.json()["points"]
            time.sleep(0.1)
        assert points and points[-1][1] == 2.34
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    assert "Traceback" not in out
