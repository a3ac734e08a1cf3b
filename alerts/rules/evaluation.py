"""Judging one station with the rules at an event time: pure, no clock, database or network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alerts.rules.model import DEVICE_CHECKS, Decision, Grade, Rule, RuleSet, Season, Series, Station, as_float
from floodctl.domain.levels import LEVEL_RANK, LEVEL_ZH
from floodctl.domain.metrics import METRIC_ZH, METRICS
from floodctl.domain.thresholds import THRESHOLD_LABELS

# What a data-quality check measures, in the messages.
_DEVICE_LABELS = {
    "stale": ("数据间隔", "silent for"),
    "stuck": ("不变读数", "identical readings"),
    "spike": ("跳变", "jump"),
}


def evaluate(rules: RuleSet, station: Station, series: Series, now: float) -> list[Decision]:
    """Judge one station at event time ``now`` with every rule that applies to it.

    ``series`` maps metric -> (times in epoch seconds ascending, values) covering at least the longest
    window of the rules (24 h for rain); readings after ``now`` are ignored. One decision per applicable
    rule, also when nothing is reached (level None), so that the lifecycle can clear warnings.
    """
    season = rules.season_at(now)
    decisions = []
    for rule in rules.rules:
        if station.kind not in rule.kinds:
            continue
        decision = _evaluate_rule(rules, rule, station, series, now, season)
        if decision is not None:
            decisions.append(decision)
    return decisions


@dataclass(frozen=True, slots=True)
class _Judged:
    grade: Grade
    value: float
    trigger: float
    reached: bool
    held: bool
    label_zh: str
    label_en: str


def _evaluate_rule(
    rules: RuleSet, rule: Rule, station: Station, series: Series, now: float, season: Season | None
) -> Decision | None:
    if rule.check in DEVICE_CHECKS:
        judged = _judge_device(rule, series, now)
    else:
        judged = _judge_grades(rules, rule, station, series, now, season)
    if not judged:
        return None  # no data, too little for a rate, or the station has none of the thresholds needed

    def top(items: Sequence[_Judged]) -> _Judged | None:
        return max(items, key=lambda j: LEVEL_RANK[j.grade.level], default=None)

    reached, held = top([j for j in judged if j.reached]), top([j for j in judged if j.held])
    shown = reached or held or min(judged, key=lambda j: LEVEL_RANK[j.grade.level])
    level = reached.grade.level if reached else None
    hold_level = held.grade.level if held else None
    if level is not None and (hold_level is None or LEVEL_RANK[hold_level] < LEVEL_RANK[level]):
        hold_level = level
    zh, en = _messages(rule, station, shown, level)
    return Decision(
        rule_id=rule.id,
        station=station.code,
        category=rule.category,
        level=level,
        hold_level=hold_level,
        condition=level is not None,
        value=shown.value,
        threshold=shown.trigger,
        at=float(now),
        message_zh=zh,
        message_en=en,
    )


def _judge_device(rule: Rule, series: Series, now: float) -> list[_Judged]:
    value = _device_value(rule, series, now)
    if value is None:
        return []
    grade = rule.grades[0]
    trigger = grade.value or 0.0
    zh, en = _DEVICE_LABELS[rule.check]
    return [
        _Judged(
            grade, value, trigger, _at_least(value, trigger), _at_least(value, trigger - rule.clear_deadband), zh, en
        )
    ]


def _judge_grades(
    rules: RuleSet, rule: Rule, station: Station, series: Series, now: float, season: Season | None
) -> list[_Judged]:
    """Every grade of a flood rule the station has the thresholds for; [] when nothing can be judged."""
    assert rule.metric is not None
    data = _upto(series, rule.metric, now)
    if data is None or len(data[0]) == 0:
        return []
    times, values = data
    rising: bool | None = None
    judged: list[_Judged] = []
    for grade in rule.grades:
        trigger_and_labels = _trigger(rules, station, grade, season)
        if trigger_and_labels is None:
            continue  # missing threshold: skip this grade for this station
        trigger, zh, en = trigger_and_labels
        if rule.check == "level":
            value = float(values[-1])
        elif rule.check == "rain_sum":
            start = int(np.searchsorted(times, now - (grade.window_s or 0), side="right"))
            value = float(np.nansum(values[start:]))
        else:  # rise_rate
            rate = _rise_per_hour(times, values, now, rule.window_s or 3600)
            if rate is None:
                return []
            value = rate
        if not math.isfinite(value):
            return []
        reached = _at_least(value, trigger)
        if grade.rising and reached:
            if rising is None:
                rising = _is_rising(times, values, now, rule.window_s or 1800)
            reached = rising
        held = _at_least(value, trigger - rule.clear_deadband)
        judged.append(_Judged(grade, value, trigger, reached, held, zh, en))
    return judged


def _trigger(rules: RuleSet, station: Station, grade: Grade, season: Season | None) -> tuple[float, str, str] | None:
    """(trigger, label zh, label en) of a grade at this station; None when the station lacks its threshold."""
    if grade.threshold is not None:
        base, resolved = _resolve(rules, station, grade.threshold, season)
        if base is None:
            return None
        trigger = base + grade.offset
        zh, en = THRESHOLD_LABELS[resolved]
        if grade.offset:
            zh, en = f"{zh}{grade.offset:+g} m", f"{en} {grade.offset:+g} m"
    else:
        trigger = grade.value if grade.value is not None else math.inf
        zh, en = grade.label_zh, grade.label_en
    return trigger, grade.label_zh or zh, grade.label_en or en


def _upto(series: Series, metric: str, now: float) -> tuple[np.ndarray, np.ndarray] | None:
    pair = series.get(metric)
    if pair is None:
        return None
    times, values = np.asarray(pair[0], dtype=float), np.asarray(pair[1], dtype=float)
    end = int(np.searchsorted(times, now, side="right"))
    return times[:end], values[:end]


def _resolve(rules: RuleSet, station: Station, name: str, season: Season | None) -> tuple[float | None, str]:
    """A station threshold by name (a seasonal name picks the current season's); (None, name) if missing."""
    by_season = rules.seasonal_thresholds.get(name)
    if by_season is not None:
        if season is None or season.name not in by_season:
            return None, name
        name = by_season[season.name]
    return as_float(station.thresholds.get(name)), name


def _device_value(rule: Rule, series: Series, now: float) -> float | None:
    if rule.check == "stale":
        metrics = [rule.metric] if rule.metric else list(series)
        latest: float | None = None
        present = False
        for metric in metrics:
            data = _upto(series, metric, now)
            if data is None:
                continue
            present = True
            if len(data[0]):
                latest = max(latest if latest is not None else -math.inf, float(data[0][-1]))
        if not present:
            return None  # the caller told us nothing about this station
        return math.inf if latest is None else float(now - latest)
    assert rule.metric is not None
    data = _upto(series, rule.metric, now)
    if data is None or len(data[1]) == 0:
        return None
    values = data[1]
    if rule.check == "stuck":
        same = values == values[-1]
        run = len(values) if same.all() else int(len(values) - 1 - np.flatnonzero(~same)[-1])
        return float(run)
    # spike: the last three readings a, b, c with b far from both and a, c on the same side of b
    if len(values) < 3:
        return 0.0
    a, b, c = (float(v) for v in values[-3:])
    up, down = b - a, c - b
    if up * down >= 0:
        return 0.0
    return min(abs(up), abs(down))


def _rise_per_hour(times: np.ndarray, values: np.ndarray, now: float, window_s: int) -> float | None:
    start = int(np.searchsorted(times, now - window_s, side="left"))
    t, v = times[start:], values[start:]
    if len(t) < 2 or t[-1] - t[0] < window_s / 2:
        return None  # too few readings in the window to call it a rate
    return float((v[-1] - v[0]) / (t[-1] - t[0]) * 3600.0)


def _is_rising(times: np.ndarray, values: np.ndarray, now: float, window_s: int) -> bool:
    start = int(np.searchsorted(times, now - window_s, side="left"))
    v = values[start:]
    return len(v) >= 2 and float(v[-1]) > float(v[0])


def _at_least(value: float, trigger: float) -> bool:
    # Sums of 0.1 mm readings land a hair under a round trigger (49.99999…); that is still 50 mm.
    return value >= trigger - 1e-9 * max(1.0, abs(trigger))


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "∞"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _messages(rule: Rule, station: Station, shown: _Judged, level: str | None) -> tuple[str, str]:
    who = station.name or station.code
    metric_zh = METRIC_ZH.get(rule.metric or "", rule.metric or "")
    unit = METRICS[rule.metric].unit if rule.metric else ""
    if rule.check == "rise_rate":
        unit = f"{unit}/h"
    elif rule.check in DEVICE_CHECKS:
        unit = {"stale": "s", "stuck": "", "spike": unit}[rule.check]
    value, trigger = _fmt(shown.value), _fmt(shown.trigger)
    if level is None:
        return (
            f"{who} {rule.title_zh}：{metric_zh}{value}{unit}，未达{shown.label_zh}（{trigger}{unit}）",
            f"{who} {rule.title_en}: {value}{unit}, below {shown.label_en} ({trigger}{unit})",
        )
    title_zh = f"{rule.title_zh}（{LEVEL_ZH[level]}）"
    return (
        f"{who} {title_zh}：{metric_zh}{value}{unit}，达到{shown.label_zh}（{trigger}{unit}）",
        f"{who} {rule.title_en} ({level}): {value}{unit}, at or above {shown.label_en} ({trigger}{unit})",
    )
