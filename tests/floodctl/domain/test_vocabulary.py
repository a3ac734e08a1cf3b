"""The domain vocabulary: levels and their order, hazards as data, drills' marker, topics, distance."""

from __future__ import annotations

import pytest

from floodctl.domain import drills, geodesy, hazards, levels, response, thresholds, topics
from floodctl.domain.metrics import METRIC_LABELS, METRICS


def test_levels_rank_from_blue_to_red_and_none_below_all() -> None:
    assert [levels.rank(lv) for lv in ("blue", "yellow", "orange", "red")] == [0, 1, 2, 3]
    assert levels.rank(None) == -1
    assert levels.highest([None, "yellow", "blue", None]) == "yellow" and levels.highest([None]) is None
    assert tuple(reversed(levels.LEVELS)) == levels.LEVELS_DESC
    for table in (
        levels.LEVEL_ZH,
        levels.LEVEL_EN,
        levels.LEVEL_SHAPE,
        levels.LEVEL_NUMERAL,
        levels.LEVEL_COLOUR,
        levels.LEVEL_CAP,
    ):
        assert set(table) == set(levels.LEVELS)
    assert levels.LEVEL_NUMERAL["red"] == "Ⅰ" and levels.LEVEL_CAP["red"][1] == "Extreme"


def test_sql_rank_orders_like_rank(db) -> None:  # type: ignore[no-untyped-def]
    rows = db.execute(
        f"SELECT l FROM unnest(%s::text[]) AS l ORDER BY {levels.sql_rank('l')} DESC",
        (["yellow", "red", "blue", "orange"],),
    ).fetchall()
    assert [r[0] for r in rows] == ["red", "orange", "yellow", "blue"]


def test_response_levels_rise_from_none_to_one() -> None:
    assert response.RESPONSE_RANK["I"] > response.RESPONSE_RANK["IV"] > response.RESPONSE_RANK["none"]
    assert response.RESPONSE_LEVEL_LABEL_ZH["I"] == "Ⅰ级（特别重大）"


def test_hazards_are_data_with_words_and_a_response() -> None:
    assert {"river_flood", "reservoir", "storm_tide", "rainstorm", "typhoon", "seawall_breach"} <= set(hazards.HAZARDS)
    assert hazards.HAZARDS_BY_ID["typhoon"].response_zh == "防台风"
    assert set(hazards.CATEGORIES) >= {hazards.FLOOD, hazards.DEVICE}
    assert all(h.zh and h.en for h in hazards.HAZARDS_BY_ID.values())


def test_every_threshold_and_metric_has_its_words() -> None:
    assert len(thresholds.THRESHOLD_NAMES) == len(set(thresholds.THRESHOLD_NAMES)) == 12
    assert thresholds.THRESHOLD_LABELS["grz"] == ("保证水位", "guarantee level")
    assert set(thresholds.DEFAULT_METRIC_BY_KIND) == set(thresholds.STATION_KINDS) == set(thresholds.KIND_METRICS)
    assert set(METRIC_LABELS) == set(METRICS)


def test_a_drill_text_starts_with_the_marker_once_and_a_live_one_is_untouched() -> None:
    marked = drills.mark("台风红色预警", 7)
    assert marked.startswith(drills.DRILL_MARKER) and drills.mark(marked, 7) == marked
    assert drills.mark("台风红色预警", drills.LIVE) == "台风红色预警"
    assert drills.marked("请注意" + drills.DRILL_MARKER) and not drills.marked("台风红色预警")


@pytest.mark.parametrize(
    "topic, parsed",
    [
        (topics.station_topic("70101001"), ("70101001", "obs")),
        (topics.station_topic("X1", "status"), ("X1", "status")),
        (topics.TOPIC_ROOT + "//obs", None),
        ("flood/v2/70101001/obs", None),
        (topics.device_topic("led", "B1", drill=False), None),
    ],
)
def test_station_topics_parse_back(topic: str, parsed: tuple[str, str] | None) -> None:
    assert topics.parse_station_topic(topic) == parsed


def test_device_topics_keep_drills_in_their_own_namespace() -> None:
    assert topics.device_topic("speaker", "S1", drill=True).startswith(f"{topics.TOPIC_ROOT}/{topics.DRILL_SEGMENT}/")
    assert not topics.device_topic("speaker", "S1", drill=False).startswith(
        f"{topics.TOPIC_ROOT}/{topics.DRILL_SEGMENT}/"
    )
    assert len(topics.device_filters("ack")) == 4 and len(topics.device_filters("cmd", drill=True)) == 2


def test_great_circle_distance() -> None:
    # Shanghai (31.2304 N, 121.4737 E) to Ningbo (29.8683 N, 121.5440 E): about 151.6 km.
    assert geodesy.haversine_km(31.2304, 121.4737, 29.8683, 121.5440) == pytest.approx(151.6, abs=0.5)
    assert geodesy.haversine_km(29.0, 121.9, 29.0, 121.9) == 0.0
    assert pytest.approx(111.195, abs=1e-3) == geodesy.KM_PER_DEGREE


def test_a_category_the_county_adds_needs_no_schema_change(db) -> None:  # type: ignore[no-untyped-def]
    """The registry is open: the database takes a warning of a category that is not flood or device."""
    db.execute(
        "INSERT INTO warnings (rule_id, subject, subject_kind, category, state, level, raised_at, last_seen, "
        "message_zh, message_en) VALUES ('landslide', 'zone-1', 'area', 'geological', 'active', 'yellow', now(), "
        "now(), '地质灾害黄色预警', 'geological hazard yellow warning')"
    )
    assert db.execute("SELECT count(*) FROM warnings WHERE category = 'geological'").fetchone()[0] == 1
