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

The package, one module per concern:

- ``app``: the Dash app, its Flask routes (the stations GeoJSON, the pulse, the login page) and its mounting;
- ``data``: what the callbacks read (``WallData``: the wall's pool and caches) and the checks of browser input;
- ``layout``: the page and its component ids; ``panels``: the panels' rendering; ``series``: the series plot;
- ``callbacks``: the refresh (``situation``), the first frame and the page's callbacks.

Login: reads follow ``viewer_allowed`` (closed reads: the session cookie set by the API's login, else a
login page); changes (acknowledging, consultation decisions) are made by the
browser through the HTTP API with the user's bearer token, so the audit trail is the API's.
"""

from dashboard.wall.app import asgi_app, close_wall, create_wall
from dashboard.wall.data import collection_bounds

__all__ = ["asgi_app", "close_wall", "collection_bounds", "create_wall"]
