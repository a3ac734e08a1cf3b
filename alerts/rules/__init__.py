"""The county's declarative warning rules: load and validate ``rules.toml``, and judge a station with them.

    rules.toml --load_rules/check_rules--> RuleSet(seasons, rules: Rule(grades: Grade…))   parser.py
    evaluate(rules, station, series, now) -> [Decision]      pure: no clock, database or network
                                                              evaluation.py; the values in model.py

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

from alerts.rules.evaluation import evaluate
from alerts.rules.model import (
    REPORT_KINDS,
    TYPHOON_RULE_ID,
    Decision,
    Grade,
    ReportTrigger,
    Rule,
    RuleSet,
    Season,
    Series,
    Station,
    TyphoonRule,
)
from alerts.rules.parser import DEFAULT_PATH, check_rules, load_rules, parse_rules, rule_variant

__all__ = [
    "DEFAULT_PATH",
    "REPORT_KINDS",
    "TYPHOON_RULE_ID",
    "Decision",
    "Grade",
    "ReportTrigger",
    "Rule",
    "RuleSet",
    "Season",
    "Series",
    "Station",
    "TyphoonRule",
    "check_rules",
    "evaluate",
    "load_rules",
    "parse_rules",
    "rule_variant",
]
