"""Which channels serve live or drill deliveries, from the settings."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from alerts.channels.base import Channel
from alerts.channels.devices import MqttDeviceChannel
from alerts.channels.sms import sms_channel
from floodctl.core.settings import Settings


def channels_for(settings: Settings, drill: bool, mqtt_client: mqtt.Client | None) -> dict[str, Channel]:
    """The channels for live (``drill=False``) or drill deliveries, by channel name.

    SMS always (a refusing channel when no gateway may be used); LED boards and loudspeakers only
    with an MQTT client.
    """
    channels: dict[str, Channel] = {"sms": sms_channel(settings, drill)}
    if mqtt_client is not None:
        channels["led"] = MqttDeviceChannel(mqtt_client, "led")
        channels["speaker"] = MqttDeviceChannel(mqtt_client, "speaker")
    return channels
