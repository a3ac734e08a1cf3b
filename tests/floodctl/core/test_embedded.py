"""Embedded services: the amqtt fallback broker, and the supervisor restarting a dead child."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from floodctl.core.embedded.broker import start_broker
from floodctl.core.supervise import Child, Supervisor
from ingest.worker import IngestWorker
from simulators.publisher import Publisher


def test_amqtt_fallback_broker_carries_readings_to_a_single_worker(db, database_url, settings) -> None:
    directory = Path(tempfile.mkdtemp(prefix="floodctl-amqtt-"))
    broker = start_broker(directory, prefer="amqtt")
    try:
        assert broker.kind == "amqtt" and not broker.supports_shared_subscriptions
        worker = IngestWorker(
            settings, index=0, database_url=database_url, mqtt_url=broker.url, shared=False, protocol="3.1.1"
        )
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.wait_connected(20)
        code = db.execute("SELECT code FROM stations WHERE kind = 'river' LIMIT 1").fetchone()[0]
        ts = datetime.now(UTC).replace(microsecond=0)
        with Publisher(broker.url, f"pub-{uuid.uuid4().hex[:6]}", protocol="3.1.1") as pub:
            for minute in range(5):
                pub.publish(
                    f"flood/v1/{code}/obs",
                    json.dumps({"ts": ts.replace(minute=minute).isoformat(), "values": {"water_level": 1.0 + minute}}),
                )
        deadline = time.monotonic() + 20
        count = 0
        while time.monotonic() < deadline and count < 5:
            count = db.execute("SELECT count(*) FROM observations").fetchone()[0]
            time.sleep(0.1)
        worker.stop_event.set()
        thread.join(20)
        assert count == 5
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_supervisor_restarts_a_child_that_dies_and_stops_all() -> None:
    child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([child])
    supervisor.start_all()
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    try:
        first = child.process
        assert first is not None
        first.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (child.process is first or not child.alive()):
            time.sleep(0.05)
        assert child.process is not first and child.alive(), "the dead child was started again"
    finally:
        supervisor.stop_event.set()
        runner.join(30)
    assert not child.alive()


def test_gateways_command_serves_the_sms_stub_beside_the_devices(broker, tmp_path) -> None:
    import os
    import signal
    import subprocess

    import httpx

    from floodctl.core.net import free_port, wait_for_port
    from floodctl.core.settings import DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
    env.update(
        FLOOD_MQTT_URL=broker.url,
        FLOOD_DATA_DIR=str(tmp_path / "var"),
        FLOOD_MQTT_CLIENT_PREFIX=f"gw-{uuid.uuid4().hex[:6]}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "floodctl", "gateways", "--sms-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_port("127.0.0.1", port, 30), "the SMS stub did not listen"
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{DEV_SMS_ACCOUNT_SID}/Messages.json"
        form = {"To": "+8613900000101", "From": "+8610000000000", "Body": "【演练】测试"}
        created = httpx.post(url, data=form, auth=(DEV_SMS_ACCOUNT_SID, DEV_SMS_AUTH_TOKEN), timeout=10)
        assert created.status_code == 201 and created.json()["sid"].startswith("SM")
        refused = httpx.post(url, data=form, auth=(DEV_SMS_ACCOUNT_SID, "wrong"), timeout=10)
        assert refused.status_code == 401 and refused.json()["code"] == 20003
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
