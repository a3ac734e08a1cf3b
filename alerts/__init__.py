"""Warning rules, response orders, dispatch channels (SMS, LED, loudspeaker), 叫应, CAP.

What exists so far (all pure: no database, network or clock; time comes in as arguments):

    rules.toml    the county's declarative rules: river/reservoir/tide levels, rainfall, rise rate,
                  wind, and data-quality (device) rules, with seasons and hysteresis per rule
    rules.py      load_rules / check_rules (messages name the rule and field), and
                  evaluate(rules, station, series, now) -> [Decision], judged at event time
    lifecycle.py  the warning state machine: step(warning, decision, now, rule) -> (warning, events),
                  acknowledge(warning, at)

Still to come with the warnings issue: response orders, dispatch channels, 叫应, CAP export.
"""
