"""The situation map (形势图) as one self-contained HTML file: ``floodctl map export``.

``export_map(conn, out, at=…, drill_id=…)`` reads the situation as of a time T and writes a folium
(Leaflet) map that opens offline — mailed to a town, opened on a laptop in a shelter with no network:

- layers (with a layer control): county boundary and coastline, towns with their names, rivers,
  seawalls, reservoirs, shelters (clustered), stations, and the storm's track when the drill has one;
- stations are coloured by their warning level at T: the flood warnings active at T
  (``raised_at <= T`` and not cleared by T), the level each had at T (``level_history``), the highest
  per station. Colour is never the only cue: every level has its own shape and numeral (blue ● Ⅳ,
  yellow ▲ Ⅲ, orange ◆ Ⅱ, red ■ Ⅰ, as on the wall dashboard); a station without a warning shows its
  kind (河 库 潮 雨 风 视), hollow and dashed when it has no reading by T;
- a station's popup holds its latest value of each metric as of T (the newest reading at or before
  T), the rainfall of the hour and the day up to T, its thresholds and the warnings;
- towns under an area warning at T (field reports, …) are tinted with its colour and labelled with
  its numeral; the county-wide one (the typhoon signal) is in the title;
- the storm's fixes up to T (solid, dots coloured by intensity), its position at T (interpolated)
  and the fixes after T (dashed, "预报路径" — for a drill, fixes past its clock are its forecast), with
  its wind radii at T as translucent circles (7级 / 10级 / 12级风圈; the storm logic is
  ``dashboard.overlays``, shared with the wall);
- a title with T in the county's time zone and a legend, in zh-CN.

Offline: folium's page template loads Leaflet, jQuery, Bootstrap, awesome-markers and Font
Awesome from CDNs. Before rendering, every element's ``default_js`` / ``default_css`` is emptied and
the resources that are really needed — Leaflet and Leaflet.markercluster — are inlined from the
local copies in the ``xstatic-leaflet`` / ``xstatic-leaflet-markercluster`` packages (the CSS's
images as ``data:`` URIs). Nothing here needs the rest: markers are DivIcons of inline SVG, popups
are bound by a small element of our own (folium's ``Popup`` calls jQuery). There is no tile layer
unless ``tiles=URL`` is given (a county with its own tile server); without one the rendered file is
checked to reference nothing outside itself.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import folium
import psycopg
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from folium.template import Template
from xstatic.pkg import leaflet as xs_leaflet
from xstatic.pkg import leaflet_markercluster as xs_markercluster

from dashboard.overlays import STORM_FIXES, STORM_GRADES, STORM_WINDOW, Storm, StormFix, circle, storm_grade, storms_at
from floodctl.api.bounds import check_time
from floodctl.core.errors import BadRequest, FloodError, NotFound
from gis_data import loader

__all__ = [
    "STORM_GRADES", "ExportResult", "Situation", "StationState", "Storm", "StormFix", "build_map", "export_map",
    "external_references", "load_situation", "parse_at", "render_offline",
]

LEVELS = ("blue", "yellow", "orange", "red")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_NUMERAL = {"blue": "Ⅳ", "yellow": "Ⅲ", "orange": "Ⅱ", "red": "Ⅰ"}   # as the wall dashboard


@dataclass(frozen=True, slots=True)
class Symbol:
    fill: str
    stroke: str
    ink: str       # the text colour on the fill
    shape: str     # circle, triangle, diamond, square
    size: int      # px


SYMBOLS = {
    "blue": Symbol("#1f5fbf", "#0a2a5c", "#ffffff", "circle", 22),
    "yellow": Symbol("#f2c200", "#5c4a00", "#000000", "triangle", 26),
    "orange": Symbol("#f07800", "#5c2e00", "#000000", "diamond", 26),
    "red": Symbol("#d7191c", "#4d0000", "#ffffff", "square", 24),
    None: Symbol("#ffffff", "#4d4d4d", "#333333", "circle", 18),
}
NO_DATA = Symbol("#e6e6e6", "#8c8c8c", "#666666", "circle", 16)

KIND_ZH = {"river": "河道站", "reservoir": "水库站", "tide": "潮位站", "rain": "雨量站", "weather": "气象站",
           "camera": "视频站"}
KIND_CHAR = {"river": "河", "reservoir": "库", "tide": "潮", "rain": "雨", "weather": "风", "camera": "视"}
METRIC_ZH = {
    "water_level": ("水位", "m"), "rainfall": ("时段雨量", "mm"), "flow": ("流量", "m³/s"),
    "inflow": ("入库流量", "m³/s"), "outflow": ("出库流量", "m³/s"), "storage": ("蓄水量", "10⁶ m³"),
    "tide_level": ("潮位", "m"), "wind_speed": ("风速", "m/s"), "wind_dir": ("风向", "°"),
    "pressure": ("气压", "hPa"), "wave_height": ("浪高", "m"), "battery_v": ("电池电压", "V"),
}
THRESHOLD_ZH = {
    "wrz": "警戒水位", "grz": "保证水位", "fsltdz_meiyu": "汛限水位（梅汛期）", "fsltdz_typhoon": "汛限水位（台汛期）",
    "dsflz": "设计洪水位", "ckflz": "校核洪水位", "dam_crest": "坝顶高程", "tide_blue": "蓝色警戒潮位",
    "tide_yellow": "黄色警戒潮位", "tide_orange": "橙色警戒潮位", "tide_red": "红色警戒潮位",
    "seawall_crest": "海塘堤顶高程",
}
# The layers drawn from the `layers` table / towns table, with their zh-CN names in the layer control.
LAYER_TITLES = {"county": "县界与海岸线", "towns": "乡镇（街道）", "rivers": "河流", "seawalls": "海塘",
                "reservoirs": "水库", "shelters": "避灾安置点"}
STATIONS_TITLE = "测站（按预警等级）"
STORM_TITLE = "台风路径"
STORM_IN_VIEW_KM = 500     # a storm this close at T is framed with the county
# Wind radii circles (force, label, colour), drawn translucent around the storm's position at T.
RADIUS_STYLE = ((7, "7级风圈", "#e6b800"), (10, "10级风圈", "#f07800"), (12, "12级风圈", "#d7191c"))
LOOKBACK = timedelta(days=7)        # an observation older than this before T is not "latest as of T"
SEA = "#dcebf5"
LAND = "#f7f4ec"

# --- reading the situation --------------------------------------------------------------------

STATIONS = """
SELECT s.id, s.code, s.name, s.kind, s.town_code, t.name, s.lon, s.lat, s.river,
       json_strip_nulls(json_build_object({thresholds}))
FROM stations s LEFT JOIN towns t ON t.code = s.town_code
WHERE s.active ORDER BY s.code
""".format(thresholds=", ".join(f"'{c}', s.{c}" for c in THRESHOLD_ZH))
# The newest reading at or before T of every (station, metric) the drill has: latest_values when it is
# not after T (the common case: T is now), else one backwards index probe into observations.
LATEST_AS_OF = """
SELECT lv.station_id, m.name, o.ts, o.value, o.late
FROM latest_values lv
JOIN metrics m ON m.id = lv.metric_id
CROSS JOIN LATERAL (
    SELECT lv.ts, lv.value, (lv.flags & 1) = 1 AS late WHERE lv.ts <= %(at)s
    UNION ALL
    (SELECT ob.ts, ob.value, (ob.flags & 1) = 1 FROM observations ob
     WHERE lv.ts > %(at)s AND ob.station_id = lv.station_id AND ob.metric_id = lv.metric_id
       AND ob.drill_id = lv.drill_id AND ob.ts <= %(at)s AND ob.ts > %(since)s
     ORDER BY ob.ts DESC LIMIT 1)
) o
WHERE lv.drill_id = %(drill)s
"""
RAIN_SUMS = """
SELECT station_id, sum(value) FILTER (WHERE ts > %(at)s - interval '1 hour'), sum(value)
FROM observations
WHERE metric_id = (SELECT id FROM metrics WHERE name = 'rainfall') AND drill_id = %(drill)s
  AND ts > %(at)s - interval '24 hours' AND ts <= %(at)s
GROUP BY station_id
"""
WARNINGS_AS_OF = """
SELECT subject, subject_kind, town_code, category, hazard, level, level_history, message_zh
FROM warnings
WHERE drill_id = %(drill)s AND raised_at <= %(at)s AND (cleared_at IS NULL OR cleared_at > %(at)s)
ORDER BY raised_at
"""
DRILL = "SELECT id, name, scenario FROM drills WHERE id = %s"
DRILL_CLOCK = "SELECT max(ts) FROM latest_values WHERE drill_id = %s"


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    ts: datetime
    late: bool


@dataclass(slots=True)
class StationState:
    code: str
    name: str
    kind: str
    town: str | None
    lon: float
    lat: float
    river: str | None
    thresholds: dict[str, float]
    latest: dict[str, Reading] = field(default_factory=dict)
    rain_1h: float | None = None
    rain_24h: float | None = None
    level: str | None = None                               # highest flood warning level at T
    warnings: list[tuple[str, str]] = field(default_factory=list)   # (level, message), flood and device
    device_warning: bool = False


@dataclass(slots=True)
class Situation:
    at: datetime
    drill_id: int
    drill_name: str | None
    county_name: str
    layers: dict[str, dict[str, Any]]
    stations: list[StationState]
    area_levels: dict[str, str]                 # town code or "county" -> highest level at T
    area_messages: dict[str, list[str]]
    storms: list[Storm]


def parse_at(text: str, tz: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is in the county's time zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"--at: {text!r} is not an ISO 8601 time, e.g. 2021-07-25T12:00+08:00") from None
    return check_time(value.replace(tzinfo=tz) if value.tzinfo is None else value, "--at")


def _level_at(level: str, history: Any, at: datetime) -> str:
    """The level a warning had at T: the last change at or before T (its current level without a history)."""
    stamp = at.timestamp()
    current = None
    for entry in history or []:
        if isinstance(entry, list | tuple) and len(entry) == 2 and float(entry[0]) <= stamp:
            current = str(entry[1])
    return current if current in LEVEL_RANK else level


def _higher(a: str | None, b: str) -> str:
    return b if a is None or LEVEL_RANK[b] > LEVEL_RANK[a] else a


def _default_at(conn: psycopg.Connection, drill_id: int) -> datetime:
    """Now for live data; a drill's clock (its newest reading) for a drill."""
    if drill_id:
        row = conn.execute(DRILL_CLOCK, (drill_id,)).fetchone()
        if row and row[0] is not None:
            return row[0]
    return datetime.now(UTC)


def _county_name(county: dict[str, Any] | None) -> str:
    for feature in (county or {}).get("features", []):
        name = (feature.get("properties") or {}).get("name")
        if name:
            return str(name)
    return "全县"


def load_situation(conn: psycopg.Connection, *, at: datetime | None = None, drill_id: int = 0) -> Situation:
    """Everything the map shows, as of ``at`` (default: now, or the drill's clock)."""
    drill_name = None
    if drill_id:
        row = conn.execute(DRILL, (drill_id,)).fetchone()
        if row is None:
            raise NotFound(f"no drill {drill_id} in the database")
        drill_name = str(row[2] or row[1])
    when = check_time(at or _default_at(conn, drill_id), "at (the drill's clock)" if at is None else "at")
    params = {"at": when, "drill": drill_id, "since": when - LOOKBACK, "window": STORM_WINDOW}

    layers: dict[str, dict[str, Any]] = {}
    for name in LAYER_TITLES:
        text = loader.layer_json(conn, name)
        if text is not None:
            doc = json.loads(text)
            if doc.get("features"):
                layers[name] = doc

    stations: dict[int, StationState] = {}
    by_code: dict[str, StationState] = {}
    for sid, code, name, kind, _town_code, town, lon, lat, river, thresholds in conn.execute(STATIONS):
        state = StationState(code, name, kind, town, lon, lat, river, dict(thresholds or {}))
        stations[sid] = by_code[code] = state
    for sid, metric, ts, value, late in conn.execute(LATEST_AS_OF, params):
        if sid in stations:
            stations[sid].latest[metric] = Reading(value, ts, late)
    for sid, rain_1h, rain_24h in conn.execute(RAIN_SUMS, params):
        if sid in stations:
            stations[sid].rain_1h, stations[sid].rain_24h = rain_1h or 0.0, rain_24h

    area_levels: dict[str, str] = {}
    area_messages: dict[str, list[str]] = {}
    for subject, subject_kind, _town, category, _hazard, level, history, message in conn.execute(
            WARNINGS_AS_OF, params):
        level_then = _level_at(level, history, when)
        if subject_kind == "station":
            state = by_code.get(subject)
            if state is None:
                continue
            state.warnings.append((level_then, message))
            if category == "flood":
                state.level = _higher(state.level, level_then)
            else:
                state.device_warning = True
        elif category == "flood":
            area_levels[subject] = _higher(area_levels.get(subject), level_then)
            area_messages.setdefault(subject, []).append(message)

    storms = storms_at(conn.execute(STORM_FIXES, params).fetchall(), when)
    return Situation(when, drill_id, drill_name, _county_name(layers.get("county")), layers,
                     list(stations.values()), area_levels, area_messages, storms)


# --- drawing ------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    """Text for HTML that folium may also put into a JavaScript template literal."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _time_label(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    zone = "北京时间" if local.utcoffset() == timedelta(hours=8) else f"UTC{local:%z}"
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（{zone}）"


def _short_time(at: datetime, tz: tzinfo) -> str:
    return f"{at.astimezone(tz):%m-%d %H:%M}"


def symbol_svg(symbol: Symbol, text: str, *, level: str = "none", dashed: bool = False, code: str = "") -> str:
    """A marker: the level's shape with its numeral (or the station kind) inside, as inline SVG."""
    s = symbol.size
    c = s / 2
    common = f'fill="{symbol.fill}" stroke="{symbol.stroke}" stroke-width="1.5"' + \
        (' stroke-dasharray="3 2"' if dashed else "")
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
    data = f' data-code="{_e(code)}"' if code else ""
    return (f'<svg class="fc-sym" data-level="{level}"{data} xmlns="http://www.w3.org/2000/svg" width="{s}" '
            f'height="{s}" viewBox="0 0 {s} {s}">{shape}<text x="{c}" y="{baseline}" dy="0.36em" '
            f'text-anchor="middle" font-size="{font}" font-weight="700" fill="{symbol.ink}">{_e(text)}</text></svg>')


def station_symbol(station: StationState) -> str:
    if station.level is not None:
        return symbol_svg(SYMBOLS[station.level], LEVEL_NUMERAL[station.level], level=station.level,
                          code=station.code)
    if not station.latest:
        return symbol_svg(NO_DATA, KIND_CHAR.get(station.kind, "站"), level="nodata", dashed=True, code=station.code)
    return symbol_svg(SYMBOLS[None], KIND_CHAR.get(station.kind, "站"), code=station.code)


def _level_badge(level: str) -> str:
    sym = SYMBOLS[level]
    return (f'<span class="fc-badge" style="background:{sym.fill};color:{sym.ink}">'
            f'{LEVEL_NUMERAL[level]} {LEVEL_ZH[level]}</span>')


def station_popup(station: StationState, at: datetime, tz: tzinfo) -> str:
    rows = []
    for metric, (label, unit) in METRIC_ZH.items():
        reading = station.latest.get(metric)
        if reading is None:
            continue
        late = "（补报）" if reading.late else ""
        rows.append(f"<tr><th>{label}</th><td>{_num(reading.value)} {unit}</td>"
                    f"<td>{_short_time(reading.ts, tz)}{late}</td></tr>")
    if station.rain_24h is not None:
        until = f"至 {_short_time(at, tz)}"
        rows.append(f"<tr><th>1小时雨量</th><td>{_num(station.rain_1h, 1)} mm</td><td>{until}</td></tr>")
        rows.append(f"<tr><th>24小时雨量</th><td>{_num(station.rain_24h, 1)} mm</td><td>{until}</td></tr>")
    values = "<table class='fc-table'>" + "".join(rows) + "</table>" if rows else \
        f"<p class='fc-muted'>截至 {_short_time(at, tz)} 近7天无数据</p>"
    limits = "".join(f"<tr><th>{THRESHOLD_ZH[k]}</th><td>{_num(v)} m</td></tr>"
                     for k, v in station.thresholds.items() if k in THRESHOLD_ZH)
    warnings = "".join(f"<li>{_level_badge(level)} {_e(message)}</li>" for level, message in station.warnings)
    place = "，".join(_e(x) for x in (station.town, station.river) if x)
    return (f"<div class='fc-popup'><b>{_e(station.name)}</b> <span class='fc-muted'>{_e(station.code)}</span><br>"
            f"{KIND_ZH.get(station.kind, _e(station.kind))}{'，' + place if place else ''}"
            + (f"<ul class='fc-warn'>{warnings}</ul>" if warnings else "<div class='fc-muted'>无预警</div>")
            + f"<div class='fc-h'>最新数据（截至 {_short_time(at, tz)}）</div>{values}"
            + (f"<div class='fc-h'>特征值</div><table class='fc-table'>{limits}</table>" if limits else "")
            + "</div>")


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
        super().__init__()
        self._name = "DivMarkers"
        self.items = items


class _Inline(Element):
    """Raw text in the page header (an inlined script or style sheet); rendered as is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Inline"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


PAGE_CSS = f"""
.leaflet-container {{ background: {SEA}; font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
  "Microsoft YaHei", sans-serif; }}
.fc-icon {{ background: none; border: none; }}
.fc-icon svg {{ display: block; overflow: visible; }}
.fc-town {{ background: none; border: none; white-space: nowrap; font-size: 12px; color: #333;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; text-align: center; line-height: 18px; }}
.fc-town b {{ color: #000; }}
.fc-box {{ position: fixed; z-index: 1000; background: rgba(255,255,255,.93); border: 1px solid #999;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); padding: 6px 10px; font-size: 13px; color: #222;
  font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; }}
#fc-title {{ top: 10px; left: 50%; transform: translateX(-50%); text-align: center; max-width: 60%; }}
#fc-title h1 {{ font-size: 18px; margin: 0 0 2px; }}
#fc-title .fc-drill {{ color: #b00000; font-weight: 700; }}
#fc-legend {{ bottom: 24px; right: 10px; line-height: 22px; }}
#fc-legend div {{ display: flex; align-items: center; gap: 6px; }}
#fc-legend .fc-sw {{ display: inline-flex; width: 28px; justify-content: center; }}
.fc-popup {{ font-size: 13px; min-width: 220px; }}
.fc-table {{ border-collapse: collapse; margin-top: 2px; }}
.fc-table th {{ text-align: left; font-weight: normal; color: #555; padding: 1px 8px 1px 0; white-space: nowrap; }}
.fc-table td {{ padding: 1px 8px 1px 0; white-space: nowrap; }}
.fc-muted {{ color: #777; }}
.fc-h {{ margin-top: 6px; font-weight: 700; }}
.fc-warn {{ margin: 4px 0 0; padding-left: 0; list-style: none; }}
.fc-badge {{ display: inline-block; padding: 0 4px; border-radius: 3px; font-weight: 700; font-size: 12px; }}
.fc-radius {{ background: none; border: none; white-space: nowrap; font-size: 12px; font-weight: 700;
  text-align: center; line-height: 18px; text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; }}
.fc-cluster {{ background: #2e7d32; color: #fff; border: 2px solid #fff; border-radius: 50%; text-align: center;
  font-weight: 700; line-height: 26px; box-shadow: 0 0 2px #333; }}
"""


def _features(doc: dict[str, Any], props: Any) -> dict[str, Any]:
    """A lean copy of a layer: geometry plus the few properties the map shows (tooltips pre-escaped)."""
    out = []
    for feature in doc.get("features", []):
        geometry = feature.get("geometry")
        if not geometry:
            continue
        p = feature.get("properties") or {}
        out.append({"type": "Feature", "geometry": geometry, "properties": props(p)})
    return {"type": "FeatureCollection", "features": out}


def _bounds(situation: Situation) -> list[list[float]] | None:
    lons: list[float] = []
    lats: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], int | float):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
        else:
            for c in coords or []:
                walk(c)

    for name in ("county", "towns"):
        for feature in situation.layers.get(name, {}).get("features", []):
            walk((feature.get("geometry") or {}).get("coordinates"))
        if lons:
            break
    if not lons:
        for s in situation.stations:
            lons.append(s.lon)
            lats.append(s.lat)
    if not lons:
        return None
    # A storm near the county is part of the picture: its position at T joins the view.
    centre_lat, centre_lon = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
    for storm in situation.storms:
        p = storm.position
        if p is not None and _km(centre_lat, centre_lon, p.lat, p.lon) <= STORM_IN_VIEW_KM:
            lons.append(p.lon)
            lats.append(p.lat)
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _town_label_point(feature: dict[str, Any]) -> tuple[float, float] | None:
    p = feature.get("properties") or {}
    if isinstance(p.get("seat_lon"), int | float) and isinstance(p.get("seat_lat"), int | float):
        return float(p["seat_lat"]), float(p["seat_lon"])
    from shapely.geometry import shape

    try:
        point = shape(feature["geometry"]).representative_point()
    except Exception:  # noqa: BLE001 - an odd geometry only loses its label
        return None
    return point.y, point.x


def _fix_tip(storm: str, fix: StormFix, tz: tzinfo, what: str) -> str:
    grade, _ = storm_grade(fix.wind_ms)
    pressure = f"，{_num(fix.pressure_hpa, 0)} hPa" if fix.pressure_hpa is not None else ""
    return (f"<b>{_e(storm)}</b> {what}<br>{_short_time(fix.at, tz)}　{grade}<br>"
            f"{fix.lat:.1f}°N {fix.lon:.1f}°E，最大风速 {_num(fix.wind_ms, 0)} m/s{pressure}")


def _add_layers(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    if "county" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["county"])
        folium.GeoJson(
            _features(layers["county"], lambda p: {"kind": p.get("kind")}),
            style_function=lambda f: (
                {"color": "#1b4f72", "weight": 1.5, "fill": False} if f["properties"].get("kind") == "coastline"
                else {"color": "#222222", "weight": 2.5, "fillColor": LAND, "fillOpacity": 1.0}),
            interactive=False,
        ).add_to(group)
        group.add_to(m)
    if "towns" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["towns"])

        def town_props(p: dict[str, Any]) -> dict[str, Any]:
            level = situation.area_levels.get(str(p.get("code")))
            tip = f"<b>{_e(p.get('name', ''))}</b>"
            if level:
                tip += "<br>" + "<br>".join(_e(x) for x in situation.area_messages.get(str(p.get("code")), []))
            return {"code": p.get("code"), "name": p.get("name"), "level": level, "tip": tip}

        def town_style(f: dict[str, Any]) -> dict[str, Any]:
            level = f["properties"].get("level")
            if level:
                return {"color": SYMBOLS[level].stroke, "weight": 2, "fillColor": SYMBOLS[level].fill,
                        "fillOpacity": 0.28, "dashArray": "6 3"}
            return {"color": "#8a8a8a", "weight": 1, "fillColor": "#ffffff", "fillOpacity": 0.0}

        towns = _features(layers["towns"], town_props)
        folium.GeoJson(towns, style_function=town_style,
                       highlight_function=lambda f: {"weight": 3, "color": "#444444"},
                       tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True)).add_to(group)
        labels = []
        for feature in layers["towns"]["features"]:
            point = _town_label_point(feature)
            if point is None:
                continue
            p = feature.get("properties") or {}
            level = situation.area_levels.get(str(p.get("code")))
            mark = f" {LEVEL_NUMERAL[level]}" if level else ""
            labels.append({"lat": point[0], "lon": point[1], "size": [96, 18], "interactive": False,
                           "cls": "fc-town", "html": f"<b>{_e(p.get('name', ''))}</b>{mark}"})
        DivMarkers(labels).add_to(group)
        group.add_to(m)
    if "rivers" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["rivers"])
        folium.GeoJson(
            _features(layers["rivers"], lambda p: {"tip": f"<b>{_e(p.get('name', ''))}</b>"
                                                   + (f"<br>长 {_num(p.get('length_km'), 1)} km"
                                                      if p.get("length_km") is not None else "")}),
            style_function=lambda f: {"color": "#2b7bd0", "weight": 2.2, "opacity": 0.9},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(group)
        group.add_to(m)
    if "reservoirs" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["reservoirs"])

        def reservoir_props(p: dict[str, Any]) -> dict[str, Any]:
            tip = f"<b>{_e(p.get('name', ''))}</b>"
            if isinstance(p.get("capacity_1e6m3"), int | float):
                tip += f"<br>总库容 {_num(p['capacity_1e6m3'] * 100, 0)} 万m³"
            return {"tip": tip}

        folium.GeoJson(_features(layers["reservoirs"], reservoir_props),
                       style_function=lambda f: {"color": "#1a6fb5", "weight": 1, "fillColor": "#7fb8e6",
                                                 "fillOpacity": 0.85},
                       tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True)).add_to(group)
        group.add_to(m)
    if "seawalls" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["seawalls"])

        def seawall_props(p: dict[str, Any]) -> dict[str, Any]:
            tip = f"<b>{_e(p.get('name', ''))}</b>"
            if p.get("crest_m") is not None:
                tip += f"<br>堤顶高程 {_num(p.get('crest_m'))} m"
            if p.get("design_standard"):
                tip += f"，{_e(p['design_standard'])}"
            return {"tip": tip}

        folium.GeoJson(_features(layers["seawalls"], seawall_props),
                       style_function=lambda f: {"color": "#7a4b1e", "weight": 4, "opacity": 0.9},
                       tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True)).add_to(group)
        group.add_to(m)
    if "shelters" in layers:
        group = folium.FeatureGroup(name=LAYER_TITLES["shelters"], show=True)
        cluster = MarkerCluster(control=False, options={
            "showCoverageOnHover": False, "maxClusterRadius": 40, "disableClusteringAtZoom": 13,
        }, icon_create_function="""function (cluster) {
            return L.divIcon({html: String(cluster.getChildCount()), className: "fc-cluster",
                              iconSize: [30, 30]});
        }""")
        items = []
        for feature in layers["shelters"]["features"]:
            geometry = feature.get("geometry") or {}
            if geometry.get("type") != "Point":
                continue
            lon, lat = geometry["coordinates"][:2]
            p = feature.get("properties") or {}
            capacity = f"<br>可容纳 {p['capacity']} 人" if p.get("capacity") is not None else ""
            items.append({"lat": lat, "lon": lon, "size": [16, 16], "html": SHELTER_SVG,
                          "tip": f"<b>{_e(p.get('name', ''))}</b>{capacity}"})
        DivMarkers(items).add_to(cluster)
        cluster.add_to(group)
        group.add_to(m)


SHELTER_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">'
               '<polygon points="8,1 15,7 13,7 13,15 3,15 3,7 1,7" fill="#2e7d32" stroke="#ffffff" '
               'stroke-width="1"/></svg>')


def _add_stations(m: folium.Map, situation: Situation, tz: tzinfo) -> None:
    group = folium.FeatureGroup(name=STATIONS_TITLE)
    items = []
    for s in situation.stations:
        symbol = SYMBOLS[s.level] if s.level else (SYMBOLS[None] if s.latest else NO_DATA)
        status = f"{LEVEL_NUMERAL[s.level]} {LEVEL_ZH[s.level]}预警" if s.level else \
            ("无预警" if s.latest else "无数据")
        items.append({"lat": s.lat, "lon": s.lon, "size": [symbol.size, symbol.size], "html": station_symbol(s),
                      "z": 1000 * LEVEL_RANK.get(s.level or "", 0),
                      "tip": f"<b>{_e(s.name)}</b> {status}", "popup": station_popup(s, situation.at, tz)})
    DivMarkers(items).add_to(group)
    group.add_to(m)


def _add_storms(m: folium.Map, situation: Situation, tz: tzinfo) -> None:
    if not situation.storms:
        return
    group = folium.FeatureGroup(name=STORM_TITLE)
    for storm in situation.storms:
        _add_radii(group, storm)
        past = [[f.lat, f.lon] for f in storm.past]
        if storm.position is not None and (not storm.past or storm.position.at != storm.past[-1].at):
            past.append([storm.position.lat, storm.position.lon])
        if len(past) > 1:
            folium.PolyLine(past, color="#6a1b9a", weight=3, opacity=0.9).add_to(group)
        if storm.forecast:
            start = storm.position or (storm.past[-1] if storm.past else None)
            ahead = ([[start.lat, start.lon]] if start else []) + [[f.lat, f.lon] for f in storm.forecast]
            if len(ahead) > 1:
                folium.PolyLine(ahead, color="#6a1b9a", weight=2, opacity=0.8, dash_array="6 6").add_to(group)
        for fix in storm.past:
            _, colour = storm_grade(fix.wind_ms)
            folium.CircleMarker([fix.lat, fix.lon], radius=4, color="#333333", weight=1, fill=True,
                                fill_color=colour, fill_opacity=1.0,
                                tooltip=folium.Tooltip(_fix_tip(storm.name, fix, tz, "实况"))).add_to(group)
        for fix in storm.forecast:
            _, colour = storm_grade(fix.wind_ms)
            folium.CircleMarker([fix.lat, fix.lon], radius=3, color=colour, weight=1.5, fill=True,
                                fill_color="#ffffff", fill_opacity=1.0,
                                tooltip=folium.Tooltip(_fix_tip(storm.name, fix, tz, "预报"))).add_to(group)
        if storm.position is not None:
            DivMarkers([{"lat": storm.position.lat, "lon": storm.position.lon, "size": [30, 30], "z": 5000,
                         "html": TYPHOON_SVG,
                         "tip": _fix_tip(storm.name, storm.position, tz, "当前位置")}]).add_to(group)
    group.add_to(m)


def _add_radii(group: folium.FeatureGroup, storm: Storm) -> None:
    """The wind radii known at the storm's position: translucent circles, widest first, each labelled on its
    northern edge (7级风圈 / 10级风圈 / 12级风圈)."""
    position = storm.position
    if position is None:
        return
    labels = []
    for force, label, colour in RADIUS_STYLE:
        radius = position.radius_km(force)
        if radius is None or radius <= 0:
            continue
        ring = [[lat, lon] for lon, lat in circle(position.lat, position.lon, radius)]
        tip = f"<b>{_e(storm.name)}</b> {label}<br>半径 {_num(radius, 0)} km"
        folium.Polygon(ring, color=colour, weight=2, opacity=0.9, dash_array="8 6", fill=True, fill_color=colour,
                       fill_opacity=0.12, tooltip=folium.Tooltip(tip)).add_to(group)
        north = max(ring, key=lambda point: point[0])
        labels.append({"lat": north[0], "lon": north[1], "size": [80, 18], "interactive": False, "cls": "fc-radius",
                       "html": f"<span style='color:{colour}'>{label}</span>"})
    if labels:
        DivMarkers(labels).add_to(group)


TYPHOON_SVG = ('<svg class="fc-storm" xmlns="http://www.w3.org/2000/svg" width="30" height="30" '
               'viewBox="-15 -15 30 30">'
               '<path d="M0,-13 C9,-13 12,-6 11,-2 C8,-8 3,-8 0,-6 C7,-5 9,3 5,8 C3,13 -4,14 -9,12 '
               'C-1,12 2,7 1,3 C-8,6 -13,-1 -11,-6 C-10,-10 -6,-13 0,-13 Z" fill="#c2185b" stroke="#ffffff" '
               'stroke-width="1.2"/><circle r="3" fill="#ffffff"/></svg>')


def _title_html(situation: Situation, tz: tzinfo) -> str:
    counts = {level: 0 for level in LEVELS}
    for s in situation.stations:
        if s.level:
            counts[s.level] += 1
    warned = sum(counts.values())
    parts = [f"{LEVEL_NUMERAL[lv]}{LEVEL_ZH[lv][0]} {counts[lv]}" for lv in reversed(LEVELS) if counts[lv]]
    summary = f"预警测站 {warned} 个（{'，'.join(parts)}）" if warned else "无测站预警"
    county = situation.area_levels.get("county")
    county_line = ""
    if county:
        messages = "；".join(_e(x) for x in situation.area_messages.get("county", []))
        county_line = f"<div>{_level_badge(county)} 全县：{messages}</div>"
    drill = (f"<div class='fc-drill'>【演练】#{situation.drill_id} {_e(situation.drill_name or '')} — "
             f"演练数据，非真实汛情</div>") if situation.drill_id else ""
    storms = "".join(
        f"<div>{_e(s.name)}：{storm_grade(s.position.wind_ms)[0]}，{s.position.lat:.1f}°N {s.position.lon:.1f}°E</div>"
        for s in situation.storms if s.position is not None)
    return (f"<div id='fc-title' class='fc-box'><h1>{_e(situation.county_name)}防汛防台形势图</h1>"
            f"<div>{_time_label(situation.at, tz)}</div>{drill}{county_line}<div>{summary}</div>{storms}</div>")


def _legend_html(situation: Situation) -> str:
    rows = [f"<div><span class='fc-sw'>{symbol_svg(SYMBOLS[lv], LEVEL_NUMERAL[lv], level=lv)}</span>"
            f"{LEVEL_ZH[lv]}预警（{LEVEL_NUMERAL[lv]}）</div>" for lv in reversed(LEVELS)]
    rows.append(f"<div><span class='fc-sw'>{symbol_svg(SYMBOLS[None], '河')}</span>无预警（字为站类）</div>")
    rows.append(f"<div><span class='fc-sw'>{symbol_svg(NO_DATA, '雨', dashed=True)}</span>无数据</div>")
    rows.append("<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
                "stroke='#2b7bd0' stroke-width='2.2'/></svg></span>河流</div>")
    rows.append("<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
                "stroke='#7a4b1e' stroke-width='4'/></svg></span>海塘</div>")
    rows.append("<div><span class='fc-sw'><svg width='20' height='14'><rect x='1' y='1' width='18' height='12' "
                "fill='#7fb8e6' stroke='#1a6fb5'/></svg></span>水库</div>")
    rows.append(f"<div><span class='fc-sw'>{SHELTER_SVG}</span>避灾安置点</div>")
    if situation.storms:
        rows.append("<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
                    "stroke='#6a1b9a' stroke-width='3'/></svg></span>台风实况路径</div>")
        rows.append("<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
                    "stroke='#6a1b9a' stroke-width='2' stroke-dasharray='6 6'/></svg></span>预报路径</div>")
        known = {force for s in situation.storms if s.position for force, _, _ in RADIUS_STYLE
                 if s.position.radius_km(force)}
        rows += [f"<div><span class='fc-sw'><svg width='20' height='14'><rect x='1' y='1' width='18' height='12' "
                 f"fill='{colour}' fill-opacity='0.25' stroke='{colour}' stroke-dasharray='4 2'/></svg></span>"
                 f"{label}</div>" for force, label, colour in RADIUS_STYLE if force in known]
    return "<div id='fc-legend' class='fc-box'><b>图例</b>" + "".join(rows) + "</div>"


def build_map(situation: Situation, *, tz: tzinfo, tiles: str | None = None) -> folium.Map:
    """The folium map of a situation (render it with :func:`render_offline`)."""
    bounds = _bounds(situation)
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [0.0, 0.0]
    m = folium.Map(location=centre, zoom_start=10, tiles=None, control_scale=True, zoom_snap=0.25)
    m.options.update(min_zoom=6, max_zoom=18)     # no tile layer to tell Leaflet (and the clusters) the range
    if tiles:
        folium.TileLayer(tiles=tiles, attr="县地图服务", name="底图", overlay=False, control=False).add_to(m)
    if bounds:
        m.fit_bounds(bounds, padding_top_left=(20, 90), padding_bottom_right=(240, 40))   # title, legend
    _add_layers(m, situation)
    _add_stations(m, situation, tz)
    _add_storms(m, situation, tz)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    root = m.get_root()
    assert isinstance(root, Figure)
    root.title = f"{situation.county_name}防汛防台形势图 {_time_label(situation.at, tz)}"
    root.header.add_child(_Inline(f"<style>{PAGE_CSS}</style>"), name="floodctl_css")
    root.html.add_child(_Inline(_title_html(situation, tz) + _legend_html(situation)), name="floodctl_boxes")
    return m


# --- offline rendering --------------------------------------------------------------------------

LEAFLET_DIR = Path(xs_leaflet.BASE_DIR)
MARKERCLUSTER_DIR = Path(xs_markercluster.BASE_DIR)
# folium's resource names -> the local copy inlined instead of the CDN link.
LOCAL_JS = {
    "leaflet": LEAFLET_DIR / "leaflet.js",
    "markerclusterjs": MARKERCLUSTER_DIR / "leaflet.markercluster.js",
}
LOCAL_CSS = {
    "leaflet_css": LEAFLET_DIR / "leaflet.css",
    "markerclustercss": MARKERCLUSTER_DIR / "MarkerCluster.css",
    "markerclusterdefaultcss": MARKERCLUSTER_DIR / "MarkerCluster.Default.css",
}
# folium's page defaults that nothing here uses (DivIcons and our own popups instead).
NOT_NEEDED = frozenset({
    "jquery", "bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css", "awesome_markers_font_css",
    "awesome_markers_css", "awesome_rotate_css",
})
# Leaflet's attribution prefix links to its web site; offline the link is dead, so it says the name only.
LEAFLET_PREFIX = '\'<a href="https://leafletjs.com" title="A JavaScript library for interactive maps">\''
LEAFLET_PREFIX_OFFLINE = '\'<a title="Leaflet: a JavaScript library for interactive maps (leafletjs.com)">\''
EXTERNAL = re.compile(r"""(?:\b(?:src|href|srcset|action|poster)\s*=\s*\\?["']?|url\(\s*\\?["']?|@import\s+\\?["']?)"""
                      r"""\s*(?:https?:|wss?:|ftp:)?//[^\s"')<>]*""", re.IGNORECASE)


def _elements(root: Element) -> Iterator[Element]:
    stack = [root]
    while stack:
        element = stack.pop()
        yield element
        stack.extend(reversed(list(element._children.values())))


def _script(text: str) -> str:
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


def _style(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def inline_image(match: re.Match[str]) -> str:
        image = path.parent / match.group(1)
        if not image.is_file():
            return match.group(0)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\(\s*['\"]?(images/[\w.-]+\.png)['\"]?\s*\)", inline_image, css)
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


def external_references(page: str) -> list[str]:
    """``src=`` / ``href=`` / ``url(`` / ``@import`` references to another host in a page."""
    return [m.group(0) for m in EXTERNAL.finditer(page)]


def render_offline(m: folium.Map, *, allow_external: bool = False) -> str:
    """The whole page as one string, Leaflet and its plugins inlined (see the module docstring)."""
    root = m.get_root()
    assert isinstance(root, Figure)
    js: list[str] = []
    css: list[str] = []
    for element in _elements(root):
        if not isinstance(element, JSCSSMixin):
            continue
        for names, resources, local in ((js, element.default_js, LOCAL_JS), (css, element.default_css, LOCAL_CSS)):
            for name, url in resources:
                if name in local:
                    if name not in names:
                        names.append(name)
                elif name not in NOT_NEEDED:
                    raise FloodError(f"situation map: no local copy of {name} ({url})")
        element.default_js = []
        element.default_css = []
    js.sort(key=lambda name: name != "leaflet")          # Leaflet before its plugins
    css.sort(key=lambda name: name != "leaflet_css")
    inlined = [_style(LOCAL_CSS[name]) for name in css]
    for name in js:
        text = LOCAL_JS[name].read_text(encoding="utf-8")
        inlined.append(_script(text.replace(LEAFLET_PREFIX, LEAFLET_PREFIX_OFFLINE) if name == "leaflet" else text))
    for index, text in enumerate(inlined, start=1):        # right after the charset, before any use
        root.header.add_child(_Inline(text), name=f"inline_{index}", index=index)
    page = root.render()
    page = page.replace("<html>", '<html lang="zh-CN">', 1)
    if not allow_external:
        found = external_references(page)
        if found:
            raise FloodError(f"situation map: the page still references {found[0]!r}")
    return page


# --- export -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    size_bytes: int
    at: datetime
    stations: int
    levels: dict[str, int]       # stations per warning level at T
    storm_fixes: int             # fixes drawn up to T
    situation: Situation


def write_atomically(path: Path, text: str) -> int:
    """Write the file whole or not at all (a temporary file beside it, then a rename)."""
    data = text.encode("utf-8")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise FloodError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FloodError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(data)


def export_map(conn: psycopg.Connection, out: Path, *, at: datetime | None = None, drill_id: int = 0,
               tz: tzinfo = UTC, tiles: str | None = None) -> ExportResult:
    """Read the situation as of ``at`` and write it to ``out`` as one self-contained HTML file."""
    if tiles is not None and not all(part in tiles for part in ("{z}", "{x}", "{y}")):
        raise BadRequest(f"--tiles: {tiles!r} is not a tile URL template with {{z}}, {{x}} and {{y}}")
    if out.is_dir():
        raise FloodError(f"cannot write {out}: it is a directory")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise FloodError(f"cannot write {out}: no directory {out.parent}")
    situation = load_situation(conn, at=at, drill_id=drill_id)
    page = render_offline(build_map(situation, tz=tz, tiles=tiles), allow_external=tiles is not None)
    size = write_atomically(out, page)
    levels = {level: 0 for level in LEVELS}
    for s in situation.stations:
        if s.level:
            levels[s.level] += 1
    return ExportResult(out, size, situation.at, len(situation.stations), levels,
                        sum(len(s.past) for s in situation.storms), situation)
