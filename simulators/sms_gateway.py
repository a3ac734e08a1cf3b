"""A stub of the part of Twilio's REST API (2010-04-01) that sends SMS, for drills and tests.

The official ``twilio`` library works against it unchanged (point ``client.api.base_url`` at the stub):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` — form fields ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``, optional ``StatusCallback``; HTTP Basic auth with the account SID
  and auth token; answers 201 with a Twilio-shaped Message resource in status ``queued``.
* ``GET …/Messages/{MessageSid}.json`` and ``GET …/Messages.json`` (newest first, paged with
  ``Page``/``PageSize``, filtered by ``To``/``From``).
* Errors are Twilio-shaped JSON ``{"code", "message", "more_info", "status"}``: 401/20003 for wrong
  credentials, 400/21604 (no To), 21603 (no From), 21602 (no Body), 21211 (To not E.164), 21617
  (Body over 1600 characters), 404/20404 for an unknown resource, 429/20429 beyond the rate limit,
  503/20503 for injected server errors.

Every message then walks its life on a background thread, ``callback_delay_ms`` between steps:
``queued → sent → delivered``, or ``queued → failed`` (ErrorCode 30008), or ``queued → sent →
undelivered`` (ErrorCode 30003), drawn per message from a seeded RNG: ``failed`` with probability
``failed_rate``, else ``delivered`` with probability ``delivered_rate`` (absolute), else
``undelivered``. With a ``StatusCallback`` each step is POSTed there form-encoded and signed with
``X-Twilio-Signature`` exactly as Twilio does it. **Drills must never reach a real phone, nor the
outside world**: this stub sends nothing anywhere except status callbacks, and those only to
loopback addresses (``127.0.0.0/8``, ``::1``, ``localhost``); any other callback is logged and skipped.

Everything is kept in memory for inspection: ``app.state.gateway`` (:class:`SmsGateway`),
``app.state.messages`` (SID → Message resource dict, in creation order), ``app.state.sent_to(number)``
and ``gateway.callbacks`` (every callback attempt, including the refused ones).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import math
import random
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alerts.signing import twilio_signature
from floodctl.core.net import is_loopback_url

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# GSM 03.38: the basic set costs one septet, the extension set two.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")

ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20503: (503, "Service is unavailable. Please try again"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}
DELIVERY_ERRORS = {"failed": 30008, "undelivered": 30003}
DELIVERY_ERROR_MESSAGES = {30008: "Unknown error", 30003: "Unreachable destination handset"}


@dataclass(frozen=True, slots=True)
class SmsGatewayConfig:
    account_sid: str
    auth_token: str
    status_callback_signing: str | None = None  # key for X-Twilio-Signature; None = the auth token (as Twilio)
    delivered_rate: float = 1.0
    failed_rate: float = 0.0
    latency_ms: int = 0
    rate_limit_per_s: float | None = None
    error_5xx_rate: float = 0.0
    seed: int = 0
    callback_delay_ms: int = 50
    callback_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("delivered_rate", "failed_rate", "error_5xx_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ValueError("rate_limit_per_s must be positive (or None for no limit)")
        if self.latency_ms < 0 or self.callback_delay_ms < 0:
            raise ValueError("latency_ms and callback_delay_ms must not be negative")

    @property
    def signing_key(self) -> str:
        return self.status_callback_signing or self.auth_token


def num_segments(body: str) -> int:
    """SMS parts for a body: GSM-7 (160 / 153 per part) or UCS-2 (70 / 67 UTF-16 units per part)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def _rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def twilio_error(code: int, message: str | None = None, status: int | None = None) -> JSONResponse:
    default_status, default_message = ERRORS.get(code, (status or 400, "Error"))
    http_status = status or default_status
    content = {
        "code": code,
        "message": message or default_message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if http_status == 401 else None
    return JSONResponse(content, status_code=http_status, headers=headers)


@dataclass(slots=True)
class CallbackAttempt:
    url: str
    params: dict[str, str]
    signature: str | None
    outcome: str  # "sent", "refused" (not loopback), "error" (no answer / exception)
    http_status: int | None = None


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


@dataclass
class SmsGateway:
    """The stub's state; one per app."""

    config: SmsGatewayConfig
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: list[CallbackAttempt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._outcomes = random.Random(self.config.seed)
        self._faults = random.Random(f"{self.config.seed}:5xx")
        self._bucket = _TokenBucket(self.config.rate_limit_per_s) if self.config.rate_limit_per_s else None
        self._threads: list[threading.Thread] = []
        self._outage: tuple[float, int] | None = None  # (monotonic end, Twilio error code)
        # One client for every status callback (thread-safe, keep-alive). No CA bundle: callbacks only
        # ever go to loopback addresses, and loading the bundle per client costs ~16 ms of CPU.
        self.http = httpx.Client(
            timeout=self.config.callback_timeout_s, follow_redirects=False, trust_env=False, verify=False
        )

    # -- inspection -------------------------------------------------------------------------------

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        """Copies of the messages addressed to ``number``, oldest first."""
        with self.lock:
            return [dict(m) for m in self.messages.values() if m["to"] == number]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every message has reached its final status (and its callbacks are done)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    # -- request-level faults ---------------------------------------------------------------------

    def rate_limited(self) -> bool:
        return self._bucket is not None and not self._bucket.take()

    def fail_for(self, seconds: float, code: int = 20503) -> None:
        """An outage: every API request gets this Twilio error (20503 → 503, 20429 → 429) for ``seconds``
        (the fault drill's "gateway answers 5xx/429 for two minutes")."""
        with self.lock:
            self._outage = (time.monotonic() + seconds, code) if seconds > 0 else None

    def outage_code(self) -> int | None:
        with self.lock:
            if self._outage is None or time.monotonic() >= self._outage[0]:
                self._outage = None
                return None
            return self._outage[1]

    def inject_5xx(self) -> bool:
        if self.config.error_5xx_rate <= 0:
            return False
        with self.lock:
            return self._faults.random() < self.config.error_5xx_rate

    # -- messages ---------------------------------------------------------------------------------

    def create(
        self, to: str, from_: str | None, service_sid: str | None, body: str, status_callback: str | None
    ) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822(datetime.now(UTC))
        account = self.config.account_sid
        uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json"
        message = {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service_sid,
            "num_media": "0",
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": uri.replace(".json", "/Media.json"),
                "feedback": uri.replace(".json", "/Feedback.json"),
            },
            "to": to,
            "uri": uri,
        }
        with self.lock:
            draw = self._outcomes.random()
            self.messages[sid] = message
        if draw < self.config.failed_rate:
            final = "failed"
        elif draw < self.config.failed_rate + self.config.delivered_rate:
            final = "delivered"
        else:
            final = "undelivered"
        steps = {
            "failed": ["queued", "failed"],
            "delivered": ["queued", "sent", "delivered"],
            "undelivered": ["queued", "sent", "undelivered"],
        }[final]
        thread = threading.Thread(
            target=self._lifecycle, args=(sid, steps, status_callback), daemon=True, name=f"sms-{sid[:10]}"
        )
        with self.lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return dict(message)

    def get(self, sid: str) -> dict[str, Any] | None:
        with self.lock:
            message = self.messages.get(sid)
            return dict(message) if message else None

    def listing(self, to: str | None, from_: str | None) -> list[dict[str, Any]]:
        with self.lock:
            chosen = [
                dict(m)
                for m in self.messages.values()
                if (to is None or m["to"] == to) and (from_ is None or m["from"] == from_)
            ]
        chosen.reverse()  # Twilio lists newest first
        return chosen

    # -- delivery simulation ----------------------------------------------------------------------

    def _lifecycle(self, sid: str, steps: list[str], status_callback: str | None) -> None:
        delay = self.config.callback_delay_ms / 1000
        http = self.http
        for index, status in enumerate(steps):
            if index and self.stopping.wait(delay):
                return
            error_code = DELIVERY_ERRORS.get(status)
            with self.lock:
                message = self.messages[sid]
                message["status"] = status
                message["date_updated"] = _rfc2822(datetime.now(UTC))
                if status == "sent":
                    message["date_sent"] = message["date_updated"]
                    message["price"] = f"-{0.0075 * int(message['num_segments']):.5f}"
                if error_code is not None:
                    message["error_code"] = error_code
                    message["error_message"] = DELIVERY_ERROR_MESSAGES[error_code]
                params = {
                    "MessageSid": sid,
                    "SmsSid": sid,
                    "MessageStatus": status,
                    "SmsStatus": status,
                    "To": message["to"],
                    "From": message["from"] or "",
                    "AccountSid": message["account_sid"],
                    "ApiVersion": API_VERSION,
                }
                if message["messaging_service_sid"]:
                    params["MessagingServiceSid"] = message["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            if status_callback:
                self._callback(http, status_callback, params)

    def _callback(self, http: httpx.Client, url: str, params: dict[str, str]) -> None:
        if not is_loopback_url(url):
            log.warning("sms stub: status callback to %s refused (only loopback URLs are called)", url)
            self._record(CallbackAttempt(url, params, None, "refused"))
            return
        signature = twilio_signature(self.config.signing_key, url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "User-Agent": "TwilioProxy/1.1",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        try:
            response = http.post(url, content=urlencode(params), headers=headers)
        except httpx.HTTPError as exc:
            log.warning("sms stub: status callback to %s failed: %s", url, exc)
            self._record(CallbackAttempt(url, params, signature, "error"))
            return
        if response.status_code >= 400:
            log.warning("sms stub: status callback to %s answered %s", url, response.status_code)
        self._record(CallbackAttempt(url, params, signature, "sent", response.status_code))

    def _record(self, attempt: CallbackAttempt) -> None:
        with self.lock:
            self.callbacks.append(attempt)


def _authorized(request: Request, config: SmsGatewayConfig) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), config.account_sid.encode()) & hmac.compare_digest(
        password.encode(), config.auth_token.encode()
    )


def create_sms_app(config: SmsGatewayConfig) -> FastAPI:
    """The stub gateway as an ASGI app; its state is ``app.state.gateway``."""
    gateway = SmsGateway(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gateway.stopping.clear()
        yield
        gateway.stopping.set()
        gateway.wait_idle(gateway.config.callback_timeout_s)

    app = FastAPI(
        title="floodctl SMS gateway stub (Twilio-compatible)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = gateway
    app.state.messages = gateway.messages
    app.state.sent_to = gateway.sent_to
    prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if not request.url.path.startswith(f"/{API_VERSION}/"):
            return await call_next(request)
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        if not _authorized(request, config):
            return twilio_error(20003)
        if (outage := gateway.outage_code()) is not None:
            return twilio_error(outage)
        if gateway.rate_limited():
            return twilio_error(20429)
        if gateway.inject_5xx():
            return twilio_error(20503)
        return await call_next(request)

    def wrong_account(account_sid: str) -> JSONResponse | None:
        if account_sid != config.account_sid:
            return twilio_error(20404, f"The requested resource /{API_VERSION}/Accounts/{account_sid} was not found")
        return None

    @app.post(prefix + "/Messages.json", status_code=201)
    async def create_message(account_sid: str, request: Request) -> Any:
        if (problem := wrong_account(account_sid)) is not None:
            return problem
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        to, body = form.get("To", "").strip(), form.get("Body", "")
        from_ = form.get("From", "").strip() or None
        service = form.get("MessagingServiceSid", "").strip() or None
        if (refused := _refused_message(to, from_, service, body)) is not None:
            return refused
        message = gateway.create(to, from_, service, body, form.get("StatusCallback") or None)
        return JSONResponse(message, status_code=201)

    @app.get(prefix + "/Messages/{message_sid}.json")
    async def fetch_message(account_sid: str, message_sid: str) -> Any:
        if (problem := wrong_account(account_sid)) is not None:
            return problem
        message = gateway.get(message_sid)
        if message is None:
            uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}.json"
            return twilio_error(20404, f"The requested resource {uri} was not found")
        return message

    @app.get(prefix + "/Messages.json")
    async def list_messages(account_sid: str, request: Request) -> Any:
        if (problem := wrong_account(account_sid)) is not None:
            return problem
        return _message_page(gateway, account_sid, request.query_params)

    return app


def _refused_message(to: str, from_: str | None, service: str | None, body: str) -> JSONResponse | None:
    """The Twilio error for a message that cannot be sent as given, or None."""
    if not to:
        return twilio_error(21604)
    if not _E164.match(to):
        return twilio_error(21211, f"The 'To' number {to} is not a valid phone number.")
    if from_ is None and service is None:
        return twilio_error(21603)
    if not body:
        return twilio_error(21602)
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(21617)
    return None


def _message_page(gateway: SmsGateway, account_sid: str, query: Mapping[str, str]) -> Any:
    """One page of the message list (newest first, filtered by To / From), with Twilio's paging URIs."""
    try:
        page = max(0, int(query.get("Page", "0")))
        page_size = min(1000, max(1, int(query.get("PageSize", "50"))))
    except ValueError:
        return twilio_error(20001, "Page and PageSize must be integers", status=400)
    filters = {k: query[k] for k in ("To", "From") if query.get(k)}
    chosen = gateway.listing(filters.get("To"), filters.get("From"))
    start = page * page_size
    rows = chosen[start : start + page_size]
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"

    def page_uri(number: int) -> str:
        return base + "?" + urlencode({**filters, "PageSize": page_size, "Page": number})

    more = start + page_size < len(chosen)
    return {
        "messages": rows,
        "page": page,
        "page_size": page_size,
        "start": start,
        "end": start + max(0, len(rows) - 1),
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if more else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    }
