"""Delivery channels: how one outbox row (``deliveries``) reaches a phone, an LED board or a loudspeaker.

One small interface, :class:`Channel`: ``send`` a delivery and say what happened (:class:`SendResult`),
and ``find_sent`` to reconcile a delivery whose earlier attempt is *in doubt* (the request may have
reached the gateway, but no answer came back). The dispatcher (``alerts/dispatch.py``) owns retries,
backoff, leases and rate limits; a channel only talks to its gateway.

* :class:`SmsChannel` — a Twilio-compatible REST API (our stub, or a real provider).
* :class:`MqttDeviceChannel` — village LED boards and loudspeakers over MQTT (QoS 1); drills use their
  own topic namespace ``flood/v1/drill/...``, which real devices' ACLs never allow, so a drill can
  never drive a real board.
* :class:`DeviceAckListener` — device acks (``.../ack``) → ``deliveries.state`` ``acked`` / ``failed``.

Drills (演练) never reach a real phone: a drill SMS goes only through the drill gateway
(``FLOOD_DRILL_SMS_BASE_URL``, or the built-in stub in development), its text must start with
【演练】, and a live gateway refuses any text that does.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
import orjson
import paho.mqtt.client as mqtt
import psycopg

from floodctl.core.net import is_loopback_url
from floodctl.core.settings import Settings

log = logging.getLogger("floodctl.dispatch")

DRILL_MARK = "【演练】"
API_VERSION = "2010-04-01"
LIST_PAGE_SIZE = 1000            # Twilio's maximum
MAX_LIST_PAGES = 50              # reconcile looks at most at this many pages of one number's messages
PUBACK_TIMEOUT_S = 5.0
SMS_STATUS_PATH = "/api/v1/hooks/sms/status"
DEFAULT_SMS_FROM = "floodctl"    # alphanumeric sender id when FLOOD_SMS_FROM is unset
NO_SMS_GATEWAY = "no SMS gateway configured (FLOOD_SMS_BASE_URL)"
NO_DRILL_SMS_GATEWAY = "no drill SMS gateway configured (FLOOD_DRILL_SMS_BASE_URL)"
DRILL_WITHOUT_MARK = f"drill text without {DRILL_MARK} marker"
DRILL_TEXT_ON_LIVE = f"drill text ({DRILL_MARK}) refused by the live SMS gateway"
URGENT_WORDS = ("紧急", "红色", "橙色")
ACK_TOPICS = ("flood/v1/led/+/ack", "flood/v1/speaker/+/ack",
              "flood/v1/drill/led/+/ack", "flood/v1/drill/speaker/+/ack")
ACK_QUEUE_MAX = 100_000

Outcome = Literal["sent", "retry", "failed", "in_doubt"]
DeviceKind = Literal["led", "speaker"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as a channel sees it."""

    id: int
    order_id: int
    drill_id: int
    town_code: str
    recipient: str
    channel: str
    address: str          # E.164 phone number, or device id
    round: int
    body: str
    attempts: int         # including the attempt in progress
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SendResult:
    """``sent`` (provider_id set) | ``retry`` (nothing went out; try later) | ``failed`` (permanent) |
    ``in_doubt`` (it may have gone out: reconcile with ``find_sent`` before sending again)."""

    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None

    @classmethod
    def sent(cls, provider_id: str) -> SendResult:
        return cls("sent", provider_id, None)

    @classmethod
    def retry(cls, error: str) -> SendResult:
        return cls("retry", None, error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls("failed", None, error)

    @classmethod
    def in_doubt(cls, error: str) -> SendResult:
        return cls("in_doubt", None, error)


class ReconcileError(Exception):
    """``find_sent`` could not tell whether the delivery was sent (the gateway did not answer)."""


class Channel(Protocol):
    """``name``: "sms" | "led" | "speaker". A channel may also say how long one gateway call can take
    at most (``max_call_s``, seconds): the dispatcher keeps its lease on a delivery longer than that."""

    name: str

    def send(self, d: Delivery) -> SendResult: ...

    def find_sent(self, d: Delivery) -> str | None:
        """Reconcile an in-doubt delivery: its provider id if it was sent, else None.
        Raises ReconcileError when the gateway cannot tell now."""
        ...


# --- SMS ---------------------------------------------------------------------------------------

class SmsChannel:
    """A Twilio-compatible Messages API. One pooled keep-alive ``httpx.Client``, shared by the threads.

    Outcomes: 201 → sent (the Message SID); 408 / 429 / 5xx / no connection → retry; no answer
    after the request went out (read timeout, connection dropped) → in_doubt; other 4xx → failed
    with Twilio's message. A drill channel refuses texts without 【演练】 and live deliveries; a live
    channel refuses drill deliveries and texts starting with 【演练】.

    One send takes at most about ``connect + read`` timeouts (≤ 2 × ``timeout_s``): the pool has a
    connection per thread and a form post is written at once.
    """

    name = "sms"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, from_: str,
                 status_callback_url: str | None, timeout_s: float, drill: bool, *,
                 max_connections: int = 256) -> None:
        self.base_url = base_url.rstrip("/")
        self.from_ = from_
        self.status_callback_url = status_callback_url
        self.timeout_s = timeout_s
        self.drill = drill
        self.max_call_s = 2 * timeout_s          # connect + read: the longest one request can take
        self.page_size = LIST_PAGE_SIZE
        self._messages = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._http = httpx.Client(
            base_url=self.base_url, auth=(account_sid, auth_token),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": "floodctl-dispatch"}, follow_redirects=False,
            trust_env=not is_loopback_url(self.base_url),   # a proxy from the environment never sees the stub
        )

    @property
    def gateway(self) -> str:
        """What shares one rate limit: the gateway's base URL."""
        return self.base_url

    def close(self) -> None:
        self._http.close()

    def refusal(self, d: Delivery) -> str | None:
        """Why this channel must not send ``d`` (drill isolation), or None."""
        if self.drill:
            if not d.drill_id:
                return "live delivery refused by the drill SMS gateway"
            if not d.body.startswith(DRILL_MARK):
                return DRILL_WITHOUT_MARK
        else:
            if d.drill_id:
                return f"drill {d.drill_id} delivery refused by the live SMS gateway"
            if d.body.startswith(DRILL_MARK):
                return DRILL_TEXT_ON_LIVE
        return None

    def send(self, d: Delivery) -> SendResult:
        refused = self.refusal(d)
        if refused:
            return SendResult.failed(refused)
        form = {"To": d.address, "From": self.from_, "Body": d.body}
        if self.status_callback_url:
            form["StatusCallback"] = self.status_callback_url
        try:
            response = self._http.post(self._messages, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError) as exc:
            return SendResult.retry(f"SMS gateway not reachable: {_describe(exc)}")
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return SendResult.failed(f"SMS gateway request not possible: {_describe(exc)}")
        except httpx.TimeoutException as exc:
            return SendResult.in_doubt(f"no answer from the SMS gateway within {self.timeout_s:g} s "
                                       f"({type(exc).__name__}): it may have accepted the message")
        except httpx.HTTPError as exc:
            return SendResult.in_doubt(f"connection to the SMS gateway lost mid-request: {_describe(exc)}")
        if response.status_code in (200, 201):
            sid = _json_field(response, "sid")
            if not isinstance(sid, str) or not sid:
                return SendResult.in_doubt(f"SMS gateway answered {response.status_code} without a message sid")
            return SendResult.sent(sid)
        text = _error_text(response)
        if response.status_code in (408, 429) or response.status_code >= 500:
            return SendResult.retry(text)
        return SendResult.failed(text)

    def find_sent(self, d: Delivery) -> str | None:
        """The SID of the gateway's message to ``d.address`` with exactly ``d.body``, or None.

        Lists the number's messages (Twilio: newest first) from the day before the delivery was
        created (UTC), page by page. Bodies are unique per delivery (a per-recipient signed link).
        Twilio's ``DateSent`` filter may leave out a message still queued at the provider; the
        dispatcher reconciles after a backoff or an expired lease, by when it has normally been sent.
        """
        since = (d.created_at.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        url: str | None = self._messages
        params: dict[str, Any] | None = {"To": d.address, "DateSent>": since, "PageSize": self.page_size}
        for _ in range(MAX_LIST_PAGES):
            if url is None:
                return None
            try:
                response = self._http.get(url, params=params)
            except httpx.HTTPError as exc:
                raise ReconcileError(f"listing messages failed: {_describe(exc)}") from None
            if response.status_code != 200:
                raise ReconcileError(f"listing messages failed: {_error_text(response)}")
            try:
                page = response.json()
                messages = page["messages"]
            except (ValueError, KeyError, TypeError):
                raise ReconcileError("listing messages failed: the answer is not a Twilio message list") from None
            for message in messages:
                if isinstance(message, dict) and message.get("body") == d.body and message.get("sid"):
                    return str(message["sid"])
            url, params = page.get("next_page_uri"), None
        raise ReconcileError(f"more than {MAX_LIST_PAGES} pages of messages to {d.address}: cannot tell")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_field(response: httpx.Response, name: str) -> Any:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def _error_text(response: httpx.Response) -> str:
    """'429 Too Many Requests (Twilio 20429)': the status, Twilio's message and code when present."""
    message, code = _json_field(response, "message"), _json_field(response, "code")
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or "error"
    return f"{response.status_code} {message}" + (f" (Twilio {code})" if code else "")


class RefusingChannel:
    """A channel that fails every delivery with one reason (a gateway that is not configured)."""

    max_call_s = 0.0

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def send(self, d: Delivery) -> SendResult:
        return SendResult.failed(self.reason)

    def find_sent(self, d: Delivery) -> str | None:
        return None


# --- LED boards and loudspeakers --------------------------------------------------------------

def device_topic(kind: str, device_id: str, drill: bool, leaf: str = "cmd") -> str:
    """``flood/v1/{kind}/{id}/{leaf}`` live, ``flood/v1/drill/{kind}/{id}/{leaf}`` for drills."""
    return f"flood/v1/{'drill/' if drill else ''}{kind}/{device_id}/{leaf}"


class MqttDeviceChannel:
    """Commands to village LED boards or loudspeakers: QoS 1 publish, sent once the broker PUBACKs.

    The command id ``dlv-{delivery id}`` is stable across retries, so a device shows / plays a
    resent command once (see ``simulators/devices.py``); ``find_sent`` is therefore never needed
    (None: resending is harmless). The device's own ack arrives later (:class:`DeviceAckListener`).
    """

    def __init__(self, client: mqtt.Client, kind: DeviceKind, *, timeout_s: float = PUBACK_TIMEOUT_S) -> None:
        if kind not in ("led", "speaker"):
            raise ValueError(f"unknown device kind {kind!r}")
        self.name: str = kind
        self.client = client
        self.timeout_s = timeout_s
        self.max_call_s = timeout_s

    @staticmethod
    def command_id(d: Delivery) -> str:
        return f"dlv-{d.id}"

    def command(self, d: Delivery) -> dict[str, Any]:
        return {"command_id": self.command_id(d), "text": d.body, "drill_id": d.drill_id,
                "priority": "urgent" if any(word in d.body for word in URGENT_WORDS) else "normal",
                "repeat": 2 if self.name == "speaker" else 1}

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


# --- device acks -------------------------------------------------------------------------------

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


MAX_ACK_REASON = 500        # characters of a device's failure reason
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
    drill = len(parts) == 6 and parts[2] == "drill"
    if drill:
        parts = parts[:2] + parts[3:]
    if len(parts) != 5 or parts[:2] != ["flood", "v1"] or parts[2] not in ("led", "speaker") or parts[4] != "ack":
        raise ValueError(f"not a device ack topic: {topic}")
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
    _ack_text(parts[3], "device id", MAX_DEVICE_ID)
    if len(command_id) > 24 or not command_id[4:].isascii():
        raise ValueError(f"command_id {command_id[:40]!r} is not one of ours (dlv-N)")
    delivery_id = int(command_id[4:])
    if delivery_id >= 2**63:
        raise ValueError(f"command_id {command_id!r} out of range")
    return DeviceAck(delivery_id, parts[2], parts[3], drill, status, reason)


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
        previous_connect, previous_subscribe = self.client.on_connect, self.client.on_subscribe

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
        self.handle(msg.topic, msg.payload)

    def handle(self, topic: str, payload: bytes) -> None:
        """One ack message: parsed and queued for the writer; never raises."""
        ack: DeviceAck | None = None
        why = ""
        try:
            ack = parse_ack(topic, payload)
        except ValueError as exc:
            why = str(exc)
            log.warning("dispatch: bad device ack on %.200s dead-lettered (%.200s): %r", topic, why, payload[:200])
        except Exception as exc:   # never take the MQTT loop down
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
                        log.error("dispatch: device ack on %.200s refused by the database (%s); dead-lettered",
                                  topic, exc)
                        state = "bad"
                        self._dead_letter(conn, topic, payload, f"database refused the ack: {exc}")
                        self._count("bad")
            except psycopg.Error as exc:
                if conn is not None and not _ack_db_unavailable(exc, conn):
                    # Not even its dead letter could be stored (should never happen): never block the rest.
                    log.error("dispatch: device ack on %.200s neither recorded nor dead-lettered (%s); dropped",
                              topic, exc)
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
                log.debug("dispatch: ack for delivery %d (%s %s) matched nothing open", ack.delivery_id,
                          ack.channel, ack.device)
        if conn is not None:
            conn.close()

    @staticmethod
    def _record(conn: psycopg.Connection, ack: DeviceAck, state: str) -> int:
        error = f"device {ack.device}: {ack.reason or 'failed'}"
        return conn.execute(ACK_SQL, {"state": state, "error": error, "command_id": f"dlv-{ack.delivery_id}",
                                      "id": ack.delivery_id, "channel": ack.channel, "device": ack.device,
                                      "drill": ack.drill}).rowcount

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


# --- which channel for a delivery -----------------------------------------------------------

def _sms_channel(settings: Settings, drill: bool) -> Channel:
    callback = settings.public_url.rstrip("/") + SMS_STATUS_PATH
    from_ = settings.sms_from or DEFAULT_SMS_FROM
    if not drill:
        if not settings.sms_base_url:
            return RefusingChannel("sms", NO_SMS_GATEWAY)
        sid, token = settings.sms_credentials()
        return SmsChannel(settings.sms_base_url, sid, token, from_, callback, settings.sms_timeout_s, drill=False)
    if settings.drill_sms_base_url:
        sid, token = settings.drill_sms_credentials()
        return SmsChannel(settings.drill_sms_base_url, sid, token, from_, callback, settings.sms_timeout_s,
                          drill=True)
    # Unset: in development the built-in stub (the live URL, when it is a loopback stub) takes drills too.
    if settings.environment == "development" and settings.sms_base_url and is_loopback_url(settings.sms_base_url):
        sid, token = settings.sms_credentials()
        return SmsChannel(settings.sms_base_url, sid, token, from_, callback, settings.sms_timeout_s, drill=True)
    return RefusingChannel("sms", NO_DRILL_SMS_GATEWAY)


def channels_for(settings: Settings, drill: bool, mqtt_client: mqtt.Client | None) -> dict[str, Channel]:
    """The channels for live (``drill=False``) or drill deliveries, by channel name.

    SMS always (a refusing channel when no gateway may be used); LED boards and loudspeakers only
    with an MQTT client.
    """
    channels: dict[str, Channel] = {"sms": _sms_channel(settings, drill)}
    if mqtt_client is not None:
        channels["led"] = MqttDeviceChannel(mqtt_client, "led")
        channels["speaker"] = MqttDeviceChannel(mqtt_client, "speaker")
    return channels
