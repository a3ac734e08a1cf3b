"""The dispatcher: drains the ``deliveries`` outbox through the channels, exactly once per row.

Any number of dispatcher processes may run against one database. Each loop:

1. **Claim** due rows with one statement: ``pending`` rows whose ``next_attempt_at`` has come, and
   ``sending`` rows whose lease has expired (a dispatcher died holding them: kill -9, power loss),
   ``FOR UPDATE SKIP LOCKED``, at most as many as there are free worker threads. The claim sets
   ``state = 'sending'``, a lease, ``attempts + 1``, and ``in_doubt`` for a row taken over from a dead
   holder. A row of a cancelled order is marked ``cancelled`` by the same statement, and not sent.
2. Each claimed row goes to a worker thread: an in-doubt row is first **reconciled**
   (``Channel.find_sent``: if the gateway has it, it is marked sent with that provider id and not sent
   again); then the per-gateway **token bucket** is taken (blocking, so the pool paces itself) and the
   row is sent.
3. The result is written **fenced** by ``state = 'sending' AND attempts = <our attempt>``: a row
   someone else took over, or that a status callback / device ack already moved on, is left alone.
   ``sent`` → provider id and ``sent_at``; ``retry`` / ``in_doubt`` → ``pending`` again after
   ``min(backoff × 2^(attempts-1), dispatch_backoff_max_s)`` ±20 % (``in_doubt`` kept for the next
   attempt), for as long as the delivery's **叫应 deadline** allows (see below), then ``failed``
   ("gave up at the 叫应 deadline after N attempts: …"); ``failed`` → ``failed``.

The deadline of a delivery is the 叫应 deadline of the call that queued it: its creation plus its
order's ``ack_deadline_s``, or its town's current ``order_towns.deadline_at`` when that is sooner (a
resend). A gateway or broker outage of any length shorter than that is ridden out; the last retry is
timed to fall on the deadline itself. Past it the person's call has escalated (alerts.callout.callout_tick
escalates a town still pending at its deadline, whatever its deliveries' states), so the row fails with
the last error. A row first claimed after its deadline (every dispatcher was down) is still tried once:
nothing queued is dropped unsent.

Never twice: a worker sends only while it holds the row. The lease (``dispatch_lease_s``) is set at
the claim; just before each gateway call a worker checks that the lease still covers the longest that
call can take (the channel's ``max_call_s`` + 1 s: SMS ``2 × sms_timeout_s``, devices the PUBACK
wait) and otherwise extends it, fenced as above. If the
extension finds the row taken over, the worker drops it without sending. A row whose holder died is
therefore only taken over once no call of the holder can still be in flight, and is reconciled
first. A result that cannot be written (database down) leaves the row ``sending``; it is taken over
when the lease expires, and reconciled. LED boards and loudspeakers dedupe by command id, so for them
a resend is harmless anyway.

**Rate limits are per dispatcher process**: each gateway (SMS base URL; LED / speaker channel) has
one token bucket in this process (SMS: ``FLOOD_SMS_RATE_PER_S``; devices: 500/s). Run one dispatcher
per gateway limit, or divide the provider's limit by the number of dispatchers.

Wake-up: ``LISTEN floodctl_outbox`` (the order code NOTIFYs when it inserts deliveries), a poll every
0.5 s (retries coming due), and a finished send (a free thread). Metrics:
``floodctl_deliveries_total{channel, outcome}``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter as PromCounter
from psycopg_pool import ConnectionPool, PoolTimeout

from alerts.channels import (
    PUBACK_TIMEOUT_S,
    Channel,
    Delivery,
    DeviceAckListener,
    ReconcileError,
    RefusingChannel,
    SendResult,
    SmsChannel,
    channels_for,
)
from alerts.outbox import (
    CLAIM_SQL,
    EXTEND_SQL,
    FAIL_SQL,
    OUTBOX_CHANNEL,
    RELEASE_SQL,
    RETRY_SQL,
    SENT_SQL,
)
from alerts.ratelimit import TokenBucket
from floodctl.core import db
from floodctl.core.errors import ServiceUnavailable
from floodctl.core.settings import Settings

log = logging.getLogger("floodctl.dispatch")

POLL_S = 0.5
RECONNECT_S = 2.0
MAX_RECONNECT_S = 5.0
POOL_OPEN_WAIT_S = 5.0
JITTER = 0.2
DEVICE_RATE_PER_S = 500.0
RESULT_TRIES = 3
POOL_WAIT_S = 5.0
MQTT_CONNECT_WAIT_S = 10.0
# A broadcast is thousands of sends: each success is DEBUG, retries INFO, anything final and bad WARNING.
LOG_LEVELS = {"sent": logging.DEBUG, "reconciled": logging.INFO, "retry": logging.INFO}

DELIVERIES = PromCounter(
    "floodctl_deliveries",
    "Outbox deliveries handled, by channel and outcome "
    "(sent, reconciled, retry, in_doubt, failed, gave_up, cancelled, lost, released)",
    ["channel", "outcome"],
)


@dataclass(slots=True)
class _Job:
    delivery: Delivery
    in_doubt: bool
    lease_deadline: float  # monotonic; conservative (taken before the claim statement ran)
    deadline: float  # monotonic: the delivery's 叫应 deadline (retries stop there)
    reconciled: bool = False


def backoff_s(settings: Settings, attempts: int) -> float:
    """Delay before the next attempt after ``attempts`` attempts: doubling, capped, ±20 % jitter."""
    base = min(settings.dispatch_backoff_s * 2.0 ** min(max(attempts - 1, 0), 30), settings.dispatch_backoff_max_s)
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def describe_channel(channel: Channel) -> str:
    if isinstance(channel, SmsChannel):
        return channel.base_url
    if isinstance(channel, RefusingChannel):
        return f"refused ({channel.reason})"
    return "MQTT"


class Dispatcher:
    """Claims due deliveries and sends them on a thread pool (see the module docstring).

    ``mqtt_client``: a connected (or connecting) paho client for LED boards and loudspeakers; without
    one, only SMS deliveries are claimed (device rows wait for a dispatcher that has a broker).
    """

    def __init__(self, settings: Settings, dsn: str, mqtt_client: Any | None = None) -> None:
        self.settings = settings
        self.dsn = dsn
        self.threads = settings.dispatch_threads
        self.lease_s = float(settings.dispatch_lease_s)
        self.default_call_s = max(2 * settings.sms_timeout_s, PUBACK_TIMEOUT_S)
        self.channels: dict[bool, dict[str, Channel]] = {
            False: channels_for(settings, False, mqtt_client),
            True: channels_for(settings, True, mqtt_client),
        }
        self.channel_names = sorted({name for chans in self.channels.values() for name in chans})
        self._buckets: dict[object, TokenBucket] = {}
        for chans in self.channels.values():
            for channel in chans.values():
                key = self._bucket_key(channel)
                if key not in self._buckets:
                    rate = settings.sms_rate_per_s if channel.name == "sms" else DEVICE_RATE_PER_S
                    self._buckets[key] = TokenBucket(rate)
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._pool: ConnectionPool | None = None

    # --- public ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set; then let in-flight sends finish and close."""
        self._stop = stop
        try:
            if not self._open_pool_waiting(stop):
                return
        except BaseException:
            self.close()
            raise
        listener = threading.Thread(target=self._listen, args=(stop,), name="dispatch-listen", daemon=True)
        listener.start()
        executor = ThreadPoolExecutor(self.threads, thread_name_prefix="dispatch")
        db_down = False
        try:
            while not stop.is_set():
                free = self.threads - self._inflight_now()
                if free > 0:
                    try:
                        jobs, claimed = self._claim(free)
                    except (psycopg.Error, ServiceUnavailable) as exc:
                        if not db_down:
                            log.error("dispatch: claiming deliveries failed (%s); retrying", _first_line(exc))
                        db_down = True
                        self._drop_connection()
                        stop.wait(RECONNECT_S)
                        continue
                    if db_down:
                        log.info("dispatch: database reachable again")
                        db_down = False
                    for job in jobs:
                        self._submit(executor, job)
                    if claimed == free:
                        continue  # there may be more due: claim again once a thread is free
                self._wake.wait(POLL_S)
                self._wake.clear()
        finally:
            executor.shutdown(wait=True)  # bounded by the gateway timeouts; waiting rows are released
            listener.join(POLL_S * 4)
            self.close()

    def run_once(self) -> int:
        """Claim what is due now (up to ``dispatch_threads`` rows) and process it to the end.
        Returns how many rows were claimed (cancelled ones included)."""
        self._open_pool()
        jobs, claimed = self._claim(self.threads)
        if jobs:
            with ThreadPoolExecutor(min(self.threads, len(jobs)), thread_name_prefix="dispatch") as executor:
                for job in jobs:
                    self._submit(executor, job)
        return claimed

    def close(self) -> None:
        self._drop_connection()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        for chans in self.channels.values():
            for channel in chans.values():
                closer = getattr(channel, "close", None)
                if closer is not None:
                    closer()

    def wake(self) -> None:
        """Claim now rather than at the next poll."""
        self._wake.set()

    # --- claiming ---------------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _open_pool_waiting(self, stop: threading.Event) -> bool:
        """Open the pool, waiting for the database however long it takes (logged once); False if stopped."""
        delay, since = RECONNECT_S / 4, None
        while not stop.is_set():
            try:
                self._open_pool()
            except ServiceUnavailable as exc:
                if since is None:
                    since = time.monotonic()
                    log.error("dispatch: %s; waiting for it", exc.message)
                stop.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_S)
                continue
            if since is not None:
                log.info("dispatch: database reachable again after %.0f s", time.monotonic() - since)
            return True
        return False

    def _open_pool(self) -> None:
        if self._pool is not None:
            return
        pool = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self.threads + 1,
            name="dispatch",
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 5},
            reconnect_timeout=60,
            check=lambda conn: db.check_and_sweep(pool, conn),
        )
        try:
            pool.open(wait=True, timeout=POOL_OPEN_WAIT_S)
        except Exception as exc:
            pool.close()
            raise ServiceUnavailable(f"database not reachable: {_first_line(exc)}") from None
        self._pool = pool

    def _claim(self, limit: int) -> tuple[list[_Job], int]:
        started = time.monotonic()
        rows = (
            self._connection()
            .execute(CLAIM_SQL, {"channels": self.channel_names, "limit": limit, "lease": self.lease_s})
            .fetchall()
        )
        jobs = []
        for row in rows:
            delivery = Delivery(*row[:11])
            in_doubt, state, deadline_in_s = bool(row[11]), row[12], row[13]
            if state != "sending":  # cancelled / not approved: settled by the claim itself
                self._count(delivery.channel, "cancelled" if state == "cancelled" else "failed")
                log.info(
                    "dispatch: delivery %d (%s to %s) %s, not sent",
                    delivery.id,
                    delivery.channel,
                    delivery.address,
                    "cancelled with its order" if state == "cancelled" else state,
                )
                continue
            if in_doubt:
                log.info(
                    "dispatch: delivery %d (%s to %s) in doubt after attempt %d: reconciling first",
                    delivery.id,
                    delivery.channel,
                    delivery.address,
                    delivery.attempts - 1,
                )
            deadline = started + (float(deadline_in_s) if deadline_in_s is not None else 0.0)
            jobs.append(_Job(delivery, in_doubt, started + self.lease_s, deadline))
        return jobs, len(rows)

    def _listen(self, stop: threading.Event) -> None:
        """LISTEN floodctl_outbox: each notification wakes the claim loop."""
        failed = False
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    failed = False
                    self._wake.set()  # anything notified while we were not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=POLL_S):
                            self._wake.set()
            except psycopg.Error as exc:
                if not failed:
                    log.warning("dispatch: LISTEN %s failed (%s); polling meanwhile", OUTBOX_CHANNEL, _first_line(exc))
                failed = True
                stop.wait(RECONNECT_S)

    # --- working ----------------------------------------------------------------------------------

    def _inflight_now(self) -> int:
        with self._inflight_lock:
            return self._inflight

    def _submit(self, executor: ThreadPoolExecutor, job: _Job) -> None:
        with self._inflight_lock:
            self._inflight += 1
        executor.submit(self._work, job)

    def _work(self, job: _Job) -> None:
        try:
            try:
                result = self._attempt(job)
            except Exception as exc:  # a bug in a channel must not stop the dispatcher; the row is in doubt
                log.exception("dispatch: delivery %d: unexpected error", job.delivery.id)
                result = SendResult.in_doubt(f"internal error: {type(exc).__name__}: {exc}")
            if result is not None:
                self._record(job, result)
        except psycopg.OperationalError as exc:  # the database went away (PoolTimeout is one too)
            log.warning(
                "dispatch: delivery %d: result not recorded (%s); it is taken up again, in doubt, once its "
                "lease expires",
                job.delivery.id,
                _first_line(exc),
            )
        except Exception:
            log.exception("dispatch: delivery %d: recording the result failed", job.delivery.id)
        finally:
            with self._inflight_lock:
                self._inflight -= 1
            self._wake.set()

    def _channel(self, d: Delivery) -> Channel:
        return self.channels[bool(d.drill_id)][d.channel]

    @staticmethod
    def _bucket_key(channel: Channel) -> object:
        return getattr(channel, "gateway", None) or (channel.name, id(channel))

    def _attempt(self, job: _Job) -> SendResult | None:
        """Reconcile (if in doubt) and send; None when the row was released or lost (nothing to record)."""
        d = job.delivery
        channel = self._channel(d)
        bucket = self._buckets[self._bucket_key(channel)]
        if job.in_doubt:
            if not bucket.acquire(self._stop):
                self._release(job)
                return None
            if not self._hold(job, channel):
                return None
            try:
                provider_id = channel.find_sent(d)
            except ReconcileError as exc:
                return SendResult.in_doubt(f"could not reconcile: {exc}")
            if provider_id:
                job.reconciled = True
                log.info("dispatch: delivery %d was sent before (%s): not sending again", d.id, provider_id)
                return SendResult.sent(provider_id)
        if not bucket.acquire(self._stop):
            self._release(job)
            return None
        if not self._hold(job, channel):
            return None
        return channel.send(d)

    def _call_budget_s(self, channel: Channel) -> float:
        """The longest one gateway call of ``channel`` can take (its ``max_call_s``), plus a second."""
        return float(getattr(channel, "max_call_s", self.default_call_s)) + 1.0

    def _hold(self, job: _Job, channel: Channel) -> bool:
        """Make sure the lease outlasts the next gateway call; False if the row is no longer ours."""
        budget = self._call_budget_s(channel)
        if job.lease_deadline - time.monotonic() >= budget:
            return True
        secs = max(self.lease_s, budget + 1.0)
        started = time.monotonic()
        try:
            rows = self._execute(EXTEND_SQL, {"secs": secs, "id": job.delivery.id, "attempts": job.delivery.attempts})
        except (psycopg.Error, PoolTimeout) as exc:
            # Unsure whether we still hold it: do not send. Its lease runs out and it is taken over, in doubt.
            log.warning(
                "dispatch: delivery %d: lease not extended (%s): not sending it now", job.delivery.id, _first_line(exc)
            )
            return False
        if rows != 1:
            self._count(job.delivery.channel, "lost")
            log.warning(
                "dispatch: delivery %d was taken over by another dispatcher before sending: left to it", job.delivery.id
            )
            return False
        job.lease_deadline = started + secs
        return True

    def _release(self, job: _Job) -> None:
        self._execute(RELEASE_SQL, {"id": job.delivery.id, "attempts": job.delivery.attempts})
        self._count(job.delivery.channel, "released")

    def _record(self, job: _Job, result: SendResult) -> None:
        d = job.delivery
        fence = {"id": d.id, "attempts": d.attempts}
        outcome: str = result.outcome
        if result.outcome == "sent":
            try:
                done = self._execute(SENT_SQL, {**fence, "provider_id": result.provider_id})
            except psycopg.errors.UniqueViolation:
                error = f"provider id {result.provider_id} already belongs to another delivery (same text twice?)"
                done, outcome = self._execute(FAIL_SQL, {**fence, "in_doubt": True, "error": error}), "failed"
            else:
                outcome = "reconciled" if job.reconciled else "sent"
        elif result.outcome in ("retry", "in_doubt"):
            in_doubt = result.outcome == "in_doubt"
            left = job.deadline - time.monotonic()
            if left <= 0:
                error = f"gave up at the 叫应 deadline after {d.attempts} attempts: {result.error}"
                done, outcome = self._execute(FAIL_SQL, {**fence, "in_doubt": in_doubt, "error": error}), "gave_up"
            else:  # the last retry falls on the deadline itself
                delay = min(backoff_s(self.settings, d.attempts), left)
                done = self._execute(RETRY_SQL, {**fence, "delay": delay, "in_doubt": in_doubt, "error": result.error})
        else:
            done = self._execute(FAIL_SQL, {**fence, "in_doubt": False, "error": result.error})
        self._count(d.channel, outcome)
        if result.outcome == "retry" and (result.error or "").startswith("429"):
            self._count(d.channel, "rate_limited", metric=False)
        log.log(
            LOG_LEVELS.get(outcome, logging.WARNING),
            "dispatch: delivery %d (%s to %s, attempt %d): %s%s",
            d.id,
            d.channel,
            d.address,
            d.attempts,
            outcome,
            f" — {result.error}" if result.error else "",
        )
        if not done:
            log.info(
                "dispatch: delivery %d changed meanwhile (status callback or device ack): result %s not written",
                d.id,
                outcome,
            )

    def _execute(self, sql: str, params: dict[str, Any]) -> int:
        """Run one fenced update on a pooled connection, retrying a lost connection; rows updated."""
        assert self._pool is not None
        for attempt in range(1, RESULT_TRIES + 1):
            try:
                with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                    return conn.execute(sql, params).rowcount
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if attempt == RESULT_TRIES:
                    raise
                log.warning("dispatch: database error (%s); retrying", _first_line(exc))
                time.sleep(0.5 * attempt)
        return 0

    def _count(self, channel: str, outcome: str, *, metric: bool = True) -> None:
        if metric:
            DELIVERIES.labels(channel, outcome).inc()
        with self._stats_lock:
            self.stats[outcome] += 1


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_dispatcher(settings: Settings, dsn: str, stop: threading.Event) -> None:
    """The dispatcher with LED boards and loudspeakers when a broker is configured or resolvable
    (FLOOD_MQTT_URL, or the embedded one ``floodctl up`` started), until ``stop`` is set."""
    from floodctl.core.embedded import mqtt_target
    from floodctl.core.mqtt import BrokerAddress, connect_async, make_client

    client = listener = None
    try:
        target = mqtt_target(settings)
    except ServiceUnavailable as exc:
        log.warning(
            "dispatch: %s — LED board and loudspeaker deliveries wait for a dispatcher with a broker", exc.message
        )
        target = None
    if target is not None:
        address = BrokerAddress.parse(target.url)
        client, props = make_client(
            target.url,
            f"{settings.mqtt_client_prefix}-dispatch-{uuid.uuid4().hex[:8]}",
            protocol=target.protocol,
            persistent=False,
        )
        listener = DeviceAckListener(client, dsn).start()
        connect_async(
            client,
            target.url,
            keepalive=settings.mqtt_keepalive_s,
            protocol=target.protocol,
            properties=props,
            persistent=False,
        )
        client.loop_start()
        if listener.subscribed.wait(MQTT_CONNECT_WAIT_S):
            log.info("dispatch: MQTT broker %s:%d connected; listening for device acks", address.host, address.port)
        else:
            log.warning(
                "dispatch: MQTT broker %s:%d not reachable yet; device deliveries are retried until it is",
                address.host,
                address.port,
            )
    try:
        dispatcher = Dispatcher(settings, dsn, client)
        live, drill = dispatcher.channels[False]["sms"], dispatcher.channels[True]["sms"]
        log.info(
            "dispatch: running with %d threads; channels %s; live SMS %s; drill SMS %s; "
            "SMS rate %.4g/s per gateway in this process",
            dispatcher.threads,
            ", ".join(dispatcher.channel_names),
            describe_channel(live),
            describe_channel(drill),
            settings.sms_rate_per_s,
        )
        dispatcher.run(stop)
        log.info("dispatch: stopped (%s)", _summary(dispatcher.stats.items()))
    finally:
        if listener is not None:
            listener.stop()
        if client is not None:
            client.disconnect()
            client.loop_stop()


def _summary(items: Iterable[tuple[str, int]]) -> str:
    parts = [f"{count} {outcome}" for outcome, count in sorted(items)]
    return ", ".join(parts) if parts else "nothing to do"
