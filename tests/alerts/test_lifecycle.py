"""Unit tests of alerts.lifecycle: the pure warning state machine driven by real rule decisions."""

from __future__ import annotations

import numpy as np

from alerts.lifecycle import ACTIVE, CLEARED, acknowledge, step
from alerts.rules import Station, evaluate, load_rules

RULES = load_rules()
RULE = RULES.rule("river-level")  # WRZ orange, GRZ red, deadband 0.10 m, clear after 1800 s
RIVER = Station("70101001", "river", "330225001", {"wrz": 18.57, "grz": 19.34})
T0 = 1_627_185_600.0  # 2021-07-25 12:00 +08:00


def run(values, warning=None, start=T0, dt=300.0):
    """Feed a level series reading by reading; return the final warning and every event."""
    t = start + np.arange(len(values)) * dt
    v = np.asarray(values, dtype=float)
    events = []
    for i in range(len(t)):
        decisions = [
            d
            for d in evaluate(RULES, RIVER, {"water_level": (t[: i + 1], v[: i + 1])}, float(t[i]))
            if d.rule_id == RULE.id
        ]
        warning, new = step(warning, decisions[0], float(t[i]), RULE)
        events += new
    return warning, events


def kinds(events):
    return [e.kind for e in events]


def test_raise_refresh_escalate():
    w, events = run([18.6, 18.7, 19.4, 19.5])
    assert kinds(events) == ["raised", "refreshed", "escalated", "refreshed"]
    assert w.state == ACTIVE and w.level == "red" and w.key == ("river-level", "70101001")
    assert [lvl for _, lvl in w.level_history] == ["orange", "red"]
    assert w.raised_at == T0 and w.last_seen == T0 + 900


def test_hovering_at_the_threshold_does_not_flap():
    rng = np.random.default_rng(7)
    noisy = 18.57 + rng.uniform(-0.06, 0.06, 200)  # crosses WRZ many times, never 0.10 m below it
    crossings = int(np.sum(np.diff(np.sign(noisy - 18.57)) != 0))
    assert crossings > 50
    w, events = run(noisy)
    assert kinds(events).count("raised") == 1
    assert "cleared" not in kinds(events) and "de-escalated" not in kinds(events)
    assert w.state == ACTIVE and w.level == "orange"


def test_clears_only_after_deadband_and_duration():
    w, events = run([18.6, 18.6])
    # below WRZ but inside the deadband: held however long it lasts
    w, events = run([18.50] * 20, w, start=T0 + 600)
    assert w.state == ACTIVE and events == []
    # below every grade's deadband (blue holds down to WRZ - 0.3 - 0.1 m): cleared only once it has
    # stayed there clear_after_s (1800 s = 6 steps of 300 s)
    w, events = run([18.10] * 6, w, start=T0 + 600 + 20 * 300)
    assert w.state == ACTIVE and w.below_since == T0 + 600 + 20 * 300
    w, events = run([18.10], w, start=T0 + 600 + 26 * 300)
    assert kinds(events) == ["cleared"] and w.state == CLEARED and w.cleared_at == T0 + 600 + 26 * 300
    # a dip below the deadband that comes back resets the clock
    w2, _ = run([18.6, 18.1, 18.1, 18.6, 18.1, 18.1, 18.1, 18.1, 18.1])
    assert w2.state == ACTIVE


def test_falling_back_below_wrz_lowers_to_blue_then_clears():
    w, _ = run([18.6])
    w, events = run([18.40] * 8, w, start=T0 + 300)  # within blue's band: orange -> blue after 30 min
    assert kinds(events) == ["de-escalated"] and w.level == "blue" and w.state == ACTIVE
    w, events = run([18.0] * 8, w, start=T0 + 2700)
    assert kinds(events) == ["cleared"]


def test_de_escalates_with_hysteresis():
    w, _ = run([19.4])
    w, events = run([19.30] * 10, w, start=T0 + 300)  # inside red's deadband
    assert w.level == "red" and "de-escalated" not in kinds(events)
    w, events = run([19.0] * 8, w, start=T0 + 3300)
    assert "de-escalated" in kinds(events) and w.level == "orange" and w.state == ACTIVE
    assert [lvl for _, lvl in w.level_history] == ["red", "orange"]


def test_acknowledgement_keeps_state_and_cleared_unacknowledged_is_valid():
    w, _ = run([18.6])
    acked = acknowledge(w, T0 + 60)
    assert acked.state == ACTIVE and acked.acknowledged and acked.acknowledged_at == T0 + 60
    w, events = run([18.7], acked, start=T0 + 300)
    assert w.acknowledged and kinds(events) == ["refreshed"]
    w, events = run([19.4], w, start=T0 + 600)  # worse: needs a fresh acknowledgement
    assert kinds(events) == ["escalated"] and not w.acknowledged
    w, _ = run([17.0] * 8, w, start=T0 + 900)
    assert w.state == CLEARED and not w.acknowledged  # cleared × unacknowledged
    assert acknowledge(w, T0 + 9999).state == CLEARED


def test_cleared_warning_is_raised_anew_but_not_by_late_data():
    w, _ = run([18.6] + [17.0] * 8)
    assert w.state == CLEARED
    late, events = run([19.0], w, start=T0 + 300)  # a late reading from before the clearing
    assert late is w and events == []
    again, events = run([18.8], w, start=T0 + 3 * 3600)
    assert kinds(events) == ["raised"] and again.raised_at == T0 + 3 * 3600 and again.state == ACTIVE


def decide(times, values, at):
    series = {"water_level": (np.asarray(times, dtype=float), np.asarray(values, dtype=float))}
    return next(d for d in evaluate(RULES, RIVER, series, at) if d.rule_id == RULE.id)


def test_late_data_escalates_an_active_warning_only_above_what_it_had_then():
    from alerts.lifecycle import level_at, step_late

    w, _ = run([18.6, 18.7, 19.4, 18.7])  # orange, red at T0+600, still red (hold)
    times = [T0, T0 + 300, T0 + 600, T0 + 900]
    # A late red reading at T0+600: the warning was red then already, nothing changes (a redelivery).
    same, events = step_late(w, decide(times, [18.6, 18.7, 19.4, 18.7], T0 + 600), T0 + 600)
    assert same is w and events == []
    # An orange warning, and late data shows red at an earlier time: escalated, at that time.
    orange, _ = run([18.6, 18.7, 18.8])
    late = decide([T0, T0 + 150, T0 + 300], [18.6, 19.5, 18.7], T0 + 150)
    new, events = step_late(orange, late, T0 + 150)
    assert [(e.kind, e.at, e.level) for e in events] == [("escalated", T0 + 150, "red")]
    assert new.level == "red" and not new.acknowledged and level_at(new, T0 + 150) == "red"
    assert new.last_seen == orange.last_seen  # late data does not move what was last judged


def test_replay_of_a_past_stretch_closes_what_it_raised():
    from alerts.lifecycle import peak_level, replay

    times = [T0 + i * 300.0 for i in range(6)]
    values = [18.0, 18.7, 19.5, 19.0, 18.0, 18.0]
    decisions = [(t, decide(times, values, t)) for t in times]
    ((w, events),) = replay(decisions, RULE, times[-1])
    assert w.state == CLEARED and w.cleared_at == times[-1] and peak_level(w) == "red"
    assert [k for k in kinds(events) if k != "refreshed"] == ["raised", "escalated", "cleared"]
    assert replay([(t, decide(times, [18.0] * 6, t)) for t in times], RULE, times[-1]) == []
