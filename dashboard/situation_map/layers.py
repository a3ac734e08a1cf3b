"""The map's layers: the county's own (boundary, towns under warning, rivers, reservoirs, seawalls, shelters),
the stations by warning level, and the storm's track with its wind radii."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import folium
from folium import plugins

from dashboard.overlays import Storm, circle, storm_grade
from dashboard.situation_map.markers import (
    NO_DATA,
    SHELTER_SVG,
    SYMBOLS,
    TYPHOON_SVG,
    DivMarkers,
    esc,
    num,
    short_time,
    station_popup,
    station_symbol,
)
from dashboard.situation_map.situation import Situation
from floodctl.domain.levels import LEVEL_NUMERAL, LEVEL_ZH, rank
from floodctl.domain.storms import StormFix

# folium leaves these constructors unannotated: typed once here.
MarkerCluster: Callable[..., plugins.MarkerCluster] = plugins.MarkerCluster
PolyLine: Callable[..., folium.PolyLine] = folium.PolyLine

LAYER_TITLES = {
    "county": "县界与海岸线",
    "towns": "乡镇（街道）",
    "rivers": "河流",
    "seawalls": "海塘",
    "reservoirs": "水库",
    "shelters": "避灾安置点",
}
STATIONS_TITLE = "测站（按预警等级）"
STORM_TITLE = "台风路径"
STORM_IN_VIEW_KM = 500  # a storm this close at T is framed with the county
# Wind radii circles (force, label, colour), drawn translucent around the storm's position at T.
RADIUS_STYLE = ((7, "7级风圈", "#e6b800"), (10, "10级风圈", "#f07800"), (12, "12级风圈", "#d7191c"))
SEA = "#dcebf5"
LAND = "#f7f4ec"


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
    grade, _ = storm_grade(fix.max_wind_ms)
    pressure = f"，{num(fix.pressure_hpa, 0)} hPa" if fix.pressure_hpa is not None else ""
    return (
        f"<b>{esc(storm)}</b> {what}<br>{short_time(fix.time, tz)}　{grade}<br>"
        f"{fix.lat:.1f}°N {fix.lon:.1f}°E，最大风速 {num(fix.max_wind_ms, 0)} m/s{pressure}"
    )


def _add_county(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["county"])
    folium.GeoJson(
        _features(layers["county"], lambda p: {"kind": p.get("kind")}),
        style_function=lambda f: (
            {"color": "#1b4f72", "weight": 1.5, "fill": False}
            if f["properties"].get("kind") == "coastline"
            else {"color": "#222222", "weight": 2.5, "fillColor": LAND, "fillOpacity": 1.0}
        ),
        interactive=False,
    ).add_to(group)
    group.add_to(m)


def _add_towns(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["towns"])

    def town_props(p: dict[str, Any]) -> dict[str, Any]:
        level = situation.area_levels.get(str(p.get("code")))
        tip = f"<b>{esc(p.get('name', ''))}</b>"
        if level:
            tip += "<br>" + "<br>".join(esc(x) for x in situation.area_messages.get(str(p.get("code")), []))
        return {"code": p.get("code"), "name": p.get("name"), "level": level, "tip": tip}

    def town_style(f: dict[str, Any]) -> dict[str, Any]:
        level = f["properties"].get("level")
        if level:
            return {
                "color": SYMBOLS[level].stroke,
                "weight": 2,
                "fillColor": SYMBOLS[level].fill,
                "fillOpacity": 0.28,
                "dashArray": "6 3",
            }
        return {"color": "#8a8a8a", "weight": 1, "fillColor": "#ffffff", "fillOpacity": 0.0}

    towns = _features(layers["towns"], town_props)
    folium.GeoJson(
        towns,
        style_function=town_style,
        highlight_function=lambda f: {"weight": 3, "color": "#444444"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    labels = []
    for feature in layers["towns"]["features"]:
        point = _town_label_point(feature)
        if point is None:
            continue
        p = feature.get("properties") or {}
        level = situation.area_levels.get(str(p.get("code")))
        mark = f" {LEVEL_NUMERAL[level]}" if level else ""
        labels.append(
            {
                "lat": point[0],
                "lon": point[1],
                "size": [96, 18],
                "interactive": False,
                "cls": "fc-town",
                "html": f"<b>{esc(p.get('name', ''))}</b>{mark}",
            }
        )
    DivMarkers(labels).add_to(group)
    group.add_to(m)


def _add_rivers(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["rivers"])
    folium.GeoJson(
        _features(
            layers["rivers"],
            lambda p: {
                "tip": f"<b>{esc(p.get('name', ''))}</b>"
                + (f"<br>长 {num(p.get('length_km'), 1)} km" if p.get("length_km") is not None else "")
            },
        ),
        style_function=lambda f: {"color": "#2b7bd0", "weight": 2.2, "opacity": 0.9},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    group.add_to(m)


def _add_reservoirs(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["reservoirs"])

    def reservoir_props(p: dict[str, Any]) -> dict[str, Any]:
        tip = f"<b>{esc(p.get('name', ''))}</b>"
        if isinstance(p.get("capacity_1e6m3"), int | float):
            tip += f"<br>总库容 {num(p['capacity_1e6m3'] * 100, 0)} 万m³"
        return {"tip": tip}

    folium.GeoJson(
        _features(layers["reservoirs"], reservoir_props),
        style_function=lambda f: {"color": "#1a6fb5", "weight": 1, "fillColor": "#7fb8e6", "fillOpacity": 0.85},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    group.add_to(m)


def _add_seawalls(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["seawalls"])

    def seawall_props(p: dict[str, Any]) -> dict[str, Any]:
        tip = f"<b>{esc(p.get('name', ''))}</b>"
        if p.get("crest_m") is not None:
            tip += f"<br>堤顶高程 {num(p.get('crest_m'))} m"
        if p.get("design_standard"):
            tip += f"，{esc(p['design_standard'])}"
        return {"tip": tip}

    folium.GeoJson(
        _features(layers["seawalls"], seawall_props),
        style_function=lambda f: {"color": "#7a4b1e", "weight": 4, "opacity": 0.9},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    group.add_to(m)


def _add_shelters(m: folium.Map, situation: Situation) -> None:
    layers = situation.layers
    group = folium.FeatureGroup(name=LAYER_TITLES["shelters"], show=True)
    cluster = MarkerCluster(
        control=False,
        options={
            "showCoverageOnHover": False,
            "maxClusterRadius": 40,
            "disableClusteringAtZoom": 13,
        },
        icon_create_function="""function (cluster) {
        return L.divIcon({html: String(cluster.getChildCount()), className: "fc-cluster",
                          iconSize: [30, 30]});
    }""",
    )
    items = []
    for feature in layers["shelters"]["features"]:
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        lon, lat = geometry["coordinates"][:2]
        p = feature.get("properties") or {}
        capacity = f"<br>可容纳 {p['capacity']} 人" if p.get("capacity") is not None else ""
        items.append(
            {
                "lat": lat,
                "lon": lon,
                "size": [16, 16],
                "html": SHELTER_SVG,
                "tip": f"<b>{esc(p.get('name', ''))}</b>{capacity}",
            }
        )
    DivMarkers(items).add_to(cluster)
    cluster.add_to(group)
    group.add_to(m)


LAYER_DRAWERS: tuple[tuple[str, Callable[[folium.Map, Situation], None]], ...] = (
    ("county", _add_county),
    ("towns", _add_towns),
    ("rivers", _add_rivers),
    ("reservoirs", _add_reservoirs),
    ("seawalls", _add_seawalls),
    ("shelters", _add_shelters),
)


def add_layers(m: folium.Map, situation: Situation) -> None:
    """The county's layers the database has, each a group in the layer control."""
    for name, add in LAYER_DRAWERS:
        if name in situation.layers:
            add(m, situation)


def add_stations(m: folium.Map, situation: Situation, tz: tzinfo) -> None:
    group = folium.FeatureGroup(name=STATIONS_TITLE)
    items = []
    for s in situation.stations:
        symbol = SYMBOLS[s.level] if s.level else (SYMBOLS[None] if s.latest else NO_DATA)
        status = (
            f"{LEVEL_NUMERAL[s.level]} {LEVEL_ZH[s.level]}预警" if s.level else ("无预警" if s.latest else "无数据")
        )
        items.append(
            {
                "lat": s.lat,
                "lon": s.lon,
                "size": [symbol.size, symbol.size],
                "html": station_symbol(s),
                "z": 1000 * (rank(s.level) + 1),  # red on top; no level 0
                "tip": f"<b>{esc(s.name)}</b> {status}",
                "popup": station_popup(s, situation.at, tz),
            }
        )
    DivMarkers(items).add_to(group)
    group.add_to(m)


def add_storms(m: folium.Map, situation: Situation, tz: tzinfo) -> None:
    if not situation.storms:
        return
    group = folium.FeatureGroup(name=STORM_TITLE)
    for storm in situation.storms:
        _add_radii(group, storm)
        past = [[f.lat, f.lon] for f in storm.past]
        if storm.position is not None and (not storm.past or storm.position.at != storm.past[-1].at):
            past.append([storm.position.lat, storm.position.lon])
        if len(past) > 1:
            PolyLine(past, color="#6a1b9a", weight=3, opacity=0.9).add_to(group)
        if storm.forecast:
            start = storm.position or (storm.past[-1] if storm.past else None)
            ahead = ([[start.lat, start.lon]] if start else []) + [[f.lat, f.lon] for f in storm.forecast]
            if len(ahead) > 1:
                PolyLine(ahead, color="#6a1b9a", weight=2, opacity=0.8, dash_array="6 6").add_to(group)
        for fix in storm.past:
            _, colour = storm_grade(fix.max_wind_ms)
            folium.CircleMarker(
                [fix.lat, fix.lon],
                radius=4,
                color="#333333",
                weight=1,
                fill=True,
                fill_color=colour,
                fill_opacity=1.0,
                tooltip=folium.Tooltip(_fix_tip(storm.name, fix, tz, "实况")),
            ).add_to(group)
        for fix in storm.forecast:
            _, colour = storm_grade(fix.max_wind_ms)
            folium.CircleMarker(
                [fix.lat, fix.lon],
                radius=3,
                color=colour,
                weight=1.5,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1.0,
                tooltip=folium.Tooltip(_fix_tip(storm.name, fix, tz, "预报")),
            ).add_to(group)
        if storm.position is not None:
            DivMarkers(
                [
                    {
                        "lat": storm.position.lat,
                        "lon": storm.position.lon,
                        "size": [30, 30],
                        "z": 5000,
                        "html": TYPHOON_SVG,
                        "tip": _fix_tip(storm.name, storm.position, tz, "当前位置"),
                    }
                ]
            ).add_to(group)
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
        tip = f"<b>{esc(storm.name)}</b> {label}<br>半径 {num(radius, 0)} km"
        folium.Polygon(
            ring,
            color=colour,
            weight=2,
            opacity=0.9,
            dash_array="8 6",
            fill=True,
            fill_color=colour,
            fill_opacity=0.12,
            tooltip=folium.Tooltip(tip),
        ).add_to(group)
        north = max(ring, key=lambda point: point[0])
        labels.append(
            {
                "lat": north[0],
                "lon": north[1],
                "size": [80, 18],
                "interactive": False,
                "cls": "fc-radius",
                "html": f"<span style='color:{colour}'>{label}</span>",
            }
        )
    if labels:
        DivMarkers(labels).add_to(group)
