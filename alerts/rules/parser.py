"""Reading ``rules.toml``: every problem found at once, each naming the rule and field; variants for drills."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.rules.model import (
    CHECKS,
    DEVICE_CHECKS,
    REPORT_KINDS,
    Grade,
    ReportTrigger,
    Rule,
    RuleSet,
    Season,
    TyphoonRule,
    is_number,
)
from floodctl.core.errors import ValidationFailed
from floodctl.domain.hazards import CATEGORIES, DEVICE, FLOOD, HAZARDS
from floodctl.domain.levels import LEVEL_RANK, LEVELS
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import STATION_KINDS, THRESHOLD_NAMES

DEFAULT_PATH = Path(__file__).parent.parent / "rules.toml"  # package data of ``alerts``

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_TOP_FIELDS = {"version", "utc_offset_h", "seasons", "seasonal_thresholds", "rule", "typhoon_signal", "report_triggers"}
_COMMON_FIELDS = {
    "id",
    "title_zh",
    "title_en",
    "kinds",
    "category",
    "check",
    "metric",
    "clear_deadband",
    "clear_after_s",
}
_ORDER_FIELDS = {"hazard", "order_from", "auto_approve_from"}  # flood rules only
_GRADE_FIELDS = {"level", "threshold", "value", "offset", "window_s", "rising", "label_zh", "label_en"}

Bad = Callable[[str, str], None]  # (field, message): one problem of the rule being read


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


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")

    def parse(self, data: Mapping[str, Any]) -> tuple[RuleSet | None, list[str]]:
        for key in sorted(set(data) - _TOP_FIELDS):
            self.err(f"field '{key}'", "unknown top-level field")
        version = data.get("version")
        if version != 1:
            self.err("field 'version'", f"must be 1, got {version!r}")
        offset_h = data.get("utc_offset_h", 8)
        if not is_number(offset_h) or not -14 <= offset_h <= 14:
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
            rule = self.rule(number, raw, set(THRESHOLD_NAMES) | set(seasonal), seen)
            if rule is not None:
                rules.append(rule)
        typhoon = self.typhoon(data.get("typhoon_signal"))
        triggers = self.report_triggers(data.get("report_triggers", {}))
        if self.problems:
            return None, self.problems
        return RuleSet(
            version=1,
            utc_offset_s=int(round(offset_h * 3600)),
            seasons=tuple(seasons),
            seasonal_thresholds=seasonal,
            rules=tuple(rules),
            typhoon=typhoon,
            report_triggers=triggers,
        ), []

    # -- the file's tables besides the rules --

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
                self.err(
                    f"{where}: field '{key}'",
                    "unknown field; allowed: level, hazard, title_zh, order_from, auto_approve_from",
                )
            if body.get("level") not in LEVELS:
                self.err(
                    f"{where}: field 'level'",
                    f"must be a warning colour ({', '.join(LEVELS)}), got {body.get('level')!r}",
                )
            if body.get("hazard") not in HAZARDS:
                self.err(f"{where}: field 'hazard'", f"must be one of {', '.join(HAZARDS)}, got {body.get('hazard')!r}")
            if not isinstance(body.get("title_zh"), str) or not body.get("title_zh", "").strip():
                self.err(f"{where}: field 'title_zh'", "missing (the text the duty officer sees)")
            for key in ("order_from", "auto_approve_from"):
                if body.get(key) is not None and body.get(key) not in LEVELS:
                    self.err(f"{where}: field '{key}'", f"must be a warning colour, got {body.get(key)!r}")
            if len(self.problems) == before:
                out[kind] = ReportTrigger(
                    kind=kind,
                    level=body["level"],
                    hazard=body["hazard"],
                    title_zh=body["title_zh"],
                    order_from=body.get("order_from"),
                    auto_approve_from=body.get("auto_approve_from"),
                )
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
            self.err(
                f"{where}: field '{key}'",
                "unknown field; allowed: lat, lon, order_from, auto_approve_from, clear_after_s",
            )
        lat, lon = raw.get("lat"), raw.get("lon")
        if not is_number(lat) or not -90 <= lat <= 90:
            self.err(f"{where}: field 'lat'", f"must be degrees north of the point judged, got {lat!r}")
        if not is_number(lon) or not -180 <= lon <= 180:
            self.err(f"{where}: field 'lon'", f"must be degrees east of the point judged, got {lon!r}")
        for key in ("order_from", "auto_approve_from"):
            if raw.get(key) is not None and raw.get(key) not in LEVELS:
                self.err(
                    f"{where}: field '{key}'", f"must be a warning colour ({', '.join(LEVELS)}), got {raw.get(key)!r}"
                )
        clear_after = raw.get("clear_after_s", 6 * 3600)
        if not is_number(clear_after) or clear_after < 0:
            self.err(f"{where}: field 'clear_after_s'", f"must be seconds >= 0, got {clear_after!r}")
        if len(self.problems) > before or not (is_number(lat) and is_number(lon) and is_number(clear_after)):
            return None
        return TyphoonRule(
            lat=float(lat),
            lon=float(lon),
            order_from=raw.get("order_from"),
            auto_approve_from=raw.get("auto_approve_from"),
            clear_after_s=float(clear_after),
        )

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
            for b in out[i + 1 :]:
                if any(a.contains(d) for d in (b.start, b.end)) or any(b.contains(d) for d in (a.start, a.end)):
                    self.err(f"season '{b.name}'", f"overlaps season '{a.name}'")
        return out

    def month_day(self, where: str, body: Mapping[str, Any], key: str) -> tuple[int, int] | None:
        text = body.get(key)
        m = _MONTH_DAY_RE.match(text) if isinstance(text, str) else None
        if m:
            month, day = int(m[1]), int(m[2])
            try:
                datetime(2024, month, day)  # a leap year, so 02-29 is allowed
                return month, day
            except ValueError:
                pass
        self.err(f"{where}: field '{key}'", f'must be a date "MM-DD", got {text!r}')
        return None

    def seasonal(self, raw: object, season_names: set[str]) -> dict[str, dict[str, str]]:
        if not isinstance(raw, Mapping):
            self.err("field 'seasonal_thresholds'", "must be a table of [seasonal_thresholds.NAME] tables")
            return {}
        out: dict[str, dict[str, str]] = {}
        for name, body in raw.items():
            where = f"seasonal threshold '{name}'"
            if name in THRESHOLD_NAMES:
                self.err(where, "must not reuse a station threshold name")
                continue
            if not isinstance(body, Mapping):
                self.err(where, "must map season names to station threshold names")
                continue
            out[name] = {}
            for season, target in body.items():
                if season not in season_names:
                    self.err(
                        f"{where}: field '{season}'",
                        f"unknown season; one of {', '.join(sorted(season_names)) or '(none defined)'}",
                    )
                elif target not in THRESHOLD_NAMES:
                    self.err(
                        f"{where}: field '{season}'",
                        f"unknown threshold {target!r}; one of {', '.join(THRESHOLD_NAMES)}",
                    )
                else:
                    out[name][season] = target
        return out

    # -- one [[rule]] --

    def rule(self, number: int, raw: object, threshold_names: set[str], seen: dict[str, int]) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.err(f"rule #{number}", "must be a table")
            return None
        rule_id = raw.get("id")
        where = f"rule '{rule_id}' (#{number})" if isinstance(rule_id, str) else f"rule #{number}"
        before = len(self.problems)

        def bad(field_name: str, message: str) -> None:
            self.err(f"{where}: field '{field_name}'", message)

        self.rule_id(rule_id, number, seen, bad)
        check = raw.get("check")
        if check not in CHECKS:
            bad(
                "check",
                f"unknown check {check!r}; one of {', '.join(CHECKS)}"
                if check is not None
                else f"missing; one of {', '.join(CHECKS)}",
            )
            return None
        device_param = DEVICE_CHECKS.get(check)
        allowed = _COMMON_FIELDS | ({"level", device_param} if device_param else {"grades", "window_s", *_ORDER_FIELDS})
        for key in sorted(set(raw) - allowed):
            bad(key, f"unknown field for check '{check}'; allowed: {', '.join(sorted(allowed))}")
        category = self.rule_category(raw, check, device_param, bad)
        kinds, metric = self.rule_kinds(raw, bad), self.rule_metric(raw, check, bad)
        titles = self.rule_titles(raw, bad)
        deadband, clear_after, window = self.rule_timing(raw, check, bad)
        hazard, order_from, auto_from = self.rule_orders(raw, device_param, bad)
        if device_param:
            grades = self.device_grade(raw, device_param, bad)
        else:
            grades = self.grades(raw.get("grades"), check, threshold_names, window, bad)
        if len(self.problems) > before:
            return None
        return Rule(
            id=str(rule_id),
            number=number,
            title_zh=titles[0],
            title_en=titles[1],
            kinds=kinds,
            category=category,
            check=check,
            metric=metric,
            grades=grades,
            clear_deadband=deadband,
            clear_after_s=clear_after,
            window_s=window,
            hazard=hazard,
            order_from=order_from,
            auto_approve_from=auto_from,
        )

    @staticmethod
    def rule_id(rule_id: object, number: int, seen: dict[str, int], bad: Bad) -> None:
        if not isinstance(rule_id, str):
            bad("id", "missing (a name like 'river-level')")
        elif not _ID_RE.match(rule_id):
            bad("id", "use lower-case letters, digits, '-' and '_' (at most 64)")
        elif rule_id in seen:
            bad("id", f"duplicate id, already used by rule #{seen[rule_id]}")
        else:
            seen[rule_id] = number

    @staticmethod
    def rule_category(raw: Mapping[str, Any], check: str, device_param: str | None, bad: Bad) -> str:
        category = raw.get("category")
        if category not in CATEGORIES:
            bad("category", f"must be one of {', '.join(CATEGORIES)}, got {category!r}")
        elif device_param and category != DEVICE:
            bad("category", f"a data-quality check ('{check}') raises device warnings: category must be 'device'")
        elif not device_param and category != FLOOD:
            bad("category", f"check '{check}' judges water or rain: category must be 'flood'")
        return str(category)

    @staticmethod
    def rule_kinds(raw: Mapping[str, Any], bad: Bad) -> tuple[str, ...]:
        kinds = raw.get("kinds")
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
            bad("kinds", f"must be a non-empty list of station kinds ({', '.join(STATION_KINDS)})")
            return ()
        for k in kinds:
            if k not in STATION_KINDS:
                bad("kinds", f"unknown station kind {k!r}; one of {', '.join(STATION_KINDS)}")
        return tuple(kinds)

    @staticmethod
    def rule_metric(raw: Mapping[str, Any], check: str, bad: Bad) -> str | None:
        metric = raw.get("metric")
        if metric is None and check != "stale":
            bad("metric", f"missing; one of {', '.join(METRICS)}")
        elif metric is not None and metric not in METRICS:
            bad("metric", f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
        return metric if isinstance(metric, str) else None

    @staticmethod
    def rule_titles(raw: Mapping[str, Any], bad: Bad) -> tuple[str, str]:
        titles = []
        for key in ("title_zh", "title_en"):
            text = raw.get(key)
            if not isinstance(text, str) or not text.strip():
                bad(key, "missing (the text the duty officer sees)")
                text = ""
            titles.append(text)
        return titles[0], titles[1]

    @staticmethod
    def rule_timing(raw: Mapping[str, Any], check: str, bad: Bad) -> tuple[float, float, int | None]:
        """(clear_deadband, clear_after_s, window_s)."""
        deadband = raw.get("clear_deadband")
        if not is_number(deadband) or deadband < 0:
            bad(
                "clear_deadband",
                f"must be a number >= 0, got {deadband!r}"
                if deadband is not None
                else "missing (>= 0, in the metric's unit)",
            )
            deadband = 0.0
        clear_after = raw.get("clear_after_s")
        if not is_number(clear_after) or clear_after < 0:
            bad(
                "clear_after_s",
                f"must be seconds >= 0, got {clear_after!r}" if clear_after is not None else "missing (seconds >= 0)",
            )
            clear_after = 0.0
        window = raw.get("window_s")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window <= 0):
            bad("window_s", f"must be a positive whole number of seconds, got {window!r}")
            window = None
        if check == "rise_rate" and window is None and "window_s" not in raw:
            bad("window_s", "missing: the rate is measured over this many seconds")
        return float(deadband), float(clear_after), window

    @staticmethod
    def rule_orders(
        raw: Mapping[str, Any], device_param: str | None, bad: Bad
    ) -> tuple[str | None, str | None, str | None]:
        """(hazard, order_from, auto_approve_from); device rules have no hazard."""
        hazard = raw.get("hazard")
        if not device_param and hazard not in HAZARDS:
            bad(
                "hazard",
                f"must be one of {', '.join(HAZARDS)}, got {hazard!r}"
                if hazard is not None
                else f"missing; one of {', '.join(HAZARDS)}",
            )
        order_from, auto_from = raw.get("order_from"), raw.get("auto_approve_from")
        for key, value in (("order_from", order_from), ("auto_approve_from", auto_from)):
            if value is not None and value not in LEVELS:
                bad(key, f"must be a warning colour ({', '.join(LEVELS)}), got {value!r}")
        if auto_from is not None and order_from is None:
            bad("auto_approve_from", "needs order_from: only a drafted order can be approved")
        elif auto_from in LEVEL_RANK and order_from in LEVEL_RANK and LEVEL_RANK[auto_from] < LEVEL_RANK[order_from]:
            bad("auto_approve_from", f"'{auto_from}' is below order_from '{order_from}': no order is drafted there")
        return (hazard if not device_param else None), order_from, auto_from

    # -- grades --

    @staticmethod
    def device_grade(raw: Mapping[str, Any], param: str, bad: Bad) -> tuple[Grade, ...]:
        level = raw.get("level")
        if level not in LEVELS:
            bad("level", f"unknown colour {level!r}; one of {', '.join(LEVELS)}")
        value = raw.get(param)
        if not is_number(value) or value <= 0:
            bad(param, f"must be a number > 0, got {value!r}" if value is not None else "missing (a number > 0)")
            return ()
        if param == "repeat_count" and (not isinstance(value, int) or value < 2):
            bad(param, f"must be a whole number >= 2, got {value!r}")
        return (Grade(level=str(level), threshold=None, value=float(value)),)

    def grades(
        self, raw: object, check: str, threshold_names: set[str], window: int | None, bad: Bad
    ) -> tuple[Grade, ...]:
        if not isinstance(raw, list) or not raw:
            bad("grades", "missing: a list of { level = …, threshold = … or value = … }")
            return ()
        out: list[Grade] = []
        for i, g in enumerate(raw, start=1):
            name = f"grades[{i}]"
            if not isinstance(g, Mapping):
                bad(name, "must be an inline table { level = …, … }")
                continue
            out.append(self.grade(name, g, check, threshold_names, window, bad))
        return tuple(out)

    @staticmethod
    def grade(
        name: str, g: Mapping[str, Any], check: str, threshold_names: set[str], window: int | None, bad: Bad
    ) -> Grade:
        for key in sorted(set(g) - _GRADE_FIELDS):
            bad(f"{name}.{key}", f"unknown field; one of {', '.join(sorted(_GRADE_FIELDS))}")
        level = g.get("level")
        if level not in LEVELS:
            bad(
                f"{name}.level",
                f"unknown colour {level!r}; one of {', '.join(LEVELS)}"
                if level is not None
                else f"missing; one of {', '.join(LEVELS)}",
            )
        threshold, value = g.get("threshold"), g.get("value")
        if (threshold is None) == (value is None):
            bad(name, "needs exactly one of 'threshold' (a station threshold) or 'value' (a fixed number)")
        elif threshold is not None and threshold not in threshold_names:
            bad(f"{name}.threshold", f"unknown threshold {threshold!r}; one of {', '.join(sorted(threshold_names))}")
        elif value is not None and not is_number(value):
            bad(f"{name}.value", f"must be a number, got {value!r}")
        offset = g.get("offset", 0.0)
        if not is_number(offset):
            bad(f"{name}.offset", f"must be a number, got {offset!r}")
            offset = 0.0
        elif value is not None and "offset" in g:
            bad(f"{name}.offset", "only with 'threshold'; put a fixed trigger in 'value'")
        grade_window = g.get("window_s")
        if check == "rain_sum":
            if grade_window is None:
                bad(f"{name}.window_s", "missing: the accumulation window in seconds")
            elif not isinstance(grade_window, int) or isinstance(grade_window, bool) or grade_window <= 0:
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
        return Grade(
            level=str(level),
            threshold=threshold if isinstance(threshold, str) else None,
            value=float(value) if is_number(value) else None,
            offset=float(offset),
            window_s=grade_window if isinstance(grade_window, int) else None,
            rising=bool(rising),
            label_zh=str(labels[0]),
            label_en=str(labels[1]),
        )
