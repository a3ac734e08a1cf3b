"""The consultation briefing (会商简报): a consultation and its latest snapshot in, Markdown or a printable HTML page
out. Pure functions, zh-CN by default, English with ``lang="en"``.

    markdown(consultation, snapshot, hq_name=…, tz=…, lang=…) -> str
    html(consultation, snapshot, hq_name=…, tz=…, lang=…) -> str   the same Markdown rendered by markdown-it

Every value that comes from people or data (titles, names, notes, station names, messages) is escaped for
Markdown, and the HTML renderer runs with raw HTML, links and images switched off, so nothing in the page can
refer to anything outside it; a Content-Security-Policy meta tag says the same to the browser. The page is
self-contained: inline CSS only, laid out for A4.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, Literal

from markdown_it import MarkdownIt

from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.levels import LEVEL_EN, LEVEL_ZH, LEVELS_DESC
from floodctl.domain.response import RESPONSE_LEVEL_EN, RESPONSE_LEVEL_LABEL_ZH

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
SEASON_EN = {"meiyu": "Meiyu season", "typhoon": "typhoon season"}
MAX_WARNINGS_LISTED = 20
MAX_STATIONS_LISTED = 20
RAIN_LISTED = 5

TEXT: dict[str, dict[Lang, str]] = {
    "doc_title": {"zh": "会商简报", "en": "Consultation briefing"},
    "drill_banner": {
        "zh": "{mark}演练 #{id}（{name}）：演练数据，非真实汛情",
        "en": "{mark} DRILL #{id} ({name}): exercise data, not a real event",
    },
    "time": {"zh": "会商时间", "en": "Time"},
    "ongoing": {"zh": "进行中", "en": "ongoing"},
    "host": {"zh": "主持", "en": "Started by"},
    "closed_by": {"zh": "结束", "en": "Closed by"},
    "time_zone": {"zh": "时区", "en": "Time zone"},
    "attendees": {"zh": "参会人员", "en": "Attendees"},
    "no_attendees": {"zh": "未登记参会人员", "en": "No attendees recorded"},
    "situation": {"zh": "会商态势", "en": "Situation"},
    "snapshot_at": {"zh": "快照 {taken}（{by}）；{clock} {at}", "en": "Snapshot {taken} ({by}); {clock} {at}"},
    "drill_clock": {"zh": "演练时钟", "en": "drill clock"},
    "data_time": {"zh": "数据时间", "en": "data time"},
    "no_snapshot": {"zh": "本次会商未留存态势快照。", "en": "No situation snapshot was taken."},
    "response_level": {"zh": "县应急响应", "en": "County response"},
    "response_none": {"zh": "未启动", "en": "not activated"},
    "decided": {"zh": "{who} 于 {at} 决定，理由：{reason}", "en": "decided by {who} at {at}: {reason}"},
    "warnings": {"zh": "当前预警", "en": "Active warnings"},
    "warning_counts": {"zh": "共 {n} 条：{levels}", "en": "{n} in all: {levels}"},
    "no_warnings": {"zh": "无当前预警", "en": "No active warnings"},
    "more": {"zh": "……另有 {n} 条", "en": "… and {n} more"},
    "stations": {"zh": "测站", "en": "Stations"},
    "station_counts": {
        "zh": "共 {n} 个：{levels}；正常 {normal}；离线 {offline}",
        "en": "{n} in all: {levels}; normal {normal}; offline {offline}",
    },
    "raised_stations": {"zh": "黄色及以上测站", "en": "Stations at yellow or above"},
    "rain": {"zh": "雨量排名（mm）", "en": "Rainfall ranking (mm)"},
    "rain_1h": {"zh": "1小时", "en": "1 h"},
    "rain_3h": {"zh": "3小时", "en": "3 h"},
    "rain_24h": {"zh": "24小时", "en": "24 h"},
    "no_rain": {"zh": "无降雨", "en": "no rainfall"},
    "reservoirs": {"zh": "超汛限水库", "en": "Reservoirs above flood-limit level"},
    "season": {"zh": "（{season}汛限）", "en": " ({season} limit)"},
    "off_season": {"zh": "非汛期：汛限水位不适用", "en": "Outside the flood seasons: no flood-limit level applies"},
    "no_reservoirs": {"zh": "无超汛限水库", "en": "No reservoir above its limit"},
    "col_reservoir": {"zh": "水库", "en": "Reservoir"},
    "col_town": {"zh": "乡镇", "en": "Town"},
    "col_level_m": {"zh": "水位 (m)", "en": "Level (m)"},
    "col_limit_m": {"zh": "汛限 (m)", "en": "Limit (m)"},
    "col_excess_m": {"zh": "超出 (m)", "en": "Over (m)"},
    "orders": {"zh": "响应指令与叫应", "en": "Response orders and call-and-respond (叫应)"},
    "no_orders": {"zh": "无响应指令", "en": "No response orders"},
    "col_order": {"zh": "指令", "en": "Order"},
    "col_status": {"zh": "状态", "en": "Status"},
    "col_towns": {"zh": "乡镇", "en": "Towns"},
    "col_acknowledged": {"zh": "已确认", "en": "Acknowledged"},
    "col_carried_out": {"zh": "已落实", "en": "Carried out"},
    "col_pending": {"zh": "待确认", "en": "Pending"},
    "col_unreached": {"zh": "未叫应", "en": "Unreached"},
    "col_unreached_towns": {"zh": "未叫应乡镇", "en": "Unreached towns"},
    "order_draft": {"zh": "待审批", "en": "awaiting approval"},
    "order_approved": {"zh": "已下达", "en": "sent"},
    "order_cancelled": {"zh": "已撤销", "en": "cancelled"},
    "decisions": {"zh": "会商决定", "en": "Decisions"},
    "no_decisions": {"zh": "无", "en": "None"},
    "decision_level": {
        "zh": "县应急响应调整为 {level}（理由：{reason}）",
        "en": "County response set to {level} (reason: {reason})",
    },
    "decision_order": {"zh": "批准下达指令 {no}《{title}》", "en": "Approved order {no} “{title}”"},
    "decision_note": {"zh": "会商意见：{text}", "en": "Note: {text}"},
    "notes": {"zh": "会商结论", "en": "Conclusions"},
    "generated": {"zh": "floodctl 生成于 {at}", "en": "Generated by floodctl at {at}"},
    "list_sep": {"zh": "、", "en": ", "},
    "sep": {"zh": "；", "en": "; "},
}

# Markdown's inline specials, backslash-escaped wherever a value is written (CommonMark lets any ASCII
# punctuation be escaped); a value alone on a line also gets what would start a block escaped (_block).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#!|&~])")
_BLOCK_START = re.compile(r"^(\d{1,9}(?=[.)])|[-+=])")
_SPACE = re.compile(r"\s+")


def t(lang: Lang, key: str, **values: Any) -> str:
    text = TEXT[key][lang]
    return text.format(**values) if values else text


def esc(value: Any) -> str:
    """A value as inline Markdown text: one line, every special character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _SPACE.sub(" ", "" if value is None else str(value)).strip())


def _block(value: Any) -> str:
    """A value as a paragraph of its own: escaped, and not read as a list item, a rule or a heading underline."""
    text = esc(value)
    match = _BLOCK_START.match(text)
    if match is None:
        return text
    if match[0] in "-+=":
        return "\\" + text
    return match[0] + "\\" + text[len(match[0]) :]


def _when(value: Any, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp (datetime or ISO 8601 text, as stored in a snapshot) in the county's time zone."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return esc(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return str(value.astimezone(tz).strftime(fmt))


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return esc(value)


def _level_name(level: Any, lang: Lang) -> str:
    names = LEVEL_ZH if lang == "zh" else LEVEL_EN
    return names.get(str(level), esc(level))


def _response_label(level: Any, lang: Lang) -> str:
    if level in (None, "none"):
        return t(lang, "response_none")
    labels = RESPONSE_LEVEL_LABEL_ZH if lang == "zh" else RESPONSE_LEVEL_EN
    return labels.get(str(level), esc(level))


def _local(row: Mapping[str, Any], key: str, lang: Lang) -> str:
    """``row[key]``, or its English twin (``key_en``) in English when there is one."""
    if lang == "en" and row.get(f"{key}_en"):
        return esc(row[f"{key}_en"])
    return esc(row.get(key))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _counts(by_level: Mapping[str, Any], lang: Lang) -> str:
    joiner = "、" if lang == "zh" else ", "
    return joiner.join(f"{_level_name(level, lang)} {int(by_level.get(level) or 0)}" for level in LEVELS_DESC)


# --- sections ---------------------------------------------------------------------------------------


def _header(c: Mapping[str, Any], hq_name: str, tz: tzinfo, lang: Lang) -> list[str]:
    drill = int(c.get("drill_id") or 0)
    mark = DRILL_MARKER if drill else ""
    lines = [f"# {mark}{esc(hq_name)} {t(lang, 'doc_title')}", "", f"## {esc(c.get('title'))}", ""]
    if drill:
        lines += [f"**{t(lang, 'drill_banner', mark=DRILL_MARKER, id=drill, name=esc(c.get('drill_name')))}**", ""]
    end = _when(c.get("ended_at"), tz) if c.get("ended_at") else t(lang, "ongoing")
    lines.append(
        f"- {t(lang, 'time')}：{_when(c.get('started_at'), tz)} — {end}"
        if lang == "zh"
        else f"- {t(lang, 'time')}: {_when(c.get('started_at'), tz)} — {end}"
    )
    colon = "：" if lang == "zh" else ": "
    lines.append(f"- {t(lang, 'host')}{colon}{esc(c.get('started_by'))}")
    if c.get("ended_by"):
        lines.append(f"- {t(lang, 'closed_by')}{colon}{esc(c.get('ended_by'))}")
    lines += [f"- {t(lang, 'time_zone')}{colon}{esc(getattr(tz, 'key', None) or tz)}", ""]
    return lines


def _attendees(c: Mapping[str, Any], lang: Lang) -> list[str]:
    lines = [f"## {t(lang, 'attendees')}", ""]
    people = c.get("attendees") or []
    if not people:
        return [*lines, t(lang, "no_attendees"), ""]
    for person in people:
        unit = esc(person.get("unit"))
        if not unit:
            lines.append(f"- {esc(person.get('name'))}")
        else:
            lines.append(
                f"- {esc(person.get('name'))}（{unit}）" if lang == "zh" else f"- {esc(person.get('name'))} ({unit})"
            )
    return [*lines, ""]


def _situation(c: Mapping[str, Any], snapshot: Mapping[str, Any] | None, tz: tzinfo, lang: Lang) -> list[str]:
    lines = [f"## {t(lang, 'situation')}", ""]
    if not snapshot:
        return [*lines, t(lang, "no_snapshot"), ""]
    p: Mapping[str, Any] = snapshot.get("payload") or {}
    clock = t(lang, "drill_clock" if c.get("drill_id") else "data_time")
    lines += [
        t(
            lang,
            "snapshot_at",
            taken=_when(snapshot.get("taken_at"), tz),
            by=esc(snapshot.get("taken_by")),
            clock=clock,
            at=_when(p.get("at") or snapshot.get("at"), tz),
        ),
        "",
    ]
    return (
        lines
        + _response_level(p, tz, lang)
        + _warnings(p, lang)
        + _stations(p, lang)
        + _rain(p, lang)
        + _reservoirs(p, lang)
        + _orders(p, lang)
    )


def _colon(lang: Lang) -> str:
    return "：" if lang == "zh" else ": "


def _response_level(p: Mapping[str, Any], tz: tzinfo, lang: Lang) -> list[str]:
    colon = _colon(lang)
    level = p.get("response_level") or {}
    text = f"**{t(lang, 'response_level')}**{colon}{_response_label(level.get('level'), lang)}"
    if level.get("decided_by"):
        text += t(lang, "sep") + t(
            lang,
            "decided",
            who=esc(level.get("decided_by")),
            at=_when(level.get("decided_at"), tz),
            reason=esc(level.get("reason")),
        )
    return [text, ""]


def _warnings(p: Mapping[str, Any], lang: Lang) -> list[str]:
    colon = _colon(lang)
    lines: list[str] = []
    warnings = p.get("warnings") or {}
    items = warnings.get("items") or []
    lines += [f"### {t(lang, 'warnings')}", ""]
    if not items:
        lines += [t(lang, "no_warnings"), ""]
    else:
        lines += [
            t(
                lang,
                "warning_counts",
                n=int(warnings.get("total") or len(items)),
                levels=_counts(warnings.get("by_level") or {}, lang),
            ),
            "",
        ]
        for w in items[:MAX_WARNINGS_LISTED]:
            where = _local(w, "subject_name", lang) or esc(w.get("subject"))
            town = _local(w, "town_name", lang)
            message = esc(w.get("message_en" if lang == "en" else "message_zh"))
            place = f"{where}（{town}）" if town and lang == "zh" else f"{where} ({town})" if town else where
            lines.append(f"- **{_level_name(w.get('level'), lang)}** {place}{colon}{message}")
        if len(items) > MAX_WARNINGS_LISTED:
            lines.append(f"- {t(lang, 'more', n=len(items) - MAX_WARNINGS_LISTED)}")
        lines.append("")
    return lines


def _stations(p: Mapping[str, Any], lang: Lang) -> list[str]:
    colon = _colon(lang)
    lines: list[str] = []
    stations = p.get("stations") or {}
    by_level = stations.get("by_level") or {}
    lines += [
        f"### {t(lang, 'stations')}",
        "",
        t(
            lang,
            "station_counts",
            n=int(stations.get("total") or 0),
            levels=_counts(by_level, lang),
            normal=int(by_level.get("normal") or 0),
            offline=int(stations.get("offline") or 0),
        ),
        "",
    ]
    raised = stations.get("raised") or []
    if raised:
        lines += [f"{t(lang, 'raised_stations')}{colon.strip()}", ""]
        for s in raised[:MAX_STATIONS_LISTED]:
            code = f"（{esc(s.get('code'))}）" if lang == "zh" else f" ({esc(s.get('code'))})"
            lines.append(f"- **{_level_name(s.get('level'), lang)}** {esc(s.get('name'))}{code} {_num(s.get('value'))}")
        if len(raised) > MAX_STATIONS_LISTED:
            lines.append(f"- {t(lang, 'more', n=len(raised) - MAX_STATIONS_LISTED)}")
        lines.append("")
    return lines


def _rain(p: Mapping[str, Any], lang: Lang) -> list[str]:
    colon = _colon(lang)
    lines: list[str] = []
    rain = p.get("rain") or {}
    lines += [f"### {t(lang, 'rain')}", ""]
    for window in ("1h", "3h", "24h"):
        top = (rain.get(window) or [])[:RAIN_LISTED]
        ranked = t(lang, "list_sep").join(f"{esc(r.get('name'))} {_num(r.get('mm'), 1)}" for r in top)
        lines.append(f"- {t(lang, 'rain_' + window)}{colon}{ranked or t(lang, 'no_rain')}")
    lines.append("")
    return lines


def _reservoirs(p: Mapping[str, Any], lang: Lang) -> list[str]:
    lines: list[str] = []
    reservoirs = p.get("reservoirs") or {}
    season = reservoirs.get("season")
    if season and lang == "zh":
        season = reservoirs.get("season_zh") or season
    elif season:
        season = SEASON_EN.get(season, f"{season} season")
    lines += [f"### {t(lang, 'reservoirs')}{t(lang, 'season', season=esc(season)) if season else ''}", ""]
    if reservoirs.get("limit_column") is None:
        lines += [t(lang, "off_season"), ""]
    elif not reservoirs.get("items"):
        lines += [t(lang, "no_reservoirs"), ""]
    else:
        lines += _table(
            [t(lang, k) for k in ("col_reservoir", "col_town", "col_level_m", "col_limit_m", "col_excess_m")],
            [
                [
                    esc(r.get("name")),
                    _local(r, "town", lang),
                    _num(r.get("level")),
                    _num(r.get("flood_limit")),
                    _num(r.get("excess")),
                ]
                for r in reservoirs["items"]
            ],
        )
    return lines


def _orders(p: Mapping[str, Any], lang: Lang) -> list[str]:
    lines: list[str] = []
    orders = p.get("orders") or []
    lines += [f"### {t(lang, 'orders')}", ""]
    if not orders:
        lines += [t(lang, "no_orders"), ""]
    else:
        rows = []
        for o in orders:
            title = _local(o, "title", lang) if lang == "en" else esc(o.get("title_zh"))
            key = f"order_{o.get('status')}"
            status = t(lang, key) if key in TEXT else esc(o.get("status"))
            towns = o.get("unreached_towns_en" if lang == "en" else "unreached_towns") or o.get("unreached_towns") or []
            rows.append(
                [
                    f"{esc(o.get('order_no'))} {title}",
                    status,
                    str(o.get("towns_total") or 0),
                    str(o.get("acknowledged") or 0),
                    str(o.get("carried_out") or 0),
                    str(o.get("pending") or 0),
                    str(o.get("unreached") or 0),
                    t(lang, "list_sep").join(esc(x) for x in towns) or "—",
                ]
            )
        lines += _table(
            [
                t(lang, k)
                for k in (
                    "col_order",
                    "col_status",
                    "col_towns",
                    "col_acknowledged",
                    "col_carried_out",
                    "col_pending",
                    "col_unreached",
                    "col_unreached_towns",
                )
            ],
            rows,
        )
    return lines


def _decision_text(d: Mapping[str, Any], lang: Lang) -> str:
    kind = d.get("kind")
    if kind == "response_level":
        text = t(lang, "decision_level", level=_response_label(d.get("level"), lang), reason=esc(d.get("reason")))
    elif kind == "approve_order":
        title = d.get("order_title_en") if lang == "en" and d.get("order_title_en") else d.get("order_title_zh")
        text = t(lang, "decision_order", no=esc(d.get("order_no")), title=esc(title))
    else:
        return t(lang, "decision_note", text=esc(d.get("text")))
    own = esc(d.get("text"))
    return f"{text} — {own}" if own and own != esc(d.get("reason")) else text


def _decisions(c: Mapping[str, Any], tz: tzinfo, lang: Lang) -> list[str]:
    lines = [f"## {t(lang, 'decisions')}", ""]
    decisions = c.get("decisions") or []
    if not decisions:
        return [*lines, t(lang, "no_decisions"), ""]
    colon = "：" if lang == "zh" else ": "
    for number, d in enumerate(decisions, 1):
        lines.append(
            f"{number}. {_when(d.get('decided_at'), tz)} {esc(d.get('decided_by'))}{colon}{_decision_text(d, lang)}"
        )
    return [*lines, ""]


# --- documents --------------------------------------------------------------------------------------


def markdown(
    consultation: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None,
    *,
    hq_name: str,
    tz: tzinfo,
    lang: Lang = "zh",
    generated_at: datetime | None = None,
) -> str:
    """The briefing as Markdown: header, attendees, the situation of ``snapshot`` (the latest one; None when
    none was taken), the decisions in order and the conclusions."""
    if lang not in LANGS:
        raise ValueError(f"lang {lang!r} is not one of {LANGS}")
    lines = _header(consultation, hq_name, tz, lang)
    lines += _attendees(consultation, lang)
    lines += _situation(consultation, snapshot, tz, lang)
    lines += _decisions(consultation, tz, lang)
    notes = consultation.get("notes")
    if notes:
        lines += [f"## {t(lang, 'notes')}", "", _block(notes), ""]
    if generated_at is not None:
        lines += ["---", "", t(lang, "generated", at=_when(generated_at, tz, "%Y-%m-%d %H:%M:%S")), ""]
    return "\n".join(lines)


# Raw HTML, links, images, autolinks and reference definitions off: the page can only hold text and layout.
_RENDERER = (
    MarkdownIt("commonmark", {"html": False})
    .enable("table")
    .disable(["link", "image", "autolink", "reference", "html_inline", "html_block"])
)
CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif; color: #111;
       margin: 2em auto; max-width: 60em; line-height: 1.5; padding: 0 1em; }
h1 { font-size: 1.5em; border-bottom: 2px solid #111; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.4em; } h3 { font-size: 1.05em; margin-top: 1em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #888; padding: .2em .5em; text-align: left; vertical-align: top; }
.drill-briefing h1, .drill-briefing h1 + h2 + p strong { color: #b00; }
@page { size: A4; margin: 18mm 15mm; }
@media print { body { margin: 0; max-width: none; } h2, h3 { break-after: avoid; } tr { break-inside: avoid; } }
"""
# What the browser may load for the page: nothing but its own inline style.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def html(
    consultation: Mapping[str, Any],
    snapshot: Mapping[str, Any] | None,
    *,
    hq_name: str,
    tz: tzinfo,
    lang: Lang = "zh",
    generated_at: datetime | None = None,
) -> str:
    """The briefing as one printable, self-contained HTML page (no script, no external reference)."""
    body = _RENDERER.render(
        markdown(consultation, snapshot, hq_name=hq_name, tz=tz, lang=lang, generated_at=generated_at)
    )
    drill = bool(consultation.get("drill_id"))
    title = f"{DRILL_MARKER if drill else ''}{hq_name} {t(lang, 'doc_title')} — {consultation.get('title') or ''}"
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html_lib.escape(CSP)}">\n'
        f'<meta name="referrer" content="no-referrer">\n'
        f"<title>{html_lib.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body class="{"drill" if drill else "live"}-briefing">\n<main>\n{body}</main>\n</body>\n</html>\n'
    )


__all__ = ["CSP", "LANGS", "Lang", "esc", "html", "markdown"]
