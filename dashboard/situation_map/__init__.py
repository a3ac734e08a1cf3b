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

The package: ``situation`` reads the situation as of T, ``markers`` draws stations (symbols, popups),
``layers`` the county's layers and the storm, ``page`` the whole map with its title and legend, ``offline``
renders it self-contained and writes the file.
"""

from dashboard.situation_map.offline import ExportResult, export_map, external_references, render_offline
from dashboard.situation_map.page import build_map
from dashboard.situation_map.situation import Situation, StationState, load_situation, parse_at

__all__ = [
    "ExportResult",
    "Situation",
    "StationState",
    "build_map",
    "export_map",
    "external_references",
    "load_situation",
    "parse_at",
    "render_offline",
]
