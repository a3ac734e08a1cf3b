"""The SMS channel: a Twilio-compatible Messages API (our stub or a real provider), live or drill."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import httpx

from alerts.channels.base import Channel, Delivery, ReconcileError, RefusingChannel, SendResult
from floodctl.core.net import is_loopback_url
from floodctl.core.settings import Settings
from floodctl.domain.drills import DRILL_MARKER, marked

API_VERSION = "2010-04-01"
LIST_PAGE_SIZE = 1000  # Twilio's maximum
MAX_LIST_PAGES = 50  # reconcile looks at most at this many pages of one number's messages
SMS_STATUS_PATH = "/api/v1/hooks/sms/status"
DEFAULT_SMS_FROM = "floodctl"  # alphanumeric sender id when FLOOD_SMS_FROM is unset
NO_SMS_GATEWAY = "no SMS gateway configured (FLOOD_SMS_BASE_URL)"
NO_DRILL_SMS_GATEWAY = "no drill SMS gateway configured (FLOOD_DRILL_SMS_BASE_URL)"
DRILL_WITHOUT_MARK = f"drill text without {DRILL_MARKER} marker"
DRILL_TEXT_ON_LIVE = f"drill text ({DRILL_MARKER}) refused by the live SMS gateway"


class SmsChannel:
    """A Twilio-compatible Messages API. One pooled keep-alive ``httpx.Client``, shared by the threads.

    Outcomes: 201 → sent (the Message SID); 408 / 429 / 5xx / no connection → retry; no answer
    after the request went out (read timeout, connection dropped) → in_doubt; other 4xx → failed
    with Twilio's message. A drill channel refuses texts without 【演练】 and live deliveries; a live
    channel refuses drill deliveries and any text carrying 【演练】.

    One send takes at most about ``connect + read`` timeouts (≤ 2 × ``timeout_s``): the pool has a
    connection per thread and a form post is written at once.
    """

    name = "sms"

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        status_callback_url: str | None,
        timeout_s: float,
        drill: bool,
        *,
        max_connections: int = 256,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.from_ = from_
        self.status_callback_url = status_callback_url
        self.timeout_s = timeout_s
        self.drill = drill
        self.max_call_s = 2 * timeout_s  # connect + read: the longest one request can take
        self.page_size = LIST_PAGE_SIZE
        self._messages = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=(account_sid, auth_token),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": "floodctl-dispatch"},
            follow_redirects=False,
            trust_env=not is_loopback_url(self.base_url),  # a proxy from the environment never sees the stub
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
            if not d.body.startswith(DRILL_MARKER):
                return DRILL_WITHOUT_MARK
        else:
            if d.drill_id:
                return f"drill {d.drill_id} delivery refused by the live SMS gateway"
            if marked(d.body):
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
            return SendResult.in_doubt(
                f"no answer from the SMS gateway within {self.timeout_s:g} s "
                f"({type(exc).__name__}): it may have accepted the message"
            )
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


def sms_channel(settings: Settings, drill: bool) -> Channel:
    """The SMS channel of live or drill deliveries: its gateway, or one that refuses saying which is missing."""
    callback = settings.public_url.rstrip("/") + SMS_STATUS_PATH
    from_ = settings.sms_from or DEFAULT_SMS_FROM
    if not drill:
        if not settings.sms_base_url:
            return RefusingChannel("sms", NO_SMS_GATEWAY)
        sid, token = settings.sms_credentials()
        return SmsChannel(settings.sms_base_url, sid, token, from_, callback, settings.sms_timeout_s, drill=False)
    if settings.drill_sms_base_url:
        sid, token = settings.drill_sms_credentials()
        return SmsChannel(settings.drill_sms_base_url, sid, token, from_, callback, settings.sms_timeout_s, drill=True)
    # Unset: in development the built-in stub (the live URL, when it is a loopback stub) takes drills too.
    if settings.environment == "development" and settings.sms_base_url and is_loopback_url(settings.sms_base_url):
        sid, token = settings.sms_credentials()
        return SmsChannel(settings.sms_base_url, sid, token, from_, callback, settings.sms_timeout_s, drill=True)
    return RefusingChannel("sms", NO_DRILL_SMS_GATEWAY)
