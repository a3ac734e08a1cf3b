"""Village LED boards and loudspeakers over MQTT (QoS 1): live and drill topic namespaces kept apart."""

from __future__ import annotations

from typing import Any

import orjson
import paho.mqtt.client as mqtt

from alerts.channels.base import Delivery, DeviceKind, SendResult
from floodctl.domain.topics import DEVICE_KINDS, device_topic

PUBACK_TIMEOUT_S = 5.0
URGENT_WORDS = ("紧急", "红色", "橙色")


class MqttDeviceChannel:
    """Commands to village LED boards or loudspeakers: QoS 1 publish, sent once the broker PUBACKs.

    The command id ``dlv-{delivery id}`` is stable across retries, so a device shows / plays a
    resent command once (see ``simulators/devices.py``); ``find_sent`` is therefore never needed
    (None: resending is harmless). The device's own ack arrives later (:class:`DeviceAckListener`).
    """

    def __init__(self, client: mqtt.Client, kind: DeviceKind, *, timeout_s: float = PUBACK_TIMEOUT_S) -> None:
        if kind not in DEVICE_KINDS:
            raise ValueError(f"unknown device kind {kind!r}")
        self.name: str = kind
        self.client = client
        self.timeout_s = timeout_s
        self.max_call_s = timeout_s

    @staticmethod
    def command_id(d: Delivery) -> str:
        return f"dlv-{d.id}"

    def command(self, d: Delivery) -> dict[str, Any]:
        return {
            "command_id": self.command_id(d),
            "text": d.body,
            "drill_id": d.drill_id,
            "priority": "urgent" if any(word in d.body for word in URGENT_WORDS) else "normal",
            "repeat": 2 if self.name == "speaker" else 1,
        }

    def send(self, d: Delivery) -> SendResult:
        if not d.address or any(ch in d.address for ch in "/+#\0"):
            return SendResult.failed(f"bad device id {d.address!r}")
        if not self.client.is_connected():
            return SendResult.retry("MQTT broker not connected")
        topic = device_topic(self.name, d.address, bool(d.drill_id))
        info = self.client.publish(topic, orjson.dumps(self.command(d)), qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (ValueError, RuntimeError) as exc:
            return SendResult.retry(f"MQTT publish failed: {exc}")
        if not info.is_published():
            return SendResult.retry(f"no PUBACK from the MQTT broker within {self.timeout_s:g} s")
        return SendResult.sent(self.command_id(d))

    def find_sent(self, d: Delivery) -> str | None:
        return None
