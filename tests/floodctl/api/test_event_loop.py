"""A webhook waiting on the database never stalls the API: the async routes do their database work on
worker threads (a status callback blocked by a row lock used to freeze every request of the process)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg

from alerts.signing import twilio_signature
from floodctl.api.app import create_app
from floodctl.core.settings import DEV_SMS_AUTH_TOKEN, Settings

PATH = "/api/v1/hooks/sms/status"


def test_a_webhook_blocked_on_a_lock_leaves_the_api_answering(
    settings: Settings, database_url: str, serve_app: Any
) -> None:
    app = create_app(settings, database_url)
    with serve_app(app) as base, psycopg.connect(database_url) as locker:
        app.state.settings = settings.model_copy(update={"public_url": base})
        locker.execute("INSERT INTO sms_status (sid, status) VALUES ('SMlocked', 'queued')")
        locker.commit()
        locker.execute("SELECT * FROM sms_status WHERE sid = 'SMlocked' FOR UPDATE")  # held: the callback waits
        params = {"MessageSid": "SMlocked", "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(DEV_SMS_AUTH_TOKEN, base + PATH, params),
        }
        answers: list[int] = []
        callback = threading.Thread(
            target=lambda: answers.append(
                httpx.post(base + PATH, content=urlencode(params), headers=headers, timeout=60).status_code
            )
        )
        callbacks = [callback] + [
            threading.Thread(
                target=lambda: answers.append(
                    httpx.post(base + PATH, content=urlencode(params), headers=headers, timeout=60).status_code
                )
            )
            for _ in range(3)
        ]
        for t in callbacks:
            t.start()
        try:
            # Meanwhile the API answers: health, a read, a login attempt.
            for path in ("/healthz", "/api/v1/stations", "/api/v1/warnings"):
                assert httpx.get(base + path, timeout=5).status_code == 200, path
            assert answers == [], "the callbacks should still be waiting for the lock"
        finally:
            locker.rollback()
        for t in callbacks:
            t.join(30)
        assert answers == [204] * 4
