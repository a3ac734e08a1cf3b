"""Every user-facing text of the wall dashboard, in zh-CN (default) and English.

``t(lang, key)`` looks a label up; ``LANGS`` are the languages the toggle cycles through. Level marks
are colour-independent (shape + numeral), so a colour-blind viewer or a grey-scale photo of the wall
still reads the level: blue ● Ⅳ, yellow ▲ Ⅲ, orange ◆ Ⅱ, red ■ Ⅰ.
"""

from __future__ import annotations

from typing import Literal

from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.levels import LEVEL_EN, LEVEL_NUMERAL, LEVEL_SHAPE, LEVEL_ZH
from floodctl.domain.thresholds import THRESHOLD_LABELS

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


TEXT: dict[str, dict[Lang, str]] = {
    "title": {"zh": "象山县防汛防台指挥 — 会商大屏", "en": "Xiangshan Flood & Typhoon HQ — Consultation"},
    "lang_button": {"zh": "English", "en": "中文"},
    "drill_label": {"zh": "数据", "en": "Data"},
    "live": {"zh": "实时（非演练）", "en": "Live operations"},
    "drill_option": {"zh": "演练 #{id}：{name}", "en": "Drill #{id}: {name}"},
    "drill_banner": {
        "zh": DRILL_MARKER + "#{id} {name} — 演练数据，非真实汛情",
        "en": "[DRILL] #{id} {name} — exercise data, not real",
    },
    "response_level": {"zh": "县应急响应", "en": "County response"},
    "response_none": {"zh": "未启动", "en": "not activated"},
    "response_by": {"zh": "{who} {at} 决定", "en": "by {who}, {at}"},
    "clock": {"zh": "北京时间", "en": "Local time"},
    "data_time": {"zh": "数据时间 {at}", "en": "Data as of {at}"},
    "drill_clock": {"zh": "演练时钟 {at}", "en": "Drill clock {at}"},
    "updated": {"zh": "刷新 {at}", "en": "Refreshed {at}"},
    "stale": {"zh": "数据中断：{why}（上次刷新 {at}）", "en": "No data: {why} (last refresh {at})"},
    "panel_warnings": {"zh": "当前预警", "en": "Active warnings"},
    "panel_rain": {"zh": "雨量排名（mm）", "en": "Rainfall ranking (mm)"},
    "panel_reservoirs": {"zh": "超汛限水库", "en": "Reservoirs above flood-limit level"},
    "panel_orders": {"zh": "响应指令与叫应", "en": "Response orders and call-and-respond"},
    "panel_reports": {"zh": "巡查上报", "en": "Field reports"},
    "panel_series": {"zh": "测站过程线（点击地图上的测站）", "en": "Station series (click a station on the map)"},
    "series_title": {"zh": "{name}（{code}）{kind} · 近24小时", "en": "{name} ({code}) {kind} · last 24 h"},
    "rain_1h": {"zh": "1小时", "en": "1 h"},
    "rain_3h": {"zh": "3小时", "en": "3 h"},
    "rain_24h": {"zh": "24小时", "en": "24 h"},
    "no_warnings": {"zh": "无当前预警", "en": "No active warnings"},
    "no_rain": {"zh": "无降雨", "en": "No rainfall"},
    "no_reservoirs": {"zh": "无超汛限水库", "en": "No reservoir above its limit"},
    "off_season": {"zh": "非汛期：汛限水位不适用", "en": "Outside the flood seasons: no flood-limit level applies"},
    "season": {"zh": "{season}汛限", "en": "{season} limit"},
    "no_orders": {"zh": "无响应指令", "en": "No response orders"},
    "no_reports": {"zh": "无巡查上报", "en": "No field reports"},
    "acknowledged": {"zh": "已确认", "en": "acknowledged"},
    "unacknowledged": {"zh": "未确认", "en": "not acknowledged"},
    "late": {"zh": "补报", "en": "late data"},
    "count": {"zh": "共 {n} 条", "en": "{n} in all"},
    "town_acknowledged": {"zh": "已确认", "en": "acknowledged"},
    "town_carried_out": {"zh": "已落实", "en": "carried out"},
    "town_pending": {"zh": "待确认", "en": "pending"},
    "town_unreached": {"zh": "未叫应", "en": "unreached"},
    "order_draft": {"zh": "待审批", "en": "awaiting approval"},
    "order_approved": {"zh": "已下达", "en": "sent"},
    "people_affected": {"zh": "涉及 {n} 人", "en": "{n} people"},
    "level_over": {"zh": "超 {excess} m", "en": "+{excess} m"},
    "legend_title": {"zh": "图例", "en": "Legend"},
    "legend_normal": {"zh": "正常", "en": "normal"},
    "legend_offline": {"zh": "离线（虚线）", "en": "offline (dashed)"},
    "basemap": {"zh": "县域底图（离线）", "en": "County basemap (offline)"},
    "tiles": {"zh": "瓦片底图", "en": "Tile basemap"},
    "overlay_stations": {"zh": "测站", "en": "Stations"},
    "overlay_villages": {"zh": "行政村", "en": "Villages"},
    "overlay_reservoirs": {"zh": "水库", "en": "Reservoirs"},
    "overlay_seawalls": {"zh": "海塘", "en": "Seawalls"},
    "overlay_rivers": {"zh": "河道", "en": "Rivers"},
    "overlay_shelters": {"zh": "避灾安置点", "en": "Shelters"},
    "overlay_cameras": {"zh": "视频监控", "en": "Cameras"},
    "overlay_waterlogging": {"zh": "易涝点", "en": "Waterlogging spots"},
    "axis_rain": {"zh": "小时雨量 (mm)", "en": "Hourly rainfall (mm)"},
    "no_data": {"zh": "无数据", "en": "No data"},
    "town_escalated": {"zh": "已升级叫应", "en": "escalated"},
    "deadline_in": {"zh": "最近时限 {left}", "en": "next deadline in {left}"},
    "deadline_over": {"zh": "已超时限", "en": "deadline passed"},
    "time_title": {"zh": "时间回看", "en": "Look back"},
    "time_live": {"zh": "实时", "en": "Live"},
    "time_live_button": {"zh": "回到实时", "en": "Back to live"},
    "time_history": {"zh": "历史回看：{at}", "en": "Looking back: {at}"},
    "time_history_drill": {"zh": "历史回看（演练时间）：{at}", "en": "Looking back (drill time): {at}"},
    "time_mark_now": {"zh": "现在", "en": "now"},
    "time_mark_hours": {"zh": "{h}小时前", "en": "-{h} h"},
    "history_banner": {"zh": "历史回看 {at} — 非当前态势", "en": "LOOKING BACK to {at} — not the current situation"},
    "download_map": {"zh": "下载态势图", "en": "Download map"},
    "consult_button": {"zh": "会商", "en": "Consultation"},
}

LEVEL_NAME: dict[Lang, dict[str, str]] = {"zh": LEVEL_ZH, "en": LEVEL_EN}
RESPONSE_NAME: dict[Lang, dict[str, str]] = {
    "zh": {"none": "未启动", "IV": "Ⅳ级（一般）", "III": "Ⅲ级（较大）", "II": "Ⅱ级（重大）", "I": "Ⅰ级（特别重大）"},
    "en": {
        "none": "not activated",
        "IV": "Level IV (general)",
        "III": "Level III (major)",
        "II": "Level II (severe)",
        "I": "Level I (extremely severe)",
    },
}
KIND_NAME: dict[Lang, dict[str, str]] = {
    "zh": {"river": "河道", "reservoir": "水库", "tide": "潮位", "rain": "雨量", "weather": "气象", "camera": "视频"},
    "en": {
        "river": "river",
        "reservoir": "reservoir",
        "tide": "tide",
        "rain": "rain",
        "weather": "weather",
        "camera": "camera",
    },
}
# One glyph per station kind, drawn inside the marker (the kind stays visible at every warning level).
KIND_GLYPH: dict[Lang, dict[str, str]] = {
    "zh": {"river": "河", "reservoir": "库", "tide": "潮", "rain": "雨", "weather": "气", "camera": "视"},
    "en": {"river": "R", "reservoir": "V", "tide": "T", "rain": "P", "weather": "W", "camera": "C"},
}
METRIC_NAME: dict[Lang, dict[str, str]] = {
    "zh": {
        "water_level": "水位",
        "rainfall": "雨量",
        "tide_level": "潮位",
        "wind_speed": "风速",
        "flow": "流量",
        "inflow": "入库流量",
        "outflow": "出库流量",
        "storage": "蓄水量",
        "wind_dir": "风向",
        "pressure": "气压",
        "wave_height": "浪高",
        "battery_v": "电压",
    },
    "en": {
        "water_level": "water level",
        "rainfall": "rainfall",
        "tide_level": "tide level",
        "wind_speed": "wind speed",
        "flow": "flow",
        "inflow": "inflow",
        "outflow": "outflow",
        "storage": "storage",
        "wind_dir": "wind direction",
        "pressure": "pressure",
        "wave_height": "wave height",
        "battery_v": "battery",
    },
}
# Threshold names as the domain words them, and "fsltdz": the flood-limit level of the season in force.
THRESHOLD_NAME: dict[Lang, dict[str, str]] = {
    "zh": {name: zh for name, (zh, _) in THRESHOLD_LABELS.items()} | {"fsltdz": "汛限水位"},
    "en": {name: en for name, (_, en) in THRESHOLD_LABELS.items()} | {"fsltdz": "flood-limit level (FSLTDZ)"},
}
SEASON_NAME: dict[Lang, dict[str, str]] = {
    "zh": {"meiyu": "梅汛期", "typhoon": "台汛期"},
    "en": {"meiyu": "Meiyu season", "typhoon": "typhoon season"},
}
REPORT_KIND_NAME: dict[Lang, dict[str, str]] = {
    "zh": {
        "seawall_breach": "海塘险情",
        "dyke_breach": "堤防险情",
        "dam_danger": "水库险情",
        "overtopping": "越浪漫堤",
        "landslide": "山体滑坡",
        "waterlogging": "积水内涝",
        "people_trapped": "人员被困",
        "other": "其他",
    },
    "en": {
        "seawall_breach": "seawall breach",
        "dyke_breach": "dyke breach",
        "dam_danger": "dam danger",
        "overtopping": "overtopping",
        "landslide": "landslide",
        "waterlogging": "waterlogging",
        "people_trapped": "people trapped",
        "other": "other",
    },
}
HAZARD_NAME: dict[Lang, dict[str, str]] = {
    "zh": {
        "river_flood": "河道洪水",
        "reservoir": "水库超汛限",
        "storm_tide": "风暴潮",
        "rainstorm": "暴雨",
        "typhoon": "台风",
        "waterlogging": "城市内涝",
        "seawall_breach": "海塘险情",
        "general": "综合",
    },
    "en": {
        "river_flood": "river flood",
        "reservoir": "reservoir",
        "storm_tide": "storm tide",
        "rainstorm": "rainstorm",
        "typhoon": "typhoon",
        "waterlogging": "waterlogging",
        "seawall_breach": "seawall danger",
        "general": "general",
    },
}
# The county's static layers the wall can show (cameras come live, with their latest snapshot: overlays.py).
OVERLAYS = ("villages", "reservoirs", "seawalls", "rivers", "shelters", "waterlogging")


def lang_of(value: object) -> Lang:
    """A language code from untrusted input (a store, a query string); the default when unknown."""
    return "en" if value == "en" else DEFAULT_LANG


def t(lang: Lang, key: str, **values: object) -> str:
    text = TEXT[key][lang]
    return text.format(**values) if values else text


def level_mark(level: str | None, lang: Lang) -> str:
    """ "■ 红Ⅰ" / "■ red I": shape, colour name and numeral, so the level never rests on colour alone."""
    if level not in LEVEL_SHAPE:
        return ""
    name = LEVEL_NAME[lang][level]
    return f"{LEVEL_SHAPE[level]} {name[0] if lang == 'zh' else name}{LEVEL_NUMERAL[level]}"


def name(table: dict[Lang, dict[str, str]], lang: Lang, key: str | None) -> str:
    """A vocabulary word, or the key itself when the table does not know it."""
    if key is None:
        return ""
    return table[lang].get(key, key)
