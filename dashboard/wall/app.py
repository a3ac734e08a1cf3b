"""The wall as an app: the Dash app with its Flask routes (stations GeoJSON, pulse, login page), the viewer rule,
and the ASGI app the API mounts at /wall."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import dash
import flask

from alerts.rules import DEFAULT_PATH, load_rules
from dashboard import consult_panel, queries
from dashboard.wall.callbacks import first_frame, register_callbacks
from dashboard.wall.data import DATA_ERRORS, PREFIX, PULSE_PATH, STATIONS_PATH, WallData, drill_of, moment_of
from floodctl.auth.tokens import SESSION_COOKIE
from floodctl.core.settings import Settings

TITLE = "象山县防汛防台指挥 — 会商大屏"
ASSETS = Path(__file__).parent.parent / "assets"
WSGI_WORKERS = 8
GZIP_MIN_BYTES = 1_024
GZIP_LEVEL = 5  # level 9 costs ~4x the time for ~2 % less on the stations GeoJSON
EXTENSION_KEY = "floodctl_wall"


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
        base: Callable[[], dict[str, Any]] = super()._config  # untyped in Dash
        config = base()
        config.pop("dash_version_url", None)  # an external URL (dev tools' version check)
        config.pop("python_version", None)
        return config


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
    from starlette.types import ASGIApp

    # a2wsgi types its scopes as TypedDicts, Starlette as plain mappings: the same ASGI interface.
    wsgi = cast("ASGIApp", WSGIMiddleware(app.server, workers=WSGI_WORKERS))
    return GZipMiddleware(wsgi, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)


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
        "dashboard.wall",
        requests_pathname_prefix=PREFIX,
        routes_pathname_prefix="/",
        serve_locally=True,
        title=TITLE,
        update_title="",
        assets_folder=str(ASSETS),
        index_string=INDEX,
        compress=False,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"},
            {"name": "referrer", "content": "no-referrer"},
        ],
    )
    data = WallData(database_url, settings, rules)
    server: flask.Flask = app.server
    server.extensions[EXTENSION_KEY] = data

    @server.before_request
    def viewer_rule() -> flask.Response | None:
        try:
            if viewer_allowed(settings, flask.request, data):
                return None
        except DATA_ERRORS:
            return flask.Response(
                "数据库不可用 / database unavailable", status=503, mimetype="text/plain; charset=utf-8"
            )
        if flask.request.method == "GET" and flask.request.path in ("/", ""):
            return flask.Response(
                LOGIN_PAGE,
                status=401,
                mimetype="text/html",
                headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
            )
        return flask.Response("需要登录 / login required", status=401, mimetype="text/plain; charset=utf-8")

    @server.route(f"/{STATIONS_PATH}")
    def serve_stations() -> flask.Response:
        """The stations GeoJSON the map asked for by URL: from the cache by its digest; else read afresh."""
        text = data.cached_stations(flask.request.args.get("v", ""))
        if text is None:
            drill, at = drill_of(flask.request.args.get("drill")), moment_of(flask.request.args.get("at"))
            try:
                with data.connection() as conn:
                    text = queries.stations_state(conn, drill, queries.moment(conn, drill, at)).encode()
            except DATA_ERRORS:
                return flask.Response("database unavailable", status=503, mimetype="text/plain")
        return flask.Response(text, mimetype="application/json", headers={"Cache-Control": "private, max-age=60"})

    @server.route(f"/{PULSE_PATH}")
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
