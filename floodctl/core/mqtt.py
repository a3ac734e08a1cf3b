"""MQTT client construction shared by every component (paho-mqtt 2.x, callback API v2).

``mqtt://user:pass@host:port`` or ``mqtts://…`` (TLS with the system CA store). Persistent
sessions: MQTT 5 ``clean_start=False`` with a session expiry, or 3.1.1 ``clean_session=False``.
"""

from __future__ import annotations

import ssl
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from floodctl.core.errors import ConfigError

SESSION_EXPIRY_S = 14 * 24 * 3600  # matches the embedded broker's persistent_client_expiration
READ_CHUNK = 256 * 1024  # one recv() serves many small PUBLISH packets
PACKETS_PER_READ = 1_000  # paho reads one packet per select() by default
_PUBACK = struct.Struct("!BBH")  # fixed header 0x40, remaining length 2, packet id (v3.1.1 and v5)


class _BufferedSocket:
    """Socket wrapper whose recv() reads big chunks and serves paho's small reads from memory.

    paho reads a packet as 1 + 1..4 + n bytes, each a recv() system call. ``pending()`` (which
    paho already asks of TLS sockets) tells its loop there is buffered data, so select() is
    skipped rather than waited on.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos < len(buf):
            chunk = buf[pos : pos + bufsize]
            self._pos = pos + len(chunk)
            return chunk
        data: bytes = self._sock.recv(max(bufsize, READ_CHUNK))
        if len(data) <= bufsize:
            self._buf, self._pos = b"", 0
            return data
        self._buf, self._pos = data, bufsize
        return data[:bufsize]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastClient(mqtt.Client):
    """paho's client with buffered reads and acknowledgements sent many to a packet.

    Used by ingest, where a worker receives tens of thousands of small messages per second.
    Relies on two paho 2.x internals (``_create_socket``, ``_packet_queue``): pinned below 3 and
    covered by the ingest integration tests.
    """

    def _create_socket(self) -> Any:
        return _BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # Read until the socket is drained (paho returns on EAGAIN), not one packet per select().
        return super().loop_read(max(max_packets, PACKETS_PER_READ))

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (manual-ack mode) with one write for all of them."""
        if mids:
            packet = b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids])
            self._packet_queue(0x40, packet, 0, 0)


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


def make_client(
    url: str,
    client_id: str,
    *,
    protocol: str = "5",
    persistent: bool = True,
    receive_maximum: int | None = None,
    fast: bool = False,
) -> tuple[Any, Properties | None]:
    """A configured client and the CONNECT properties to pass to ``connect``."""
    address = BrokerAddress.parse(url)
    cls = FastClient if fast else mqtt.Client
    if protocol == "5":
        client = cls(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        if receive_maximum:
            props.ReceiveMaximum = receive_maximum
    else:
        client = cls(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=not persistent
        )
        props = None
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=15)
    return client, props


def connect_async(
    client: mqtt.Client,
    url: str,
    *,
    keepalive: int,
    protocol: str = "5",
    properties: Properties | None = None,
    persistent: bool = True,
) -> None:
    """Start connecting in the background; paho's loop retries until the broker answers."""
    address = BrokerAddress.parse(url)
    if protocol == "5":
        client.connect_async(address.host, address.port, keepalive, clean_start=not persistent, properties=properties)
    else:
        client.connect_async(address.host, address.port, keepalive)
