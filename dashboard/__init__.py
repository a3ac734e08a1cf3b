"""Dash wall dashboard, folium situation-map export, consultations (会商), mobile pages.

- ``wall``: the consultation wall (会商大屏) at ``/wall/``, a Dash app mounted in the API app
  (``floodctl.api.app.create_app``) and served by the same process and origin; component ids are
  listed in ``wall.layout``.
- ``queries``: the wall's reads, every one scoped to a drill and able to look back to a past moment
  (``Moment``; the map's stations in one statement).
- ``overlays``: the storm (track, forecast, wind radii), cameras and LED boards / loudspeakers layers.
- ``consult`` (service), ``briefing`` (会商简报, pure), ``consult_panel`` (the wall's 会商 drawer).
- ``situation_map``: the offline folium situation map (``floodctl map export``).
- ``routes``: the HTTP routes, ``routes.consult`` (``/api/v1/consultations``) and ``routes.map``
  (``/api/v1/map/export``, the map's download).
- ``components``: small helpers for Dash components (HTML attributes, clientside callbacks).
- ``i18n``: every user-facing text of the wall, zh-CN by default, English by the toggle.
- ``assets/``: the wall's CSS and JavaScript (map styling, overlays, the 会商 drawer, clock and pulse),
  served by Dash under ``/wall/assets/``.
"""
