"""Device acks (``…/ack``) → ``deliveries.state`` acked / failed, written off the MQTT loop; bad acks dead-lettered."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg

from floodctl.domain.topics import DEVICE_KINDS, DRILL_SEGMENT, TOPIC_ROOT, device_filters

log = logging.getLogger("floodctl.dispatch")

ACK_TOPICS = device_filters("ack")  # every device kind's acks, live and drill
ACK_QUEUE_MAX = 100_000
_ROOT = TOPIC_ROOT.split("/")

ACK_SQL = """
UPDATE deliveries
   SET state = %(state)s,
       last_error = CASE WHEN %(state)s = 'failed' THEN %(error)s ELSE last_error END,
       provider_id = coalesce(provider_id, %(command_id)s),
       sent_at = coalesce(sent_at, now()),
       lease_until = NULL,
       updated_at = now()
 WHERE id = %(id)s AND channel = %(channel)s AND address = %(device)s AND (drill_id <> 0) = %(drill)s
   AND state IN ('pending', 'sending', 'sent')
"""


@dataclass(frozen=True, slots=True)
class DeviceAck:
    delivery_id: int
    channel: str
    device: str
    drill: bool
    status: str
    reason: str | None


MAX_ACK_REASON = 500  # characters of a device's failure reason
MAX_DEVICE_ID = 64
INSERT_ACK_DEAD = "INSERT INTO dead_letters (topic, payload, reason, detail) VALUES (%s, %s, 'bad_ack', %s)"


def _ack_text(value: str, where: str, max_chars: int) -> str:
    """Text a ``deliveries`` row can hold: no NUL, at most max_chars (orjson already refused invalid UTF-8)."""
    if len(value) > max_chars:
        raise ValueError(f"{where} longer than {max_chars} characters ({len(value)})")
    if "\x00" in value:
        raise ValueError(f"{where} contains a NUL character")
    return value


def parse_ack(topic: str, payload: bytes) -> DeviceAck:
    """A device ack on ``flood/v1[/drill]/{kind}/{id}/ack``; ValueError saying what is wrong."""
    parts = topic.split("/")
    root, rest = parts[: len(_ROOT)], parts[len(_ROOT) :]
    drill = len(rest) == 4 and rest[0] == DRILL_SEGMENT
    if drill:
        rest = rest[1:]
    if root != _ROOT or len(rest) != 3 or rest[0] not in DEVICE_KINDS or rest[2] != "ack":
        raise ValueError(f"not a device ack topic: {topic}")
    kind, device = rest[0], rest[1]
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ValueError("payload is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("payload is not a JSON object")
    command_id, status, reason = data.get("command_id"), data.get("status"), data.get("reason")
    if not isinstance(command_id, str) or not command_id.startswith("dlv-") or not command_id[4:].isdigit():
        raise ValueError(f"command_id {command_id!r} is not one of ours (dlv-N)")
    if status not in ("shown", "played", "failed"):
        raise ValueError(f"unknown status {status!r}")
    if reason is not None and not isinstance(reason, str):
        reason = orjson.dumps(reason).decode()
    if reason is not None:
        reason = _ack_text(reason, "reason", MAX_ACK_REASON)
    _ack_text(device, "device id", MAX_DEVICE_ID)
    if len(command_id) > 24 or not command_id[4:].isascii():
        raise ValueError(f"command_id {command_id[:40]!r} is not one of ours (dlv-N)")
    delivery_id = int(command_id[4:])
    if delivery_id >= 2**63:
        raise ValueError(f"command_id {command_id!r} out of range")
    return DeviceAck(delivery_id, kind, device, drill, status, reason)


class DeviceAckListener:
    """Subscribes to every device's ack topic (live and drill) on a shared client and records acks:
    ``shown`` / ``played`` → ``acked``, ``failed`` → ``failed`` with the device's reason.

    Only a delivery of that channel, device and namespace, not yet final, is touched. Acks are written
    by a thread of their own (never on the MQTT loop). A bad ack — not parseable, a NUL or an oversized
    field, or content the database refuses — is dead-lettered (``dead_letters``, reason ``bad_ack``,
    with the raw bytes) and never holds back the acks after it; only an unreachable database waits.
    """

    def __init__(self, client: mqtt.Client, dsn: str) -> None:
        self.client = client
        self.dsn = dsn
        self.stats = {"acked": 0, "failed": 0, "ignored": 0, "bad": 0}
        self.subscribed = threading.Event()
        # (ack, topic, payload, why): ack None with ``why`` is a bad ack to dead-letter; None stops the writer.
        self._queue: queue.Queue[tuple[DeviceAck | None, str, bytes, str] | None] = queue.Queue(ACK_QUEUE_MAX)
        self._sub_mid: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._queued = 0
        self._written = 0

    def start(self) -> DeviceAckListener:
        # Chained, not replaced: the dispatcher's client has callbacks of its own (paho API version 2).
        previous_connect: Callable[..., object] | None = self.client.on_connect
        previous_subscribe: Callable[..., object] | None = self.client.on_subscribe

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if previous_connect is not None:
                previous_connect(client, userdata, flags, reason, properties)
            if not reason.is_failure:
                self._subscribe()

        def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, codes: Any, properties: Any) -> None:
            if previous_subscribe is not None:
                previous_subscribe(client, userdata, mid, codes, properties)
            if mid == self._sub_mid:
                if any(code.is_failure for code in codes):
                    log.error("dispatch: the broker refused the device ack subscriptions: %s", codes)
                else:
                    self.subscribed.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        for topic in ACK_TOPICS:
            self.client.message_callback_add(topic, self._on_message)
        self._thread = threading.Thread(target=self._write, name="device-acks", daemon=True)
        self._thread.start()
        if self.client.is_connected():
            self._subscribe()
        return self

    def stop(self) -> None:
        for topic in ACK_TOPICS:
            self.client.message_callback_remove(topic)
        if self._thread is not None:
            self._stopping.set()
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=5)
            self._thread.join(10)
            self._thread = None

    def _subscribe(self) -> None:
        self.subscribed.clear()
        _, self._sub_mid = self.client.subscribe([(topic, 1) for topic in ACK_TOPICS])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.handle(msg.topic, bytes(msg.payload))

    def handle(self, topic: str, payload: bytes) -> None:
        """One ack message: parsed and queued for the writer; never raises."""
        ack: DeviceAck | None = None
        why = ""
        try:
            ack = parse_ack(topic, payload)
        except ValueError as exc:
            why = str(exc)
            log.warning("dispatch: bad device ack on %.200s dead-lettered (%.200s): %r", topic, why, payload[:200])
        except Exception as exc:  # never take the MQTT loop down
            why = f"{type(exc).__name__} while reading the ack: {exc}"
            log.exception("dispatch: could not read a device ack on %.200s", topic)
        if ack is None:
            self._count("bad")
        try:
            with self._idle:
                self._queue.put_nowait((ack, topic, payload, why))
                self._queued += 1
        except queue.Full:
            log.error("dispatch: device ack queue full; ack on %.200s dropped", topic)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _write(self) -> None:
        conn: psycopg.Connection | None = None
        pending: tuple[DeviceAck | None, str, bytes, str] | None = None
        while True:
            item = pending or self._queue.get()
            pending = None
            if item is None:
                break
            ack, topic, payload, why = item
            state = "bad"
            done = 0
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                if ack is None:
                    self._dead_letter(conn, topic, payload, why)
                else:
                    state = "failed" if ack.status == "failed" else "acked"
                    try:
                        done = self._record(conn, ack, state)
                    except psycopg.Error as exc:
                        if _ack_db_unavailable(exc, conn):
                            raise
                        # The database refuses this ack's content: dead-letter it, go on with the next.
                        log.error(
                            "dispatch: device ack on %.200s refused by the database (%s); dead-lettered", topic, exc
                        )
                        state = "bad"
                        self._dead_letter(conn, topic, payload, f"database refused the ack: {exc}")
                        self._count("bad")
            except psycopg.Error as exc:
                if conn is not None and not _ack_db_unavailable(exc, conn):
                    # Not even its dead letter could be stored (should never happen): never block the rest.
                    log.error(
                        "dispatch: device ack on %.200s neither recorded nor dead-lettered (%s); dropped", topic, exc
                    )
                    state = "bad"
                else:
                    log.warning("dispatch: recording a device ack failed (%s); retrying", exc)
                    if conn is not None:
                        conn.close()
                    conn, pending = None, item
                    if self._stopping.wait(1.0):
                        log.error("dispatch: stopping with device acks not recorded (database unreachable)")
                        break
                    continue
            with self._idle:
                self._written += 1
                self._idle.notify_all()
            if ack is None or state == "bad":
                continue
            if done:
                self._count(state)
                log.info("dispatch: delivery %d %s by %s %s", ack.delivery_id, state, ack.channel, ack.device)
            else:
                self._count("ignored")
                log.debug(
                    "dispatch: ack for delivery %d (%s %s) matched nothing open",
                    ack.delivery_id,
                    ack.channel,
                    ack.device,
                )
        if conn is not None:
            conn.close()

    @staticmethod
    def _record(conn: psycopg.Connection, ack: DeviceAck, state: str) -> int:
        error = f"device {ack.device}: {ack.reason or 'failed'}"
        return conn.execute(
            ACK_SQL,
            {
                "state": state,
                "error": error,
                "command_id": f"dlv-{ack.delivery_id}",
                "id": ack.delivery_id,
                "channel": ack.channel,
                "device": ack.device,
                "drill": ack.drill,
            },
        ).rowcount

    @staticmethod
    def _dead_letter(conn: psycopg.Connection, topic: str, payload: bytes, why: str) -> None:
        from ingest.store import safe_text

        conn.execute(INSERT_ACK_DEAD, (safe_text(topic, 1000), payload, safe_text(why or "bad ack", 2000)))

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every ack queued so far has been written (or found to match nothing)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._written < self._queued:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


def _ack_db_unavailable(exc: psycopg.Error, conn: psycopg.Connection) -> bool:
    """An unreachable database (wait and retry) rather than an ack whose content it refuses."""
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or conn.closed or conn.broken
