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

from floodctl.embedded.broker import start_broker
from floodctl.supervise import Child, Supervisor
from ingest.worker import IngestWorker
from simulators.publisher import Publisher


def test_amqtt_fallback_broker_carries_readings_to_a_single_worker(db, database_url, settings) -> None:
    directory = Path(tempfile.mkdtemp(prefix="floodctl-amqtt-"))
    broker = start_broker(directory, prefer="amqtt")
    try:
        assert broker.kind == "amqtt" and not broker.supports_shared_subscriptions
        worker = IngestWorker(settings, index=0, database_url=database_url, mqtt_url=broker.url,
                              shared=False, protocol="3.1.1")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.wait_connected(20)
        code = db.execute("SELECT code FROM stations WHERE kind = 'river' LIMIT 1").fetchone()[0]
        ts = datetime.now(UTC).replace(microsecond=0)
        with Publisher(broker.url, f"pub-{uuid.uuid4().hex[:6]}", protocol="3.1.1") as pub:
            for minute in range(5):
                pub.publish(f"flood/v1/{code}/obs", json.dumps(
                    {"ts": ts.replace(minute=minute).isoformat(), "values": {"water_level": 1.0 + minute}}))
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
