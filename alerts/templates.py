"""Response orders (处警单): their text for every channel, and the county response level a situation suggests.

    render_order(hazard=…, level=…, msg_type=…, town_names=…, …) -> OrderText
        title/body in zh-CN and English, plus the short texts of the dispatch channels:
        sms_zh ≤ 300 characters, led_zh ≤ 60 (village LED board), speaker_zh ≤ 120 (loudspeakers)
    suggest_response_level([(hazard, colour), …]) -> "none" | "IV" | "III" | "II" | "I"

Pure: no clock, database or network; the text carries no date (the dispatcher stamps it).

Message types: ``alert`` a new order and ``update`` an update of the situation and duties of an
earlier one (for both, ``order_no`` is the order's own number; name the earlier order in ``extra`` if
wanted, e.g. "（涉及象防指〔2026〕42号）"); ``cancel`` the earlier order ``order_no`` is
withdrawn (撤销: it was issued in error or has been overtaken) and is no longer to be executed;
``allclear`` the warning is over (解除): the response started with order ``order_no`` ends and normal
life resumes. ``level`` is the warning colour (None: not graded, e.g. a general order); the duties
listed grow with it (an orange order repeats the blue and yellow duties and adds its own).
``response_level`` is the county response level the order states ("none" or None: not mentioned).

Drill (演练): every text, Chinese and English, starts with "【演练】", and the bodies (and the SMS,
room permitting) say "本指令为演练，请勿外传". Length limits are counted in characters (``len``) and are
never exceeded: the texts degrade step by step (the town list becomes "石浦镇等5个乡镇（街道）", fewer
duties, no free text) and, as a last resort, are cut with "…" (the drill prefix always survives).

``subject`` and ``observed`` are joined directly, so write ``observed`` as the continuation of
``subject``: "大徐溪大徐站" + "水位 3.62 m，超警戒 0.32 m".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.rules import LEVEL_RANK, LEVEL_ZH, LEVELS

__all__ = [
    "HAZARDS", "HAZARD_ZH", "HAZARD_EN", "MSG_TYPES", "RESPONSE_LEVELS", "RESPONSE_LEVEL_ZH",
    "RESPONSE_LEVEL_LABEL_ZH", "RESPONSE_LEVEL_EN", "LEVELS", "LEVEL_ZH", "LEVEL_EN", "DRILL_PREFIX",
    "SMS_MAX", "LED_MAX", "SPEAKER_MAX", "OrderText", "render_order", "suggest_response_level",
]

HAZARDS = ("river_flood", "reservoir", "storm_tide", "rainstorm", "typhoon", "waterlogging", "seawall_breach",
           "general")
HAZARD_ZH = {
    "river_flood": "河道洪水", "reservoir": "水库超汛限", "storm_tide": "风暴潮", "rainstorm": "暴雨",
    "typhoon": "台风", "waterlogging": "城市内涝", "seawall_breach": "海塘险情", "general": "综合",
}
HAZARD_EN = {
    "river_flood": "river flood", "reservoir": "reservoir above flood-limit level", "storm_tide": "storm tide",
    "rainstorm": "rainstorm", "typhoon": "typhoon", "waterlogging": "urban waterlogging",
    "seawall_breach": "seawall danger", "general": "general",
}
MSG_TYPES = ("alert", "update", "cancel", "allclear")
RESPONSE_LEVELS = ("none", "IV", "III", "II", "I")
RESPONSE_RANK = {name: i for i, name in enumerate(RESPONSE_LEVELS)}
RESPONSE_LEVEL_ZH = {"none": "无", "IV": "Ⅳ级", "III": "Ⅲ级", "II": "Ⅱ级", "I": "Ⅰ级"}
RESPONSE_LEVEL_LABEL_ZH = {"none": "无", "IV": "Ⅳ级（一般）", "III": "Ⅲ级（较大）", "II": "Ⅱ级（重大）",
                           "I": "Ⅰ级（特别重大）"}
RESPONSE_LEVEL_EN = {"none": "none", "IV": "Level IV (general)", "III": "Level III (major)",
                     "II": "Level II (severe)", "I": "Level I (extremely severe)"}
LEVEL_EN = {"blue": "blue", "yellow": "yellow", "orange": "orange", "red": "red"}

DRILL_PREFIX = "【演练】"
DRILL_NOTE_ZH = "本指令为演练，请勿外传。"
DRILL_NOTE_EN = "This order is a DRILL; do not forward it."
SMS_MAX, LED_MAX, SPEAKER_MAX = 300, 60, 120
SMS_EXTRA_MAX = 100                 # the free text is cut to this many characters in the SMS
HQ_ZH = "象山县防汛防台抗旱指挥部"
HQ_SHORT_ZH = "象山县防指"
HQ_EN = "Xiangshan County Flood, Typhoon and Drought Control Headquarters"
TOWNS_LISTED_IN_SALUTATION = 3      # more towns: "各有关乡镇（街道）防指" and the full list at the end

# The response a hazard belongs to: 防汛 (flood), 防台风 (typhoon), or both.
_RESPONSE_KIND = {
    "river_flood": ("防汛", "flood"), "reservoir": ("防汛", "flood"), "rainstorm": ("防汛", "flood"),
    "waterlogging": ("防汛", "flood"), "typhoon": ("防台风", "typhoon"),
    "storm_tide": ("防汛防台", "flood and typhoon"), "seawall_breach": ("防汛防台", "flood and typhoon"),
    "general": ("防汛防台", "flood and typhoon"),
}

# Duties of the towns per hazard: (lowest colour rank it applies from, zh, en). Cumulative with the colour;
# an order without colour (level None) gets the rank-0 duties.
_DUTIES: dict[str, tuple[tuple[int, str, str], ...]] = {
    "river_flood": (
        (0, "加强河道水位监测和堤防巡查，巡堤查险人员到岗到位",
         "step up river-level monitoring and embankment patrols; levee inspection teams on post"),
        (0, "做好沿河低洼地带人员转移准备",
         "prepare the evacuation of people in low-lying areas along the rivers"),
        (1, "落实防汛抢险队伍和物资，险工险段落实专人值守",
         "stand by flood-fighting teams and materials; post watchmen at weak embankment sections"),
        (2, "立即组织沿河低洼地带及危险区域人员转移",
         "evacuate people from low-lying riverside areas and danger zones at once"),
        (2, "封闭漫水桥、过水路面等危险路段", "close submersible bridges, fords and other dangerous road sections"),
        (3, "危险区域人员应转尽转、不漏一人，抢险力量前置到险工险段",
         "evacuate everyone from danger zones, leaving nobody behind; pre-position rescue forces at weak sections"),
    ),
    "reservoir": (
        (0, "加强大坝巡查，加密水位观测，管理人员在岗值守",
         "step up dam inspections and water-level readings; reservoir staff on post"),
        (0, "严格执行县防指调度指令，不得擅自超汛限蓄水",
         "follow the county HQ's operating orders strictly; no storage above the flood-limit level"),
        (1, "按调度令预泄腾库，泄洪前提前通知下游",
         "pre-release by the operating order and warn downstream before any release"),
        (2, "按调度令泄洪，做好下游人员转移准备，抢险队伍和物资在坝区待命",
         "release by the operating order; prepare the downstream evacuation; rescue teams on standby at the dam"),
        (3, "立即组织下游危险区域人员转移，发现险情立即报告并组织抢险",
         "evacuate downstream danger zones at once; report any dam danger immediately and start emergency works"),
    ),
    "storm_tide": (
        (0, "加强海塘巡查和潮位监测，关闭沿塘旱闸",
         "patrol the seawalls, watch the tide levels and close the dry gates in the seawalls"),
        (0, "渔船回港避风，涉海作业人员做好上岸准备",
         "call fishing boats back to harbour; prepare sea workers to come ashore"),
        (1, "海上养殖、涉海作业人员全部上岸，停止海边、滩涂活动",
         "bring all aquaculture and sea workers ashore; stop all activity on beaches and mudflats"),
        (2, "组织海塘外侧及沿海低洼地带人员转移，险工险段专人值守",
         "evacuate people outside the seawalls and in low-lying coastal areas; watchmen at weak seawall sections"),
        (3, "沿海危险区域人员全部撤离，抢险队伍和物资前置到重点海塘",
         "evacuate all coastal danger zones; pre-position rescue teams and materials at key seawalls"),
    ),
    "rainstorm": (
        (0, "加强雨情监测，开展山洪、地质灾害隐患点巡查",
         "watch the rainfall and patrol flash-flood and landslide hazard sites"),
        (1, "提前转移山洪、地质灾害隐患点和危险区人员",
         "evacuate people at flash-flood and landslide hazard sites and danger zones in advance"),
        (1, "检查排水设施，做好城镇排涝准备", "check drainage and prepare urban pumping"),
        (2, "山洪地质灾害危险区人员全部转移，停止户外作业和集体活动",
         "evacuate all flash-flood and landslide danger zones; stop outdoor work and gatherings"),
        (3, "视情落实停课、停工、停业等措施，危险区域人员应转尽转、不漏一人",
         "suspend classes, work and business as needed; evacuate everyone from danger zones"),
    ),
    "typhoon": (
        (0, "渔船进港避风，海上作业人员做好回港上岸准备",
         "fishing boats into harbour for shelter; prepare sea workers to return ashore"),
        (0, "加固户外广告牌、临时建筑、在建工地塔吊等设施",
         "secure billboards, temporary structures and tower cranes on building sites"),
        (1, "海上养殖、涉海作业人员全部上岸，停止户外高空作业",
         "bring all aquaculture and sea workers ashore; stop outdoor work at height"),
        (2, "组织危旧房、工棚、低洼地带及山洪地质灾害隐患点人员撤离危险区域，停止户外作业",
         "evacuate dilapidated houses, work sheds, low-lying areas and hazard sites; stop outdoor work"),
        (2, "视情落实停课、停工、停业、停运等措施", "suspend classes, work, business and transport as needed"),
        (3, "危险区域人员全部撤离且不得擅自返回，除抢险救灾外停止一切户外活动",
         "evacuate all danger zones with no return until cleared; all outdoor activity stops except rescue work"),
    ),
    "waterlogging": (
        (0, "加强易涝点巡查，排涝泵站提前预排",
         "patrol flood-prone spots and pump down drainage systems in advance"),
        (1, "地下车库、地下商场、下穿通道等地下空间做好挡水和封控准备",
         "prepare flood barriers and closure of underground car parks, malls and underpasses"),
        (2, "对地下空间和低洼路段实施封控，设置警示标志，禁止车辆人员通行",
         "close underground spaces and low-lying road sections; post warning signs; no vehicles or people"),
        (3, "地下空间人员全部撤离，积水严重区域人员转移，排涝抢险力量全部到位",
         "evacuate all underground spaces and badly flooded areas; all drainage and rescue forces deployed"),
    ),
    "seawall_breach": (
        (0, "立即组织抢险队伍和物资赶赴现场抢险，查明险情并及时报告",
         "send rescue teams and materials to the site at once; assess the damage and report"),
        (0, "危险区人员全部转移，设置警戒区域，严禁无关人员进入",
         "evacuate everyone from the danger zone; cordon it off and keep everyone else out"),
        (2, "组织塘内低洼地带人员全部转移，做好溃塘应急处置准备",
         "evacuate all low-lying areas behind the seawall; prepare for a breach"),
        (3, "请求县级以上抢险力量支援，全力封堵险情",
         "request support from county-level and higher rescue forces; close the breach with every means"),
    ),
    "general": (
        (0, "加强监测预警，密切关注雨情、水情、风情、潮情变化",
         "step up monitoring; follow rainfall, river, wind and tide conditions closely"),
        (1, "抢险队伍和物资做好准备，落实危险区域人员转移准备",
         "stand by rescue teams and materials; prepare the evacuation of danger zones"),
        (2, "组织危险区域人员转移", "evacuate danger zones"),
        (3, "危险区域人员全部转移，全力做好抢险救灾", "evacuate all danger zones; all-out rescue and relief"),
    ),
}
_COMMON_DUTY = ("严格执行24小时领导带班和值班值守制度，加强巡查值守",
                "keep leaders on duty and the duty desk manned 24 hours; step up patrols")

# Advice to the public (LED boards, loudspeakers): (below orange, orange and red).
_PUBLIC_ZH = {
    "river_flood": ("河道水位上涨，请远离河道堤防，低洼地带群众做好转移准备",
                    "河道超警洪水，沿河低洼地带群众请立即转移，切勿靠近河道"),
    "reservoir": ("水库水位超汛限，下游群众请远离河道，做好转移准备",
                  "水库泄洪，下游沿河低洼地带群众请立即转移，严禁靠近河道"),
    "storm_tide": ("风暴潮来袭，请远离海边海塘，渔船回港避风",
                   "严重风暴潮，沿海群众请立即上岸撤离，严禁到海塘滩涂活动"),
    "rainstorm": ("强降雨来袭，请远离山洪地质灾害隐患点，切勿涉水",
                  "特大暴雨，山洪地质灾害危险区群众请立即转移"),
    "typhoon": ("台风将影响我县，渔船进港避风，加固门窗，减少外出",
                "台风即将严重影响，危险区域人员立即撤离，停止户外作业，不要外出"),
    "waterlogging": ("局部积水，请勿进入地下空间和低洼路段，车辆绕行",
                     "严重内涝，地下空间人员立即撤离，低洼路段禁止通行"),
    "seawall_breach": ("海塘出现险情，危险区域群众请立即撤离，听从指挥",
                       "海塘出现险情，危险区域群众请立即撤离，听从指挥"),
    "general": ("请密切关注天气和水情变化，注意防范", "危险区域人员请立即转移，听从指挥"),
}

_CN_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True, slots=True)
class OrderText:
    title_zh: str
    body_zh: str
    title_en: str
    body_en: str
    sms_zh: str        # ≤ SMS_MAX characters
    led_zh: str        # ≤ LED_MAX characters
    speaker_zh: str    # ≤ SPEAKER_MAX characters


# --- helpers ---------------------------------------------------------------------------------------

def _choice(name: str, value: object, allowed: Sequence[str], *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or value not in allowed:
        extra = " or None" if optional else ""
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}{extra}")


def _clean(name: str, value: object) -> str | None:
    """Optional free text: None/blank -> None; whitespace collapsed; trailing punctuation dropped."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None, not {type(value).__name__}")
    text = " ".join(value.split()).rstrip("。；;，,.、 ")
    return text or None


def _towns(town_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(town_names, str) or not isinstance(town_names, Sequence | Iterable):
        raise ValueError("town_names must be a sequence of town names (not a single string)")
    towns: list[str] = []
    for name in town_names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"town_names holds an empty or non-string name: {name!r}")
        name = " ".join(name.split())
        if name not in towns:
            towns.append(name)
    return tuple(towns)


def _towns_full(towns: Sequence[str]) -> str:
    return "、".join(towns) if towns else "全县各乡镇（街道）"


def _towns_short(towns: Sequence[str]) -> str:
    if not towns:
        return "全县各乡镇（街道）"
    if len(towns) == 1:
        return towns[0]
    return f"{towns[0]}等{len(towns)}个乡镇（街道）"


def _towns_en(towns: Sequence[str]) -> str:
    return ", ".join(towns) if towns else "all towns and subdistricts of the county"


def _fit(prefix: str, limit: int, candidates: Sequence[str]) -> str:
    """The first candidate that fits ``limit`` with ``prefix``; else the last one cut with "…"."""
    for text in candidates:
        if len(prefix) + len(text) <= limit:
            return prefix + text
    return prefix + candidates[-1][: max(limit - len(prefix) - 1, 0)] + "…"


def _warning_zh(hazard: str, level: str | None) -> str:
    return f"{HAZARD_ZH[hazard]}{LEVEL_ZH[level] if level else ''}预警"


def _warning_en(hazard: str, level: str | None) -> str:
    return f"{HAZARD_EN[hazard]} {LEVEL_EN[level] + ' ' if level else ''}warning"


def _duties(hazard: str, level: str | None) -> list[tuple[str, str]]:
    rank = LEVEL_RANK[level] if level else 0
    return [(zh, en) for lo, zh, en in _DUTIES[hazard] if lo <= rank]


def _feedback_minutes(hazard: str, level: str | None) -> int:
    urgent = hazard == "seawall_breach" or (level is not None and LEVEL_RANK[level] >= LEVEL_RANK["orange"])
    return 30 if urgent else 60


def _public_advice(hazard: str, level: str | None) -> str:
    high = level is not None and LEVEL_RANK[level] >= LEVEL_RANK["orange"]
    return _PUBLIC_ZH[hazard][1 if high else 0]


# --- render_order ------------------------------------------------------------------------------------

def render_order(*, hazard: str, level: str | None, msg_type: str, town_names: Sequence[str],
                 subject: str | None = None, observed: str | None = None, response_level: str | None = None,
                 order_no: str | None = None, extra: str | None = None, drill: bool = False) -> OrderText:
    """The texts of one response order for every channel (see the module docstring for the arguments)."""
    _choice("hazard", hazard, HAZARDS)
    _choice("level", level, LEVELS, optional=True)
    _choice("msg_type", msg_type, MSG_TYPES)
    _choice("response_level", response_level, RESPONSE_LEVELS, optional=True)
    if not isinstance(drill, bool):
        raise ValueError(f"drill must be True or False, not {drill!r}")
    towns = _towns(town_names)
    subject, observed = _clean("subject", subject), _clean("observed", observed)
    order_no, extra = _clean("order_no", order_no), _clean("extra", extra)
    response = response_level if response_level not in (None, "none") else None

    parts = _Parts(hazard, level, msg_type, towns, subject, observed, response, order_no, extra, drill)
    return OrderText(
        title_zh=parts.title_zh(), body_zh=parts.body_zh(), title_en=parts.title_en(), body_en=parts.body_en(),
        sms_zh=parts.sms_zh(), led_zh=parts.led_zh(), speaker_zh=parts.speaker_zh(),
    )


@dataclass(frozen=True, slots=True)
class _Parts:
    hazard: str
    level: str | None
    msg_type: str
    towns: tuple[str, ...]
    subject: str | None
    observed: str | None
    response: str | None          # "IV" … "I", or None when not stated
    order_no: str | None
    extra: str | None
    drill: bool

    # -- shared pieces --
    @property
    def prefix(self) -> str:
        return DRILL_PREFIX if self.drill else ""

    @property
    def prefix_en(self) -> str:
        return DRILL_PREFIX + "[DRILL] " if self.drill else ""

    @property
    def warning_zh(self) -> str:
        return _warning_zh(self.hazard, self.level)

    @property
    def warning_en(self) -> str:
        return _warning_en(self.hazard, self.level)

    @property
    def response_zh(self) -> str:
        return f"{_RESPONSE_KIND[self.hazard][0]}{RESPONSE_LEVEL_ZH[self.response]}应急响应" if self.response else ""

    @property
    def response_en(self) -> str:
        return f"{_RESPONSE_KIND[self.hazard][1]} emergency response {RESPONSE_LEVEL_EN[self.response]}" \
            if self.response else ""

    @property
    def order_ref_zh(self) -> str:
        """The earlier order (cancel, allclear)."""
        return f"{self.order_no}处警单" if self.order_no else f"此前下发的{self.warning_zh}处警单"

    @property
    def order_ref_en(self) -> str:
        return f"order {self.order_no}" if self.order_no else f"the earlier {self.warning_en} order"

    def situation_zh(self) -> str:
        what = (self.subject or "") + (self.observed or "")
        if self.hazard == "seawall_breach":
            where = self.subject or "我县海塘"
            return f"据报，{where}出现险情{'，' + self.observed if self.observed else ''}，已达{self.warning_zh}标准"
        if what:
            return f"据监测预报，{what}，已达{self.warning_zh}标准"
        return f"据监测预报，我县已达{self.warning_zh}标准"

    def situation_en(self) -> str:
        bits = [b for b in (self.subject, self.observed) if b]
        detail = f" ({'; '.join(bits)})" if bits else ""
        return f"Monitoring and forecasts show that the {self.warning_en} criteria are met{detail}."

    def salutation_zh(self) -> str:
        if not self.towns:
            return "各乡镇（街道）防指，县防指各成员单位："
        if len(self.towns) <= TOWNS_LISTED_IN_SALUTATION:
            return f"{'、'.join(self.towns)}防指："
        return "各有关乡镇（街道）防指："

    # -- titles --
    def title_zh(self) -> str:
        head = {"alert": f"{HQ_ZH}处警单：", "update": f"{HQ_ZH}处警单（更新）："}
        if self.msg_type in head:
            return self.prefix + head[self.msg_type] + self.warning_zh + (f"（{self.subject}）" if self.subject else "")
        if self.msg_type == "cancel":
            return self.prefix + f"{HQ_ZH}关于撤销{self.order_ref_zh}的通知"
        ended = f"及{self.response_zh}" if self.response else ""
        return self.prefix + f"{HQ_ZH}关于解除{self.warning_zh}{ended}的通知"

    def title_en(self) -> str:
        about = f" ({self.subject})" if self.subject else ""
        if self.msg_type == "alert":
            return self.prefix_en + f"{HQ_EN}: response order, {self.warning_en}{about}"
        if self.msg_type == "update":
            return self.prefix_en + f"{HQ_EN}: response order update, {self.warning_en}{about}"
        if self.msg_type == "cancel":
            return self.prefix_en + f"{HQ_EN}: cancellation of {self.order_ref_en}"
        ended = f" and end of the {self.response_en}" if self.response else ""
        return self.prefix_en + f"{HQ_EN}: all clear, {self.warning_en} lifted{ended}"

    # -- bodies --
    def _main_zh(self, duties: Sequence[str], *, numbered: bool) -> str:
        """The core paragraph(s) of the order, without salutation and signature."""
        minutes = _feedback_minutes(self.hazard, self.level)
        if self.msg_type in ("alert", "update"):
            lead = self.situation_zh() + "。"
            if self.msg_type == "update":
                lead = "现将此前处警单内容更新如下：" + lead
            if self.response and self.msg_type == "alert":
                lead += f"经会商研判，县防指决定启动{self.response_zh}，请立即启动相应应急响应，并做好以下工作："
            elif self.response:
                level_zh = RESPONSE_LEVEL_ZH[self.response]
                lead += f"县防指当前为{self.response_zh}，请按{level_zh}应急响应要求做好以下工作："
            else:
                lead += "请立即做好以下工作："
            if numbered:
                items = "\n".join(f"    {_CN_NUMERALS[i] if i < 10 else i + 1}、{d}；" for i, d in enumerate(duties))
                return f"{lead}\n{items}\n    请于{minutes}分钟内将落实情况反馈县防指。"
            return f"{lead}{'；'.join(duties)}。请于{minutes}分钟内反馈落实情况。"
        if self.msg_type == "cancel":
            text = (f"经核查，现撤销{self.order_ref_zh}（{self.warning_zh}），该处警单作废，"
                    f"请停止执行其中各项要求，已采取的措施视情有序恢复")
            if self.response:
                text += f"；据此启动的{self.response_zh}一并撤销"
            return text + "。请于60分钟内反馈收悉情况。"
        # allclear
        ref = f"（{self.order_no}处警单）" if self.order_no else ""
        text = f"经会商研判，{self.subject + '的' if self.subject else ''}{self.warning_zh}{ref}现予解除"
        if self.response:
            text += f"，县防指决定终止{self.response_zh}"
        return (text + "。请各地做好灾后恢复和隐患排查，转移人员经安全评估后有序返回，"
                "恢复正常生产生活。请于60分钟内反馈收悉情况。")

    def body_zh(self) -> str:
        lines = []
        if self.drill:
            lines.append(self.prefix + DRILL_NOTE_ZH)
        lines.append(HQ_ZH + ("处警单" if self.msg_type in ("alert", "update") else "通知"))
        if self.order_no and self.msg_type in ("alert", "update"):
            lines.append(self.order_no)
        lines.append(self.salutation_zh())
        duties = [zh for zh, _ in _duties(self.hazard, self.level)] + [_COMMON_DUTY[0]]
        lines.append("    " + self._main_zh(duties, numbered=True))
        if self.extra:
            lines.append(f"    补充要求：{self.extra}。")
        if len(self.towns) > TOWNS_LISTED_IN_SALUTATION:
            lines.append(f"涉及乡镇（街道）：{_towns_full(self.towns)}（共{len(self.towns)}个）。")
        if self.drill:
            lines.append("（" + DRILL_NOTE_ZH.rstrip("。") + "）")
        lines.append(HQ_ZH)
        return "\n".join(lines)

    def body_en(self) -> str:
        lines = []
        if self.drill:
            lines.append(self.prefix_en + DRILL_NOTE_EN)
        if self.order_no and self.msg_type in ("alert", "update"):
            lines.append(f"Order {self.order_no}")
        lines.append(f"To: {_towns_en(self.towns)}")
        minutes = _feedback_minutes(self.hazard, self.level)
        if self.msg_type in ("alert", "update"):
            lead = self.situation_en()
            if self.msg_type == "update":
                lead = "This updates the earlier order. " + lead
            if self.response and self.msg_type == "alert":
                lead += f" The county HQ has started the {self.response_en}; start your corresponding response."
            elif self.response:
                lead += f" The county HQ is at the {self.response_en}."
            lines.append(lead + " Act at once:")
            duties = [en for _, en in _duties(self.hazard, self.level)] + [_COMMON_DUTY[1]]
            lines += [f"  {i + 1}. {d};" for i, d in enumerate(duties)]
            lines.append(f"Report what has been done to the county HQ within {minutes} minutes.")
        elif self.msg_type == "cancel":
            text = (f"{self.order_ref_en[0].upper()}{self.order_ref_en[1:]} ({self.warning_en}) is cancelled and "
                    "void: stop carrying out its instructions and unwind the measures taken as appropriate.")
            if self.response:
                text += f" The {self.response_en} started with it is cancelled as well."
            lines.append(text + " Acknowledge within 60 minutes.")
        else:
            ref = f" (order {self.order_no})" if self.order_no else ""
            text = f"The {self.warning_en}{ref} is lifted."
            if self.response:
                text += f" The county HQ ends the {self.response_en}."
            lines.append(text + " Inspect for damage and hazards; evacuees return once their homes are assessed "
                         "safe; normal life and work resume. Acknowledge within 60 minutes.")
        if self.extra:
            lines.append(f"Additional instructions (as written by the duty officer): {self.extra}")
        if self.drill:
            lines.append(f"({DRILL_NOTE_EN})")
        lines.append(HQ_EN)
        return "\n".join(lines)

    # -- channels --
    def sms_zh(self) -> str:
        kind = {"alert": "处警", "update": "处警更新", "cancel": "撤销通知", "allclear": "解除通知"}[self.msg_type]
        head = f"{HQ_SHORT_ZH}{kind}"
        no = f"（{self.order_no}）" if self.order_no and self.msg_type in ("alert", "update") else ""
        note = DRILL_NOTE_ZH if self.drill else ""
        all_duties = [zh for zh, _ in _duties(self.hazard, self.level)]
        extra = ""
        if self.extra:
            cut = self.extra if len(self.extra) <= SMS_EXTRA_MAX else self.extra[: SMS_EXTRA_MAX - 1] + "…"
            extra = f"补充：{cut}。"
        full, short = _towns_full(self.towns), _towns_short(self.towns)
        n_all = len(all_duties)
        # Most complete first; then, in order: shorter town list, fewer duties, no drill note, no free text.
        variants = [(full, n_all, extra, note), (short, n_all, extra, note), (short, 2, extra, note),
                    (short, 1, extra, note), (short, 1, extra, ""), (short, n_all, "", note), (short, 2, "", note),
                    (short, 1, "", note), (short, 1, "", "")]
        candidates = [f"{head}{no}：{towns}：{self._main_zh(all_duties[:n], numbered=False)}{x}{tail}"
                      for towns, n, x, tail in variants]
        return _fit(self.prefix, SMS_MAX, candidates)

    def led_zh(self) -> str:
        warning = self.warning_zh
        if self.msg_type in ("alert", "update"):
            advice = _public_advice(self.hazard, self.level)
            head = f"{warning}{'（更新）' if self.msg_type == 'update' else ''}"
            candidates = [f"{HQ_SHORT_ZH}：{head}！{advice}。", f"{head}！{advice}。",
                          f"{head}！{advice.split('，')[0]}。"]
        elif self.msg_type == "cancel":
            candidates = [f"{HQ_SHORT_ZH}：{warning}已撤销，请以最新通知为准。", f"{warning}已撤销。"]
        else:
            candidates = [f"{HQ_SHORT_ZH}：{warning}已解除，恢复正常生产生活。", f"{warning}已解除。"]
        return _fit(self.prefix, LED_MAX, candidates)

    def speaker_zh(self) -> str:
        note = "本次为演练广播。" if self.drill else ""
        warning = self.warning_zh
        if self.msg_type in ("alert", "update"):
            verb = "更新" if self.msg_type == "update" else "发布"
            advice = _public_advice(self.hazard, self.level)
            body = f"乡亲们请注意：{HQ_ZH}{verb}{warning}。{advice}。请听从村干部指挥，注意安全！"
            short = f"乡亲们请注意：{HQ_SHORT_ZH}{verb}{warning}。{advice}。"
        elif self.msg_type == "cancel":
            body = f"乡亲们请注意：{HQ_ZH}此前发布的{warning}现予撤销，请以最新通知为准。"
            short = f"乡亲们请注意：{warning}现予撤销。"
        else:
            body = f"乡亲们请注意：{HQ_ZH}{warning}现已解除，转移群众请听从村干部安排有序返回，恢复正常生产生活。"
            short = f"乡亲们请注意：{warning}现已解除，恢复正常生产生活。"
        return _fit(self.prefix, SPEAKER_MAX, [note + body, note + short, short])


# --- suggest_response_level --------------------------------------------------------------------------

_COASTAL = ("typhoon", "storm_tide", "seawall_breach")
# The response one warning suggests on its own: hazard -> (blue, yellow, orange, red).
_SINGLE = {
    "typhoon": ("IV", "IV", "III", "II"),
    "seawall_breach": ("IV", "IV", "III", "II"),
    "storm_tide": ("none", "IV", "III", "II"),
}
_SINGLE_OTHER = ("none", "IV", "III", "III")


def suggest_response_level(warnings: Iterable[tuple[str, str]]) -> str:
    """The county emergency-response level that the active flood warnings suggest — a suggestion only.

    ``warnings``: (hazard, colour) of every active warning in the county (several stations may each
    have one). The suggestion is the highest level any row below gives (empty input: "none"):

    ====================================================  =====  ======  ======  =====
    one warning on its own                                blue   yellow  orange  red
    ====================================================  =====  ======  ======  =====
    typhoon, seawall_breach                               IV     IV      III     II
    storm_tide                                            none   IV      III     II
    river_flood, reservoir, rainstorm, waterlogging,      none   IV      III     III
    general
    ====================================================  =====  ======  ======  =====

    ==============================================================================  =====
    several warnings together                                                       gives
    ==============================================================================  =====
    ≥ 5 warnings yellow or above                                                    III
    ≥ 3 warnings orange or above                                                    II
    ≥ 3 red warnings                                                                II
    ≥ 3 red warnings, one of them typhoon, storm_tide or seawall_breach             I
    a red typhoon together with a red storm_tide or red seawall_breach              I
    ==============================================================================  =====

    Monotone by construction: every row depends only on counts at or above a colour and on a
    per-warning value that does not fall with the colour, so adding a warning or raising a colour
    never lowers the suggestion. This loosely follows Zhejiang practice (the typhoon signal colour
    drives the 防台风 response; river, reservoir and rain warnings drive the 防汛 response, a single
    station rarely beyond Ⅲ级); the commander decides the actual level.
    """
    if isinstance(warnings, str | bytes):
        raise ValueError("warnings must be an iterable of (hazard, level) pairs")
    best = 0
    yellow_plus = orange_plus = red = 0
    red_hazards: set[str] = set()
    for item in warnings:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"each warning must be a (hazard, level) pair, not {item!r}")
        hazard, level = item
        _choice("hazard", hazard, HAZARDS)
        _choice("level", level, LEVELS)
        rank = LEVEL_RANK[level]
        best = max(best, RESPONSE_RANK[_SINGLE.get(hazard, _SINGLE_OTHER)[rank]])
        yellow_plus += rank >= LEVEL_RANK["yellow"]
        orange_plus += rank >= LEVEL_RANK["orange"]
        if level == "red":
            red += 1
            red_hazards.add(hazard)
    if yellow_plus >= 5:
        best = max(best, RESPONSE_RANK["III"])
    if orange_plus >= 3 or red >= 3:
        best = max(best, RESPONSE_RANK["II"])
    if (red >= 3 and red_hazards & set(_COASTAL)) or (
            "typhoon" in red_hazards and red_hazards & {"storm_tide", "seawall_breach"}):
        best = RESPONSE_RANK["I"]
    return RESPONSE_LEVELS[best]
