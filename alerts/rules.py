"""The county's declarative warning rules: load and validate ``rules.toml``, and judge a station with them.

    rules.toml --load_rules/check_rules--> RuleSet(seasons, rules: Rule(grades: Grade…))
    evaluate(rules, station, series, now) -> [Decision]      pure: no clock, database or network

Event-time evaluation: ``now`` is the moment being judged, not the wall clock. Live, the caller passes
the newest reading's time; for late data (backfill) it passes the late reading's own time, and only
readings with ``t <= now`` are looked at, so a past situation is judged as it was then — a late
reading never makes the present look worse, and the present never hides what happened then.

A rule has grades (one per colour). The *level* of a decision is the highest grade whose trigger is
reached now; its *hold level* is the highest grade whose trigger minus ``clear_deadband`` is still
reached. ``alerts.lifecycle`` raises and escalates on the level and lowers or clears only when the
hold level has stayed below the warning's level for ``clear_after_s``: that is the hysteresis.

A station missing a threshold skips the grades that need it; missing all of them, the rule is not
applied to the station (no decision, no error). A metric absent from ``series`` likewise.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from floodctl.core.errors import ValidationFailed
from floodctl.domain.metrics import METRICS

DEFAULT_PATH = Path(__file__).with_name("rules.toml")

LEVELS = ("blue", "yellow", "orange", "red")
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
CATEGORIES = ("flood", "device")
STATION_KINDS = ("river", "reservoir", "tide", "rain", "weather", "camera")
FLOOD_CHECKS = ("level", "rain_sum", "rise_rate")
DEVICE_CHECKS = {"stale": "max_age_s", "stuck": "repeat_count", "spike": "jump"}  # check -> its parameter
CHECKS = FLOOD_CHECKS + tuple(DEVICE_CHECKS)

# Station thresholds (SL 323 names, as in gis_data/stations.geojson) and how users read them.
THRESHOLD_LABELS: dict[str, tuple[str, str]] = {
    "wrz": ("警戒水位", "warning level"),
    "grz": ("保证水位", "guarantee level"),
    "fsltdz_meiyu": ("梅汛期汛限水位", "Meiyu flood-season limit"),
    "fsltdz_typhoon": ("台汛期汛限水位", "typhoon flood-season limit"),
    "dsflz": ("设计洪水位", "design flood level"),
    "ckflz": ("校核洪水位", "check flood level"),
    "dam_crest": ("坝顶高程", "dam crest"),
    "tide_blue": ("蓝色警戒潮位", "blue warning tide"),
    "tide_yellow": ("黄色警戒潮位", "yellow warning tide"),
    "tide_orange": ("橙色警戒潮位", "orange warning tide"),
    "tide_red": ("红色警戒潮位", "red warning tide"),
    "seawall_crest": ("海塘堤顶高程", "seawall crest"),
}
STATION_THRESHOLDS = tuple(THRESHOLD_LABELS)
METRIC_ZH = {"water_level": "水位", "tide_level": "潮位", "rainfall": "雨量", "wind_speed": "风速"}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_COMMON_FIELDS = {"id", "title_zh", "title_en", "kinds", "category", "check", "metric",
                  "clear_deadband", "clear_after_s"}
_ORDER_FIELDS = {"hazard", "order_from", "auto_approve_from"}   # flood rules only
# What a flood rule warns about; response orders are worded per hazard (alerts/templates.py).
HAZARDS = ("river_flood", "reservoir", "storm_tide", "rainstorm", "typhoon", "waterlogging", "seawall_breach",
           "general")
_GRADE_FIELDS = {"level", "threshold", "value", "offset", "window_s", "rising", "label_zh", "label_en"}


# --- the rules ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Grade:
    level: str
    threshold: str | None        # a station threshold name (maybe seasonal), or None for a fixed value
    value: float | None          # the fixed trigger when threshold is None
    offset: float = 0.0          # trigger = station threshold + offset
    window_s: int | None = None  # rain_sum: the accumulation window
    rising: bool = False         # level: only while rising (over the rule's window_s)
    label_zh: str = ""
    label_en: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    number: int                  # 1-based position in the file, for messages
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
    hazard: str | None = None    # flood rules: what the warning is about (orders are worded by it)
    order_from: str | None = None         # draft a response order when the warning reaches this level
    auto_approve_from: str | None = None  # … and approve it without a commander from this level on


@dataclass(frozen=True, slots=True)
class Season:
    name: str
    label_zh: str
    start: tuple[int, int]       # (month, day), inclusive
    end: tuple[int, int]

    def contains(self, month_day: tuple[int, int]) -> bool:
        if self.start <= self.end:
            return self.start <= month_day <= self.end
        return month_day >= self.start or month_day <= self.end   # a season across New Year


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
        return Rule(id=TYPHOON_RULE_ID, number=0, title_zh="台风预警信号", title_en="typhoon signal", kinds=(),
                    category="flood", check="typhoon", metric=None, grades=(), clear_deadband=0.0,
                    clear_after_s=self.clear_after_s, hazard="typhoon", order_from=self.order_from,
                    auto_approve_from=self.auto_approve_from)


TYPHOON_RULE_ID = "typhoon-signal"
REPORT_KINDS = ("seawall_breach", "dyke_breach", "dam_danger", "overtopping", "landslide", "waterlogging",
                "people_trapped", "other")


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
        return Rule(id=self.rule_id, number=0, title_zh=self.title_zh, title_en=f"field report: {self.kind}",
                    kinds=(), category="flood", check="report", metric=None, grades=(), clear_deadband=0.0,
                    clear_after_s=0.0, hazard=self.hazard, order_from=self.order_from,
                    auto_approve_from=self.auto_approve_from)


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    utc_offset_s: int
    seasons: tuple[Season, ...]
    seasonal_thresholds: Mapping[str, Mapping[str, str]]   # "fsltdz" -> {"meiyu": "fsltdz_meiyu", …}
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
        source = props.get("thresholds") if isinstance(props.get("thresholds"), Mapping) else props
        thresholds = {k: _as_float(source.get(k)) for k in STATION_THRESHOLDS}
        return cls(code=str(props["code"]), kind=str(props["kind"]), town=str(props.get("town") or ""),
                   thresholds=thresholds, name=str(props.get("name") or ""))


@dataclass(frozen=True, slots=True)
class Decision:
    rule_id: str
    station: str
    category: str                # flood | device
    level: str | None            # highest grade reached now; None: no grade reached
    hold_level: str | None       # highest grade still held within the clear deadband (>= level)
    condition: bool              # level is not None
    value: float                 # the judged value (m, mm, m/h, s, count) of the grade reported
    threshold: float             # the trigger it was compared with
    at: float                    # the event time judged (epoch seconds)
    message_zh: str
    message_en: str


Series = Mapping[str, tuple[np.ndarray, np.ndarray]]   # metric -> (times ascending, values)


# --- loading and validation ---------------------------------------------------------------------

def load_rules(path: str | Path = DEFAULT_PATH) -> RuleSet:
    """Read and validate a rules file; ValidationFailed lists every problem."""
    path = Path(path)
    ruleset, problems = _read(path)
    if problems or ruleset is None:
        raise ValidationFailed(f"{len(problems)} problem(s) in {path}", details=problems)
    return ruleset


def rule_variant(rule_id: str, source: str | Path = DEFAULT_PATH, **fields: str | int | float) -> str:
    """The text of a rules file with fields of one rule set (replaced where present, else added after
    its ``id``); other rules, comments and layout are kept. For drills, benchmarks and tests that need,
    say, a shorter ``clear_after_s`` or ``auto_approve_from``; the result still goes through validation."""
    text = Path(source).read_text(encoding="utf-8")
    start = text.find(f'id = "{rule_id}"')
    if start < 0:
        raise KeyError(rule_id)
    end = text.find("[[rule]]", start)
    end = len(text) if end < 0 else end
    block = text[start:end]
    for key, value in fields.items():
        literal = f'"{value}"' if isinstance(value, str) else repr(value)
        line = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
        if line.search(block):
            block = line.sub(f"{key} = {literal}", block, count=1)
        else:
            first_nl = block.index("\n") + 1
            block = block[:first_nl] + f"{key} = {literal}\n" + block[first_nl:]
    return text[:start] + block + text[end:]


def check_rules(path: str | Path = DEFAULT_PATH) -> list[str]:
    """Every problem in a rules file, one message each naming the rule and field; [] when it is fine."""
    return _read(Path(path))[1]


def parse_rules(data: Mapping[str, Any], source: str = "rules.toml") -> tuple[RuleSet | None, list[str]]:
    """Validate parsed TOML; the RuleSet is None when there are problems."""
    return _Parser(source).parse(data)


def _read(path: Path) -> tuple[RuleSet | None, list[str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [f"{path}: no such file"]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read: {exc}"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path.name}: not valid TOML: {exc}"]
    return parse_rules(data, path.name)


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _as_float(x: object) -> float | None:
    if _is_number(x):
        return float(x)  # type: ignore[arg-type]
    return None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")

    def parse(self, data: Mapping[str, Any]) -> tuple[RuleSet | None, list[str]]:
        for key in sorted(set(data) - {"version", "utc_offset_h", "seasons", "seasonal_thresholds", "rule",
                                       "typhoon_signal", "report_triggers"}):
            self.err(f"field '{key}'", "unknown top-level field")
        version = data.get("version")
        if version != 1:
            self.err("field 'version'", f"must be 1, got {version!r}")
        offset_h = data.get("utc_offset_h", 8)
        if not _is_number(offset_h) or not -14 <= offset_h <= 14:
            self.err("field 'utc_offset_h'", f"must be hours between -14 and 14, got {offset_h!r}")
            offset_h = 8
        seasons = self.seasons(data.get("seasons", {}))
        seasonal = self.seasonal(data.get("seasonal_thresholds", {}), {s.name for s in seasons})
        raw_rules = data.get("rule", [])
        rules: list[Rule] = []
        if not isinstance(raw_rules, list) or not raw_rules:
            self.err("field 'rule'", "needs at least one [[rule]] table")
            raw_rules = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(raw_rules, start=1):
            rule = self.rule(number, raw, set(STATION_THRESHOLDS) | set(seasonal), seen)
            if rule is not None:
                rules.append(rule)
        typhoon = self.typhoon(data.get("typhoon_signal"))
        triggers = self.report_triggers(data.get("report_triggers", {}))
        if self.problems:
            return None, self.problems
        return RuleSet(version=1, utc_offset_s=int(round(offset_h * 3600)), seasons=tuple(seasons),
                       seasonal_thresholds=seasonal, rules=tuple(rules), typhoon=typhoon,
                       report_triggers=triggers), []

    def report_triggers(self, raw: object) -> dict[str, ReportTrigger]:
        out: dict[str, ReportTrigger] = {}
        if not isinstance(raw, Mapping):
            self.err("[report_triggers]", "must be a table of report kinds")
            return out
        for kind, body in raw.items():
            where = f"[report_triggers.{kind}]"
            if kind not in REPORT_KINDS:
                self.err(where, f"unknown report kind; one of {', '.join(REPORT_KINDS)}")
                continue
            if not isinstance(body, Mapping):
                self.err(where, "must be a table")
                continue
            before = len(self.problems)
            for key in sorted(set(body) - {"level", "hazard", "title_zh", "order_from", "auto_approve_from"}):
                self.err(f"{where}: field '{key}'", "unknown field; allowed: level, hazard, title_zh, order_from, "
                                                    "auto_approve_from")
            if body.get("level") not in LEVELS:
                self.err(f"{where}: field 'level'", f"must be a warning colour ({', '.join(LEVELS)}), "
                                                    f"got {body.get('level')!r}")
            if body.get("hazard") not in HAZARDS:
                self.err(f"{where}: field 'hazard'", f"must be one of {', '.join(HAZARDS)}, got {body.get('hazard')!r}")
            if not isinstance(body.get("title_zh"), str) or not body.get("title_zh", "").strip():
                self.err(f"{where}: field 'title_zh'", "missing (the text the duty officer sees)")
            for key in ("order_from", "auto_approve_from"):
                if body.get(key) is not None and body.get(key) not in LEVELS:
                    self.err(f"{where}: field '{key}'", f"must be a warning colour, got {body.get(key)!r}")
            if len(self.problems) == before:
                out[kind] = ReportTrigger(kind=kind, level=body["level"], hazard=body["hazard"],
                                          title_zh=body["title_zh"], order_from=body.get("order_from"),
                                          auto_approve_from=body.get("auto_approve_from"))
        return out

    def typhoon(self, raw: object) -> TyphoonRule | None:
        if raw is None:
            return None
        where = "[typhoon_signal]"
        if not isinstance(raw, Mapping):
            self.err(where, "must be a table")
            return None
        before = len(self.problems)
        for key in sorted(set(raw) - {"lat", "lon", "order_from", "auto_approve_from", "clear_after_s"}):
            self.err(f"{where}: field '{key}'", "unknown field; allowed: lat, lon, order_from, auto_approve_from, "
                                                "clear_after_s")
        lat, lon = raw.get("lat"), raw.get("lon")
        if not _is_number(lat) or not -90 <= lat <= 90:
            self.err(f"{where}: field 'lat'", f"must be degrees north of the point judged, got {lat!r}")
        if not _is_number(lon) or not -180 <= lon <= 180:
            self.err(f"{where}: field 'lon'", f"must be degrees east of the point judged, got {lon!r}")
        for key in ("order_from", "auto_approve_from"):
            if raw.get(key) is not None and raw.get(key) not in LEVELS:
                self.err(f"{where}: field '{key}'", f"must be a warning colour ({', '.join(LEVELS)}), "
                                                    f"got {raw.get(key)!r}")
        clear_after = raw.get("clear_after_s", 6 * 3600)
        if not _is_number(clear_after) or clear_after < 0:
            self.err(f"{where}: field 'clear_after_s'", f"must be seconds >= 0, got {clear_after!r}")
        if len(self.problems) > before:
            return None
        return TyphoonRule(lat=float(lat), lon=float(lon), order_from=raw.get("order_from"),
                           auto_approve_from=raw.get("auto_approve_from"), clear_after_s=float(clear_after))

    def seasons(self, raw: object) -> list[Season]:
        if not isinstance(raw, Mapping):
            self.err("field 'seasons'", "must be a table of [seasons.NAME] tables")
            return []
        out: list[Season] = []
        for name, body in raw.items():
            where = f"season '{name}'"
            if not isinstance(body, Mapping):
                self.err(where, "must be a table with start and end")
                continue
            for key in sorted(set(body) - {"start", "end", "label_zh"}):
                self.err(f"{where}: field '{key}'", "unknown field; one of start, end, label_zh")
            start, end = self.month_day(where, body, "start"), self.month_day(where, body, "end")
            if start and end:
                out.append(Season(name, str(body.get("label_zh", name)), start, end))
        for i, a in enumerate(out):
            for b in out[i + 1:]:
                if any(a.contains(d) for d in (b.start, b.end)) or any(b.contains(d) for d in (a.start, a.end)):
                    self.err(f"season '{b.name}'", f"overlaps season '{a.name}'")
        return out

    def month_day(self, where: str, body: Mapping[str, Any], key: str) -> tuple[int, int] | None:
        text = body.get(key)
        m = _MONTH_DAY_RE.match(text) if isinstance(text, str) else None
        if m:
            month, day = int(m[1]), int(m[2])
            try:
                datetime(2024, month, day)   # a leap year, so 02-29 is allowed
                return month, day
            except ValueError:
                pass
        self.err(f"{where}: field '{key}'", f"must be a date \"MM-DD\", got {text!r}")
        return None

    def seasonal(self, raw: object, season_names: set[str]) -> dict[str, dict[str, str]]:
        if not isinstance(raw, Mapping):
            self.err("field 'seasonal_thresholds'", "must be a table of [seasonal_thresholds.NAME] tables")
            return {}
        out: dict[str, dict[str, str]] = {}
        for name, body in raw.items():
            where = f"seasonal threshold '{name}'"
            if name in STATION_THRESHOLDS:
                self.err(where, "must not reuse a station threshold name")
                continue
            if not isinstance(body, Mapping):
                self.err(where, "must map season names to station threshold names")
                continue
            out[name] = {}
            for season, target in body.items():
                if season not in season_names:
                    self.err(f"{where}: field '{season}'",
                             f"unknown season; one of {', '.join(sorted(season_names)) or '(none defined)'}")
                elif target not in STATION_THRESHOLDS:
                    self.err(f"{where}: field '{season}'",
                             f"unknown threshold {target!r}; one of {', '.join(STATION_THRESHOLDS)}")
                else:
                    out[name][season] = target
        return out

    def rule(self, number: int, raw: object, threshold_names: set[str], seen: dict[str, int]) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.err(f"rule #{number}", "must be a table")
            return None
        rule_id = raw.get("id")
        where = f"rule '{rule_id}' (#{number})" if isinstance(rule_id, str) else f"rule #{number}"
        before = len(self.problems)

        def bad(field_name: str, message: str) -> None:
            self.err(f"{where}: field '{field_name}'", message)

        if not isinstance(rule_id, str):
            bad("id", "missing (a name like 'river-level')")
        elif not _ID_RE.match(rule_id):
            bad("id", "use lower-case letters, digits, '-' and '_' (at most 64)")
        elif rule_id in seen:
            bad("id", f"duplicate id, already used by rule #{seen[rule_id]}")
        else:
            seen[rule_id] = number

        check = raw.get("check")
        if check not in CHECKS:
            bad("check", f"unknown check {check!r}; one of {', '.join(CHECKS)}" if check is not None
                else f"missing; one of {', '.join(CHECKS)}")
            return None
        device_param = DEVICE_CHECKS.get(check)
        allowed = _COMMON_FIELDS | ({"level", device_param} if device_param else {"grades", "window_s", *_ORDER_FIELDS})
        for key in sorted(set(raw) - allowed):
            bad(key, f"unknown field for check '{check}'; allowed: {', '.join(sorted(allowed))}")

        category = raw.get("category")
        if category not in CATEGORIES:
            bad("category", f"must be one of {', '.join(CATEGORIES)}, got {category!r}")
        elif device_param and category != "device":
            bad("category", f"a data-quality check ('{check}') raises device warnings: category must be 'device'")
        elif not device_param and category != "flood":
            bad("category", f"check '{check}' judges water or rain: category must be 'flood'")

        kinds = raw.get("kinds")
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            bad("kinds", f"must be a non-empty list of station kinds ({', '.join(STATION_KINDS)})")
            kinds = []
        for k in kinds:
            if k not in STATION_KINDS:
                bad("kinds", f"unknown station kind {k!r}; one of {', '.join(STATION_KINDS)}")

        metric = raw.get("metric")
        if metric is None and check != "stale":
            bad("metric", f"missing; one of {', '.join(METRICS)}")
        elif metric is not None and metric not in METRICS:
            bad("metric", f"unknown metric {metric!r}; one of {', '.join(METRICS)}")

        titles = []
        for key in ("title_zh", "title_en"):
            text = raw.get(key)
            if not isinstance(text, str) or not text.strip():
                bad(key, "missing (the text the duty officer sees)")
                text = ""
            titles.append(text)

        deadband = raw.get("clear_deadband")
        if not _is_number(deadband) or deadband < 0:
            bad("clear_deadband", f"must be a number >= 0, got {deadband!r}"
                if deadband is not None else "missing (>= 0, in the metric's unit)")
            deadband = 0.0
        clear_after = raw.get("clear_after_s")
        if not _is_number(clear_after) or clear_after < 0:
            bad("clear_after_s", f"must be seconds >= 0, got {clear_after!r}"
                if clear_after is not None else "missing (seconds >= 0)")
            clear_after = 0.0

        window = raw.get("window_s")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window <= 0):
            bad("window_s", f"must be a positive whole number of seconds, got {window!r}")
            window = None
        if check == "rise_rate" and window is None and "window_s" not in raw:
            bad("window_s", "missing: the rate is measured over this many seconds")

        hazard = raw.get("hazard")
        if not device_param and hazard not in HAZARDS:
            bad("hazard", f"must be one of {', '.join(HAZARDS)}, got {hazard!r}" if hazard is not None
                else f"missing; one of {', '.join(HAZARDS)}")
        order_from, auto_from = raw.get("order_from"), raw.get("auto_approve_from")
        for key, value in (("order_from", order_from), ("auto_approve_from", auto_from)):
            if value is not None and value not in LEVELS:
                bad(key, f"must be a warning colour ({', '.join(LEVELS)}), got {value!r}")
        if auto_from is not None and order_from is None:
            bad("auto_approve_from", "needs order_from: only a drafted order can be approved")
        elif auto_from in LEVEL_RANK and order_from in LEVEL_RANK and LEVEL_RANK[auto_from] < LEVEL_RANK[order_from]:
            bad("auto_approve_from", f"'{auto_from}' is below order_from '{order_from}': no order is drafted there")

        if device_param:
            grades = self.device_grade(raw, device_param, bad)
        else:
            grades = self.grades(raw.get("grades"), check, threshold_names, window, bad)
        if len(self.problems) > before:
            return None
        return Rule(id=rule_id, number=number, title_zh=titles[0], title_en=titles[1], kinds=tuple(kinds),
                    category=category, check=check, metric=metric, grades=grades,
                    clear_deadband=float(deadband), clear_after_s=float(clear_after), window_s=window,
                    hazard=hazard if not device_param else None, order_from=order_from,
                    auto_approve_from=auto_from)

    def device_grade(self, raw: Mapping[str, Any], param: str, bad: Any) -> tuple[Grade, ...]:
        level = raw.get("level")
        if level not in LEVELS:
            bad("level", f"unknown colour {level!r}; one of {', '.join(LEVELS)}")
        value = raw.get(param)
        if not _is_number(value) or value <= 0:
            bad(param, f"must be a number > 0, got {value!r}" if value is not None else "missing (a number > 0)")
            return ()
        if param == "repeat_count" and (not isinstance(value, int) or value < 2):
            bad(param, f"must be a whole number >= 2, got {value!r}")
        return (Grade(level=str(level), threshold=None, value=float(value)),)

    def grades(self, raw: object, check: str, threshold_names: set[str], window: int | None,
               bad: Any) -> tuple[Grade, ...]:
        if not isinstance(raw, list) or not raw:
            bad("grades", "missing: a list of { level = …, threshold = … or value = … }")
            return ()
        out: list[Grade] = []
        for i, g in enumerate(raw, start=1):
            name = f"grades[{i}]"
            if not isinstance(g, Mapping):
                bad(name, "must be an inline table { level = …, … }")
                continue
            for key in sorted(set(g) - _GRADE_FIELDS):
                bad(f"{name}.{key}", f"unknown field; one of {', '.join(sorted(_GRADE_FIELDS))}")
            level = g.get("level")
            if level not in LEVELS:
                bad(f"{name}.level", f"unknown colour {level!r}; one of {', '.join(LEVELS)}"
                    if level is not None else f"missing; one of {', '.join(LEVELS)}")
            threshold, value = g.get("threshold"), g.get("value")
            if (threshold is None) == (value is None):
                bad(name, "needs exactly one of 'threshold' (a station threshold) or 'value' (a fixed number)")
            elif threshold is not None and threshold not in threshold_names:
                bad(f"{name}.threshold",
                    f"unknown threshold {threshold!r}; one of {', '.join(sorted(threshold_names))}")
            elif value is not None and not _is_number(value):
                bad(f"{name}.value", f"must be a number, got {value!r}")
            offset = g.get("offset", 0.0)
            if not _is_number(offset):
                bad(f"{name}.offset", f"must be a number, got {offset!r}")
                offset = 0.0
            elif value is not None and "offset" in g:
                bad(f"{name}.offset", "only with 'threshold'; put a fixed trigger in 'value'")
            grade_window = g.get("window_s")
            if check == "rain_sum":
                if grade_window is None:
                    bad(f"{name}.window_s", "missing: the accumulation window in seconds")
                elif (not isinstance(grade_window, int) or isinstance(grade_window, bool)
                      or grade_window <= 0):
                    bad(f"{name}.window_s", f"must be a positive whole number of seconds, got {grade_window!r}")
            elif grade_window is not None:
                bad(f"{name}.window_s", "only rain_sum grades have their own window; use the rule's window_s")
            rising = g.get("rising", False)
            if not isinstance(rising, bool):
                bad(f"{name}.rising", f"must be true or false, got {rising!r}")
            elif rising and check != "level":
                bad(f"{name}.rising", "only level rules can require a rising value")
            elif rising and window is None:
                bad(f"{name}.rising", "needs the rule's window_s (rising over how long)")
            labels = [g.get("label_zh", ""), g.get("label_en", "")]
            for key, text in zip(("label_zh", "label_en"), labels, strict=True):
                if not isinstance(text, str):
                    bad(f"{name}.{key}", "must be text")
            if threshold is None and value is not None and not (labels[0] and labels[1]):
                bad(name, "a fixed 'value' needs label_zh and label_en (what the trigger means)")
            out.append(Grade(level=str(level), threshold=threshold if isinstance(threshold, str) else None,
                             value=float(value) if _is_number(value) else None,
                             offset=float(offset), window_s=grade_window if isinstance(grade_window, int) else None,
                             rising=bool(rising), label_zh=str(labels[0]), label_en=str(labels[1])))
        return tuple(out)


# --- evaluation ---------------------------------------------------------------------------------

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
    return _as_float(station.thresholds.get(name)), name


@dataclass(frozen=True, slots=True)
class _Judged:
    grade: Grade
    value: float
    trigger: float
    reached: bool
    held: bool
    label_zh: str
    label_en: str


def _evaluate_rule(rules: RuleSet, rule: Rule, station: Station, series: Series, now: float,
                   season: Season | None) -> Decision | None:
    judged: list[_Judged] = []
    if rule.check in DEVICE_CHECKS:
        value = _device_value(rule, series, now)
        if value is None:
            return None
        grade = rule.grades[0]
        trigger = grade.value or 0.0
        label = {"stale": ("数据间隔", "silent for"), "stuck": ("不变读数", "identical readings"),
                 "spike": ("跳变", "jump")}[rule.check]
        judged.append(_Judged(grade, value, trigger, _at_least(value, trigger),
                              _at_least(value, trigger - rule.clear_deadband),
                              label[0], label[1]))
    else:
        assert rule.metric is not None
        data = _upto(series, rule.metric, now)
        if data is None or len(data[0]) == 0:
            return None
        times, values = data
        rising: bool | None = None
        for grade in rule.grades:
            if grade.threshold is not None:
                base, resolved = _resolve(rules, station, grade.threshold, season)
                if base is None:
                    continue   # missing threshold: skip this grade for this station
                trigger = base + grade.offset
                zh, en = THRESHOLD_LABELS[resolved]
                if grade.offset:
                    zh, en = f"{zh}{grade.offset:+g} m", f"{en} {grade.offset:+g} m"
            else:
                trigger = grade.value if grade.value is not None else math.inf
                zh, en = grade.label_zh, grade.label_en
            zh, en = grade.label_zh or zh, grade.label_en or en
            if rule.check == "level":
                value = float(values[-1])
            elif rule.check == "rain_sum":
                start = int(np.searchsorted(times, now - (grade.window_s or 0), side="right"))
                value = float(np.nansum(values[start:]))
            else:   # rise_rate
                rate = _rise_per_hour(times, values, now, rule.window_s or 3600)
                if rate is None:
                    return None
                value = rate
            if not math.isfinite(value):
                return None
            reached = _at_least(value, trigger)
            if grade.rising and reached:
                if rising is None:
                    rising = _is_rising(times, values, now, rule.window_s or 1800)
                reached = rising
            held = _at_least(value, trigger - rule.clear_deadband)
            judged.append(_Judged(grade, value, trigger, reached, held, zh, en))
        if not judged:
            return None   # the station has none of the thresholds this rule needs

    def top(items: Sequence[_Judged]) -> _Judged | None:
        return max(items, key=lambda j: LEVEL_RANK[j.grade.level], default=None)

    reached, held = top([j for j in judged if j.reached]), top([j for j in judged if j.held])
    shown = reached or held or min(judged, key=lambda j: LEVEL_RANK[j.grade.level])
    level = reached.grade.level if reached else None
    hold_level = held.grade.level if held else None
    if level is not None and (hold_level is None or LEVEL_RANK[hold_level] < LEVEL_RANK[level]):
        hold_level = level
    zh, en = _messages(rule, station, shown, level)
    return Decision(rule_id=rule.id, station=station.code, category=rule.category, level=level,
                    hold_level=hold_level, condition=level is not None, value=shown.value,
                    threshold=shown.trigger, at=float(now), message_zh=zh, message_en=en)


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
            return None   # the caller told us nothing about this station
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
        return None   # too few readings in the window to call it a rate
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
        return (f"{who} {rule.title_zh}：{metric_zh}{value}{unit}，未达{shown.label_zh}（{trigger}{unit}）",
                f"{who} {rule.title_en}: {value}{unit}, below {shown.label_en} ({trigger}{unit})")
    title_zh = f"{rule.title_zh}（{LEVEL_ZH[level]}）"
    return (f"{who} {title_zh}：{metric_zh}{value}{unit}，达到{shown.label_zh}（{trigger}{unit}）",
            f"{who} {rule.title_en} ({level}): {value}{unit}, at or above {shown.label_en} ({trigger}{unit})")
