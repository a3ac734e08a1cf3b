"""Rendering one response order (处警单) for every channel: titles, bodies, SMS, LED board and loudspeaker."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.templates.duties import COMMON_DUTY, DUTIES, PUBLIC_ADVICE_ZH
from floodctl.domain.drills import DRILL_MARKER, DRILL_NOTE_EN, DRILL_NOTE_ZH
from floodctl.domain.hazards import HAZARD_EN, HAZARD_ZH, HAZARDS, HAZARDS_BY_ID
from floodctl.domain.levels import LEVEL_EN, LEVEL_RANK, LEVEL_ZH, LEVELS
from floodctl.domain.response import RESPONSE_LEVEL_EN, RESPONSE_LEVEL_ZH, RESPONSE_LEVELS

MSG_TYPES = ("alert", "update", "cancel", "allclear")
SMS_MAX, LED_MAX, SPEAKER_MAX = 300, 60, 120
SMS_EXTRA_MAX = 100  # the free text is cut to this many characters in the SMS
HQ_ZH = "象山县防汛防台抗旱指挥部"
HQ_SHORT_ZH = "象山县防指"
HQ_EN = "Xiangshan County Flood, Typhoon and Drought Control Headquarters"
TOWNS_LISTED_IN_SALUTATION = 3  # more towns: "各有关乡镇（街道）防指" and the full list at the end

_CN_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True, slots=True)
class OrderText:
    title_zh: str
    body_zh: str
    title_en: str
    body_en: str
    sms_zh: str  # ≤ SMS_MAX characters
    led_zh: str  # ≤ LED_MAX characters
    speaker_zh: str  # ≤ SPEAKER_MAX characters


# --- helpers ---------------------------------------------------------------------------------------


def require_one_of(name: str, value: object, allowed: Sequence[str], *, optional: bool = False) -> None:
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
    return [(zh, en) for lo, zh, en in DUTIES[hazard] if lo <= rank]


def _feedback_minutes(hazard: str, level: str | None) -> int:
    urgent = hazard == "seawall_breach" or (level is not None and LEVEL_RANK[level] >= LEVEL_RANK["orange"])
    return 30 if urgent else 60


def _public_advice(hazard: str, level: str | None) -> str:
    high = level is not None and LEVEL_RANK[level] >= LEVEL_RANK["orange"]
    return PUBLIC_ADVICE_ZH[hazard][1 if high else 0]


# --- render_order ------------------------------------------------------------------------------------


def render_order(
    *,
    hazard: str,
    level: str | None,
    msg_type: str,
    town_names: Sequence[str],
    subject: str | None = None,
    observed: str | None = None,
    response_level: str | None = None,
    order_no: str | None = None,
    extra: str | None = None,
    drill: bool = False,
) -> OrderText:
    """The texts of one response order for every channel (see the module docstring for the arguments)."""
    require_one_of("hazard", hazard, HAZARDS)
    require_one_of("level", level, LEVELS, optional=True)
    require_one_of("msg_type", msg_type, MSG_TYPES)
    require_one_of("response_level", response_level, RESPONSE_LEVELS, optional=True)
    if not isinstance(drill, bool):
        raise ValueError(f"drill must be True or False, not {drill!r}")
    towns = _towns(town_names)
    subject, observed = _clean("subject", subject), _clean("observed", observed)
    order_no, extra = _clean("order_no", order_no), _clean("extra", extra)
    response = response_level if response_level not in (None, "none") else None

    parts = _Parts(hazard, level, msg_type, towns, subject, observed, response, order_no, extra, drill)
    return OrderText(
        title_zh=parts.title_zh(),
        body_zh=parts.body_zh(),
        title_en=parts.title_en(),
        body_en=parts.body_en(),
        sms_zh=parts.sms_zh(),
        led_zh=parts.led_zh(),
        speaker_zh=parts.speaker_zh(),
    )


@dataclass(frozen=True, slots=True)
class _Parts:
    hazard: str
    level: str | None
    msg_type: str
    towns: tuple[str, ...]
    subject: str | None
    observed: str | None
    response: str | None  # "IV" … "I", or None when not stated
    order_no: str | None
    extra: str | None
    drill: bool

    # -- shared pieces --
    @property
    def prefix(self) -> str:
        return DRILL_MARKER if self.drill else ""

    @property
    def prefix_en(self) -> str:
        return DRILL_MARKER + "[DRILL] " if self.drill else ""

    @property
    def warning_zh(self) -> str:
        return _warning_zh(self.hazard, self.level)

    @property
    def warning_en(self) -> str:
        return _warning_en(self.hazard, self.level)

    @property
    def response_zh(self) -> str:
        if not self.response:
            return ""
        return f"{HAZARDS_BY_ID[self.hazard].response_zh}{RESPONSE_LEVEL_ZH[self.response]}应急响应"

    @property
    def response_en(self) -> str:
        if not self.response:
            return ""
        return f"{HAZARDS_BY_ID[self.hazard].response_en} emergency response {RESPONSE_LEVEL_EN[self.response]}"

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
            text = (
                f"经核查，现撤销{self.order_ref_zh}（{self.warning_zh}），该处警单作废，"
                f"请停止执行其中各项要求，已采取的措施视情有序恢复"
            )
            if self.response:
                text += f"；据此启动的{self.response_zh}一并撤销"
            return text + "。请于60分钟内反馈收悉情况。"
        # allclear
        ref = f"（{self.order_no}处警单）" if self.order_no else ""
        text = f"经会商研判，{self.subject + '的' if self.subject else ''}{self.warning_zh}{ref}现予解除"
        if self.response:
            text += f"，县防指决定终止{self.response_zh}"
        return (
            text + "。请各地做好灾后恢复和隐患排查，转移人员经安全评估后有序返回，"
            "恢复正常生产生活。请于60分钟内反馈收悉情况。"
        )

    def body_zh(self) -> str:
        lines = []
        if self.drill:
            lines.append(self.prefix + DRILL_NOTE_ZH)
        lines.append(HQ_ZH + ("处警单" if self.msg_type in ("alert", "update") else "通知"))
        if self.order_no and self.msg_type in ("alert", "update"):
            lines.append(self.order_no)
        lines.append(self.salutation_zh())
        duties = [zh for zh, _ in _duties(self.hazard, self.level)] + [COMMON_DUTY[0]]
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
            duties = [en for _, en in _duties(self.hazard, self.level)] + [COMMON_DUTY[1]]
            lines += [f"  {i + 1}. {d};" for i, d in enumerate(duties)]
            lines.append(f"Report what has been done to the county HQ within {minutes} minutes.")
        elif self.msg_type == "cancel":
            text = (
                f"{self.order_ref_en[0].upper()}{self.order_ref_en[1:]} ({self.warning_en}) is cancelled and "
                "void: stop carrying out its instructions and unwind the measures taken as appropriate."
            )
            if self.response:
                text += f" The {self.response_en} started with it is cancelled as well."
            lines.append(text + " Acknowledge within 60 minutes.")
        else:
            ref = f" (order {self.order_no})" if self.order_no else ""
            text = f"The {self.warning_en}{ref} is lifted."
            if self.response:
                text += f" The county HQ ends the {self.response_en}."
            lines.append(
                text + " Inspect for damage and hazards; evacuees return once their homes are assessed "
                "safe; normal life and work resume. Acknowledge within 60 minutes."
            )
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
        variants = [
            (full, n_all, extra, note),
            (short, n_all, extra, note),
            (short, 2, extra, note),
            (short, 1, extra, note),
            (short, 1, extra, ""),
            (short, n_all, "", note),
            (short, 2, "", note),
            (short, 1, "", note),
            (short, 1, "", ""),
        ]
        candidates = [
            f"{head}{no}：{towns}：{self._main_zh(all_duties[:n], numbered=False)}{x}{tail}"
            for towns, n, x, tail in variants
        ]
        return _fit(self.prefix, SMS_MAX, candidates)

    def led_zh(self) -> str:
        warning = self.warning_zh
        if self.msg_type in ("alert", "update"):
            advice = _public_advice(self.hazard, self.level)
            head = f"{warning}{'（更新）' if self.msg_type == 'update' else ''}"
            candidates = [
                f"{HQ_SHORT_ZH}：{head}！{advice}。",
                f"{head}！{advice}。",
                f"{head}！{advice.split('，')[0]}。",
            ]
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
