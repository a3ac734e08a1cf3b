"""A fast, reliable MQTT publisher for devices, drills and benchmarks (QoS 1).

paho rescans its whole in-flight list on every PUBACK when it enforces an in-flight limit, so
with thousands in flight a publisher slows to a crawl; this one turns paho's limit off and keeps
its own count of unacknowledged messages, blocking at ``window``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from floodctl.core.errors import ServiceUnavailable
from floodctl.core.mqtt import connect_async, make_client

DEFAULT_WINDOW = 200
CONNECT_TIMEOUT_S = 15.0


class Publisher:
    def __init__(self, url: str, client_id: str, *, window: int = DEFAULT_WINDOW, protocol: str = "5") -> None:
        self.url = url
        self.window = window
        self.protocol = protocol
        self.client, props = make_client(url, client_id, protocol=protocol, persistent=False)
        self.client.max_inflight_messages_set(0)  # 0 = paho skips its O(n) rescan
        self.client.max_queued_messages_set(0)
        self._props = props
        self._cond = threading.Condition()
        self._unacked = 0
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.published = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            self._unacked -= 1
            if self._unacked < self.window:
                self._cond.notify_all()

    def connect(self) -> Publisher:
        connect_async(
            self.client, self.url, keepalive=30, protocol=self.protocol, properties=self._props, persistent=False
        )
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise ServiceUnavailable(f"MQTT broker {self.url} did not accept the connection")
        return self

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        if qos:
            with self._cond:
                while self._unacked >= self.window:
                    self._cond.wait(1.0)
                self._unacked += 1
        self.client.publish(topic, payload, qos=qos, retain=retain)
        self.published += 1

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until the broker acknowledged everything published."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._unacked > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Publisher:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.close()
