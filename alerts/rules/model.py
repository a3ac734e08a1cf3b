"""The rules as values: grades, rules, seasons, the typhoon signal and report triggers, stations, decisions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import numpy as np

from floodctl.domain.hazards import FLOOD
from floodctl.domain.thresholds import THRESHOLD_NAMES

FLOOD_CHECKS = ("level", "rain_sum", "rise_rate")
DEVICE_CHECKS = {"stale": "max_age_s", "stuck": "repeat_count", "spike": "jump"}  # check -> its parameter
CHECKS = FLOOD_CHECKS + tuple(DEVICE_CHECKS)
TYPHOON_RULE_ID = "typhoon-signal"
REPORT_KINDS = (
    "seawall_breach",
    "dyke_breach",
    "dam_danger",
    "overtopping",
    "landslide",
    "waterlogging",
    "people_trapped",
    "other",
)


@dataclass(frozen=True, slots=True)
class Grade:
    level: str
    threshold: str | None  # a station threshold name (maybe seasonal), or None for a fixed value
    value: float | None  # the fixed trigger when threshold is None
    offset: float = 0.0  # trigger = station threshold + offset
    window_s: int | None = None  # rain_sum: the accumulation window
    rising: bool = False  # level: only while rising (over the rule's window_s)
    label_zh: str = ""
    label_en: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    number: int  # 1-based position in the file, for messages
    title_zh: str
    title_en: str
    kinds: tuple[str, ...]
    category: str
    check: str
    metric: str | None
    grades: tuple[Grade, ...]
    clear_deadband: float
    clear_after_s: float
    window_s: int | None = None  # rise_rate window, and the "rising" window of level rules
    hazard: str | None = None  # flood rules: what the warning is about (orders are worded by it)
    order_from: str | None = None  # draft a response order when the warning reaches this level
    auto_approve_from: str | None = None  # … and approve it without a commander from this level on


@dataclass(frozen=True, slots=True)
class Season:
    name: str
    label_zh: str
    start: tuple[int, int]  # (month, day), inclusive
    end: tuple[int, int]

    def contains(self, month_day: tuple[int, int]) -> bool:
        if self.start <= self.end:
            return self.start <= month_day <= self.end
        return month_day >= self.start or month_day <= self.end  # a season across New Year


@dataclass(frozen=True, slots=True)
class TyphoonRule:
    """The county-wide typhoon signal (台风预警信号), judged from the storm's track and forecast at a
    point (alerts/typhoon.py), kept as a warning on the area ``county`` like any other."""

    lat: float
    lon: float
    order_from: str | None = None
    auto_approve_from: str | None = None
    clear_after_s: float = 6 * 3600

    def as_rule(self) -> Rule:
        return Rule(
            id=TYPHOON_RULE_ID,
            number=0,
            title_zh="台风预警信号",
            title_en="typhoon signal",
            kinds=(),
            category=FLOOD,
            check="typhoon",
            metric=None,
            grades=(),
            clear_deadband=0.0,
            clear_after_s=self.clear_after_s,
            hazard="typhoon",
            order_from=self.order_from,
            auto_approve_from=self.auto_approve_from,
        )


@dataclass(frozen=True, slots=True)
class ReportTrigger:
    """A field report of this kind raises a warning at once (and may draft an order to its town)."""

    kind: str
    level: str
    hazard: str
    title_zh: str
    order_from: str | None = None
    auto_approve_from: str | None = None

    @property
    def rule_id(self) -> str:
        return f"report-{self.kind.replace('_', '-')}"

    def as_rule(self) -> Rule:
        return Rule(
            id=self.rule_id,
            number=0,
            title_zh=self.title_zh,
            title_en=f"field report: {self.kind}",
            kinds=(),
            category=FLOOD,
            check="report",
            metric=None,
            grades=(),
            clear_deadband=0.0,
            clear_after_s=0.0,
            hazard=self.hazard,
            order_from=self.order_from,
            auto_approve_from=self.auto_approve_from,
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    utc_offset_s: int
    seasons: tuple[Season, ...]
    seasonal_thresholds: Mapping[str, Mapping[str, str]]  # "fsltdz" -> {"meiyu": "fsltdz_meiyu", …}
    rules: tuple[Rule, ...]
    typhoon: TyphoonRule | None = None
    report_triggers: Mapping[str, ReportTrigger] = field(default_factory=dict)

    def season_at(self, now: float) -> Season | None:
        """The flood season of the local date of ``now`` (epoch seconds), or None outside them."""
        local = datetime.fromtimestamp(now, UTC) + timedelta(seconds=self.utc_offset_s)
        for season in self.seasons:
            if season.contains((local.month, local.day)):
                return season
        return None

    def rule(self, rule_id: str) -> Rule:
        if rule_id == TYPHOON_RULE_ID and self.typhoon is not None:
            return self.typhoon.as_rule()
        for trigger in self.report_triggers.values():
            if trigger.rule_id == rule_id:
                return trigger.as_rule()
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


@dataclass(frozen=True, slots=True)
class Station:
    """What the rules need to know about a station; thresholds hold None where the data has none."""

    code: str
    kind: str
    town: str
    thresholds: Mapping[str, float | None] = field(default_factory=dict)
    name: str = ""

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> Station:
        """From a feature's properties in ``gis_data/stations.geojson`` (or the API's station JSON)."""
        nested = props.get("thresholds")
        source: Mapping[str, Any] = nested if isinstance(nested, Mapping) else props
        thresholds = {k: as_float(source.get(k)) for k in THRESHOLD_NAMES}
        return cls(
            code=str(props["code"]),
            kind=str(props["kind"]),
            town=str(props.get("town") or ""),
            thresholds=thresholds,
            name=str(props.get("name") or ""),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    rule_id: str
    station: str
    category: str  # flood | device
    level: str | None  # highest grade reached now; None: no grade reached
    hold_level: str | None  # highest grade still held within the clear deadband (>= level)
    condition: bool  # level is not None
    value: float  # the judged value (m, mm, m/h, s, count) of the grade reported
    threshold: float  # the trigger it was compared with
    at: float  # the event time judged (epoch seconds)
    message_zh: str
    message_en: str


Series = Mapping[str, tuple[np.ndarray, np.ndarray]]  # metric -> (times ascending, values)


def is_number(x: object) -> TypeGuard[int | float]:
    """A finite int or float (not a bool): what a TOML number or a threshold must be."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def as_float(x: object) -> float | None:
    if is_number(x):
        return float(x)
    return None
