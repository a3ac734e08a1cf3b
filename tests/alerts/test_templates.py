"""Unit tests of alerts.templates: response-order texts for every channel and the suggested response level."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from alerts.templates import (
    LED_MAX,
    MSG_TYPES,
    SMS_MAX,
    SPEAKER_MAX,
    OrderText,
    render_order,
    suggest_response_level,
)
from floodctl.domain.hazards import HAZARD_ZH, HAZARDS
from floodctl.domain.levels import LEVELS
from floodctl.domain.response import RESPONSE_LEVEL_ZH, RESPONSE_LEVELS

ROSTER = Path(__file__).resolve().parents[2] / "gis_data" / "roster.json"
TOWNS = [t["town_name"] for t in json.loads(ROSTER.read_text(encoding="utf-8"))["towns"]]
FIELDS = OrderText.__slots__
LIMITS = {"sms_zh": SMS_MAX, "led_zh": LED_MAX, "speaker_zh": SPEAKER_MAX}
ORDER_NO = "象防指〔2026〕42号"
LONG_TEXT = "请重点关注沿河低洼村庄和在建工地，" * 12


def all_variants(**overrides):
    for hazard, level, msg_type in itertools.product(HAZARDS, (None, *LEVELS), MSG_TYPES):
        kwargs = dict(hazard=hazard, level=level, msg_type=msg_type, town_names=TOWNS[:2])
        kwargs.update(overrides)
        yield kwargs, render_order(**kwargs)


def test_eighteen_towns_in_the_roster():
    assert len(TOWNS) == 18


def test_alert_text_realistic():
    o = render_order(
        hazard="river_flood",
        level="orange",
        msg_type="alert",
        town_names=["大徐镇", "西周镇"],
        subject="大徐溪大徐站",
        observed="水位 3.62 m，超警戒 0.32 m",
        response_level="III",
        order_no=ORDER_NO,
        extra="请大徐镇重点关注杉木洋村",
    )
    assert o.title_zh == "象山县防汛防台抗旱指挥部处警单：河道洪水橙色预警（大徐溪大徐站）"
    assert "大徐镇、西周镇防指：" in o.body_zh
    assert "大徐溪大徐站水位 3.62 m，超警戒 0.32 m，已达河道洪水橙色预警标准" in o.body_zh
    assert "县防指决定启动防汛Ⅲ级应急响应" in o.body_zh and "防汛Ⅲ级应急响应" in o.sms_zh
    assert "巡堤查险" in o.body_zh and "低洼地带" in o.body_zh
    assert "30分钟内" in o.body_zh and "30分钟内" in o.sms_zh
    assert ORDER_NO in o.body_zh and ORDER_NO in o.sms_zh
    assert "请大徐镇重点关注杉木洋村" in o.body_zh and "请大徐镇重点关注杉木洋村" in o.sms_zh
    assert "river flood orange warning" in o.title_en and "Level III" in o.body_en
    assert not any(getattr(o, f).startswith("【演练】") for f in FIELDS)
    assert "演练" not in o.body_zh + o.sms_zh + o.led_zh + o.speaker_zh


@pytest.mark.parametrize(
    ("hazard", "words"),
    [
        ("river_flood", ["巡堤查险", "低洼地带", "转移"]),
        ("reservoir", ["大坝巡查", "调度令", "泄洪", "下游人员转移准备"]),
        ("storm_tide", ["海塘巡查", "渔船回港", "上岸"]),
        ("rainstorm", ["山洪", "地质灾害隐患点", "转移"]),
        ("typhoon", ["渔船进港避风", "撤离危险区域", "停止户外作业"]),
        ("waterlogging", ["地下空间", "低洼路段", "封控"]),
        ("seawall_breach", ["抢险", "危险区人员全部转移"]),
        ("general", ["值班值守", "转移"]),
    ],
)
def test_concrete_duties_per_hazard(hazard, words):
    o = render_order(hazard=hazard, level="red", msg_type="alert", town_names=["石浦镇"])
    for word in words:
        assert word in o.body_zh, (hazard, word)


def test_duties_grow_with_level():
    counts = []
    for level in LEVELS:
        body = render_order(hazard="typhoon", level=level, msg_type="alert", town_names=["石浦镇"]).body_zh
        counts.append(body.count("；\n"))
    assert counts == sorted(counts) and counts[0] < counts[-1]
    blue = render_order(hazard="typhoon", level="blue", msg_type="alert", town_names=["石浦镇"]).body_zh
    assert "60分钟内" in blue


def test_response_kind_follows_the_hazard():
    typhoon = render_order(hazard="typhoon", level="orange", msg_type="alert", town_names=[], response_level="II")
    assert "防台风Ⅱ级应急响应" in typhoon.body_zh
    assert "全县各乡镇（街道）" in typhoon.sms_zh
    none = render_order(hazard="typhoon", level="orange", msg_type="alert", town_names=[], response_level="none")
    assert "应急响应，" not in none.body_zh and "启动" not in none.body_zh


def test_drill_prefix_on_every_text():
    for kwargs, o in all_variants(drill=True, order_no=ORDER_NO, response_level="IV"):
        for field in FIELDS:
            assert getattr(o, field).startswith("【演练】"), (kwargs, field)
        assert "本指令为演练，请勿外传" in o.body_zh, kwargs
        assert "DRILL" in o.body_en and "DRILL" in o.title_en


def test_drill_prefix_survives_truncation():
    o = render_order(
        hazard="typhoon",
        level="red",
        msg_type="alert",
        town_names=TOWNS,
        subject="台" * 400,
        observed="风" * 400,
        extra=LONG_TEXT,
        drill=True,
    )
    for field, limit in LIMITS.items():
        text = getattr(o, field)
        assert text.startswith("【演练】") and len(text) <= limit, field


@pytest.mark.parametrize("drill", [False, True])
def test_length_limits_with_all_eighteen_towns(drill):
    long = dict(
        subject="象山港大目洋风暴潮监测站及周边沿海各潮位站",
        observed="潮位 4.85 m，超红色警戒潮位 0.35 m，预计今晚天文大潮期间潮位继续上涨",
        extra=LONG_TEXT,
        order_no=ORDER_NO,
        response_level="I",
    )
    for town_names in (TOWNS, TOWNS[:1], []):
        for kwargs, o in all_variants(town_names=town_names, drill=drill, **long):
            for field, limit in LIMITS.items():
                assert 0 < len(getattr(o, field)) <= limit, (kwargs["hazard"], kwargs["level"], field)
            if len(town_names) == 18:
                assert "茅洋乡" in o.body_zh and "（共18个）" in o.body_zh  # the body keeps the full list
                assert "高塘岛乡" in o.body_en


def test_town_list_abbreviated_when_needed():
    o = render_order(
        hazard="storm_tide",
        level="red",
        msg_type="alert",
        town_names=TOWNS,
        subject="石浦港" * 10,
        observed="潮位 4.85 m，超红色警戒潮位 0.35 m",
        response_level="II",
        extra="请各地立即组织海塘外侧人员转移，渔船全部回港",
    )
    assert len(o.sms_zh) <= SMS_MAX
    assert "丹西街道等18个乡镇（街道）" in o.sms_zh and "茅洋乡" not in o.sms_zh
    short = render_order(hazard="storm_tide", level="blue", msg_type="alert", town_names=TOWNS)
    assert "、".join(TOWNS) in short.sms_zh  # room enough: all listed


@pytest.mark.parametrize("msg_type", ["cancel", "allclear"])
def test_cancel_and_allclear_name_the_earlier_order(msg_type):
    o = render_order(
        hazard="river_flood",
        level="orange",
        msg_type=msg_type,
        town_names=["大徐镇"],
        response_level="III",
        order_no=ORDER_NO,
        drill=True,
    )
    for field in ("body_zh", "sms_zh", "body_en"):
        assert ORDER_NO in getattr(o, field), field
    if msg_type == "cancel":
        assert "撤销象防指〔2026〕42号处警单" in o.title_zh and ORDER_NO in o.title_en
        assert "撤销象防指〔2026〕42号处警单" in o.sms_zh and "作废" in o.body_zh
        assert "cancel" in o.body_en
        assert "已撤销" in o.led_zh
    else:
        assert "解除" in o.title_zh and "终止防汛Ⅲ级应急响应" in o.body_zh
        assert "（象防指〔2026〕42号处警单）现予解除" in o.body_zh
        assert "恢复正常生产生活" in o.body_zh and "恢复正常生产生活" in o.sms_zh
        assert "lifted" in o.body_en
        assert "已解除" in o.led_zh and "解除" in o.speaker_zh


def test_cancel_without_order_number():
    o = render_order(hazard="rainstorm", level="yellow", msg_type="cancel", town_names=["茅洋乡"])
    assert "此前下发的暴雨黄色预警处警单" in o.body_zh


def test_update_carries_its_own_number():
    o = render_order(
        hazard="reservoir",
        level="red",
        msg_type="update",
        town_names=["西周镇"],
        subject="仓岙水库",
        observed="库水位 31.20 m，超汛限 1.20 m",
        order_no="象防指〔2026〕43号",
        response_level="II",
        extra="（涉及象防指〔2026〕42号）",
    )
    assert "（更新）" in o.title_zh and "现将此前处警单内容更新如下" in o.body_zh
    assert "象防指〔2026〕43号" in o.body_zh and "象防指〔2026〕43号" in o.sms_zh
    assert "象防指〔2026〕42号" in o.body_zh and "象防指〔2026〕42号" in o.sms_zh
    assert "县防指当前为防汛Ⅱ级应急响应" in o.body_zh


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        (dict(hazard="tsunami"), "hazard"),
        (dict(level="purple"), "level"),
        (dict(msg_type="retract"), "msg_type"),
        (dict(response_level="V"), "response_level"),
        (dict(response_level="Ⅲ"), "response_level"),
        (dict(town_names="石浦镇"), "town_names"),
        (dict(town_names=["石浦镇", ""]), "town_names"),
    ],
)
def test_unknown_values_raise(kwargs, word):
    base = dict(hazard="typhoon", level="red", msg_type="alert", town_names=["石浦镇"])
    base.update(kwargs)
    with pytest.raises(ValueError, match=word):
        render_order(**base)


def test_response_level_names():
    assert RESPONSE_LEVELS == ("none", "IV", "III", "II", "I")
    assert [RESPONSE_LEVEL_ZH[r] for r in RESPONSE_LEVELS[1:]] == ["Ⅳ级", "Ⅲ级", "Ⅱ级", "Ⅰ级"]
    assert HAZARD_ZH["reservoir"] == "水库超汛限" and HAZARD_ZH["seawall_breach"] == "海塘险情"


# --- suggest_response_level ---------------------------------------------------------------------------

RANK = {r: i for i, r in enumerate(RESPONSE_LEVELS)}
PAIRS = [(h, lv) for h in HAZARDS for lv in LEVELS]


@pytest.mark.parametrize(
    ("warnings", "expected"),
    [
        ([], "none"),
        ([("river_flood", "blue")], "none"),
        ([("rainstorm", "blue")] * 6, "none"),
        ([("typhoon", "blue")], "IV"),
        ([("river_flood", "yellow")], "IV"),
        ([("reservoir", "orange")], "III"),
        ([("river_flood", "red")], "III"),
        ([("typhoon", "red")], "II"),
        ([("storm_tide", "red")], "II"),
        ([("rainstorm", "yellow")] * 5, "III"),
        ([("river_flood", "orange"), ("reservoir", "orange"), ("rainstorm", "orange")], "II"),
        ([("river_flood", "red")] * 3, "II"),
        ([("river_flood", "red"), ("rainstorm", "red"), ("seawall_breach", "red")], "I"),
        ([("typhoon", "red"), ("storm_tide", "red")], "I"),
    ],
)
def test_response_level_table(warnings, expected):
    assert suggest_response_level(warnings) == expected
    assert suggest_response_level(iter(warnings)) == expected


def test_response_level_is_monotone():
    def check(base):
        level = RANK[suggest_response_level(base)]
        for pair in PAIRS:  # one more warning never lowers it
            assert RANK[suggest_response_level([*base, pair])] >= level, (base, pair)
        for i, (hazard, colour) in enumerate(base):  # a higher colour never lowers it
            for higher in LEVELS[LEVELS.index(colour) + 1 :]:
                raised = [*base[:i], (hazard, higher), *base[i + 1 :]]
                assert RANK[suggest_response_level(raised)] >= level, (base, raised)

    for size in range(3):
        for base in itertools.combinations_with_replacement(PAIRS, size):
            check(list(base))
    rng = random.Random(20210725)
    for _ in range(300):
        check([rng.choice(PAIRS) for _ in range(rng.randint(3, 8))])


@pytest.mark.parametrize("bad", [[("tsunami", "red")], [("typhoon", "purple")], [("typhoon",)], "typhoon"])
def test_response_level_rejects_unknown(bad):
    with pytest.raises(ValueError):
        suggest_response_level(bad)
