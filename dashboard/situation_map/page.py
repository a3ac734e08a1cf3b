"""The whole situation map: the view that frames the county (and a storm near it), the layers, the title with T
and the summary, the legend, the page's CSS."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import folium
from branca.element import Figure

from dashboard.overlays import storm_grade
from dashboard.situation_map.layers import (
    RADIUS_STYLE,
    SEA,
    STORM_IN_VIEW_KM,
    add_layers,
    add_stations,
    add_storms,
)
from dashboard.situation_map.markers import (
    NO_DATA,
    SHELTER_SVG,
    SYMBOLS,
    Inline,
    esc,
    level_badge,
    symbol_svg,
    time_label,
)
from dashboard.situation_map.situation import Situation
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.geodesy import haversine_km
from floodctl.domain.levels import LEVEL_NUMERAL, LEVEL_ZH, LEVELS, LEVELS_DESC

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


def map_bounds(situation: Situation) -> list[list[float]] | None:
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
        if p is not None and haversine_km(centre_lat, centre_lon, p.lat, p.lon) <= STORM_IN_VIEW_KM:
            lons.append(p.lon)
            lats.append(p.lat)
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _title_html(situation: Situation, tz: tzinfo) -> str:
    counts: dict[str, int] = {level: 0 for level in LEVELS}
    for s in situation.stations:
        if s.level:
            counts[s.level] += 1
    warned = sum(counts.values())
    parts = [f"{LEVEL_NUMERAL[lv]}{LEVEL_ZH[lv][0]} {counts[lv]}" for lv in LEVELS_DESC if counts[lv]]
    summary = f"预警测站 {warned} 个（{'，'.join(parts)}）" if warned else "无测站预警"
    county = situation.area_levels.get("county")
    county_line = ""
    if county:
        messages = "；".join(esc(x) for x in situation.area_messages.get("county", []))
        county_line = f"<div>{level_badge(county)} 全县：{messages}</div>"
    drill = (
        (
            f"<div class='fc-drill'>{DRILL_MARKER}#{situation.drill_id} {esc(situation.drill_name or '')} — "
            f"演练数据，非真实汛情</div>"
        )
        if situation.drill_id
        else ""
    )
    storms = "".join(
        f"<div>{esc(s.name)}：{storm_grade(p.max_wind_ms)[0]}，{p.lat:.1f}°N {p.lon:.1f}°E</div>"
        for s in situation.storms
        if (p := s.position) is not None
    )
    return (
        f"<div id='fc-title' class='fc-box'><h1>{esc(situation.county_name)}防汛防台形势图</h1>"
        f"<div>{time_label(situation.at, tz)}</div>{drill}{county_line}<div>{summary}</div>{storms}</div>"
    )


def _legend_html(situation: Situation) -> str:
    rows = [
        f"<div><span class='fc-sw'>{symbol_svg(SYMBOLS[lv], LEVEL_NUMERAL[lv], level=lv)}</span>"
        f"{LEVEL_ZH[lv]}预警（{LEVEL_NUMERAL[lv]}）</div>"
        for lv in LEVELS_DESC
    ]
    rows.append(f"<div><span class='fc-sw'>{symbol_svg(SYMBOLS[None], '河')}</span>无预警（字为站类）</div>")
    rows.append(f"<div><span class='fc-sw'>{symbol_svg(NO_DATA, '雨', dashed=True)}</span>无数据</div>")
    rows.append(
        "<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
        "stroke='#2b7bd0' stroke-width='2.2'/></svg></span>河流</div>"
    )
    rows.append(
        "<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
        "stroke='#7a4b1e' stroke-width='4'/></svg></span>海塘</div>"
    )
    rows.append(
        "<div><span class='fc-sw'><svg width='20' height='14'><rect x='1' y='1' width='18' height='12' "
        "fill='#7fb8e6' stroke='#1a6fb5'/></svg></span>水库</div>"
    )
    rows.append(f"<div><span class='fc-sw'>{SHELTER_SVG}</span>避灾安置点</div>")
    if situation.storms:
        rows.append(
            "<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
            "stroke='#6a1b9a' stroke-width='3'/></svg></span>台风实况路径</div>"
        )
        rows.append(
            "<div><span class='fc-sw'><svg width='26' height='8'><line x1='0' y1='4' x2='26' y2='4' "
            "stroke='#6a1b9a' stroke-width='2' stroke-dasharray='6 6'/></svg></span>预报路径</div>"
        )
        known = {
            force for s in situation.storms if s.position for force, _, _ in RADIUS_STYLE if s.position.radius_km(force)
        }
        rows += [
            f"<div><span class='fc-sw'><svg width='20' height='14'><rect x='1' y='1' width='18' height='12' "
            f"fill='{colour}' fill-opacity='0.25' stroke='{colour}' stroke-dasharray='4 2'/></svg></span>"
            f"{label}</div>"
            for force, label, colour in RADIUS_STYLE
            if force in known
        ]
    return "<div id='fc-legend' class='fc-box'><b>图例</b>" + "".join(rows) + "</div>"


def build_map(situation: Situation, *, tz: tzinfo, tiles: str | None = None) -> folium.Map:
    """The folium map of a situation (render it with :func:`render_offline`)."""
    bounds = map_bounds(situation)
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [0.0, 0.0]
    m = folium.Map(location=centre, zoom_start=10, tiles=None, control_scale=True, zoom_snap=0.25)
    m.options.update(min_zoom=6, max_zoom=18)  # no tile layer to tell Leaflet (and the clusters) the range
    if tiles:
        folium.TileLayer(tiles=tiles, attr="县地图服务", name="底图", overlay=False, control=False).add_to(m)
    if bounds:
        m.fit_bounds(bounds, padding_top_left=(20, 90), padding_bottom_right=(240, 40))  # title, legend
    add_layers(m, situation)
    add_stations(m, situation, tz)
    add_storms(m, situation, tz)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    root = m.get_root()
    assert isinstance(root, Figure)
    root.title = f"{situation.county_name}防汛防台形势图 {time_label(situation.at, tz)}"
    root.header.add_child(Inline(f"<style>{PAGE_CSS}</style>"), name="floodctl_css")
    root.html.add_child(Inline(_title_html(situation, tz) + _legend_html(situation)), name="floodctl_boxes")
    return m
