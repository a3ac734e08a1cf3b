"""Delivery channels: how one outbox row (``deliveries``) reaches a phone, an LED board or a loudspeaker.

One small interface, :class:`Channel`: ``send`` a delivery and say what happened (:class:`SendResult`),
and ``find_sent`` to reconcile a delivery whose earlier attempt is *in doubt* (the request may have
reached the gateway, but no answer came back). The dispatcher (``alerts/dispatch.py``) owns retries,
backoff, leases and rate limits; a channel only talks to its gateway.

* ``base``      :class:`Channel`, :class:`Delivery`, :class:`SendResult`, :class:`RefusingChannel`.
* ``sms``       :class:`SmsChannel` — a Twilio-compatible REST API (our stub, or a real provider).
* ``devices``   :class:`MqttDeviceChannel` — village LED boards and loudspeakers over MQTT (QoS 1); drills
  use their own topic namespace ``flood/v1/drill/...``, which real devices' ACLs never allow, so a drill
  can never drive a real board.
* ``acks``      :class:`DeviceAckListener` — device acks (``.../ack``) → ``deliveries.state`` ``acked`` /
  ``failed``.
* ``selection`` :func:`channels_for` — the channels of live or drill deliveries, from the settings.

Drills (演练) never reach a real phone: a drill SMS goes only through the drill gateway
(``FLOOD_DRILL_SMS_BASE_URL``, or the built-in stub in development), its text must start with
the drill marker 【演练】, and a live gateway refuses any text that carries it.
"""

from alerts.channels.acks import DeviceAck, DeviceAckListener, parse_ack
from alerts.channels.base import Channel, Delivery, DeviceKind, Outcome, ReconcileError, RefusingChannel, SendResult
from alerts.channels.devices import PUBACK_TIMEOUT_S, MqttDeviceChannel
from alerts.channels.selection import channels_for
from alerts.channels.sms import (
    DRILL_TEXT_ON_LIVE,
    DRILL_WITHOUT_MARK,
    NO_DRILL_SMS_GATEWAY,
    NO_SMS_GATEWAY,
    SmsChannel,
)

__all__ = [
    "DRILL_TEXT_ON_LIVE",
    "DRILL_WITHOUT_MARK",
    "NO_DRILL_SMS_GATEWAY",
    "NO_SMS_GATEWAY",
    "PUBACK_TIMEOUT_S",
    "Channel",
    "Delivery",
    "DeviceAck",
    "DeviceAckListener",
    "DeviceKind",
    "MqttDeviceChannel",
    "Outcome",
    "ReconcileError",
    "RefusingChannel",
    "SendResult",
    "SmsChannel",
    "channels_for",
    "parse_ack",
]
