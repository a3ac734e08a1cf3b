"""The wall's callbacks: the refresh (``situation``: every panel of one drill, live or as of a moment), the page's
first frame, and the callbacks of the time slider, language, drill selector and series panel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import dash
import orjson
import psycopg
from dash import Input, Output, State, html

from dashboard import i18n, overlays, queries
from dashboard.components import clientside_callback
from dashboard.i18n import Lang, lang_of, t
from dashboard.wall.data import DATA_ERRORS, WallData, collection_bounds, digest_of, drill_of, moment_of
from dashboard.wall.layout import (
    LABEL_OUTPUTS,
    LAYER_OUTPUTS,
    REFRESH_OUTPUTS,
    build_layout,
    empty_collection,
    layer_hideout,
    legend,
    map_export_href,
    station_hideout,
    time_marks,
)
from dashboard.wall.panels import (
    drill_options,
    local_time,
    render_drill_banner,
    render_orders,
    render_rain,
    render_reports,
    render_reservoirs,
    render_response_level,
    render_warnings,
)
from dashboard.wall.series import scaled, series_graph, series_hint, station_series
from floodctl.core.errors import FloodError
from floodctl.core.settings import Settings

WARNING_ROWS = 50  # rows drawn in the warnings panel (the count says how many are active)
# Sent on every refresh; everything else only when it differs from what the page has (``wall-overlays-version``).
ALWAYS_SENT = frozenset({"stations", "version", "status", "status_class", "overlay_versions", *LAYER_OUTPUTS})


def situation(
    data: WallData,
    drill: int,
    lang: Lang,
    at: datetime | None,
    version: Any = None,
    overlay_versions: Any = None,
    layers_loaded: Any = True,
) -> dict[str, Any]:
    """The values of REFRESH_OUTPUTS: everything on the wall for one drill, live or as of ``at`` (a handful of
    short reads on one pooled connection). ``version`` and ``overlay_versions`` say what the page already
    has, which is not sent again; the county's layers come only while the page lacks them
    (``layers_loaded``). The page's first frame is this too (``first_frame``)."""
    settings = data.settings
    try:
        with data.connection() as conn:
            clock = queries.clock(conn, drill)
            when = queries.moment(conn, drill, at)
            situation_at = at or clock.at
            digest, stations_url = data.stations_url(conn, drill, at, when)
            level = queries.response_level(conn, drill, when)
            warnings = queries.active_warnings(conn, drill, when=when)
            season, limit_column = queries.season_column(data.rules, situation_at)
            reservoirs = queries.reservoirs_over_limit(conn, drill, limit_column, when)
            orders = queries.orders_with_calls(conn, drill, when=when)
            reports = queries.field_reports(conn, drill, when=when)
            drills = queries.running_drills(conn, drill)
            rain = data.rain_ranking(conn, drill, clock.at) if at is None else queries.rain_ranking(conn, drill, at)
            layers = overlays.overlay_data(conn, drill, situation_at, when.recorded_by)
            county = {} if layers_loaded else map_layer_values(conn)
    except DATA_ERRORS as exc:
        return _stale(exc, lang, data.settings)
    level_children, level_class = render_response_level(level, lang, settings)
    banner, banner_class = render_drill_banner(drill, drills, lang)
    values: dict[str, Any] = {
        "stations": dash.no_update if digest == version else stations_url,
        "version": dash.no_update if digest == version else digest,
        "level": level_children,
        "level_class": level_class,
        "banner": banner,
        "banner_class": banner_class,
        "warnings": render_warnings(warnings[:WARNING_ROWS], lang, settings),
        "warnings_count": t(lang, "count", n=len(warnings)),
        "rain": render_rain(rain, lang),
        "reservoirs": render_reservoirs(reservoirs, season, lang),
        "orders": render_orders(orders, lang, settings, None if at else datetime.now(settings.tz)),
        "reports": render_reports(reports, lang, settings),
        **_times(drill, at, clock, lang, settings),
        "download": map_export_href(drill, at),
        **layers,
        **{key: county.get(key, dash.no_update) for key in LAYER_OUTPUTS},
    }
    return _without_what_the_page_has(values, overlay_versions)


def _stale(exc: Exception, lang: Lang, settings: Settings) -> dict[str, Any]:
    """The database is away: everything stays as it is on the page, the status says since when and why."""
    out: dict[str, Any] = {key: dash.no_update for key in REFRESH_OUTPUTS}
    why = (str(exc).strip() or type(exc).__name__).splitlines()[0][:120]
    out["status"] = t(lang, "stale", why=why, at=datetime.now(settings.tz).strftime("%H:%M:%S"))
    out["status_class"] = "stale"
    return out


def _times(drill: int, at: datetime | None, clock: queries.Clock, lang: Lang, settings: Settings) -> dict[str, Any]:
    """The data time, the refresh status and the time bar: live, or looking back to ``at``."""
    out: dict[str, Any] = {
        "data_time": t(
            lang, "drill_clock" if drill else "data_time", at=local_time(clock.newest, settings, "%Y-%m-%d %H:%M")
        )
        if clock.newest
        else "",
        "status": t(lang, "updated", at=datetime.now(settings.tz).strftime("%H:%M:%S")),
        "status_class": "ok",
        "timebar_class": "timebar history-on" if at else "timebar",
    }
    if at is None:
        return out | {"time_label": t(lang, "time_live"), "history": "", "history_class": ""}
    stamp = local_time(at, settings, "%Y-%m-%d %H:%M")
    return out | {
        "time_label": t(lang, "time_history_drill" if drill else "time_history", at=stamp),
        "history": t(lang, "history_banner", at=stamp),
        "history_class": "history-on",
    }


def _without_what_the_page_has(values: dict[str, Any], overlay_versions: Any) -> dict[str, Any]:
    """What the page has is not sent again: replacing a panel's rows costs the page per component (Dash resets
    each one it removes), which at a few hundred rows every tick kept a 5,000-station wall busy."""
    sent = overlay_versions if isinstance(overlay_versions, dict) else {}
    digests = {
        key: digest_of(orjson.dumps(value, default=_plain).decode())
        for key, value in values.items()
        if key not in ALWAYS_SENT
    }
    for key, value in digests.items():
        if sent.get(key) == value:
            values[key] = dash.no_update
    values["overlay_versions"] = dash.no_update if sent == digests else digests
    return values


def map_layer_values(conn: psycopg.Connection) -> dict[str, Any]:
    """The values of LAYER_OUTPUTS: the county's own vector layers and the view that fits them."""
    layers = queries.map_layers(conn)
    stored = layers.get("layers") or {}
    out: dict[str, Any] = {
        f"layer_{name}": stored.get(name) or empty_collection() for name in (*i18n.OVERLAYS, "county")
    }
    out["layer_towns"] = layers.get("towns") or empty_collection()
    out["bounds"] = collection_bounds(out["layer_towns"]) or collection_bounds(out["layer_county"]) or dash.no_update
    out["layers_loaded"] = True
    return out


def _fill(root: Any, outputs: dict[str, Output], values: dict[str, Any]) -> None:
    components = {getattr(c, "id", None): c for c in root._traverse()}
    for key, output in outputs.items():
        value = values.get(key, dash.no_update)
        component = components.get(output.component_id)
        if component is not None and value is not dash.no_update:
            setattr(component, output.component_property, value)


def first_frame(data: WallData, tile_url: str | None) -> html.Div:
    """The page as it first comes (Dash calls this for every page load): the layout with the live situation
    and the county's layers already in it, so the wall shows everything without waiting for a chain of
    callbacks (the 5,000-station map in about 2 s: `floodctl bench wall`). With the database away it comes
    empty, marked stale, and the callbacks fill it once the database is back."""
    root = build_layout(data.settings, tile_url)
    frame = situation(data, 0, i18n.DEFAULT_LANG, None, layers_loaded=False)
    _fill(root, REFRESH_OUTPUTS, frame)
    if frame["stations"] is not dash.no_update:
        _fill(root, {"data": Output("wall-stations", "data")}, {"data": None})  # the map loads the URL
    return root


def _plain(value: Any) -> Any:
    """Dash components as plain JSON (for the digests of rendered panels)."""
    return value.to_plotly_json()


def _query_param(search: str | None, name: str) -> str | None:
    values = parse_qs((search or "").lstrip("?")).get(name)
    return values[0] if values else None


def register_callbacks(app: dash.Dash, data: WallData) -> None:
    _register_refresh(app, data)
    _register_labels(app, data)
    _register_drills_and_series(app, data)
    _register_in_page(app)


def _register_refresh(app: dash.Dash, data: WallData) -> None:
    """The refresh of every panel, and the time slider's moment."""

    @app.callback(
        output=REFRESH_OUTPUTS,
        inputs={
            "tick": Input("wall-tick", "n_intervals"),
            "drill_value": Input("wall-drill", "value"),
            "lang_value": Input("wall-lang-store", "data"),
            "at_value": Input("wall-at", "data"),
            "pulse": Input("wall-pulse", "data"),
        },
        state={
            "version": State("wall-stations-version", "data"),
            "overlay_versions": State("wall-overlays-version", "data"),
            "layers_loaded": State("wall-layers-loaded", "data"),
        },
        prevent_initial_call=True,
    )  # the layout carries the first frame
    def refresh(
        tick: int | None,
        drill_value: Any,
        lang_value: Any,
        version: str | None,
        at_value: Any = None,
        pulse: Any = None,
        overlay_versions: Any = None,
        layers_loaded: Any = True,
    ) -> dict[str, Any]:
        return situation(
            data,
            drill_of(drill_value),
            lang_of(lang_value),
            moment_of(at_value),
            version,
            overlay_versions,
            layers_loaded,
        )

    @app.callback(
        Output("wall-at", "data"), Input("wall-time", "value"), State("wall-drill", "value"), prevent_initial_call=True
    )
    def set_moment(minutes: Any, drill_value: Any) -> Any:
        """The slider picks a moment (minutes before the drill's or the live clock, kept as a fixed time so
        the view holds still while the clock moves on)."""
        try:
            back = int(minutes or 0)
        except (TypeError, ValueError):
            back = 0
        if back >= 0:
            return None
        drill = drill_of(drill_value)
        try:
            with data.connection() as conn:
                clock = queries.clock(conn, drill)
                first, last = queries.history_span(conn, drill, clock.at)
        except DATA_ERRORS:
            return dash.no_update
        at = min(max(last + timedelta(minutes=back), first), last)
        return at.isoformat()


def _register_labels(app: dash.Dash, data: WallData) -> None:
    settings = data.settings

    @app.callback(
        output=LABEL_OUTPUTS, inputs={"lang_value": Input("wall-lang-store", "data")}, prevent_initial_call=True
    )  # the layout comes in the default language
    def render_labels(lang_value: Any) -> dict[str, Any]:
        lang = lang_of(lang_value)
        out: dict[str, Any] = {
            "title": t(lang, "title"),
            "lang_button": t(lang, "lang_button"),
            "drill_label": t(lang, "drill_label"),
            "legend": legend(lang),
            "stations_hideout": station_hideout(lang, settings),
            "towns_hideout": layer_hideout("towns", lang),
            "time_title": t(lang, "time_title"),
            "time_marks": time_marks(lang),
            "live_button": t(lang, "time_live_button"),
            "download_label": t(lang, "download_map"),
        }
        for key in ("warnings", "rain", "reservoirs", "orders", "reports"):
            out[key] = t(lang, f"panel_{key}")
        for name in i18n.OVERLAYS:
            out[f"{name}_hideout"] = layer_hideout(name, lang)
        for key in overlays.OVERLAY_IDS:
            out[f"{key}_hideout"] = overlays.overlay_hideout(key, lang, settings.timezone)
        return out


def _register_drills_and_series(app: dash.Dash, data: WallData) -> None:
    """The drill selector's choices, the station picked and its series."""

    @app.callback(
        Output("wall-drill", "options"),
        Output("wall-drill", "value"),
        Input("wall-url", "search"),
        Input("wall-tick", "n_intervals"),
        Input("wall-lang-store", "data"),
        State("wall-drill", "options"),
        State("wall-drill", "value"),
    )
    def drill_choices(
        search: str | None, tick: int | None, lang_value: Any, options: list[dict[str, Any]] | None, value: Any
    ) -> tuple[Any, Any]:
        """The selector's choices (live + running drills, kept current) and, from ``?drill=N``, its value.
        Both go out together: a Dropdown drops a value that is not among its options."""
        lang = lang_of(lang_value)
        from_url = dash.ctx.triggered_id in (None, "wall-url")
        wanted = drill_of(_query_param(search, "drill") or 0) if from_url else drill_of(value)
        try:
            with data.connection() as conn:
                drills = queries.running_drills(conn, wanted)
        except DATA_ERRORS:
            return dash.no_update, dash.no_update
        choices = drill_options(drills, lang)
        known = wanted == 0 or any(d["id"] == wanted for d in drills)
        new_value = (wanted if known else 0) if from_url else dash.no_update
        if new_value == drill_of(value):
            new_value = dash.no_update  # unchanged: the panels need no second read
        return (dash.no_update if choices == options else choices), new_value

    @app.callback(
        Output("wall-selected", "data"),
        Input("wall-stations", "clickData"),
        Input("wall-url", "search"),
        State("wall-selected", "data"),
    )
    def select_station(click: dict[str, Any] | None, search: str | None, current: str | None) -> Any:
        """A click on a station marker selects it (a click on a cluster zooms instead); so does ``?station=``."""
        if dash.ctx.triggered_id == "wall-stations":
            props = (click or {}).get("properties") or {}
            if props.get("cluster") or not props.get("code"):
                return dash.no_update
            return str(props["code"])
        code = _query_param(search, "station")
        return code if code and code != current else dash.no_update

    @app.callback(
        Output("wall-series-box", "children"),
        Output("wall-series-title", "children"),
        Input("wall-selected", "data"),
        Input("wall-lang-store", "data"),
        Input("wall-drill", "value"),
        Input("wall-tick", "n_intervals"),
        Input("wall-scale", "data"),
        Input("wall-at", "data"),
        prevent_initial_call=True,
    )  # the layout shows the hint
    def show_series(
        code: str | None, lang_value: Any, drill_value: Any, tick: int | None, scale: Any = 1.0, at_value: Any = None
    ) -> tuple[Any, Any]:
        lang = lang_of(lang_value)
        if not code:
            if dash.ctx.triggered_id in ("wall-tick", "wall-scale", "wall-at", "wall-drill"):
                return dash.no_update, dash.no_update
            return series_hint(lang), t(lang, "panel_series")
        try:
            with data.connection() as conn:
                figure, title = station_series(conn, data, str(code), drill_of(drill_value), lang, moment_of(at_value))
        except DATA_ERRORS:
            return dash.no_update, dash.no_update
        except FloodError:  # a malformed station code from the URL
            figure, title = None, t(lang, "panel_series")
        if figure is None:
            return series_hint(lang, t(lang, "no_data")), title
        return series_graph(scaled(figure, scale)), title


def _register_in_page(app: dash.Dash) -> None:
    """The callbacks that run in the page (wall.js): back to live, language, layer names, fit, scale."""
    # "Back to live" and another drill return to live, in the page.
    clientside_callback(
        app,
        dash.ClientsideFunction(namespace="floodWall", function_name="backToLive"),
        Output("wall-at", "data", allow_duplicate=True),
        Output("wall-time", "value"),
        Input("wall-live", "n_clicks"),
        Input("wall-drill", "value"),
        prevent_initial_call=True,
    )

    # The toggle flips the language; ``?lang=en`` picks it on load (in the page: no round trip, and nothing
    # downstream runs when the language stays as the page came).
    clientside_callback(
        app,
        dash.ClientsideFunction(namespace="floodWall", function_name="language"),
        Output("wall-lang-store", "data"),
        Input("wall-lang", "n_clicks"),
        Input("wall-url", "search"),
        State("wall-lang-store", "data"),
    )

    # Leaflet's layers control keeps the names it was given, so the language of its entries is set in the
    # page; again after each refresh, in case Leaflet re-rendered the control.
    clientside_callback(
        app,
        dash.ClientsideFunction(namespace="floodWall", function_name="layerNames"),
        Output("wall-layer-names", "data"),
        Input("wall-lang-store", "data"),
        Input("wall-status", "children"),
        State("wall-layer-names", "data"),
    )
    # The map fits the county once it exists (dash-leaflet applies `viewport` only after mounting).
    clientside_callback(
        app,
        dash.ClientsideFunction(namespace="floodWall", function_name="fitCounty"),
        Output("wall-map", "viewport"),
        Input("wall-bounds", "data"),
    )
    clientside_callback(
        app,
        dash.ClientsideFunction(namespace="floodWall", function_name="scale"),
        Output("wall-scale", "data"),
        Input("wall-url", "pathname"),
    )
