"""The wall dashboard for consultation (会商大屏) at ``/wall/``: a Dash app served beside the API.

::

    browser ─/wall/─> FastAPI mount ─(gzip, a2wsgi)─> Flask/Dash ─> psycopg pool "wall" ─> PostgreSQL
      every TICK_MS `refresh` reads one drill's state (dashboard.queries) and re-renders the panels;
      the stations GeoJSON is re-sent only when it changed (its hash rides in `wall-stations-version`);
      every second wall.js fetches /wall/pulse, one cheap fingerprint of warnings, orders, 叫应,
      response levels and reports; a change triggers the refresh at once (decisions show within ~1 s).
      The stations GeoJSON goes by URL (/wall/stations.geojson?v=<digest>): the map fetches it itself,
      so the big document never sits in Dash's store (every store update would compare it).

Live or past: the time slider (``wall-time``) fixes a moment of the last 72 h (``wall-at``); every panel
is then read as of that moment (``dashboard.queries.Moment``: readings and warnings on the situation's
clock, people's actions on the wall clock, mapped for a drill through ``drill_clock``).

Everything is served by the same process and origin (``serve_locally``; no CDN, no tile server unless
one is configured: ``FLOOD_MAP_TILE_URL``). Reads follow the API's viewer rule
(``viewer_allowed``, the hook for login). Texts come from ``dashboard.i18n`` (zh-CN by default, English
by the toggle or ``?lang=en``); ``?drill=N`` and ``?station=CODE`` preselect a drill and a series.

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

Login: reads follow ``viewer_allowed`` (closed reads: the session cookie set by the API's login, else a
login page); changes (acknowledging, consultation decisions) are made by the
browser through the HTTP API with the user's bearer token, so the audit trail is the API's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import dash
import dash_leaflet as dl
import flask
import orjson
import psycopg
from dash import Input, Output, State, dcc, html
from psycopg_pool import ConnectionPool

import dashboard.consult_panel as consult_panel  # consult UI
from alerts.rules import DEFAULT_PATH, RuleSet, load_rules
from dashboard import i18n, overlays, queries
from dashboard.i18n import Lang, lang_of, level_mark, t
from floodctl.auth.deps import principal_for_token
from floodctl.auth.tokens import SESSION_COOKIE
from floodctl.core import db
from floodctl.core.errors import FloodError, ServiceUnavailable, Unauthorized
from floodctl.core.settings import Settings
from floodctl.domain.metrics import METRICS
from floodctl.stations import store as stations_store

TITLE = "象山县防汛防台指挥 — 会商大屏"
PREFIX = "/wall/"
ASSETS = Path(__file__).with_name("assets")
TICK_MS = 3_000                  # data refresh; a reading shows within TICK_MS + query time of its commit
POOL_MAX = 4                     # the wall's own pool: a few walls and browsers, short reads
POOL_WAIT_S = 5.0
RAIN_RANK_TTL_S = 15.0           # the 24 h rainfall sums scan a day of readings: shared, at most every 15 s
RAIN_CACHE_MAX = 64
STATIONS_PATH = "stations.geojson"   # under PREFIX: the map's stations, by URL (WallData.stations_url)
STATIONS_CACHE_MAX = 32              # documents kept by digest (a few walls × drills × moments)
PULSE_PATH = "pulse"                 # under PREFIX: the fingerprint wall.js polls every second (its PULSE_MS)
SERIES_SPAN = timedelta(hours=24)
RAIN_BUCKET = timedelta(hours=1)
WSGI_WORKERS = 8
GZIP_MIN_BYTES = 1_024
GZIP_LEVEL = 5                   # level 9 costs ~4x the time for ~2 % less on the stations GeoJSON
MAX_DRILL_ID = 2**31 - 1
WARNING_ROWS = 50            # rows drawn in the warnings panel (the count says how many are active)
MAP_EXPORT_PATH = "/api/v1/map/export"   # dashboard.api: the situation map as one offline HTML file
MAP_CENTER = (29.45, 121.85)     # Xiangshan; the county layer then fits the view to its bounds
MAP_ZOOM = 10
EXTENSION_KEY = "floodctl_wall"
SESSION_CHECK_S = 5.0          # a session cookie's account is re-read at most this often (revocation delay)
SESSION_CACHE_MAX = 1000
DATA_ERRORS = (psycopg.Error, ServiceUnavailable)   # PoolTimeout is a psycopg.OperationalError

# Threshold lines of the series plot: (threshold, colour, dash); "fsltdz" is the season's flood limit.
THRESHOLD_LINES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "river": (("wrz", "#ffd23f", "dash"), ("grz", "#ff3b4e", "dashdot")),
    "reservoir": (("fsltdz", "#ff8c1a", "dash"), ("dsflz", "#ff3b4e", "dashdot"), ("ckflz", "#ff7eb6", "dot"),
                  ("dam_crest", "#ffffff", "longdash")),
    "tide": (("tide_blue", "#3d8bfd", "dot"), ("tide_yellow", "#ffd23f", "dash"), ("tide_orange", "#ff8c1a", "dashdot"),
             ("tide_red", "#ff3b4e", "longdash"), ("seawall_crest", "#ffffff", "solid")),
    "camera": (("wrz", "#ffd23f", "dash"), ("grz", "#ff3b4e", "dashdot")),
}
# Beaufort force lower bounds (m/s) behind the typhoon signals: force 6, 8, 10, 12.
WIND_FORCE_LINES = ((6, 10.8, "#3d8bfd", "dot"), (8, 17.2, "#ffd23f", "dash"), (10, 24.5, "#ff8c1a", "dashdot"),
                    (12, 32.7, "#ff3b4e", "longdash"))
LEVEL_COLOUR = {"blue": "#3d8bfd", "yellow": "#ffd23f", "orange": "#ff8c1a", "red": "#ff3b4e"}


def viewer_allowed(settings: Settings, request: flask.Request, data: WallData | None = None) -> bool:
    """Who may see the wall: anyone when reads are open (``FLOOD_ANONYMOUS_READ``, development by
    default); else the holder of a valid session cookie (set by ``POST /api/v1/auth/token``) whose
    account holds a role, as ``floodctl.auth.deps.current_viewer`` decides for the API."""
    if settings.allows_anonymous_read:
        return True
    token = request.cookies.get(SESSION_COOKIE)
    if not token or data is None:
        return False
    return data.session_allowed(token)


class _WallDash(dash.Dash):
    """Dash without the parts of its page config that point off the machine or tell too much."""

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()
        config.pop("dash_version_url", None)   # an external URL (dev tools' version check)
        config.pop("python_version", None)
        return config


class WallData:
    """The wall's database side: a small pool of its own, opened on first use, and the rainfall cache."""

    def __init__(self, database_url: str, settings: Settings, rules: RuleSet) -> None:
        self.database_url = database_url
        self.settings = settings
        self.rules = rules
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._rain: dict[int, tuple[float, datetime, dict[str, Any]]] = {}
        self._stations: OrderedDict[str, bytes] = OrderedDict()   # digest -> stations GeoJSON, newest last
        self._sessions: dict[str, tuple[float, bool]] = {}         # session token -> (checked at, allowed)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._pool is None:
                # Not opened with a wait (unlike db.make_pool): with the database away, a refresh gives up after
                # POOL_WAIT_S and the wall shows "no data" instead of hanging on its first request.
                self._pool = ConnectionPool(self.database_url, min_size=1, max_size=POOL_MAX, name="wall", open=False,
                                            kwargs=db.REQUEST_SESSION, reconnect_timeout=60,
                                            check=lambda conn: db.check_and_sweep(self._pool, conn))
                self._pool.open(wait=False)
            pool = self._pool
        with pool.connection(timeout=POOL_WAIT_S) as conn:
            yield conn

    def rain_ranking(self, conn: psycopg.Connection, drill_id: int, at: datetime) -> dict[str, Any]:
        """Shared by every browser for RAIN_RANK_TTL_S. Live, "now" moves on each call, so the windows are up
        to that old; a drill's windows end at its clock, so a new reading in the drill recomputes at once."""
        now = time.monotonic()
        with self._lock:
            hit = self._rain.get(drill_id)
            if hit is not None and now - hit[0] < RAIN_RANK_TTL_S and (drill_id == 0 or hit[1] == at):
                return hit[2]
        value = queries.rain_ranking(conn, drill_id, at)
        with self._lock:
            if len(self._rain) >= RAIN_CACHE_MAX:
                self._rain.clear()
            self._rain[drill_id] = (now, at, value)
        return value

    def stations_url(self, conn: psycopg.Connection, drill: int, at: datetime | None,
                     when: queries.Moment) -> tuple[str, str]:
        """(digest, URL) of the stations GeoJSON as of ``when``: read once here, kept by its digest for the
        browser's fetch of the URL (``serve_stations``). The map loads it by URL, so the 5,000-station
        document never passes through Dash's callbacks or its in-page store."""
        text = queries.stations_state(conn, drill, when).encode()
        digest = _digest_bytes(text)
        with self._lock:
            self._stations[digest] = text
            self._stations.move_to_end(digest)
            while len(self._stations) > STATIONS_CACHE_MAX:
                self._stations.popitem(last=False)
        query = {"v": digest, "drill": str(drill)} | ({"at": at.isoformat()} if at else {})
        return digest, f"{PREFIX}{STATIONS_PATH}?{urlencode(query)}"

    def session_allowed(self, token: str) -> bool:
        """Whether a session cookie's token names an active account with a role, now (cached for
        SESSION_CHECK_S, so a revoked token stops opening the wall within that)."""
        now = time.monotonic()
        with self._lock:
            hit = self._sessions.get(token)
            if hit is not None and now - hit[0] < SESSION_CHECK_S:
                return hit[1]
        try:
            with self.connection() as conn:
                allowed = bool(principal_for_token(conn, self.settings, token).roles)
        except Unauthorized:
            allowed = False
        with self._lock:
            if len(self._sessions) >= SESSION_CACHE_MAX:
                self._sessions.clear()
            self._sessions[token] = (now, allowed)
        return allowed

    def cached_stations(self, digest: str) -> bytes | None:
        with self._lock:
            return self._stations.get(digest)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def wall_data(app: dash.Dash) -> WallData:
    return app.server.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def close_wall(app: dash.Dash) -> None:
    """Close the wall's pool (the API's lifespan calls this on shutdown)."""
    data = app.server.extensions.get(EXTENSION_KEY)
    if data is not None:
        data.close()


def asgi_app(app: dash.Dash) -> Any:
    """The wall as an ASGI app to mount at /wall: Flask through a2wsgi, responses gzipped (the stations
    GeoJSON of a big county is a few hundred kB of repetitive JSON)."""
    from a2wsgi import WSGIMiddleware
    from starlette.middleware.gzip import GZipMiddleware

    return GZipMiddleware(WSGIMiddleware(app.server, workers=WSGI_WORKERS), minimum_size=GZIP_MIN_BYTES,
                          compresslevel=GZIP_LEVEL)


# The wall's login (production, or FLOOD_ANONYMOUS_READ off): the API's login sets the session cookie;
# the token also goes to sessionStorage["floodctl.token"], where the consultation drawer looks for it.
LOGIN_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>登录 · 会商大屏 / Log in · wall</title><style>
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#0b1a2e;color:#eef;display:flex;
justify-content:center;align-items:center;min-height:100vh;margin:0}form{background:#13294a;padding:2rem;
border-radius:8px;min-width:18rem}label{display:block;margin:.6rem 0}input{width:100%;font-size:1.1rem;
box-sizing:border-box}button{margin-top:1rem;width:100%;font-size:1.1rem;padding:.5rem}#error{color:#ff8c8c;
min-height:1.2em}</style></head><body><form id="login"><h1>登录 / Log in</h1>
<p>会商大屏需要登录。The wall needs a login.</p>
<label>用户名 / User name<input name="username" autocomplete="username" required></label>
<label>密码 / Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">登录 / Log in</button><p id="error" role="alert"></p></form>
<script>
document.getElementById("login").addEventListener("submit", function (event) {
  event.preventDefault();
  var error = document.getElementById("error");
  fetch("/api/v1/auth/token", {method: "POST", credentials: "same-origin", cache: "no-store",
                               body: new URLSearchParams(new FormData(event.target))})
    .then(function (r) { return r.json().then(function (body) { return [r, body]; }); })
    .then(function (pair) {
      if (!pair[0].ok) { error.textContent = pair[1].message || ("HTTP " + pair[0].status); return; }
      try { window.sessionStorage.setItem("floodctl.token", pair[1].access_token); } catch (e) {}
      window.location.reload();
    })
    .catch(function () { error.textContent = "网络错误 / network error"; });
});
</script></body></html>"""

INDEX = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
</head>
<body>
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""


def create_wall(settings: Settings, database_url: str, *, tile_url: str | None = None) -> dash.Dash:
    """The wall dashboard, to be served under /wall/ (see ``asgi_app``); its pool opens on first use."""
    rules = load_rules(settings.rules_path or DEFAULT_PATH)
    tile_url = tile_url or settings.map_tile_url
    app = _WallDash(
        __name__, requests_pathname_prefix=PREFIX, routes_pathname_prefix="/", serve_locally=True, title=TITLE,
        update_title=None, assets_folder=str(ASSETS), index_string=INDEX, compress=False,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                   {"name": "referrer", "content": "no-referrer"}])
    data = WallData(database_url, settings, rules)
    app.server.extensions[EXTENSION_KEY] = data

    @app.server.before_request
    def viewer_rule() -> flask.Response | None:
        try:
            if viewer_allowed(settings, flask.request, data):
                return None
        except DATA_ERRORS:
            return flask.Response("数据库不可用 / database unavailable", status=503,
                                  mimetype="text/plain; charset=utf-8")
        if flask.request.method == "GET" and flask.request.path in ("/", ""):
            return flask.Response(LOGIN_PAGE, status=401, mimetype="text/html",
                                  headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})
        return flask.Response("需要登录 / login required", status=401, mimetype="text/plain; charset=utf-8")

    @app.server.route(f"/{STATIONS_PATH}")
    def serve_stations() -> flask.Response:
        """The stations GeoJSON the map asked for by URL: from the cache by its digest; else read afresh."""
        text = data.cached_stations(flask.request.args.get("v", ""))
        if text is None:
            drill, at = _drill(flask.request.args.get("drill")), _moment_value(flask.request.args.get("at"))
            try:
                with data.connection() as conn:
                    text = queries.stations_state(conn, drill, queries.moment(conn, drill, at)).encode()
            except DATA_ERRORS:
                return flask.Response("database unavailable", status=503, mimetype="text/plain")
        return flask.Response(text, mimetype="application/json", headers={"Cache-Control": "private, max-age=60"})

    @app.server.route(f"/{PULSE_PATH}")
    def serve_pulse() -> flask.Response:
        """The fingerprint of warnings, orders, 叫应, response levels and reports (queries.pulse), polled by the
        page outside Dash's callbacks; a change makes the page refresh at once."""
        try:
            with data.connection() as conn:
                text = queries.pulse(conn)
        except DATA_ERRORS:
            return flask.Response("database unavailable", status=503, mimetype="text/plain")
        return flask.Response(text, mimetype="application/json", headers={"Cache-Control": "no-store"})

    app.layout = lambda: first_frame(data, tile_url)
    register_callbacks(app, data)
    consult_panel.register(app)  # consult UI
    return app


# --- layout -----------------------------------------------------------------------------------------

def _empty_collection() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": []}


def _fn(name: str) -> dict[str, str]:
    """A dash-leaflet function prop bound to ``window.floodWall[name]`` (dashboard/assets/wall.js)."""
    return {"variable": f"floodWall.{name}"}


def station_hideout(lang: Lang, settings: Settings) -> dict[str, Any]:
    """What wall.js needs to label markers in ``lang``."""
    return {"lang": lang, "tz": settings.timezone, "glyphs": i18n.KIND_GLYPH[lang], "kinds": i18n.KIND_NAME[lang],
            "metrics": i18n.METRIC_NAME[lang], "units": {m.name: m.unit for m in METRICS.values()},
            "levels": {lv: level_mark(lv, lang) for lv in i18n.LEVELS},
            "acknowledged": t(lang, "acknowledged"), "unacknowledged": t(lang, "unacknowledged"),
            "offline": t(lang, "legend_offline"), "no_data": t(lang, "no_data")}


def layer_names() -> dict[str, Any]:
    """The layers control's entries in every language, for the clientside renaming (wall.js layerNames)."""
    keys = (*i18n.OVERLAYS, "stations")
    return {"lang": None, "names": {lang: {key: t(lang, f"overlay_{key}") for key in keys}
                                    | overlays.OVERLAY_NAMES[lang] for lang in i18n.LANGS}}


def layer_hideout(layer: str, lang: Lang) -> dict[str, str]:
    return {"layer": layer, "lang": lang}


def _overlay_layer(name: str, lang: Lang) -> dl.GeoJSON:
    return dl.GeoJSON(id=f"wall-layer-{name}", data=_empty_collection(), hideout=layer_hideout(name, lang),
                      style=_fn("layerStyle"), pointToLayer=_fn("layerPoint"), onEachFeature=_fn("layerFeature"))


OVERLAYS_ON = frozenset({"rivers", "reservoirs", "seawalls"})
# Cameras and the 600 LED boards and loudspeakers would hide the stations at county zoom: on demand.
LIVE_OVERLAYS_ON = frozenset({"storm"})


def build_layout(settings: Settings, tile_url: str | None = None) -> html.Div:
    lang = i18n.DEFAULT_LANG
    basemap: list[Any] = []
    if tile_url:
        basemap.append(dl.TileLayer(id="wall-tiles", url=tile_url, maxZoom=18))
    basemap += [
        dl.GeoJSON(id="wall-county", data=_empty_collection(), hideout=layer_hideout("county", lang),
                   style=_fn("layerStyle"), interactive=False),
        dl.GeoJSON(id="wall-towns", data=_empty_collection(), hideout=layer_hideout("towns", lang),
                   style=_fn("layerStyle"), onEachFeature=_fn("townFeature"), interactive=False),
    ]
    entries = [dl.Overlay(_overlay_layer(name, lang), id=f"wall-overlay-{name}", name=t(lang, f"overlay_{name}"),
                          checked=name in OVERLAYS_ON) for name in i18n.OVERLAYS]
    entries += overlays.overlay_layers(lang, tz=settings.timezone, checked=LIVE_OVERLAYS_ON)
    stations = dl.GeoJSON(id="wall-stations", data=_empty_collection(), cluster=True, zoomToBoundsOnClick=True,
                          superClusterOptions={"radius": 40, "maxZoom": 13},
                          pointToLayer=_fn("stationMarker"), clusterToLayer=_fn("stationCluster"),
                          hideout=station_hideout(lang, settings))
    entries.append(dl.Overlay(stations, id="wall-overlay-stations", name=t(lang, "overlay_stations"), checked=True))
    the_map = dl.MapContainer(
        [*basemap, dl.LayersControl(entries, id="wall-layers", collapsed=False, position="topright"),
         dl.ScaleControl(imperial=False, position="bottomright")],
        id="wall-map", center=list(MAP_CENTER), zoom=MAP_ZOOM, zoomSnap=0.25, attributionControl=False,
        style={"height": "100%", "width": "100%"})

    def panel(key: str, body_id: str, extra_class: str, count_id: str | None = None) -> html.Section:
        heading = [html.Span(t(lang, f"panel_{key}"), id=f"wall-title-{key}")]
        if count_id:
            heading.append(html.Span("", id=count_id, className="count"))
        return html.Section([html.H2(heading), html.Div(id=body_id, className="panel-body")],
                            className=f"panel {extra_class}")

    header = html.Header([
        html.Div([html.H1(t(lang, "title"), id="wall-title")], className="head-left"),
        html.Div([html.Span(t(lang, "response_level"), className="resp-label"),
                  html.Strong(i18n.RESPONSE_NAME[lang]["none"], className="resp-value")],
                 id="wall-response-level", className="resp-none"),
        html.Div([html.Label([html.Span(t(lang, "drill_label"), id="wall-drill-label"),
                              dcc.Dropdown(id="wall-drill", options=[{"label": t(lang, "live"), "value": 0}],
                                           value=0, clearable=False, searchable=False)],
                             className="drill-picker"),
                  html.Div([html.Div("", id="wall-clock", **{"data-tz": settings.timezone}),
                            html.Div([html.Span("", id="wall-data-time"), html.Span(" · ", className="sep"),
                                      html.Span("", id="wall-status", className="ok")], className="clock-sub")],
                           className="clock-box"),
                  html.Button(t(lang, "lang_button"), id="wall-lang", n_clicks=0)], className="head-right"),
    ], className="wall-header")

    series_panel = html.Section([
        html.H2(html.Span(t(lang, "panel_series"), id="wall-series-title")),
        html.Div(series_hint(lang), id="wall-series-box", className="series-box"),
    ], className="panel p-series")

    return html.Div([
        html.Div([
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
        ], className="wall-state"),
        header,
        html.Div("", id="wall-drill-banner"),
        html.Div("", id="wall-history-banner"),
        html.Main([
            html.Div([panel("warnings", "wall-warnings", "p-warnings", "wall-warnings-count"),
                      panel("reservoirs", "wall-reservoirs", "p-reservoirs")], className="col col-left"),
            html.Div([html.Section([the_map, html.Div(legend(lang), id="wall-legend")], className="panel p-map"),
                      timebar(lang), series_panel], className="col col-center"),
            html.Div([panel("rain", "wall-rain-rank", "p-rain"),
                      panel("orders", "wall-orders", "p-orders"),
                      panel("reports", "wall-reports", "p-reports")], className="col col-right"),
        ], className="wall-main"),
        consult_panel.consult_drawer(lang),  # consult UI
    ], id="wall-root")


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
    return html.Div([
        html.Span(t(lang, "time_title"), id="wall-time-title", className="tb-title"),
        html.Div(dcc.Slider(id="wall-time", min=-span, max=0, step=TIME_STEP_MIN, value=0, marks=time_marks(lang),
                            included=False, updatemode="mouseup", allow_direct_input=False), className="tb-slider"),
        html.Span(t(lang, "time_live"), id="wall-time-label", className="tb-label"),
        html.Button(t(lang, "time_live_button"), id="wall-live", n_clicks=0, className="tb-button"),
        html.A(t(lang, "download_map"), id="wall-download", href=MAP_EXPORT_PATH, className="tb-button",
               download="situation-map.html", rel="nofollow"),
        consult_panel.consult_button(lang),  # consult UI
    ], id="wall-timebar", className="timebar")


def legend(lang: Lang) -> list[Any]:
    items: list[Any] = [html.Div(t(lang, "legend_title"), className="lg-title")]
    items.append(html.Div(
        [html.Span([html.Span(i18n.LEVEL_SHAPE[lv], className=f"lg-shape level-{lv}"), " ", level_mark(lv, lang)[2:]],
                   className="lg-item", **{"data-level": lv}) for lv in i18n.LEVELS]
        + [html.Span(f"○ {t(lang, 'legend_normal')}", className="lg-item"),
           html.Span(f"◌ {t(lang, 'legend_offline')}", className="lg-item")]))
    items.append(html.Div([html.Span([html.Span(glyph, className="lg-glyph"), i18n.KIND_NAME[lang][kind]],
                                     className="lg-item") for kind, glyph in i18n.KIND_GLYPH[lang].items()]))
    return items


# --- rendering (pure: plain values in, components out) ---------------------------------------------

def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def local_time(value: Any, settings: Settings, fmt: str = "%m-%d %H:%M") -> str:
    moment = _as_datetime(value)
    return moment.astimezone(settings.tz).strftime(fmt) if moment else ""


def _town(row: dict[str, Any], lang: Lang, key: str = "town") -> str:
    if lang == "en":
        return str(row.get(f"{key}_en") or row.get(key) or "")
    return str(row.get(key) or "")


def render_response_level(level: dict[str, Any], lang: Lang, settings: Settings) -> tuple[list[Any], str]:
    code = level.get("level") or "none"
    children: list[Any] = [html.Span(t(lang, "response_level"), className="resp-label"),
                           html.Strong(i18n.RESPONSE_NAME[lang].get(code, code), className="resp-value",
                                       **{"data-level": code})]
    if level.get("decided_by"):
        children.append(html.Span(t(lang, "response_by", who=level["decided_by"],
                                    at=local_time(level.get("decided_at"), settings, "%H:%M")),
                                  className="resp-by", title=str(level.get("reason") or "")))
    return children, f"resp-{code}"


def render_warnings(rows: list[dict[str, Any]], lang: Lang, settings: Settings) -> list[Any]:
    if not rows:
        return [html.Div(t(lang, "no_warnings"), className="empty")]
    out = []
    for w in rows:
        level = w.get("level")
        subject = w.get("subject_name") or w.get("subject")
        town = w.get("town_name")
        acked = bool(w.get("acknowledged"))
        by = w.get("acknowledged_by")
        ack_text = t(lang, "acknowledged") + (f" · {by}" if acked and by else "")
        out.append(html.Div([
            html.Span(level_mark(level, lang), className=f"badge level-{level}"),
            html.Span(f"{subject} · {town}" if town else str(subject), className="w-subject"),
            html.Span(local_time(w.get("raised_at"), settings), className="w-time"),
            html.Span(w.get("message_en" if lang == "en" else "message_zh") or "", className="w-msg"),
            html.Span(ack_text if acked else t(lang, "unacknowledged"),
                      className="w-ack acked" if acked else "w-ack unack"),
        ], className=f"w-row level-{level}", **{"data-level": level, "data-id": str(w.get("id"))}))
    return out


def render_rain(ranking: dict[str, Any], lang: Lang) -> list[Any]:
    columns = []
    for window in ("1h", "3h", "24h"):
        items = ranking.get(window) or []
        body: Any = html.Ol([html.Li([html.Span(item["name"], className="rain-name", title=_town(item, lang)),
                                      html.Span(f"{float(item['mm']):.1f}", className="rain-mm")],
                                     **{"data-code": item["code"]}) for item in items]) \
            if items else html.Div(t(lang, "no_rain"), className="empty")
        columns.append(html.Div([html.H3(t(lang, f"rain_{window}")), body], id=f"wall-rain-{window}",
                                className="rain-col"))
    return columns


def render_reservoirs(rows: list[dict[str, Any]], season: str | None, lang: Lang) -> list[Any]:
    if season is None:
        return [html.Div(t(lang, "off_season"), className="empty")]
    note = html.Div(t(lang, "season", season=i18n.name(i18n.SEASON_NAME, lang, season)), className="season-note")
    if not rows:
        return [note, html.Div(t(lang, "no_reservoirs"), className="empty")]
    head = html.Tr([html.Th(x) for x in (
        ("水库", "乡镇", "水位 m", "汛限 m", "超汛限") if lang == "zh"
        else ("Reservoir", "Town", "Level m", "Limit m", "Over"))])
    body = [html.Tr([html.Td(r["name"]), html.Td(_town(r, lang)), html.Td(f"{r['level']:.2f}", className="num"),
                     html.Td(f"{r['flood_limit']:.2f}", className="num"),
                     html.Td(t(lang, "level_over", excess=f"{r['excess']:.2f}"), className="num excess")],
                    **{"data-code": r["code"]}) for r in rows]
    return [note, html.Table([html.Thead(head), html.Tbody(body)], className="wall-table")]


CALL_STATES = ("acknowledged", "carried_out", "pending", "unreached")
CALL_MARK = {"acknowledged": "✔", "carried_out": "★", "pending": "…", "unreached": "✖"}


def _left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def render_orders(rows: list[dict[str, Any]], lang: Lang, settings: Settings,
                  now: datetime | None = None) -> list[Any]:
    """Order cards; ``now`` (live only) turns the nearest pending 叫应 deadline into a countdown."""
    if not rows:
        return [html.Div(t(lang, "no_orders"), className="empty")]
    out = []
    for o in rows:
        draft = o["status"] == "draft"
        head = [html.Span(o["order_no"], className="o-no"),
                html.Span(t(lang, "order_draft" if draft else "order_approved"),
                          className="o-status draft" if draft else "o-status")]
        if o.get("level"):
            head.append(html.Span(level_mark(o["level"], lang), className=f"badge level-{o['level']}"))
        head.append(html.Span(local_time(o.get("approved_at") or o.get("drafted_at"), settings), className="w-time"))
        parts = [html.Div(head, className="o-head"),
                 html.Div(o["title_en"] if lang == "en" else o["title_zh"], className="o-title")]
        if not draft:
            parts.append(html.Div([html.Span(f"{CALL_MARK[state]} {t(lang, f'town_{state}')} {o[state]}",
                                             className=f"c-{state}", **{"data-count": str(o[state])})
                                   for state in CALL_STATES], className="o-counts"))
            extra = []
            if o.get("escalated"):
                extra.append(html.Span(f"⇧ {t(lang, 'town_escalated')} {o['escalated']}", className="c-escalated",
                                       **{"data-count": str(o["escalated"])}))
            deadline = _as_datetime(o.get("next_deadline"))
            if now is not None and deadline is not None and o.get("pending"):
                left = (deadline - now).total_seconds()
                extra.append(html.Span(t(lang, "deadline_in", left=_left(left)) if left > 0
                                       else t(lang, "deadline_over"),
                                       className="o-deadline" + ("" if left > 0 else " over")))
            if extra:
                parts.append(html.Div(extra, className="o-calls"))
            unreached = o["unreached_towns_en"] if lang == "en" else o["unreached_towns"]
            if unreached:
                parts.append(html.Div(f"{t(lang, 'town_unreached')}：{'、'.join(x for x in unreached if x)}"
                                      if lang == "zh" else f"Unreached: {', '.join(x for x in unreached if x)}",
                                      className="o-unreached"))
        out.append(html.Div(parts, className="o-card", **{"data-id": str(o["id"]), "data-status": o["status"]}))
    return out


def render_reports(rows: list[dict[str, Any]], lang: Lang, settings: Settings) -> list[Any]:
    if not rows:
        return [html.Div(t(lang, "no_reports"), className="empty")]
    out = []
    for r in rows:
        head = [html.Span(local_time(r.get("reported_at"), settings), className="r-time"),
                html.Span(i18n.name(i18n.REPORT_KIND_NAME, lang, r.get("kind")), className="r-kind"),
                html.Span(r.get("town_name") or "", className="r-town")]
        if r.get("warning_level") and r.get("warning_state") == "active":
            head.append(html.Span(level_mark(r["warning_level"], lang), className=f"badge level-{r['warning_level']}"))
        if r.get("people_affected"):
            head.append(html.Span(t(lang, "people_affected", n=r["people_affected"])))
        text = str(r.get("text") or "")
        out.append(html.Div([html.Div(head, className="r-head"),
                             html.Div(text if len(text) <= 80 else text[:79] + "…", className="r-text")],
                            className="r-row", **{"data-id": str(r.get("id"))}))
    return out


def drill_options(drills: list[dict[str, Any]], lang: Lang) -> list[dict[str, Any]]:
    return [{"label": t(lang, "live"), "value": 0}] + [
        {"label": t(lang, "drill_option", id=d["id"], name=d["name"]), "value": d["id"]} for d in drills]


def render_drill_banner(drill_id: int, drills: list[dict[str, Any]], lang: Lang) -> tuple[str, str]:
    if drill_id == 0:
        return "", ""
    name = next((d["name"] for d in drills if d["id"] == drill_id), "")
    return t(lang, "drill_banner", id=drill_id, name=name), "drill-on"


# --- series figure ---------------------------------------------------------------------------------

def _figure_layout(lang: Lang, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": "#0f1a2c", "plot_bgcolor": "#0b1424", "font": {"color": "#f2f5fa", "size": 15},
        "margin": {"l": 60, "r": 60, "t": 10, "b": 40}, "hovermode": "x unified", "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "bgcolor": "rgba(0,0,0,0)"},
        "xaxis": {"gridcolor": "#22324d", "type": "date"},
        "yaxis": {"gridcolor": "#22324d", "zeroline": False},
    }
    layout.update(extra)
    return layout


def series_hint(lang: Lang, text: str | None = None) -> html.Div:
    """The series panel before a station is picked (or when it has no data): text, no chart. The chart
    (plotly, ~1 s of the browser's time to load) is mounted only when there is a series to draw."""
    return html.Div(text or t(lang, "panel_series"), className="empty series-hint")


def series_graph(figure: dict[str, Any]) -> dcc.Graph:
    return dcc.Graph(id="wall-series", figure=figure, config={"displaylogo": False, "displayModeBar": False,
                                                              "responsive": True},
                     style={"flex": "1", "minHeight": 0, "height": "100%"})


def _x(points: list[list[Any]], settings: Settings) -> list[str]:
    return [local_time(p[0], settings, "%Y-%m-%d %H:%M:%S") for p in points]


def threshold_lines(info: queries.StationInfo, flood_limit_column: str | None,
                    lang: Lang) -> list[tuple[str, float, str, str]]:
    """(label, value, colour, dash) of the lines to draw for this station's kind."""
    out = []
    for key, colour, dash_style in THRESHOLD_LINES.get(info.kind, ()):
        column = flood_limit_column if key == "fsltdz" else key
        if column is None or column not in info.thresholds:
            continue
        out.append((i18n.name(i18n.THRESHOLD_NAME, lang, key), info.thresholds[column], colour, dash_style))
    if info.kind == "weather":
        for force, speed, colour, dash_style in WIND_FORCE_LINES:
            out.append((f"{force}级" if lang == "zh" else f"force {force}", speed, colour, dash_style))
    return out


def series_figure(info: queries.StationInfo, main: stations_store.Series | None, rain: stations_store.Series | None,
                  lines: list[tuple[str, float, str, str]], lang: Lang, settings: Settings,
                  start: datetime, end: datetime) -> dict[str, Any]:
    """The station's main metric as a line (or hourly rainfall bars for a rain gauge), its rainfall as bars
    on a second axis, and its thresholds as labelled horizontal lines."""
    traces: list[dict[str, Any]] = []
    rain_axis = "y" if main is None else "y2"
    if main is not None and main.points:
        traces.append({"type": "scatter", "mode": "lines", "name": i18n.name(i18n.METRIC_NAME, lang, main.metric),
                       "x": _x(main.points, settings), "y": [p[1] for p in main.points],
                       "line": {"color": "#4fc3f7", "width": 3}, "hovertemplate": f"%{{y:.2f}} {main.unit}"})
    if rain is not None and rain.points:
        traces.append({"type": "bar", "name": t(lang, "axis_rain"), "x": _x(rain.points, settings),
                       "y": [p[1] for p in rain.points], "yaxis": rain_axis, "marker": {"color": "#7fb2ff"},
                       "opacity": 0.75, "hovertemplate": "%{y:.1f} mm"})
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value,
               "line": {"color": colour, "width": 2, "dash": dash_style}, "name": label}
              for label, value, colour, dash_style in lines]
    # Labels alternate between the right and left ends, so lines close together keep readable labels.
    annotations = [{"xref": "paper", "x": 1 - index % 2, "xanchor": "left" if index % 2 else "right", "yref": "y",
                    "y": value, "yanchor": "bottom", "text": f"{label} {value:.2f}", "showarrow": False,
                    "font": {"color": colour, "size": 14}, "bgcolor": "rgba(15,26,44,0.8)"}
                   for index, (label, value, colour, _) in enumerate(lines)]
    if not traces:
        annotations.append({"text": t(lang, "no_data"), "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                            "showarrow": False, "font": {"size": 18, "color": "#a9b7cc"}})
    x_range = [start.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S"),
               end.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S")]
    extra: dict[str, Any] = {"shapes": shapes, "annotations": annotations, "uirevision": info.code,
                             "xaxis": {"gridcolor": "#22324d", "type": "date", "range": x_range,
                                       "tickformat": "%H:%M\n%m-%d", "hoverformat": "%m-%d %H:%M"},
                             "meta": {"station": info.code, "thresholds": {label: v for label, v, _, _ in lines}}}
    if main is not None:
        extra["yaxis"] = {"gridcolor": "#22324d", "zeroline": False,
                          "title": {"text": f"{i18n.name(i18n.METRIC_NAME, lang, main.metric)} ({main.unit})"}}
        if rain is not None and rain.points:
            extra["yaxis2"] = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                               "autorange": "reversed", "title": {"text": t(lang, "axis_rain")}}
    else:
        extra["yaxis"] = {"gridcolor": "#22324d", "rangemode": "tozero", "title": {"text": t(lang, "axis_rain")}}
    return {"data": traces, "layout": _figure_layout(lang, **extra)}


def scaled(figure: dict[str, Any], scale: Any) -> dict[str, Any]:
    """Plotly sizes text in pixels: scale it with the wall (``wall-scale``: viewport width / 1920, 1..3)."""
    try:
        factor = min(max(float(scale), 1.0), 3.0)
    except (TypeError, ValueError):
        factor = 1.0
    if factor == 1.0:
        return figure
    layout = figure["layout"]
    layout["font"] = {**layout.get("font", {}), "size": round(layout.get("font", {}).get("size", 15) * factor)}
    for note in layout.get("annotations", []):
        if "font" in note:
            note["font"] = {**note["font"], "size": round(note["font"].get("size", 14) * factor)}
    margin = layout.get("margin", {})
    layout["margin"] = {k: round(v * factor) for k, v in margin.items()}
    for trace in figure["data"]:
        if "line" in trace:
            trace["line"] = {**trace["line"], "width": trace["line"].get("width", 2) * factor}
    for shape in layout.get("shapes", []):
        shape["line"] = {**shape["line"], "width": shape["line"].get("width", 2) * factor}
    return figure


def station_series(conn: psycopg.Connection, data: WallData, code: str, drill_id: int,
                   lang: Lang, at: datetime | None = None) -> tuple[dict[str, Any] | None, str]:
    """(figure, heading) for one station over the SERIES_SPAN up to ``at`` (default: the drill's clock);
    no figure for a station that does not exist."""
    settings = data.settings
    info = queries.station_info(conn, code)
    if info is None:
        return None, t(lang, "panel_series")
    clock_at = at or queries.clock(conn, drill_id).at
    end = clock_at + timedelta(minutes=1)
    start = end - SERIES_SPAN
    origin = datetime(2000, 1, 1, tzinfo=settings.tz)
    main = None
    main_metric = stations_store.DEFAULT_METRIC_BY_KIND.get(info.kind, "water_level")
    if main_metric != "rainfall":
        main = stations_store.series(conn, stations_store.SeriesQuery(
            code=code, metric=main_metric, start=start, end=end, bucket=None, drill_id=drill_id), origin=origin)
    rain = stations_store.series(conn, stations_store.SeriesQuery(
        code=code, metric="rainfall", start=start, end=end, bucket=RAIN_BUCKET, drill_id=drill_id), origin=origin)
    _, limit_column = queries.season_column(data.rules, clock_at)
    figure = series_figure(info, main, rain, threshold_lines(info, limit_column, lang), lang, settings, start, end)
    town = info.town_en if lang == "en" and info.town_en else info.town
    kind = i18n.name(i18n.KIND_NAME, lang, info.kind) + (f" · {town}" if town else "")
    return figure, t(lang, "series_title", name=info.name, code=info.code, kind=kind)


# --- callbacks ---------------------------------------------------------------------------------------

def collection_bounds(collection: dict[str, Any]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of a GeoJSON FeatureCollection (Leaflet's order), None when empty."""
    lons: list[float] = []
    lats: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
        elif isinstance(coords, list):
            for item in coords:
                walk(item)

    for feature in collection.get("features") or []:
        walk((feature.get("geometry") or {}).get("coordinates"))
    return [[min(lats), min(lons)], [max(lats), max(lons)]] if lons else None


def _drill(value: Any) -> int:
    """A drill id from the browser (untrusted): an int in PostgreSQL's range, else 0 (live)."""
    try:
        drill = int(value)
    except (TypeError, ValueError):
        return 0
    return drill if 0 <= drill <= MAX_DRILL_ID else 0


def _moment_value(value: Any) -> datetime | None:
    """The time slider's moment from the browser (untrusted): an ISO time with an offset, else None (live)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    moment = _as_datetime(value)
    return moment if moment is not None and moment.tzinfo is not None else None


def map_export_href(drill: int, at: datetime | None) -> str:
    """The download link of the situation map as the wall shows it."""
    query = {"drill": str(drill)} if drill else {}
    if at is not None:
        query["at"] = at.isoformat()
    return f"{MAP_EXPORT_PATH}?{urlencode(query)}" if query else MAP_EXPORT_PATH


def _digest(text: str) -> str:
    """What the page already has: a short hash of the last data sent (re-sent only when it changed)."""
    return _digest_bytes(text.encode())


def _plain(value: Any) -> Any:
    """Dash components as plain JSON (for the digests of rendered panels)."""
    return value.to_plotly_json()


def _digest_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _query_param(search: str | None, name: str) -> str | None:
    values = parse_qs((search or "").lstrip("?")).get(name)
    return values[0] if values else None


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
# Sent on every refresh; everything else only when it differs from what the page has (``wall-overlays-version``).
ALWAYS_SENT = frozenset({"stations", "version", "status", "status_class", "overlay_versions", *LAYER_OUTPUTS})


def situation(data: WallData, drill: int, lang: Lang, at: datetime | None, version: Any = None,
              overlay_versions: Any = None, layers_loaded: Any = True) -> dict[str, Any]:
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
            rain = data.rain_ranking(conn, drill, clock.at) if at is None else \
                queries.rain_ranking(conn, drill, at)
            layers = overlays.overlay_data(conn, drill, situation_at, when.recorded_by)
            county = {} if layers_loaded else map_layer_values(conn)
    except DATA_ERRORS as exc:
        out: dict[str, Any] = {key: dash.no_update for key in REFRESH_OUTPUTS}
        why = (str(exc).strip() or type(exc).__name__).splitlines()[0][:120]
        out["status"] = t(lang, "stale", why=why, at=datetime.now(settings.tz).strftime("%H:%M:%S"))
        out["status_class"] = "stale"
        return out
    sent = overlay_versions if isinstance(overlay_versions, dict) else {}
    level_children, level_class = render_response_level(level, lang, settings)
    banner, banner_class = render_drill_banner(drill, drills, lang)
    shown = t(lang, "drill_clock" if drill else "data_time",
              at=local_time(clock.newest, settings, "%Y-%m-%d %H:%M")) if clock.newest else ""
    if at is None:
        time_label, history, history_class = t(lang, "time_live"), "", ""
    else:
        stamp = local_time(at, settings, "%Y-%m-%d %H:%M")
        time_label = t(lang, "time_history_drill" if drill else "time_history", at=stamp)
        history, history_class = t(lang, "history_banner", at=stamp), "history-on"
    values: dict[str, Any] = {
        "stations": dash.no_update if digest == version else stations_url,
        "version": dash.no_update if digest == version else digest,
        "level": level_children, "level_class": level_class,
        "banner": banner, "banner_class": banner_class,
        "warnings": render_warnings(warnings[:WARNING_ROWS], lang, settings),
        "warnings_count": t(lang, "count", n=len(warnings)),
        "rain": render_rain(rain, lang),
        "reservoirs": render_reservoirs(reservoirs, season, lang),
        "orders": render_orders(orders, lang, settings, None if at else datetime.now(settings.tz)),
        "reports": render_reports(reports, lang, settings),
        "data_time": shown,
        "status": t(lang, "updated", at=datetime.now(settings.tz).strftime("%H:%M:%S")),
        "status_class": "ok",
        "time_label": time_label, "history": history, "history_class": history_class,
        "timebar_class": "timebar history-on" if at else "timebar",
        "download": map_export_href(drill, at),
        **layers,
        **{key: county.get(key, dash.no_update) for key in LAYER_OUTPUTS},
    }
    # What the page has is not sent again: replacing a panel's rows costs the page per component (Dash resets
    # each one it removes), which at a few hundred rows every tick kept a 5,000-station wall busy.
    digests = {key: _digest(orjson.dumps(value, default=_plain).decode())
               for key, value in values.items() if key not in ALWAYS_SENT}
    for key, value in digests.items():
        if sent.get(key) == value:
            values[key] = dash.no_update
    values["overlay_versions"] = dash.no_update if sent == digests else digests
    return values


def map_layer_values(conn: psycopg.Connection) -> dict[str, Any]:
    """The values of LAYER_OUTPUTS: the county's own vector layers and the view that fits them."""
    layers = queries.map_layers(conn)
    stored = layers.get("layers") or {}
    out: dict[str, Any] = {f"layer_{name}": stored.get(name) or _empty_collection()
                           for name in (*i18n.OVERLAYS, "county")}
    out["layer_towns"] = layers.get("towns") or _empty_collection()
    out["bounds"] = (collection_bounds(out["layer_towns"]) or collection_bounds(out["layer_county"])
                     or dash.no_update)
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
        _fill(root, {"data": Output("wall-stations", "data")}, {"data": None})   # the map loads the URL
    return root


def register_callbacks(app: dash.Dash, data: WallData) -> None:
    settings = data.settings

    @app.callback(output=REFRESH_OUTPUTS,
                  inputs={"tick": Input("wall-tick", "n_intervals"), "drill_value": Input("wall-drill", "value"),
                          "lang_value": Input("wall-lang-store", "data"), "at_value": Input("wall-at", "data"),
                          "pulse": Input("wall-pulse", "data")},
                  state={"version": State("wall-stations-version", "data"),
                         "overlay_versions": State("wall-overlays-version", "data"),
                         "layers_loaded": State("wall-layers-loaded", "data")},
                  prevent_initial_call=True)   # the layout carries the first frame
    def refresh(tick: int | None, drill_value: Any, lang_value: Any, version: str | None,
                at_value: Any = None, pulse: Any = None, overlay_versions: Any = None,
                layers_loaded: Any = True) -> dict[str, Any]:
        return situation(data, _drill(drill_value), lang_of(lang_value), _moment_value(at_value), version,
                         overlay_versions, layers_loaded)

    @app.callback(Output("wall-at", "data"), Input("wall-time", "value"), State("wall-drill", "value"),
                  prevent_initial_call=True)
    def set_moment(minutes: Any, drill_value: Any) -> Any:
        """The slider picks a moment (minutes before the drill's or the live clock, kept as a fixed time so
        the view holds still while the clock moves on)."""
        try:
            back = int(minutes or 0)
        except (TypeError, ValueError):
            back = 0
        if back >= 0:
            return None
        drill = _drill(drill_value)
        try:
            with data.connection() as conn:
                clock = queries.clock(conn, drill)
                first, last = queries.history_span(conn, drill, clock.at)
        except DATA_ERRORS:
            return dash.no_update
        at = min(max(last + timedelta(minutes=back), first), last)
        return at.isoformat()

    # "Back to live" and another drill return to live, in the page.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="floodWall", function_name="backToLive"),
        Output("wall-at", "data", allow_duplicate=True), Output("wall-time", "value"),
        Input("wall-live", "n_clicks"), Input("wall-drill", "value"), prevent_initial_call=True)

    # The toggle flips the language; ``?lang=en`` picks it on load (in the page: no round trip, and nothing
    # downstream runs when the language stays as the page came).
    app.clientside_callback(
        dash.ClientsideFunction(namespace="floodWall", function_name="language"),
        Output("wall-lang-store", "data"), Input("wall-lang", "n_clicks"), Input("wall-url", "search"),
        State("wall-lang-store", "data"))

    @app.callback(output=LABEL_OUTPUTS, inputs={"lang_value": Input("wall-lang-store", "data")},
                  prevent_initial_call=True)   # the layout comes in the default language
    def render_labels(lang_value: Any) -> dict[str, Any]:
        lang = lang_of(lang_value)
        out: dict[str, Any] = {
            "title": t(lang, "title"), "lang_button": t(lang, "lang_button"), "drill_label": t(lang, "drill_label"),
            "legend": legend(lang), "stations_hideout": station_hideout(lang, settings),
            "towns_hideout": layer_hideout("towns", lang),
            "time_title": t(lang, "time_title"), "time_marks": time_marks(lang),
            "live_button": t(lang, "time_live_button"), "download_label": t(lang, "download_map"),
        }
        for key in ("warnings", "rain", "reservoirs", "orders", "reports"):
            out[key] = t(lang, f"panel_{key}")
        for name in i18n.OVERLAYS:
            out[f"{name}_hideout"] = layer_hideout(name, lang)
        for key in overlays.OVERLAY_IDS:
            out[f"{key}_hideout"] = overlays.overlay_hideout(key, lang, settings.timezone)
        return out

    @app.callback(Output("wall-drill", "options"), Output("wall-drill", "value"),
                  Input("wall-url", "search"), Input("wall-tick", "n_intervals"), Input("wall-lang-store", "data"),
                  State("wall-drill", "options"), State("wall-drill", "value"))
    def drill_choices(search: str | None, tick: int | None, lang_value: Any, options: list[dict[str, Any]] | None,
                      value: Any) -> tuple[Any, Any]:
        """The selector's choices (live + running drills, kept current) and, from ``?drill=N``, its value.
        Both go out together: a Dropdown drops a value that is not among its options."""
        lang = lang_of(lang_value)
        from_url = dash.ctx.triggered_id in (None, "wall-url")
        wanted = _drill(_query_param(search, "drill") or 0) if from_url else _drill(value)
        try:
            with data.connection() as conn:
                drills = queries.running_drills(conn, wanted)
        except DATA_ERRORS:
            return dash.no_update, dash.no_update
        choices = drill_options(drills, lang)
        known = wanted == 0 or any(d["id"] == wanted for d in drills)
        new_value = (wanted if known else 0) if from_url else dash.no_update
        if new_value == _drill(value):
            new_value = dash.no_update        # unchanged: the panels need no second read
        return (dash.no_update if choices == options else choices), new_value

    @app.callback(Output("wall-selected", "data"),
                  Input("wall-stations", "clickData"), Input("wall-url", "search"), State("wall-selected", "data"))
    def select_station(click: dict[str, Any] | None, search: str | None, current: str | None) -> Any:
        """A click on a station marker selects it (a click on a cluster zooms instead); so does ``?station=``."""
        if dash.ctx.triggered_id == "wall-stations":
            props = (click or {}).get("properties") or {}
            if props.get("cluster") or not props.get("code"):
                return dash.no_update
            return str(props["code"])
        code = _query_param(search, "station")
        return code if code and code != current else dash.no_update

    @app.callback(Output("wall-series-box", "children"), Output("wall-series-title", "children"),
                  Input("wall-selected", "data"), Input("wall-lang-store", "data"), Input("wall-drill", "value"),
                  Input("wall-tick", "n_intervals"), Input("wall-scale", "data"), Input("wall-at", "data"),
                  prevent_initial_call=True)   # the layout shows the hint
    def show_series(code: str | None, lang_value: Any, drill_value: Any, tick: int | None,
                    scale: Any = 1.0, at_value: Any = None) -> tuple[Any, Any]:
        lang = lang_of(lang_value)
        if not code:
            if dash.ctx.triggered_id in ("wall-tick", "wall-scale", "wall-at", "wall-drill"):
                return dash.no_update, dash.no_update
            return series_hint(lang), t(lang, "panel_series")
        try:
            with data.connection() as conn:
                figure, title = station_series(conn, data, str(code), _drill(drill_value), lang,
                                               _moment_value(at_value))
        except DATA_ERRORS:
            return dash.no_update, dash.no_update
        except FloodError:   # a malformed station code from the URL
            figure, title = None, t(lang, "panel_series")
        if figure is None:
            return series_hint(lang, t(lang, "no_data")), title
        return series_graph(scaled(figure, scale)), title

    # Leaflet's layers control keeps the names it was given, so the language of its entries is set in the
    # page; again after each refresh, in case Leaflet re-rendered the control.
    app.clientside_callback(
        dash.ClientsideFunction(namespace="floodWall", function_name="layerNames"),
        Output("wall-layer-names", "data"), Input("wall-lang-store", "data"), Input("wall-status", "children"),
        State("wall-layer-names", "data"))
    # The map fits the county once it exists (dash-leaflet applies `viewport` only after mounting).
    app.clientside_callback(
        dash.ClientsideFunction(namespace="floodWall", function_name="fitCounty"),
        Output("wall-map", "viewport"), Input("wall-bounds", "data"))
    app.clientside_callback(
        dash.ClientsideFunction(namespace="floodWall", function_name="scale"),
        Output("wall-scale", "data"), Input("wall-url", "pathname"))

