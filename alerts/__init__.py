"""Warning rules, response orders, dispatch channels (SMS, LED, loudspeaker), 叫应, CAP.

Pure (no database, network or clock; time comes in as arguments):

    rules.toml    the county's declarative rules: river/reservoir/tide levels, rainfall, rise rate, wind,
                  data-quality (device) rules; seasons, hysteresis, and which levels draft/auto-approve orders
    rules.py      load_rules / check_rules (messages name the rule and field), and
                  evaluate(rules, station, series, now) -> [Decision], judged at event time
    lifecycle.py  the warning state machine: step(warning, decision, now, rule) -> (warning, events)
    templates.py  the text of orders per hazard, level and message type; the suggested county response level
    typhoon.py    typhoon signals (台风预警信号) at a point from a storm's track and forecast
    cap.py        orders as OASIS CAP 1.2 XML
    signing.py    Twilio-style webhook signatures, signed acknowledgement links

With I/O at the edges:

    engine.py     committed readings (LISTEN floodctl_obs) -> warnings -> drafted / auto-approved orders;
                  also runs the 叫应 timers
    warnings.py   the warnings store
    orders.py     orders: draft, approve (writes the outbox), cancel; 叫应: resend, escalate, acknowledge
    channels.py   SMS (Twilio-compatible REST) and MQTT LED boards / loudspeakers behind one interface
    dispatch.py   the outbox dispatcher: claims with FOR UPDATE SKIP LOCKED, retries, rate limits
    api.py        HTTP routes, webhooks and the /a/{token} acknowledgement page
    cli.py        `floodctl alerts` (rule engine + dispatcher)
"""
