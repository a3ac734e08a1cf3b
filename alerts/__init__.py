"""Warning rules, response orders, dispatch channels (SMS, LED, loudspeaker), 叫应, CAP.

Pure (no database, network or clock; time comes in as arguments):

    rules.toml    the county's declarative rules: river/reservoir/tide levels, rainfall, rise rate, wind,
                  data-quality (device) rules; seasons, hysteresis, and which levels draft/auto-approve orders
    rules/        model.py (Rule, RuleSet, Decision …), parser.py (load_rules / check_rules: messages name the
                  rule and field), evaluation.py (evaluate(rules, station, series, now) -> [Decision])
    lifecycle.py  the warning state machine: step / step_late / replay -> (warning, events)
    window.py     a station's recent readings as the engine holds them
    templates/    the text of orders per hazard, level and message type (render.py, duties.py); the
                  suggested county response level (response_level.py)
    typhoon.py    typhoon signals (台风预警信号) at a point from a storm's track and forecast
    cap.py        orders as OASIS CAP 1.2 XML
    signing.py    Twilio-style webhook signatures, signed acknowledgement links

With I/O at the edges:

    engine.py     committed readings (ingest/notices.py) -> warnings -> drafted / auto-approved orders;
                  lease.py (one active engine, fenced writes), geography.py (the towns a station concerns)
    warnings.py   the warnings store
    orders.py     orders: draft, approve (writes the outbox, outbox.py), cancel
    callout.py    叫应: resend, escalate, report the unreached; replies.py: SMS replies and status callbacks
    response.py   the county response level in force, and declaring one
    channels/     SMS (sms.py, Twilio-compatible REST) and MQTT LED boards / loudspeakers (devices.py,
                  acks.py) behind one interface (base.py)
    dispatch.py   the outbox dispatcher: claims with FOR UPDATE SKIP LOCKED, retries, rate limits (ratelimit.py)
    routes/       HTTP routes (warnings, response level, orders, CAP, reports, webhooks, the /a/{token} page
                  whose HTML is ack_page.py); deps.py: the rule set and JSON helpers they share
    health.py     what /healthz says of alerting; cli.py: `floodctl alerts`, `floodctl rules check`
"""
