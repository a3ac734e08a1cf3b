"""MQTT client construction shared by every component (paho-mqtt 2.x, callback API v2).

``mqtt://user:pass@host:port`` or ``mqtts://…`` (TLS with the system CA store). Persistent
sessions: MQTT 5 ``clean_start=False`` with a session expiry, or 3.1.1 ``clean_session=False``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from floodctl.errors import ConfigError

SESSION_EXPIRY_S = 14 * 24 * 3600   # matches the embedded broker's persistent_client_expiration


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        tls = parts.scheme in ("mqtts", "ssl")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ConfigError(f"bad MQTT URL {parts.scheme}://{parts.hostname or '?'}: use mqtt://host:port")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def make_client(url: str, client_id: str, *, protocol: str = "5", persistent: bool = True,
                receive_maximum: int | None = None) -> tuple[mqtt.Client, Properties | None]:
    """A configured client and the CONNECT properties to pass to ``connect``."""
    address = BrokerAddress.parse(url)
    if protocol == "5":
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        if receive_maximum:
            props.ReceiveMaximum = receive_maximum
    else:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311, clean_session=not persistent)
        props = None
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=15)
    return client, props


def connect_async(client: mqtt.Client, url: str, *, keepalive: int, protocol: str = "5",
                  properties: Properties | None = None, persistent: bool = True) -> None:
    """Start connecting in the background; paho's loop retries until the broker answers."""
    address = BrokerAddress.parse(url)
    if protocol == "5":
        client.connect_async(address.host, address.port, keepalive,
                             clean_start=not persistent, properties=properties)
    else:
        client.connect_async(address.host, address.port, keepalive)
