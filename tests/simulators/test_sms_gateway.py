"""The SMS gateway stub against the official ``twilio`` client, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from alerts.signing import twilio_signature
from floodctl.core.net import is_loopback_url
from simulators.sms_gateway import SmsGatewayConfig, create_sms_app, num_segments

twilio = pytest.importorskip("twilio", reason="the twilio client is a dev extra")
from twilio.base.exceptions import TwilioRestException  # noqa: E402
from twilio.http.http_client import TwilioHttpClient  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402
from twilio.rest import Client  # noqa: E402

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32
TO = "+8613800138000"
FROM = "+8657400000000"

Serve = Callable[[object], AbstractContextManager[str]]


def twilio_client(base_url: str, sid: str = SID, token: str = TOKEN) -> Client:
    client = Client(sid, token, http_client=TwilioHttpClient(timeout=10))
    client.api.base_url = base_url  # every v2010 URI is built from the Api domain's base_url
    return client


@contextmanager
def gateway(serve_app: Serve, **overrides: object) -> Iterator[tuple[FastAPI, Client]]:
    config = SmsGatewayConfig(account_sid=SID, auth_token=TOKEN, callback_delay_ms=20, **overrides)  # type: ignore[arg-type]
    app = create_sms_app(config)
    with serve_app(app) as base_url:
        yield app, twilio_client(base_url)


@dataclass
class Receiver:
    base_url: str = ""
    calls: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.base_url + "/hooks/sms/status"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, str], str | None]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.02)
        with self.lock:
            return list(self.calls)


@pytest.fixture
def receiver(serve_app: Serve) -> Iterator[Receiver]:
    state = Receiver()
    app = FastAPI()

    @app.post("/hooks/sms/status")
    async def status(request: Request) -> PlainTextResponse:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with state.lock:
            state.calls.append((str(request.url), params, request.headers.get("x-twilio-signature")))
        return PlainTextResponse("", status_code=204)

    with serve_app(app) as base_url:
        state.base_url = base_url
        yield state


def test_create_fetch_and_list(serve_app: Serve) -> None:
    with gateway(serve_app) as (app, client):
        message = client.messages.create(to=TO, from_=FROM, body="台风红色预警：请立即转移低洼地区群众。")
        assert message.sid.startswith("SM") and len(message.sid) == 34
        int(message.sid[2:], 16)
        assert message.status == "queued"
        assert (message.to, message.from_, message.account_sid) == (TO, FROM, SID)
        assert message.direction == "outbound-api"
        assert message.num_segments == "1"
        assert message.price is None and message.error_code is None
        assert message.date_created is not None and message.date_created.tzinfo is not None
        assert message.uri == f"/2010-04-01/Accounts/{SID}/Messages/{message.sid}.json"

        client.messages.create(to="+8613900139000", from_=FROM, body="second")
        client.messages.create(to=TO, from_=FROM, body="third")
        assert app.state.gateway.wait_idle(10)

        fetched = client.messages(message.sid).fetch()
        assert fetched.sid == message.sid and fetched.body == message.body
        assert fetched.status == "delivered" and fetched.date_sent is not None

        listed = client.messages.list(to=TO)
        assert [m.body for m in listed] == ["third", message.body]  # newest first
        assert len(client.messages.list()) == 3
        assert len(client.messages.list(limit=2)) == 2
        assert len(client.messages.list(page_size=1)) == 3  # follows next_page_uri
        assert [m["body"] for m in app.state.sent_to(TO)] == [message.body, "third"]
        assert len(app.state.messages) == 3

        with pytest.raises(TwilioRestException) as unknown:
            client.messages("SM" + "0" * 32).fetch()
        assert unknown.value.status == 404 and unknown.value.code == 20404


def test_messaging_service_and_segments(serve_app: Serve) -> None:
    with gateway(serve_app) as (_app, client):
        message = client.messages.create(to=TO, messaging_service_sid="MG" + "1" * 32, body="x" * 161)
        assert message.messaging_service_sid == "MG" + "1" * 32
        assert message.num_segments == "2"
    assert num_segments("a" * 160) == 1 and num_segments("中" * 70) == 1 and num_segments("中" * 71) == 2


def test_wrong_credentials_are_401_20003(serve_app: Serve) -> None:
    with gateway(serve_app) as (app, client):
        base_url = client.api.base_url
        wrong = twilio_client(base_url, token="0" * 32)
        with pytest.raises(TwilioRestException) as excinfo:
            wrong.messages.create(to=TO, from_=FROM, body="hi")
        assert excinfo.value.status == 401 and excinfo.value.code == 20003
        raw = httpx.post(
            f"{base_url}/2010-04-01/Accounts/{SID}/Messages.json", data={"To": TO, "From": FROM, "Body": "hi"}
        )
        assert raw.status_code == 401
        assert raw.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
        assert app.state.messages == {}


def test_missing_fields_are_400(serve_app: Serve) -> None:
    with gateway(serve_app) as (app, client):
        with pytest.raises(TwilioRestException) as no_body:
            client.messages.create(to=TO, from_=FROM)
        assert no_body.value.status == 400 and no_body.value.code == 21602
        with pytest.raises(TwilioRestException) as no_to:
            client.messages.create(to="", from_=FROM, body="hi")
        assert no_to.value.status == 400 and no_to.value.code == 21604
        with pytest.raises(TwilioRestException) as bad_to:
            client.messages.create(to="13800138000", from_=FROM, body="hi")
        assert bad_to.value.code == 21211
        assert app.state.messages == {}


def test_status_callbacks_in_order_and_signed(serve_app: Serve, receiver: Receiver) -> None:
    with gateway(serve_app) as (app, client):
        message = client.messages.create(to=TO, from_=FROM, body="hi", status_callback=receiver.url)
        calls = receiver.wait_for(3)
        assert app.state.gateway.wait_idle(10)
    assert [params["MessageStatus"] for _, params, _ in calls] == ["queued", "sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for url, params, signature in calls:
        assert url == receiver.url
        assert params["MessageSid"] == message.sid and params["AccountSid"] == SID
        assert params["To"] == TO and params["From"] == FROM
        assert "ErrorCode" not in params
        assert signature and validator.validate(url, params, signature)
        assert signature == twilio_signature(TOKEN, url, params)
        assert not RequestValidator("wrong").validate(url, params, signature)


def test_failed_rate_sends_failed_with_error_code(serve_app: Serve, receiver: Receiver) -> None:
    with gateway(serve_app, failed_rate=1.0) as (app, client):
        message = client.messages.create(to=TO, from_=FROM, body="hi", status_callback=receiver.url)
        calls = receiver.wait_for(2)
        assert app.state.gateway.wait_idle(10)
        fetched = client.messages(message.sid).fetch()
    assert [params["MessageStatus"] for _, params, _ in calls] == ["queued", "failed"]
    url, params, signature = calls[-1]
    assert params["ErrorCode"] == "30008"
    assert RequestValidator(TOKEN).validate(url, params, signature)
    assert fetched.status == "failed" and fetched.error_code == 30008


def test_undelivered_when_neither_delivered_nor_failed(serve_app: Serve, receiver: Receiver) -> None:
    with gateway(serve_app, delivered_rate=0.0) as (app, client):
        client.messages.create(to=TO, from_=FROM, body="hi", status_callback=receiver.url)
        calls = receiver.wait_for(3)
    assert [params["MessageStatus"] for _, params, _ in calls] == ["queued", "sent", "undelivered"]
    assert calls[-1][1]["ErrorCode"] == "30003"


def test_rate_limit_answers_429_20429(serve_app: Serve) -> None:
    with gateway(serve_app, rate_limit_per_s=2.0) as (app, client):
        codes = []
        for _ in range(10):
            try:
                client.messages.create(to=TO, from_=FROM, body="hi")
                codes.append(201)
            except TwilioRestException as exc:
                assert exc.status == 429
                codes.append(exc.code)
        assert 201 in codes and 20429 in codes
        assert len(app.state.messages) == codes.count(201)
        time.sleep(0.6)
        client.messages.create(to=TO, from_=FROM, body="after the bucket refilled")


def test_5xx_injection_answers_503(serve_app: Serve) -> None:
    with gateway(serve_app, error_5xx_rate=1.0) as (app, client):
        with pytest.raises(TwilioRestException) as excinfo:
            client.messages.create(to=TO, from_=FROM, body="hi")
        assert excinfo.value.status == 503 and excinfo.value.code == 20503
        assert app.state.messages == {}


def test_latency(serve_app: Serve) -> None:
    with gateway(serve_app, latency_ms=200) as (_app, client):
        started = time.monotonic()
        client.messages.create(to=TO, from_=FROM, body="hi")
        assert time.monotonic() - started >= 0.2


def test_non_loopback_callback_is_never_called(serve_app: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[str] = []

    def spy(self: httpx.Client, url: str, *args: object, **kwargs: object) -> httpx.Response:
        # Records and refuses: a bug here must not send a packet anywhere but loopback.
        posted.append(str(url))
        raise httpx.ConnectError("blocked by the test")

    monkeypatch.setattr(httpx.Client, "post", spy)
    outside = [
        "http://192.0.2.10/hooks/sms/status",
        "https://example.com/hooks",
        "http://127.0.0.1.nip.io/x",
        "ftp://127.0.0.1/x",
    ]
    with gateway(serve_app) as (app, client):
        for url in outside:
            client.messages.create(to=TO, from_=FROM, body="hi", status_callback=url)
        assert app.state.gateway.wait_idle(10)
        attempts = list(app.state.gateway.callbacks)
        assert all(m["status"] == "delivered" for m in app.state.messages.values())
    assert posted == []
    assert len(attempts) == 3 * len(outside)
    assert {a.outcome for a in attempts} == {"refused"}
    assert {a.url for a in attempts} == set(outside)


def test_loopback_detection() -> None:
    assert is_loopback_url("http://127.0.0.1:8000/x") and is_loopback_url("http://localhost/x")
    assert is_loopback_url("http://[::1]:9/x") and is_loopback_url("https://127.5.0.1/x")
    assert not is_loopback_url("http://10.0.0.1/x") and not is_loopback_url("http://localhost.example.com/x")
    assert not is_loopback_url("file:///etc/passwd") and not is_loopback_url("not a url")
