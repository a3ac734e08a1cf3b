"""/healthz tells whether alerting runs: a rule engine holding its lease, an outbox that moves."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psycopg

from alerts.engine import run_engine
from floodctl.api.app import create_app
from floodctl.core.settings import Settings


def test_healthz_follows_the_rule_engine_and_the_outbox(
    settings: Settings, database_url: str, serve_app: Any, wait_until: Any, db: psycopg.Connection
) -> None:
    with serve_app(create_app(settings, database_url)) as base:
        http = httpx.Client(base_url=base, timeout=10)
        assert http.get("/healthz").json()["rule_engine"]["status"] == "none"

        stop = threading.Event()
        engine = threading.Thread(target=run_engine, args=(settings, database_url, stop), daemon=True)
        engine.start()
        try:
            body = wait_until(
                lambda: (b := http.get("/healthz").json())["status"] == "ok" and b,
                timeout_s=30,
                what="the engine to show as active",
            )
            assert body["rule_engine"]["lease_left_s"] > 0 and body["dispatch"]["status"] == "ok"
            # A delivery due for minutes that no dispatcher takes: the outbox is stalled.
            order = db.execute(
                "INSERT INTO orders (msg_type, status, hazard, order_no, title_zh, body_zh, title_en, "
                "body_en, sms_zh, led_zh, speaker_zh, towns, source, drafted_by, ack_deadline_s, "
                "resend_after_s) VALUES ('alert', 'draft', 'general', 'x', 't', 'b', 't', 'b', 's', "
                "'l', 'p', '{330225001}', 'officer', 'duty', 300, 120) RETURNING id"
            ).fetchone()[0]
            db.execute(
                "INSERT INTO deliveries (order_id, town_code, recipient, channel, address, body, "
                "next_attempt_at) VALUES (%s, '330225001', 'primary', 'sms', '+8613900000101', 'x', "
                "now() - interval '5 minutes')",
                (order,),
            )
            body = http.get("/healthz").json()
            assert body["status"] == "degraded" and body["dispatch"] == {"status": "stalled", "open": 1, "overdue": 1}
        finally:
            stop.set()
            engine.join(15)
        # A clean stop releases the lease at once.
        assert http.get("/healthz").json()["rule_engine"]["status"] == "none"
