"""The map's stations drawn: level symbols as inline SVG (shape and numeral besides the colour), tooltips,
popups, and the element that puts DivIcon markers on the map without folium's jQuery."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import folium
from branca.element import Element
from folium.elements import JSCSSMixin
from folium.template import Template

from dashboard.situation_map.situation import StationState
from floodctl.domain.levels import LEVEL_NUMERAL, LEVEL_ZH, LEVELS
from floodctl.domain.thresholds import THRESHOLDS


@dataclass(frozen=True, slots=True)
class Symbol:
    fill: str
    stroke: str
    ink: str  # the text colour on the fill
    shape: str  # circle, triangle, diamond, square
    size: int  # px


# The map's own palette (print-friendly; the wall's dark theme has its own), in LEVELS order, blue to red.
SYMBOLS: dict[str | None, Symbol] = dict(
    zip(
        LEVELS,
        (
            Symbol("#1f5fbf", "#0a2a5c", "#ffffff", "circle", 22),
            Symbol("#f2c200", "#5c4a00", "#000000", "triangle", 26),
            Symbol("#f07800", "#5c2e00", "#000000", "diamond", 26),
            Symbol("#d7191c", "#4d0000", "#ffffff", "square", 24),
        ),
        strict=True,
    )
)
SYMBOLS[None] = Symbol("#ffffff", "#4d4d4d", "#333333", "circle", 18)
NO_DATA = Symbol("#e6e6e6", "#8c8c8c", "#666666", "circle", 16)

KIND_ZH = {
    "river": "河道站",
    "reservoir": "水库站",
    "tide": "潮位站",
    "rain": "雨量站",
    "weather": "气象站",
    "camera": "视频站",
}
KIND_CHAR = {"river": "河", "reservoir": "库", "tide": "潮", "rain": "雨", "weather": "风", "camera": "视"}
METRIC_ZH = {
    "water_level": ("水位", "m"),
    "rainfall": ("时段雨量", "mm"),
    "flow": ("流量", "m³/s"),
    "inflow": ("入库流量", "m³/s"),
    "outflow": ("出库流量", "m³/s"),
    "storage": ("蓄水量", "10⁶ m³"),
    "tide_level": ("潮位", "m"),
    "wind_speed": ("风速", "m/s"),
    "wind_dir": ("风向", "°"),
    "pressure": ("气压", "hPa"),
    "wave_height": ("浪高", "m"),
    "battery_v": ("电池电压", "V"),
}
# The two flood-season limits are worded by season on the map; the other thresholds as the domain names them.
SEASON_LIMIT_ZH = {"fsltdz_meiyu": "汛限水位（梅汛期）", "fsltdz_typhoon": "汛限水位（台汛期）"}
THRESHOLD_ZH = {t.name: SEASON_LIMIT_ZH.get(t.name, t.zh) for t in THRESHOLDS}


def esc(value: Any) -> str:
    """Text for HTML that folium may also put into a JavaScript template literal."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def time_label(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    zone = "北京时间" if local.utcoffset() == timedelta(hours=8) else f"UTC{local:%z}"
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（{zone}）"


def short_time(at: datetime, tz: tzinfo) -> str:
    return f"{at.astimezone(tz):%m-%d %H:%M}"


def symbol_svg(symbol: Symbol, text: str, *, level: str = "none", dashed: bool = False, code: str = "") -> str:
    """A marker: the level's shape with its numeral (or the station kind) inside, as inline SVG."""
    s = symbol.size
    c = s / 2
    common = f'fill="{symbol.fill}" stroke="{symbol.stroke}" stroke-width="1.5"' + (
        ' stroke-dasharray="3 2"' if dashed else ""
    )
    if symbol.shape == "square":
        shape = f'<rect x="1.5" y="1.5" width="{s - 3}" height="{s - 3}" {common}/>'
        baseline = c
    elif symbol.shape == "diamond":
        shape = f'<polygon points="{c},1 {s - 1},{c} {c},{s - 1} 1,{c}" {common}/>'
        baseline = c
    elif symbol.shape == "triangle":
        shape = f'<polygon points="{c},1.5 {s - 1.5},{s - 2} 1.5,{s - 2}" {common}/>'
        baseline = s * 0.64
    else:
        shape = f'<circle cx="{c}" cy="{c}" r="{c - 1.5}" {common}/>'
        baseline = c
    font = max(9, round(s * 0.46))
    data = f' data-code="{esc(code)}"' if code else ""
    return (
        f'<svg class="fc-sym" data-level="{level}"{data} xmlns="http://www.w3.org/2000/svg" width="{s}" '
        f'height="{s}" viewBox="0 0 {s} {s}">{shape}<text x="{c}" y="{baseline}" dy="0.36em" '
        f'text-anchor="middle" font-size="{font}" font-weight="700" fill="{symbol.ink}">{esc(text)}</text></svg>'
    )


def station_symbol(station: StationState) -> str:
    if station.level is not None:
        return symbol_svg(SYMBOLS[station.level], LEVEL_NUMERAL[station.level], level=station.level, code=station.code)
    if not station.latest:
        return symbol_svg(NO_DATA, KIND_CHAR.get(station.kind, "站"), level="nodata", dashed=True, code=station.code)
    return symbol_svg(SYMBOLS[None], KIND_CHAR.get(station.kind, "站"), code=station.code)


def level_badge(level: str) -> str:
    sym = SYMBOLS[level]
    return (
        f'<span class="fc-badge" style="background:{sym.fill};color:{sym.ink}">'
        f"{LEVEL_NUMERAL[level]} {LEVEL_ZH[level]}</span>"
    )


def station_popup(station: StationState, at: datetime, tz: tzinfo) -> str:
    rows = []
    for metric, (label, unit) in METRIC_ZH.items():
        reading = station.latest.get(metric)
        if reading is None:
            continue
        late = "（补报）" if reading.late else ""
        rows.append(
            f"<tr><th>{label}</th><td>{num(reading.value)} {unit}</td><td>{short_time(reading.ts, tz)}{late}</td></tr>"
        )
    if station.rain_24h is not None:
        until = f"至 {short_time(at, tz)}"
        rows.append(f"<tr><th>1小时雨量</th><td>{num(station.rain_1h, 1)} mm</td><td>{until}</td></tr>")
        rows.append(f"<tr><th>24小时雨量</th><td>{num(station.rain_24h, 1)} mm</td><td>{until}</td></tr>")
    values = (
        "<table class='fc-table'>" + "".join(rows) + "</table>"
        if rows
        else f"<p class='fc-muted'>截至 {short_time(at, tz)} 近7天无数据</p>"
    )
    limits = "".join(
        f"<tr><th>{THRESHOLD_ZH[k]}</th><td>{num(v)} m</td></tr>"
        for k, v in station.thresholds.items()
        if k in THRESHOLD_ZH
    )
    warnings = "".join(f"<li>{level_badge(level)} {esc(message)}</li>" for level, message in station.warnings)
    place = "，".join(esc(x) for x in (station.town, station.river) if x)
    return (
        f"<div class='fc-popup'><b>{esc(station.name)}</b> <span class='fc-muted'>{esc(station.code)}</span><br>"
        f"{KIND_ZH.get(station.kind, esc(station.kind))}{'，' + place if place else ''}"
        + (f"<ul class='fc-warn'>{warnings}</ul>" if warnings else "<div class='fc-muted'>无预警</div>")
        + f"<div class='fc-h'>最新数据（截至 {short_time(at, tz)}）</div>{values}"
        + (f"<div class='fc-h'>特征值</div><table class='fc-table'>{limits}</table>" if limits else "")
        + "</div>"
    )


class DivMarkers(JSCSSMixin, folium.MacroElement):
    """Many DivIcon markers from one JSON array (compact, and without folium's jQuery-based Popup).

    Each item: lat, lon, html (the icon), size [w, h], and optionally tip (tooltip HTML), popup (HTML),
    z (zIndexOffset), cls (extra icon class), interactive (default true), permanent (tooltip).
    Content must be escaped HTML already. The markers go onto the parent layer (a FeatureGroup or a
    MarkerCluster)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (items, layer) {
            items.forEach(function (it) {
                var w = it.size[0], h = it.size[1];
                var marker = L.marker([it.lat, it.lon], {
                    icon: L.divIcon({html: it.html, className: "fc-icon " + (it.cls || ""),
                                     iconSize: [w, h], iconAnchor: [w / 2, h / 2],
                                     popupAnchor: [0, -h / 2], tooltipAnchor: [w / 2, 0]}),
                    zIndexOffset: it.z || 0, interactive: it.interactive !== false, keyboard: false
                });
                if (it.tip) { marker.bindTooltip(it.tip, {direction: "right", sticky: false}); }
                if (it.popup) { marker.bindPopup(it.popup, {maxWidth: 340}); }
                layer.addLayer(marker);
            });
        })({{ this.items|tojson }}, {{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, items: list[dict[str, Any]]) -> None:
        base_init: Callable[[], None] = super().__init__  # unannotated in branca
        base_init()
        self._name = "DivMarkers"
        self.items = items


class Inline(Element):
    """Raw text in the page header (an inlined script or style sheet); rendered as is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Inline"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


SHELTER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">'
    '<polygon points="8,1 15,7 13,7 13,15 3,15 3,7 1,7" fill="#2e7d32" stroke="#ffffff" '
    'stroke-width="1"/></svg>'
)
TYPHOON_SVG = (
    '<svg class="fc-storm" xmlns="http://www.w3.org/2000/svg" width="30" height="30" '
    'viewBox="-15 -15 30 30">'
    '<path d="M0,-13 C9,-13 12,-6 11,-2 C8,-8 3,-8 0,-6 C7,-5 9,3 5,8 C3,13 -4,14 -9,12 '
    'C-1,12 2,7 1,3 C-8,6 -13,-1 -11,-6 C-10,-10 -6,-13 0,-13 Z" fill="#c2185b" stroke="#ffffff" '
    'stroke-width="1.2"/><circle r="3" fill="#ffffff"/></svg>'
)
