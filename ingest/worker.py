"""One ingest worker: MQTT (QoS 1, persistent session) -> bounded inbox -> batched COPY -> ack.

    paho network thread               writer (main) thread
    on_message ──append──> inbox ──take batch (size or time)──> decode ──> one transaction ──> ack

A message is acknowledged to the broker only after its rows are committed, so a crash at any
moment loses nothing (the broker redelivers; duplicates are no-ops in the store). Memory is
bounded: the broker's in-flight window (Mosquitto ``max_inflight_messages`` for 3.1.1, the
receive-maximum we announce for MQTT 5) caps the unacknowledged messages it sends us, and beyond
``FLOOD_INGEST_RECEIVE_MAX`` paho's thread stops reading. A database outage stops the acks, the
broker keeps the backlog, and writing resumes when the database returns. ``retire=True`` takes
the worker's index out of the share group without losing what its session holds.

Poison never holds a batch: decoding is total (ingest/decode.py), and when the database refuses a
batch's content (a constraint, a value too large for an index, a type it cannot take) the batch is
written message by message and the refused message is dead-lettered (``db_rejected``). Only the
database being unavailable (connection lost, server shutting down, disk full) holds the batch and
stops the acks; :meth:`IngestWorker._unavailable` is the one place that tells the two apart.

Tuning values are settings (``FLOOD_INGEST_*``): batch rows, flush interval, receive-maximum.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from psycopg import errors as pg_errors

from floodctl.core.errors import ServiceUnavailable
from floodctl.core.mqtt import FastClient, connect_async, make_client
from floodctl.core.settings import Settings
from floodctl.domain.topics import SUBSCRIPTION
from ingest import obs, status, telemetry, video
from ingest.batch import Batch, DeadLetter
from ingest.decode import Decoder, Registry
from ingest.store import IngestStore, WriteResult

log = logging.getLogger("floodctl.ingest")

PARSERS = {"obs": obs.parse, "video": video.parse, "status": status.parse}
REGISTRY_RECHECK_S = 5.0  # how often an unknown station/drill code is looked up again
RECHECK_MEMORY = 10_000
MAINTAIN_EVERY_S = 3600.0
DB_RETRY_MAX_S = 10.0
STOP_GRACE_S = 10.0  # on stop, how long to keep retrying an uncommitted batch
RETIRE_IDLE_S = 3.0  # retiring: no message for this long means the session is drained

Item = tuple[str, bytes, int, int]  # topic, payload, mid (0 for QoS 0), connection epoch


class IngestWorker:
    def __init__(
        self,
        settings: Settings,
        *,
        index: int,
        database_url: str,
        mqtt_url: str,
        shared: bool = True,
        protocol: str | None = None,
        retire: bool = False,
    ) -> None:
        self.settings = settings
        self.index = index
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.protocol = protocol or settings.mqtt_protocol
        self.topic = f"$share/{settings.mqtt_share_group}/{SUBSCRIPTION}" if shared else SUBSCRIPTION
        self.client_id = f"{settings.mqtt_client_prefix}-ingest-{index}"
        # paho's thread appends, the writer pops: a deque needs no lock. The MQTT 5
        # receive-maximum bounds it; with 3.1.1 brokers _on_message holds back (see there).
        self.inbox: deque[Item] = deque()
        self._writer_waiting = False
        self._wakeup = threading.Event()
        self.stop_event = threading.Event()
        self._epoch = 0
        self._connected = threading.Event()
        self._rechecked: dict[Any, float] = {}
        self.store: IngestStore | None = None
        self.committed_messages = 0  # this worker's own count (tests, diagnostics)
        # Retiring: leave the share group, drain what the session holds, then end the session.
        self.retire = retire
        self.client: FastClient | None = None

    # --- MQTT side (paho's thread) -------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("worker %d: broker refused the connection: %s", self.index, reason)
            return
        self._epoch += 1
        if self.retire:
            # Already-queued messages still arrive after UNSUBSCRIBE; new ones go to the others.
            client.unsubscribe(self.topic)
        else:
            client.subscribe(self.topic, qos=1)
        log.info(
            "worker %d: connected to the broker (session present: %s)",
            self.index,
            getattr(flags, "session_present", "?"),
        )

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            log.error("worker %d: subscription to %s refused: %s", self.index, self.topic, reasons)
            return
        self._connected.set()
        telemetry.CONNECTED.set(1)

    def _on_unsubscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        telemetry.CONNECTED.set(0)
        if not self.stop_event.is_set():
            log.warning("worker %d: disconnected from the broker (%s); reconnecting", self.index, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # No work here: hand over and return.
        inbox = self.inbox
        inbox.append((message.topic, bytes(message.payload), message.mid if message.qos else 0, self._epoch))
        if self._writer_waiting:
            self._wakeup.set()
        # A 3.1.1 broker has no receive-maximum: stop reading (TCP back-pressure) while full.
        while len(inbox) > self.settings.ingest_receive_max and not self.stop_event.is_set():
            time.sleep(0.005)

    def _start_mqtt(self) -> FastClient:
        client, props = make_client(
            self.mqtt_url,
            self.client_id,
            protocol=self.protocol,
            receive_maximum=self.settings.ingest_receive_max,
            fast=True,
        )
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        connect_async(
            client, self.mqtt_url, keepalive=self.settings.mqtt_keepalive_s, protocol=self.protocol, properties=props
        )
        client.loop_start()
        assert isinstance(client, FastClient)
        return client

    # --- writer side (main thread) -------------------------------------------------------

    def _wait_for_messages(self, timeout_s: float) -> bool:
        if self.inbox:
            return True
        self._writer_waiting = True
        try:
            if not self.inbox:
                self._wakeup.wait(timeout_s)
        finally:
            self._writer_waiting = False
            self._wakeup.clear()
        return bool(self.inbox)

    def _take(self) -> list[Item]:
        """Wait for a first message, then gather until the batch is full or the flush time."""
        if not self._wait_for_messages(0.5):
            return []
        items: list[Item] = []
        limit = self.settings.ingest_batch_rows
        deadline = time.monotonic() + self.settings.ingest_flush_ms / 1000
        popleft = self.inbox.popleft
        while True:
            try:
                while len(items) < limit:
                    items.append(popleft())
            except IndexError:
                pass
            remaining = deadline - time.monotonic()
            if len(items) >= limit or remaining <= 0 or not self._wait_for_messages(remaining):
                return items

    def _recheck(self, key: Any) -> bool:
        now = time.monotonic()
        if len(self._rechecked) > RECHECK_MEMORY:  # garbage codes must not grow memory without end
            self._rechecked.clear()
        if now - self._rechecked.get(key, -REGISTRY_RECHECK_S) < REGISTRY_RECHECK_S:
            return False
        self._rechecked[key] = now
        return True

    def _lookup_station(self, code: str) -> int | None:
        if (
            self.store is None
            or len(code) != 8
            or not code.isascii()
            or not code.isalnum()
            or not self._recheck(("station", code))
        ):
            return None
        try:
            station_id = self.store.lookup_station(code)
        except Exception as exc:
            self._lookup_failed(exc)
            return None
        if station_id is not None:
            self.decoder.registry.stations[code] = station_id
        return station_id

    def _lookup_drill(self, drill_id: int) -> bool:
        if self.store is None or not 0 < drill_id < 2**31 or not self._recheck(("drill", drill_id)):
            return False
        try:
            exists = self.store.drill_exists(drill_id)
        except Exception as exc:
            self._lookup_failed(exc)
            return False
        if exists:
            self.decoder.registry.drills.add(drill_id)
            return True
        return False

    def _lookup_failed(self, exc: Exception) -> None:
        """A registry look-up failed: the database is down (hold the batch), or it refused the query."""
        self._rechecked.clear()  # look again once the database answers
        if self._unavailable(exc):
            raise ServiceUnavailable(f"registry look-up: {exc}") from exc
        log.warning("worker %d: registry look-up refused (%s)", self.index, exc)
        self._rollback()

    def _decode(self, items: list[Item]) -> Batch:
        batch = Batch()
        now = time.time()
        add = self.decoder.add
        for topic, payload, _mid, _epoch in items:
            add(batch, topic, payload, now)
        return batch

    def _connect_store(self) -> IngestStore:
        delay = 0.5
        while True:
            try:
                return IngestStore(self.database_url, wait_s=0, future_tolerance_s=self.settings.future_tolerance_s)
            except Exception as exc:  # ServiceUnavailable or a psycopg error while preparing
                if self.stop_event.is_set():
                    raise
                log.warning("worker %d: database unavailable (%s); retrying in %.1f s", self.index, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, DB_RETRY_MAX_S)

    def _unavailable(self, exc: BaseException) -> bool:
        """Whether an error while writing means "the database is unavailable" (hold the batch and
        retry) rather than "the database refuses this content" (dead-letter the message)."""
        if isinstance(exc, ServiceUnavailable):
            return True
        if isinstance(exc, pg_errors.ProgramLimitExceeded):
            return False  # an OperationalError by class, but about the content: e.g. an index row too large
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            return True
        conn = self.store.conn if self.store is not None else None
        return conn is None or conn.closed or conn.broken

    def write(self, items: list[Item]) -> bool:
        """Commit the batch, retrying through outages; False if stopping before it committed.

        Content the database refuses switches to message-by-message writing (``done`` counts the
        messages already committed that way, so an outage meanwhile neither loses nor repeats one)."""
        batch: Batch | None = None
        one_by_one = False
        done = 0
        delay = 0.2
        stop_deadline: float | None = None
        while True:
            started = time.perf_counter()
            try:
                assert self.store is not None
                if one_by_one:
                    while done < len(items):
                        self._write_one(items[done])
                        done += 1
                    return True
                if batch is None:
                    batch = self._decode(items)
                result = self.store.write(batch)
                telemetry.BATCH_SECONDS.observe(time.perf_counter() - started)
                self._count(batch, result)
                return True
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                telemetry.DB_RETRIES.inc()
                continue
            except Exception as exc:
                if not self._unavailable(exc):
                    self._rollback()
                    if one_by_one:  # not even its dead letter could be stored (should never happen)
                        log.exception(
                            "worker %d: message on %s could not be stored nor dead-lettered",
                            self.index,
                            items[done][0][:200],
                        )
                        done += 1
                        continue
                    # The database refused this batch's content: write message by message so one
                    # bad message cannot hold back the others, and dead-letter the one that fails.
                    log.error("worker %d: batch refused (%s); writing message by message", self.index, _first_line(exc))
                    assert self.store is not None
                    self.store.forget_partitions()
                    one_by_one = True
                    continue
                telemetry.DB_RETRIES.inc()
                log.warning(
                    "worker %d: database unavailable (%s); holding %d messages, retry in %.1f s",
                    self.index,
                    _first_line(exc),
                    len(items) - done,
                    delay,
                )
                if self.stop_event.is_set():
                    stop_deadline = stop_deadline or time.monotonic() + STOP_GRACE_S
                    if time.monotonic() > stop_deadline:
                        return False
                time.sleep(delay)
                delay = min(delay * 2, DB_RETRY_MAX_S)
                self._reconnect_store()

    def _write_one(self, item: Item) -> None:
        """One message in its own transaction; content the database refuses becomes a dead letter.
        Raises only when the database is unavailable."""
        assert self.store is not None
        topic, payload, _mid, _epoch = item
        single = Batch()
        self.decoder.add(single, topic, payload, time.time())
        try:
            result = self.store.write(single)
        except Exception as exc:
            if isinstance(exc, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)) or self._unavailable(exc):
                raise
            self._rollback()
            single = Batch(messages=1)
            single.dead.append(DeadLetter(topic, payload, "db_rejected", _first_line(exc)[:500]))
            result = self.store.write(single)
        self._count(single, result)

    def _rollback(self) -> None:
        try:
            if self.store is not None:
                self.store.conn.rollback()
        except psycopg.Error:
            self._reconnect_store()

    def _reconnect_store(self) -> None:
        if self.store is not None:
            with contextlib.suppress(Exception):  # the old connection is already broken
                self.store.close()
        self.store = self._connect_store()

    def _count(self, batch: Batch, result: WriteResult) -> None:
        telemetry.MESSAGES_COMMITTED.inc(batch.messages)
        telemetry.ROWS_INSERTED.inc(result.inserted)
        telemetry.ROWS_DUPLICATE.inc(result.staged - result.inserted)
        for dead in batch.dead:
            telemetry.DEAD_LETTERED.labels(dead.reason).inc()
            log.info("dead letter %s on %s: %s", dead.reason, dead.topic, dead.detail[:200])

    def _ack(self, items: list[Item]) -> None:
        client = self.client
        assert client is not None
        epoch = self._epoch
        # A message from before a reconnect is redelivered by the broker; that copy is acked.
        client.ack_many([mid for _t, _p, mid, item_epoch in items if mid and item_epoch == epoch])

    def open(self) -> Registry:
        """Connect to the database and load the registry (``run`` does this first; tests may call
        it to drive :meth:`write` without a broker)."""
        self.store = store = self._connect_store()
        registry = store.load_registry()
        self.decoder = Decoder(
            registry,
            PARSERS,
            late_after_s=self.settings.late_after_s,
            future_tolerance_s=self.settings.future_tolerance_s,
            retention_days=self.settings.retention_days,
            max_backfill_days=self.settings.max_backfill_days,
            on_unknown_station=self._lookup_station,
            on_unknown_drill=self._lookup_drill,
        )
        return registry

    def run(self) -> None:
        registry = self.open()
        assert self.store is not None
        if self.index == 0:
            self.store.maintain(self.settings.retention_days)
        last_maintained = time.monotonic()
        self.client = self._start_mqtt()
        log.info(
            "worker %d: %d stations; subscribing to %s as %s",
            self.index,
            len(registry.stations),
            self.topic,
            self.client_id,
        )
        idle_since = time.monotonic()
        try:
            while not self.stop_event.is_set():
                items = self._take()
                if items and not self._commit_and_ack(items):
                    break
                if items or not self._connected.is_set():
                    idle_since = time.monotonic()
                elif self.retire and time.monotonic() - idle_since > RETIRE_IDLE_S:
                    log.info("worker %d: session drained (%d messages); ending it", self.index, self.committed_messages)
                    break
                if self.index == 0 and time.monotonic() - last_maintained > MAINTAIN_EVERY_S:
                    self._maintain()
                    last_maintained = time.monotonic()
            # Stopping: commit what was already handed over; anything later is redelivered.
            final: list[Item] = []
            while self.inbox:
                final.append(self.inbox.popleft())
            if final:
                self._commit_and_ack(final)
        finally:
            self._shutdown()

    def _commit_and_ack(self, items: list[Item]) -> bool:
        telemetry.QUEUE_DEPTH.set(len(self.inbox) + len(items))
        telemetry.MESSAGES_RECEIVED.inc(len(items))
        if not self.write(items):
            return False
        self._ack(items)
        self.committed_messages += len(items)
        return True

    def _maintain(self) -> None:
        try:
            assert self.store is not None
            self.store.maintain(self.settings.retention_days)
        except psycopg.Error as exc:
            log.warning("worker %d: partition maintenance failed: %s", self.index, exc)
            self._rollback()

    def _shutdown(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            if self.retire and not self.stop_event.is_set():
                self._end_session()
        if self.store is not None:
            self.store.close()
        log.info("worker %d: stopped", self.index)

    def _end_session(self) -> None:
        """Connect once with a clean session under this client id: the broker deletes the old one
        (drained and no longer subscribed, so nothing is lost)."""
        client, props = make_client(self.mqtt_url, self.client_id, protocol=self.protocol, persistent=False)
        done = threading.Event()
        client.on_connect = lambda *args: done.set()
        connect_async(
            client,
            self.mqtt_url,
            keepalive=self.settings.mqtt_keepalive_s,
            protocol=self.protocol,
            properties=props,
            persistent=False,
        )
        client.loop_start()
        if done.wait(10):
            log.info("worker %d: session %s ended; index retired", self.index, self.client_id)
        else:
            log.warning("worker %d: could not end session %s", self.index, self.client_id)
        client.disconnect()
        client.loop_stop()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected and subscribed."""
        return self._connected.wait(timeout_s)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
