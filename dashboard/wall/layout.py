"""The wall's page: its layout, the component ids and the callbacks' outputs.

Component ids (stable; browser tests rely on them):

=========================  =====================================================================
``wall-root``              the page grid
``wall-url``               dcc.Location (``?lang=en``, ``?drill=N``, ``?station=CODE``)
``wall-title``             page heading
``wall-lang``              language toggle button (its text is the other language's name)
``wall-lang-store``        dcc.Store: "zh" or "en"
``wall-drill``             dcc.Dropdown: 0 = live operations, else a running drill's id
``wall-drill-banner``      【演练】 stripe, class ``drill-on`` while a drill is shown
``wall-response-level``    county response level; class ``resp-none|resp-IV|resp-III|resp-II|resp-I``
``wall-clock``             local clock (wall.js, every second; ``data-tz`` the county's time zone)
``wall-data-time``         newest reading (live) or the drill's clock
``wall-status``            last refresh time; class ``ok`` or ``stale`` (database unreachable)
``wall-tick``              dcc.Interval driving the refresh (TICK_MS)
``wall-config``            dcc.Store: {"tz": the county's time zone} for the clock
``wall-scale``             dcc.Store: viewport width / 1920 (1…3), scales the plotly figure's text
``wall-drill-label``       the drill selector's label
``wall-map``               dash-leaflet map;   ``wall-layers``: its LayersControl
``wall-county``            county boundary and coastline (offline basemap)
``wall-towns``             town boundaries with permanent name labels (offline basemap)
``wall-stations``          stations GeoJSON (clustered); feature properties: code, name, kind, town,
                           metric, value, ts, level (blue…red), ack, online; nulls left out. Markers are
                           ``.wall-st[data-code][data-level][data-kind]``, clusters ``.wall-cluster``
``wall-stations-version``  dcc.Store: hash of the last stations GeoJSON sent
``wall-overlays-version``  dcc.Store: hashes of the panels and live layers the page has (each sent only when it
                           changed)
``wall-layer-NAME``        overlay GeoJSON, NAME in villages, reservoirs, seawalls, rivers, shelters,
                           waterlogging (the county's layers), and storm, cameras-live, devices (live, as
                           of the moment shown: dashboard.overlays); ``wall-overlay-NAME`` its LayersControl entry
                           (``wall-overlay-stations`` for the stations); entries are labelled in the
                           page's language by wall.js (``wall-layer-names``: the names, and the
                           language last applied)
``wall-legend``            map legend (level shapes, kind glyphs)
``wall-warnings``          active flood warnings: rows ``.w-row[data-level][data-id]``;
                           ``wall-warnings-count`` their number
``wall-rain-rank``         rainfall top 10: ``wall-rain-1h``, ``wall-rain-3h``, ``wall-rain-24h`` (ol > li[data-code])
``wall-reservoirs``        reservoirs above their flood-limit level (rows ``tr[data-code]``)
``wall-orders``            orders with 叫应 counts: ``.o-card[data-id]``, counts ``.c-acknowledged``,
                           ``.c-carried_out``, ``.c-pending``, ``.c-unreached``; ``.o-unreached`` names
``wall-reports``           field-report feed: ``.r-row[data-id]``
``wall-selected``          dcc.Store: code of the station whose series is shown
``wall-series-box``        the series panel's body: a hint until a station is picked, then ``wall-series``, the
                           dcc.Graph of its series with its threshold lines (plotly loads only then)
``wall-series-title``      the series panel's heading
``wall-title-*``           panel headings: warnings, rain, reservoirs, orders, reports
``wall-timebar``           the row under the map; class ``history-on`` while looking back
``wall-time``              dcc.Slider: minutes before the clock (-4320…0; 0 = live)
``wall-time-label``        "实时" or the moment looked at; ``wall-time-title`` its heading
``wall-live``              "back to live" (shown while looking back)
``wall-at``                dcc.Store: the moment looked at (ISO 8601 with offset) or None (live)
``wall-history-banner``    stripe, class ``history-on`` while looking back
``wall-download``          link to the situation map as shown (``/api/v1/map/export?drill=&at=``)
``wall-pulse``             dcc.Store: set by wall.js when the fingerprint (``/wall/pulse``, polled every second)
                           changes; an input of the refresh
``wall-bounds``            dcc.Store: the county's bounds; the map fits them once mounted (wall.js fitCounty)
``wall-layers-loaded``     dcc.Store: true once the county's layers are on the map
=========================  =====================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import dash_leaflet as dl
from dash import Output, dcc, html

from dashboard import consult_panel, i18n, overlays, queries
from dashboard.components import attrs
from dashboard.i18n import Lang, level_mark, t
from dashboard.wall.series import series_hint
from floodctl.core.settings import Settings
from floodctl.domain.levels import LEVEL_SHAPE, LEVELS
from floodctl.domain.metrics import METRICS

TICK_MS = 3_000  # data refresh; a reading shows within TICK_MS + query time of its commit
MAP_EXPORT_PATH = "/api/v1/map/export"  # dashboard.routes.map: the situation map as one offline HTML file
MAP_CENTER = (29.45, 121.85)  # Xiangshan; the county layer then fits the view to its bounds
MAP_ZOOM = 10


def empty_collection() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": []}


def _fn(name: str) -> dict[str, str]:
    """A dash-leaflet function prop bound to ``window.floodWall[name]`` (dashboard/assets/wall.js)."""
    return {"variable": f"floodWall.{name}"}


def station_hideout(lang: Lang, settings: Settings) -> dict[str, Any]:
    """What wall.js needs to label markers in ``lang``."""
    return {
        "lang": lang,
        "tz": settings.timezone,
        "glyphs": i18n.KIND_GLYPH[lang],
        "kinds": i18n.KIND_NAME[lang],
        "metrics": i18n.METRIC_NAME[lang],
        "units": {m.name: m.unit for m in METRICS.values()},
        "levels": {lv: level_mark(lv, lang) for lv in LEVELS},
        "acknowledged": t(lang, "acknowledged"),
        "unacknowledged": t(lang, "unacknowledged"),
        "offline": t(lang, "legend_offline"),
        "no_data": t(lang, "no_data"),
    }


def layer_names() -> dict[str, Any]:
    """The layers control's entries in every language, for the clientside renaming (wall.js layerNames)."""
    keys = (*i18n.OVERLAYS, "stations")
    return {
        "lang": None,
        "names": {
            lang: {key: t(lang, f"overlay_{key}") for key in keys} | overlays.OVERLAY_NAMES[lang] for lang in i18n.LANGS
        },
    }


def layer_hideout(layer: str, lang: Lang) -> dict[str, str]:
    return {"layer": layer, "lang": lang}


def _overlay_layer(name: str, lang: Lang) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=f"wall-layer-{name}",
        data=empty_collection(),
        hideout=layer_hideout(name, lang),
        style=_fn("layerStyle"),
        pointToLayer=_fn("layerPoint"),
        onEachFeature=_fn("layerFeature"),
    )


OVERLAYS_ON = frozenset({"rivers", "reservoirs", "seawalls"})
# Cameras and the 600 LED boards and loudspeakers would hide the stations at county zoom: on demand.
LIVE_OVERLAYS_ON = frozenset({"storm"})


def _situation_map(settings: Settings, tile_url: str | None, lang: Lang) -> dl.MapContainer:
    """The map: offline basemap (county, towns; tiles only when configured), overlays and stations."""
    basemap: list[Any] = []
    if tile_url:
        basemap.append(dl.TileLayer(id="wall-tiles", url=tile_url, maxZoom=18))
    basemap += [
        dl.GeoJSON(
            id="wall-county",
            data=empty_collection(),
            hideout=layer_hideout("county", lang),
            style=_fn("layerStyle"),
            interactive=False,
        ),
        dl.GeoJSON(
            id="wall-towns",
            data=empty_collection(),
            hideout=layer_hideout("towns", lang),
            style=_fn("layerStyle"),
            onEachFeature=_fn("townFeature"),
            interactive=False,
        ),
    ]
    entries = [
        dl.Overlay(
            _overlay_layer(name, lang),
            id=f"wall-overlay-{name}",
            name=t(lang, f"overlay_{name}"),
            checked=name in OVERLAYS_ON,
        )
        for name in i18n.OVERLAYS
    ]
    entries += overlays.overlay_layers(lang, tz=settings.timezone, checked=LIVE_OVERLAYS_ON)
    stations = dl.GeoJSON(
        id="wall-stations",
        data=empty_collection(),
        cluster=True,
        zoomToBoundsOnClick=True,
        superClusterOptions={"radius": 40, "maxZoom": 13},
        pointToLayer=_fn("stationMarker"),
        clusterToLayer=_fn("stationCluster"),
        hideout=station_hideout(lang, settings),
    )
    entries.append(dl.Overlay(stations, id="wall-overlay-stations", name=t(lang, "overlay_stations"), checked=True))
    # `overlays` starts as the entries shown: dash-leaflet only appends to it on "overlayadd", and its
    # "overlayremove" fails on a list it never had (unchecking a layer shown from the start threw in the page).
    shown = [entry.name for entry in entries if entry.checked]
    return dl.MapContainer(
        [
            *basemap,
            dl.LayersControl(entries, id="wall-layers", collapsed=False, position="topright", overlays=shown),
            dl.ScaleControl(imperial=False, position="bottomright"),
        ],
        id="wall-map",
        center=list(MAP_CENTER),
        zoom=MAP_ZOOM,
        zoomSnap=0.25,
        attributionControl=False,
        style={"height": "100%", "width": "100%"},
    )


def _panel(lang: Lang, key: str, body_id: str, extra_class: str, count_id: str | None = None) -> html.Section:
    heading = [html.Span(t(lang, f"panel_{key}"), id=f"wall-title-{key}")]
    if count_id:
        heading.append(html.Span("", id=count_id, className="count"))
    return html.Section(
        [html.H2(heading), html.Div(id=body_id, className="panel-body")], className=f"panel {extra_class}"
    )


def _header(settings: Settings, lang: Lang) -> html.Header:
    """Title, county response level, drill selector, clocks and the language toggle."""
    return html.Header(
        [
            html.Div([html.H1(t(lang, "title"), id="wall-title")], className="head-left"),
            html.Div(
                [
                    html.Span(t(lang, "response_level"), className="resp-label"),
                    html.Strong(i18n.RESPONSE_NAME[lang]["none"], className="resp-value"),
                ],
                id="wall-response-level",
                className="resp-none",
            ),
            html.Div(
                [
                    html.Label(
                        [
                            html.Span(t(lang, "drill_label"), id="wall-drill-label"),
                            dcc.Dropdown(
                                id="wall-drill",
                                options=[{"label": t(lang, "live"), "value": 0}],
                                value=0,
                                clearable=False,
                                searchable=False,
                            ),
                        ],
                        className="drill-picker",
                    ),
                    html.Div(
                        [
                            html.Div("", id="wall-clock", **attrs(data_tz=settings.timezone)),
                            html.Div(
                                [
                                    html.Span("", id="wall-data-time"),
                                    html.Span(" · ", className="sep"),
                                    html.Span("", id="wall-status", className="ok"),
                                ],
                                className="clock-sub",
                            ),
                        ],
                        className="clock-box",
                    ),
                    html.Button(t(lang, "lang_button"), id="wall-lang", n_clicks=0),
                ],
                className="head-right",
            ),
        ],
        className="wall-header",
    )


def _page_state(settings: Settings, lang: Lang) -> html.Div:
    """The page's stores, its location and the refresh timer."""
    return html.Div(
        [
            dcc.Location(id="wall-url", refresh=False),
            dcc.Store(id="wall-lang-store", data=lang),
            dcc.Store(id="wall-stations-version", data=None),
            dcc.Store(id="wall-overlays-version", data=None),
            dcc.Store(id="wall-layers-loaded", data=False),
            dcc.Store(id="wall-bounds", data=None),
            dcc.Store(id="wall-selected", data=None),
            dcc.Store(id="wall-at", data=None),
            dcc.Store(id="wall-config", data={"tz": settings.timezone}),
            dcc.Store(id="wall-layer-names", data=layer_names()),
            dcc.Store(id="wall-scale", data=1.0),
            dcc.Interval(id="wall-tick", interval=TICK_MS, n_intervals=0),
            dcc.Store(id="wall-pulse", data=None),
        ],
        className="wall-state",
    )


def build_layout(settings: Settings, tile_url: str | None = None) -> html.Div:
    """The page in the default language, its panels empty (``callbacks.first_frame`` fills them)."""
    lang = i18n.DEFAULT_LANG
    series_panel = html.Section(
        [
            html.H2(html.Span(t(lang, "panel_series"), id="wall-series-title")),
            html.Div(series_hint(lang), id="wall-series-box", className="series-box"),
        ],
        className="panel p-series",
    )
    return html.Div(
        [
            _page_state(settings, lang),
            _header(settings, lang),
            html.Div("", id="wall-drill-banner"),
            html.Div("", id="wall-history-banner"),
            html.Main(
                [
                    html.Div(
                        [
                            _panel(lang, "warnings", "wall-warnings", "p-warnings", "wall-warnings-count"),
                            _panel(lang, "reservoirs", "wall-reservoirs", "p-reservoirs"),
                        ],
                        className="col col-left",
                    ),
                    html.Div(
                        [
                            html.Section(
                                [_situation_map(settings, tile_url, lang), html.Div(legend(lang), id="wall-legend")],
                                className="panel p-map",
                            ),
                            timebar(lang),
                            series_panel,
                        ],
                        className="col col-center",
                    ),
                    html.Div(
                        [
                            _panel(lang, "rain", "wall-rain-rank", "p-rain"),
                            _panel(lang, "orders", "wall-orders", "p-orders"),
                            _panel(lang, "reports", "wall-reports", "p-reports"),
                        ],
                        className="col col-right",
                    ),
                ],
                className="wall-main",
            ),
            consult_panel.consult_drawer(lang),  # consult UI
        ],
        id="wall-root",
    )


TIME_STEP_MIN = 10
TIME_MARK_HOURS = (72, 48, 24, 12)


def time_marks(lang: Lang) -> dict[int, str]:
    marks = {-h * 60: t(lang, "time_mark_hours", h=h) for h in TIME_MARK_HOURS}
    marks[0] = t(lang, "time_mark_now")
    return marks


def timebar(lang: Lang) -> html.Div:
    """Look back over the last 72 h (minutes before the clock; 0 = live), the way back to live, and the
    situation map download and consultation buttons."""
    span = int(queries.HISTORY.total_seconds() // 60)
    return html.Div(
        [
            html.Span(t(lang, "time_title"), id="wall-time-title", className="tb-title"),
            html.Div(
                dcc.Slider(
                    id="wall-time",
                    min=-span,
                    max=0,
                    step=TIME_STEP_MIN,
                    value=0,
                    marks=time_marks(lang),
                    included=False,
                    updatemode="mouseup",
                    allow_direct_input=False,
                ),
                className="tb-slider",
            ),
            html.Span(t(lang, "time_live"), id="wall-time-label", className="tb-label"),
            html.Button(t(lang, "time_live_button"), id="wall-live", n_clicks=0, className="tb-button"),
            html.A(
                t(lang, "download_map"),
                id="wall-download",
                href=MAP_EXPORT_PATH,
                className="tb-button",
                download="situation-map.html",
                rel="nofollow",
            ),
            consult_panel.consult_button(lang),  # consult UI
        ],
        id="wall-timebar",
        className="timebar",
    )


def legend(lang: Lang) -> list[Any]:
    items: list[Any] = [html.Div(t(lang, "legend_title"), className="lg-title")]
    items.append(
        html.Div(
            [
                html.Span(
                    [html.Span(LEVEL_SHAPE[lv], className=f"lg-shape level-{lv}"), " ", level_mark(lv, lang)[2:]],
                    className="lg-item",
                    **attrs(data_level=lv),
                )
                for lv in LEVELS
            ]
            + [
                html.Span(f"○ {t(lang, 'legend_normal')}", className="lg-item"),
                html.Span(f"◌ {t(lang, 'legend_offline')}", className="lg-item"),
            ]
        )
    )
    items.append(
        html.Div(
            [
                html.Span([html.Span(glyph, className="lg-glyph"), i18n.KIND_NAME[lang][kind]], className="lg-item")
                for kind, glyph in i18n.KIND_GLYPH[lang].items()
            ]
        )
    )
    return items


def map_export_href(drill: int, at: datetime | None) -> str:
    """The download link of the situation map as the wall shows it."""
    query = {"drill": str(drill)} if drill else {}
    if at is not None:
        query["at"] = at.isoformat()
    return f"{MAP_EXPORT_PATH}?{urlencode(query)}" if query else MAP_EXPORT_PATH


REFRESH_OUTPUTS = {
    "stations": Output("wall-stations", "url"),
    "version": Output("wall-stations-version", "data"),
    "level": Output("wall-response-level", "children"),
    "level_class": Output("wall-response-level", "className"),
    "banner": Output("wall-drill-banner", "children"),
    "banner_class": Output("wall-drill-banner", "className"),
    "warnings": Output("wall-warnings", "children"),
    "warnings_count": Output("wall-warnings-count", "children"),
    "rain": Output("wall-rain-rank", "children"),
    "reservoirs": Output("wall-reservoirs", "children"),
    "orders": Output("wall-orders", "children"),
    "reports": Output("wall-reports", "children"),
    "data_time": Output("wall-data-time", "children"),
    "status": Output("wall-status", "children"),
    "status_class": Output("wall-status", "className"),
    "time_label": Output("wall-time-label", "children"),
    "history": Output("wall-history-banner", "children"),
    "history_class": Output("wall-history-banner", "className"),
    "timebar_class": Output("wall-timebar", "className"),
    "download": Output("wall-download", "href"),
    "storm": Output("wall-layer-storm", "data"),
    "cameras": Output("wall-layer-cameras-live", "data"),
    "devices": Output("wall-layer-devices", "data"),
    "overlay_versions": Output("wall-overlays-version", "data"),
}
LABEL_OUTPUTS = {
    "title": Output("wall-title", "children"),
    "lang_button": Output("wall-lang", "children"),
    "drill_label": Output("wall-drill-label", "children"),
    "warnings": Output("wall-title-warnings", "children"),
    "rain": Output("wall-title-rain", "children"),
    "reservoirs": Output("wall-title-reservoirs", "children"),
    "orders": Output("wall-title-orders", "children"),
    "reports": Output("wall-title-reports", "children"),
    "legend": Output("wall-legend", "children"),
    "stations_hideout": Output("wall-stations", "hideout"),
    "time_title": Output("wall-time-title", "children"),
    "time_marks": Output("wall-time", "marks"),
    "live_button": Output("wall-live", "children"),
    "download_label": Output("wall-download", "children"),
    "towns_hideout": Output("wall-towns", "hideout"),
    **{f"{name}_hideout": Output(f"wall-layer-{name}", "hideout") for name in i18n.OVERLAYS},
    **{f"{key}_hideout": Output(component, "hideout") for key, component in overlays.OVERLAY_IDS.items()},
}
# The county's own layers: in the first frame, else from the first refresh that finds the database.
LAYER_OUTPUTS = {
    "bounds": Output("wall-bounds", "data"),
    "layer_county": Output("wall-county", "data"),
    "layer_towns": Output("wall-towns", "data"),
    **{f"layer_{name}": Output(f"wall-layer-{name}", "data") for name in i18n.OVERLAYS},
    "layers_loaded": Output("wall-layers-loaded", "data"),
}
REFRESH_OUTPUTS |= LAYER_OUTPUTS
