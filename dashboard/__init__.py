"""Dash wall dashboard, folium situation-map export, mobile pages.

- ``wall``: the consultation wall (会商大屏) at ``/wall/``, a Dash app mounted in the API app
  (``floodctl.api.app.create_app``) and served by the same process and origin; component ids are
  listed in its docstring.
- ``queries``: the wall's reads, every one scoped to a drill (the map's stations in one statement).
- ``situation_map``: the offline folium situation map (``floodctl map export``).
- ``i18n``: every user-facing text of the wall, zh-CN by default, English by the toggle.
- ``assets/``: the wall's CSS and map-styling JavaScript, served by Dash under ``/wall/assets/``.
"""
