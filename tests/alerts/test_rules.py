"""Unit tests of alerts.rules: loading, validation messages and pure evaluation (no I/O but tmp files)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from alerts.rules import DEFAULT_PATH, Station, check_rules, evaluate, load_rules
from floodctl.core.errors import ValidationFailed

CST = timezone(timedelta(hours=8))
RULES = load_rules()


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=CST).timestamp()


def only(decisions, rule_id):
    found = [d for d in decisions if d.rule_id == rule_id]
    assert len(found) <= 1
    return found[0] if found else None


RIVER = Station("70101001", "river", "330225001", {"wrz": 18.57, "grz": 19.34}, name="西溪丹西水位站")
RESERVOIR = Station(
    "70201001",
    "reservoir",
    "330225001",
    {"fsltdz_meiyu": 195.23, "fsltdz_typhoon": 193.88, "dsflz": 197.51, "ckflz": 197.78, "dam_crest": 198.38},
)
RAIN = Station("70401001", "rain", "330225001", {})


def test_packaged_rules_load_clean():
    assert check_rules(DEFAULT_PATH) == []
    ids = [r.id for r in RULES.rules]
    assert len(ids) == len(set(ids)) >= 10
    assert {r.category for r in RULES.rules if r.check in ("stale", "stuck", "spike")} == {"device"}


def test_packaged_rules_accept_every_sample_station():
    """Every packaged rule judges every sample station of its kinds, in each flood season and outside them.

    A station lacking a threshold skips the grades that need it, and a station lacking all of them is
    silently not judged by that rule. So the claim: each station in gis_data's stations layer has, for
    every rule of its kind, at least one threshold the rule needs in that season (fixed-value and device
    rules need none) — ``evaluate`` gives one decision per rule that applies to the station.
    """
    import json

    from gis_data.loader import DEFAULT_DIR

    features = json.loads((DEFAULT_DIR / "stations.geojson").read_text(encoding="utf-8"))["features"]
    stations = [Station.from_properties(f["properties"]) for f in features]
    assert {k for r in RULES.rules for k in r.kinds} <= {s.kind for s in stations}
    metrics = {r.metric for r in RULES.rules if r.metric}
    unjudged = []
    for when in (ts(2021, 6, 10), ts(2021, 7, 25), ts(2021, 12, 1)):  # 梅汛期, 台汛期, neither
        t = np.arange(-86400, 1, 300.0) + when
        series = {m: (t, np.full(len(t), 1.0)) for m in metrics}
        season = RULES.season_at(when)
        for station in stations:
            judged = [d.rule_id for d in evaluate(RULES, station, series, when)]
            applies = [r.id for r in RULES.rules if station.kind in r.kinds]
            assert len(judged) == len(set(judged))
            unjudged += [
                f"{station.code} ({station.kind}, {station.name}): rule {rule_id} "
                f"({season.name if season else 'off-season'})"
                for rule_id in applies
                if rule_id not in judged
            ]
    assert not unjudged, "stations no rule of theirs can judge:\n" + "\n".join(unjudged)


BROKEN = [
    (
        'threshold = "wrz" }',
        'threshold = "wrx" }',
        r"rule 'river-level' \(#1\): field 'grades\[2\]\.threshold': "
        r"unknown threshold 'wrx'; one of .*wrz",
    ),
    (
        '{ level = "red",    threshold = "grz" }',
        '{ level = "crimson", threshold = "grz" }',
        r"rule 'river-level' \(#1\): field 'grades\[3\]\.level': unknown colour 'crimson'; one of blue",
    ),
    (
        'clear_after_s = 3600\ngrades = [\n  { level = "yellow", threshold = "fsltdz" }',
        'grades = [\n  { level = "yellow", threshold = "fsltdz" }',
        r"rule 'reservoir-level' \(#3\): field 'clear_after_s': missing",
    ),
    ("window_s = 3600\n", "window_s = -3600\n", r"rule 'river-rise-rate' \(#2\): field 'window_s': must be a positive"),
    ("window_s = 43200,", "window_s = -1,", r"rule 'rainstorm' \(#5\): field 'grades\[1\]\.window_s': must be"),
    (
        'id = "rain-1h"',
        'id = "rainstorm"',
        r"rule 'rainstorm' \(#6\): field 'id': duplicate id, already used by rule #5",
    ),
    (
        'check = "stale"',
        'check = "stale"\nmetric = "waterlevel"',
        r"rule 'device-stale' .*field 'metric': unknown metric",
    ),
    (
        'category = "device"\ncheck = "stuck"',
        'category = "flood"\ncheck = "stuck"',
        r"rule 'device-stuck-level' .*field 'category': .*must be 'device'",
    ),
    ('start = "07-16"', 'start = "07-32"', r"season 'typhoon': field 'start': must be a date"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_broken_copy_names_rule_and_field(tmp_path: Path, old: str, new: str, expected: str):
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "rules.toml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = check_rules(broken)
    assert any(re.search(expected, p) for p in problems), problems
    assert all(p.startswith("rules.toml: ") for p in problems)
    with pytest.raises(ValidationFailed) as info:
        load_rules(broken)
    assert info.value.details == problems


def test_not_toml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "rules.toml"
    bad.write_text("[[rule]\n", encoding="utf-8")
    assert "not valid TOML" in check_rules(bad)[0]
    assert "no such file" in check_rules(tmp_path / "nope.toml")[0]


def test_river_rising_through_wrz_is_orange_at_the_crossing():
    t0 = ts(2021, 7, 25, 12)
    t = t0 + np.arange(0, 13) * 300.0
    v = 18.00 + np.arange(0, 13) * 0.06  # crosses 18.57 between readings 9 (18.54) and 10 (18.60)
    levels = [(only(evaluate(RULES, RIVER, {"water_level": (t, v)}, float(now)), "river-level").level) for now in t]
    crossing = int(np.argmax(v >= 18.57))
    assert levels[crossing] == "orange"
    assert levels[crossing - 1] == "blue"  # rising within 0.3 m below WRZ
    assert levels[0] is None
    d = only(evaluate(RULES, RIVER, {"water_level": (t, v)}, float(t[crossing])), "river-level")
    assert d.condition and d.category == "flood" and d.threshold == pytest.approx(18.57)
    assert d.value == pytest.approx(v[crossing]) and d.at == t[crossing]
    assert "警戒水位" in d.message_zh and "warning level" in d.message_en


def test_steady_level_just_below_wrz_is_not_blue():
    t = ts(2021, 7, 25, 12) + np.arange(0, 13) * 300.0
    v = np.full(13, 18.40)
    assert only(evaluate(RULES, RIVER, {"water_level": (t, v)}, float(t[-1])), "river-level").level is None


def test_missing_wrz_gives_nothing_and_no_error():
    bare = Station("70101099", "river", "330225001", {"wrz": None, "grz": None})
    t = ts(2021, 7, 25, 12) + np.arange(0, 13) * 300.0
    decisions = evaluate(RULES, bare, {"water_level": (t, np.full(13, 99.0))}, float(t[-1]))
    assert only(decisions, "river-level") is None
    half = Station("70101098", "river", "330225001", {"wrz": 18.57})  # grz missing: wrz grades still work
    d = only(evaluate(RULES, half, {"water_level": (t, np.full(13, 25.0))}, float(t[-1])), "river-level")
    assert d.level == "orange"


def test_reservoir_flood_limit_follows_the_season():
    level = 194.5  # over 台汛期 193.88, under 梅汛期 195.23
    for when, expected in ((ts(2021, 8, 10, 9), "yellow"), (ts(2021, 5, 20, 9), None)):
        t = when - np.arange(6, -1, -1) * 300.0
        d = only(evaluate(RULES, RESERVOIR, {"water_level": (t, np.full(7, level))}, when), "reservoir-level")
        assert d.level == expected, when
    assert RULES.season_at(ts(2021, 7, 15, 23, 59)).name == "meiyu"
    assert RULES.season_at(ts(2021, 7, 16, 0, 0)).name == "typhoon"
    assert RULES.season_at(ts(2021, 12, 1)) is None


def test_reservoir_near_dam_crest_is_red_even_without_ckflz():
    st = Station("70201009", "reservoir", "x", {"dam_crest": 100.0})
    t = ts(2021, 8, 1) + np.arange(3) * 300.0
    d = only(evaluate(RULES, st, {"water_level": (t, np.array([99.0, 99.4, 99.6]))}, float(t[-1])), "reservoir-level")
    assert d.level == "red" and d.threshold == pytest.approx(99.5)


def rain_series(end: float, amounts_per_5min: list[float]):
    n = len(amounts_per_5min)
    t = end - np.arange(n - 1, -1, -1) * 300.0
    return {"rainfall": (t, np.asarray(amounts_per_5min, dtype=float))}


def test_rain_3h_100mm_is_red():
    end = ts(2021, 7, 25, 15)
    series = rain_series(end, [0.0] * 36 + [100.0 / 36] * 36)  # 6 h of readings, 100 mm in the last 3 h
    d = only(evaluate(RULES, RAIN, series, end), "rainstorm")
    assert d.level == "red" and d.value == pytest.approx(100.0) and d.threshold == 100.0


def test_rain_6h_50mm_is_yellow():
    end = ts(2021, 7, 25, 15)
    series = rain_series(end, [0.0] * 72 + [50.0 / 72] * 72)  # 12 h of readings, 50 mm spread over 6 h
    d = only(evaluate(RULES, RAIN, series, end), "rainstorm")
    assert d.level == "yellow"
    assert d.value == pytest.approx(50.0)


def test_rain_window_is_half_open():
    end = ts(2021, 7, 25, 15)
    t = np.array([end - 10800.0, end - 10500.0, end])
    series = {"rainfall": (t, np.array([60.0, 45.0, 10.0]))}  # the reading at exactly now-3h is outside
    assert only(evaluate(RULES, RAIN, series, end), "rainstorm").level == "orange"
    assert only(evaluate(RULES, RAIN, series, end), "rainstorm").value == pytest.approx(55.0)


def test_river_rise_rate():
    t = ts(2021, 7, 25, 12) + np.arange(13) * 300.0
    v = 10.0 + np.arange(13) * (0.6 / 12)  # 0.6 m in one hour
    d = only(evaluate(RULES, RIVER, {"water_level": (t, v)}, float(t[-1])), "river-rise-rate")
    assert d.level == "yellow" and d.value == pytest.approx(0.6)


def test_data_quality_rules_are_device_warnings():
    t0 = ts(2021, 7, 25, 12)
    t = t0 + np.arange(30) * 300.0
    stuck = np.full(30, 18.0)
    decisions = evaluate(RULES, RIVER, {"water_level": (t, stuck)}, float(t[-1]))
    d = only(decisions, "device-stuck-level")
    assert d.category == "device" and d.level == "blue" and d.value == 30
    assert only(decisions, "river-level").level is None

    stale = evaluate(RULES, RIVER, {"water_level": (t, stuck + np.arange(30) * 0.001)}, float(t[-1]) + 1800)
    assert only(stale, "device-stale").level == "yellow" and only(stale, "device-stale").category == "device"
    assert only(stale, "device-stuck-level").level is None
    silent = evaluate(RULES, RIVER, {"water_level": (np.array([]), np.array([]))}, t0)
    assert only(silent, "device-stale").level == "yellow"

    spike = np.array([18.0, 18.01, 25.0, 18.02])
    d = only(evaluate(RULES, RIVER, {"water_level": (t[:4], spike)}, float(t[3])), "device-spike-level")
    assert d.category == "device" and d.level == "blue"
    # the spike itself (25 m, above GRZ) is still judged by the flood rule at its own time; the device
    # warning tells the duty officer not to trust it
    at_spike = evaluate(RULES, RIVER, {"water_level": (t[:4], spike)}, float(t[2]))
    assert only(at_spike, "device-spike-level").level is None
    steady_rise = np.array([18.0, 19.5, 21.0, 22.5])
    assert (
        only(evaluate(RULES, RIVER, {"water_level": (t[:4], steady_rise)}, float(t[3])), "device-spike-level").level
        is None
    )


def test_event_time_judges_an_old_reading_as_it_was():
    t0 = ts(2021, 7, 25, 12)
    t = t0 + np.arange(25) * 300.0
    v = np.concatenate([np.linspace(18.0, 19.0, 13), np.linspace(18.9, 17.0, 12)])  # peak at 12:45 then falls
    series = {"water_level": (t, v)}
    at_peak = only(evaluate(RULES, RIVER, series, float(t[12])), "river-level")
    latest = only(evaluate(RULES, RIVER, series, float(t[-1])), "river-level")
    assert at_peak.level == "orange" and at_peak.value == pytest.approx(19.0)
    assert latest.level is None and latest.value == pytest.approx(17.0)
