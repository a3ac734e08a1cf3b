"""Storm, camera and device overlays of the wall dashboard, as GeoJSON as of a time T (data only, no callbacks).

``overlay_data(conn, drill_id, at, recorded_by)`` reads three layers with one statement each and returns
plain GeoJSON FeatureCollections, ready for dash-leaflet (``overlay_layers`` builds the components, bound
to the drawing functions in ``assets/wall-overlays.js``)::

    "storm"    storm_fixes ≤ T ──► role=past      LineString, the fixes up to T (ending at the position)
               (event time)       role=position  Point, interpolated at T; radii interpolated too
                                  role=forecast  LineString, from the position through the fixes ≤ T + 72 h
                                  role=fix       Points: time, wind, pressure, grade, phase past|forecast
                                  role=radius    Polygons: force 7 / 10 / 12 circles around the position
    "cameras"  cameras layer ⟕ newest video_events row at or before T (event time, within LOOKBACK)
    "devices"  villages' LED boards and loudspeakers ⟕ the newest LED / speaker delivery of the drill
               queued by ``recorded_by`` (wall clock), in the state it had then

Times: ``at`` is the situation's time, a drill's own clock in a drill (storm fixes and video events carry
event time); ``recorded_by`` bounds what is stamped with the wall clock (deliveries), None for no bound.
A delivery's state at ``recorded_by`` is rebuilt from its timestamps: its current state if it was last
changed by then, else ``sent`` if it had been sent by then, else ``pending``.

Live operations (drill 0) show the storms with fixes within STORM_WINDOW of T; a drill shows its own
recorded track, whose fixes after its clock are its forecast. The storm logic is shared with the offline
situation map (``dashboard.situation_map`` imports it from here).

Only http(s) URLs reach ``snapshot_url`` (the page puts it into a link): anything else is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg

from dashboard.i18n import Lang, lang_of
from floodctl.core.errors import BadRequest
from floodctl.domain.geodesy import EARTH_RADIUS_KM, KM_PER_DEGREE
from floodctl.domain.storms import StormFix

__all__ = [
    "OVERLAY_IDS",
    "OVERLAY_NAMES",
    "STORM_FIXES",
    "STORM_GRADES",
    "Storm",
    "camera_collection",
    "circle",
    "device_collection",
    "interpolate",
    "overlay_data",
    "overlay_hideout",
    "overlay_layers",
    "safe_url",
    "state_as_of",
    "storm_collection",
    "storm_grade",
    "storms_at",
]

# China's tropical cyclone grades (GB/T 19201-2006) by 2-minute mean maximum wind, m/s: (floor, name, colour).
STORM_GRADES = (
    (51.0, "超强台风", "#8b0000"),
    (41.5, "强台风", "#d7191c"),
    (32.7, "台风", "#f07800"),
    (24.5, "强热带风暴", "#f2c200"),
    (17.2, "热带风暴", "#1f5fbf"),
    (0.0, "热带低压", "#2e8b57"),
)
STORM_GRADE_EN = {
    "超强台风": "Super typhoon",
    "强台风": "Severe typhoon",
    "台风": "Typhoon",
    "强热带风暴": "Severe tropical storm",
    "热带风暴": "Tropical storm",
    "热带低压": "Tropical depression",
}
STORM_FORECAST_H = 72  # forecast fixes drawn after T
STORM_WINDOW = timedelta(days=10)  # live storms: fixes within this span of T
FORCES = (7, 10, 12)  # wind radii, storm_fixes.r7_km / r10_km / r12_km
CIRCLE_POINTS = 72
LOOKBACK = timedelta(days=7)  # a camera report older than this before T is not "latest as of T"
DEVICE_RING_M = 120.0  # a village's devices sit on a ring this far around its point (apart from z14)
METRES_PER_DEGREE = KM_PER_DEGREE * 1000.0
COORD_DIGITS = 5  # ~1 m

# Layer ids on the wall (dash-leaflet GeoJSON ids; the LayersControl entry is "wall-overlay-" + the key).
OVERLAY_IDS = {"storm": "wall-layer-storm", "cameras-live": "wall-layer-cameras-live", "devices": "wall-layer-devices"}
OVERLAY_NAMES: dict[Lang, dict[str, str]] = {
    "zh": {"storm": "台风路径与风圈", "cameras-live": "视频监控（最新截图）", "devices": "LED屏与高音喇叭"},
    "en": {
        "storm": "Typhoon track and wind radii",
        "cameras-live": "Cameras (latest snapshot)",
        "devices": "LED boards and loudspeakers",
    },
}
# The drawing functions of each layer in window.floodWall (assets/wall-overlays.js).
_FUNCTIONS = {
    "storm": {"style": "stormStyle", "pointToLayer": "stormPoint", "onEachFeature": "stormFeature"},
    "cameras-live": {"pointToLayer": "cameraPoint", "onEachFeature": "cameraFeature"},
    "devices": {"pointToLayer": "devicePoint", "onEachFeature": "deviceFeature"},
}


# --- storms ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Storm:
    name: str
    past: list[StormFix]  # fixes at or before T (observed)
    position: StormFix | None  # where the storm is at T (interpolated), None when T is outside the track
    forecast: list[StormFix]  # fixes after T, up to STORM_FORECAST_H


STORM_FIXES = """
SELECT storm, at, lat, lon, max_wind_ms, pressure_hpa, forecast, r7_km, r10_km, r12_km FROM storm_fixes
WHERE drill_id = %(drill)s AND (%(drill)s <> 0 OR at BETWEEN %(at)s - %(window)s AND %(at)s + %(window)s)
ORDER BY storm, at, forecast
"""


def storm_grade(wind_ms: float) -> tuple[str, str]:
    """(zh-CN grade name, colour) of a maximum wind."""
    for floor, name, colour in STORM_GRADES:
        if wind_ms >= floor:
            return name, colour
    return STORM_GRADES[-1][1], STORM_GRADES[-1][2]


def _between(a: float | None, b: float | None, f: float) -> float | None:
    """Linear between two known values; with one unknown, the nearer fix's value."""
    if a is not None and b is not None:
        return a + f * (b - a)
    return a if f < 0.5 else b


def interpolate(a: StormFix, b: StormFix, at: datetime) -> StormFix:
    """The storm at ``at`` between two fixes, linearly in time (fixes are ≤ 6 h apart)."""
    span = b.at - a.at
    f = 0.0 if span <= 0 else (at.timestamp() - a.at) / span
    pressure = (
        None
        if a.pressure_hpa is None or b.pressure_hpa is None
        else a.pressure_hpa + f * (b.pressure_hpa - a.pressure_hpa)
    )
    return StormFix(
        at=at.timestamp(),
        lat=a.lat + f * (b.lat - a.lat),
        lon=a.lon + f * (b.lon - a.lon),
        max_wind_ms=a.max_wind_ms + f * (b.max_wind_ms - a.max_wind_ms),
        pressure_hpa=pressure,
        r7_km=_between(a.r7_km, b.r7_km, f),
        r10_km=_between(a.r10_km, b.r10_km, f),
        r12_km=_between(a.r12_km, b.r12_km, f),
    )


def storms_at(rows: Sequence[tuple[Any, ...]], at: datetime) -> list[Storm]:
    """The storms as of T from STORM_FIXES rows: fixes up to T, the position at T, the forecast after T."""
    by_name: dict[str, tuple[dict[datetime, StormFix], dict[datetime, StormFix]]] = {}
    for storm, when, lat, lon, wind, pressure, forecast, *radii in rows:
        observed, predicted = by_name.setdefault(storm, ({}, {}))
        r7, r10, r12 = radii
        (predicted if forecast else observed)[when] = StormFix(
            at=when.timestamp(),
            lat=lat,
            lon=lon,
            max_wind_ms=wind,
            pressure_hpa=pressure,
            r7_km=r7,
            r10_km=r10,
            r12_km=r12,
            forecast=forecast,
        )
    storms = []
    horizon = at + timedelta(hours=STORM_FORECAST_H)
    for name, (observed, predicted) in by_name.items():
        seen = [(t, f) for t, f in sorted(observed.items()) if t <= at]
        past = [f for _, f in seen]
        # After T, a drill's recorded track is its forecast; a live storm's forecast fixes count too.
        ahead = {t: f for t, f in predicted.items() if t > at} | {t: f for t, f in observed.items() if t > at}
        forecast = [f for t, f in sorted(ahead.items()) if t <= horizon]
        position = None
        if seen and seen[-1][0] == at:
            position = past[-1]
        elif past and forecast:
            position = interpolate(past[-1], forecast[0], at)
        if past or forecast:
            storms.append(Storm(name, past, position, forecast))
    return storms


def circle(lat: float, lon: float, radius_km: float, points: int = CIRCLE_POINTS) -> list[list[float]]:
    """A closed GeoJSON ring ([lon, lat], counter-clockwise) of the points ``radius_km`` from the centre
    along great circles (spherical Earth)."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    delta = radius_km / EARTH_RADIUS_KM
    ring = []
    for k in range(points):
        bearing = -2 * math.pi * k / points  # north, then west: counter-clockwise seen from above
        phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing))
        lam2 = lam1 + math.atan2(
            math.sin(bearing) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
        )
        ring.append(
            [round((math.degrees(lam2) + 540.0) % 360.0 - 180.0, COORD_DIGITS), round(math.degrees(phi2), COORD_DIGITS)]
        )
    ring.append(ring[0])
    return ring


def _xy(fix: StormFix) -> list[float]:
    return [round(fix.lon, COORD_DIGITS), round(fix.lat, COORD_DIGITS)]


def _fix_properties(storm: str, fix: StormFix) -> dict[str, Any]:
    grade, colour = storm_grade(fix.max_wind_ms)
    props: dict[str, Any] = {
        "storm": storm,
        "time": fix.time.isoformat(),
        "wind_ms": round(fix.max_wind_ms, 1),
        "pressure_hpa": None if fix.pressure_hpa is None else round(fix.pressure_hpa, 1),
        "grade": grade,
        "grade_en": STORM_GRADE_EN[grade],
        "colour": colour,
    }
    for force in FORCES:
        radius = fix.radius_km(force)
        if radius is not None:
            props[f"r{force}_km"] = round(radius, 1)
    return props


def _feature(geometry_type: str, coordinates: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": geometry_type, "coordinates": coordinates},
        "properties": properties,
    }


def storm_collection(storms: Sequence[Storm]) -> dict[str, Any]:
    """The storms as one FeatureCollection, drawn bottom to top: radii, tracks, fixes, position."""
    radii: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    fixes: list[dict[str, Any]] = []
    positions: list[dict[str, Any]] = []
    for storm in storms:
        position = storm.position
        past = [_xy(f) for f in storm.past]
        if position is not None and (not storm.past or position.at != storm.past[-1].at):
            past.append(_xy(position))
        if len(past) > 1:
            lines.append(_feature("LineString", past, {"role": "past", "storm": storm.name}))
        start = position or (storm.past[-1] if storm.past else None)
        ahead = ([_xy(start)] if start else []) + [_xy(f) for f in storm.forecast]
        if storm.forecast and len(ahead) > 1:
            lines.append(_feature("LineString", ahead, {"role": "forecast", "storm": storm.name}))
        for phase, group in (("past", storm.past), ("forecast", storm.forecast)):
            fixes += [
                _feature("Point", _xy(f), {"role": "fix", "phase": phase, **_fix_properties(storm.name, f)})
                for f in group
            ]
        if position is None:
            continue
        positions.append(
            _feature("Point", _xy(position), {"role": "position", **_fix_properties(storm.name, position)})
        )
        for force in FORCES:  # widest first, so the smaller circles lie on top
            radius = position.radius_km(force)
            if radius is not None and radius > 0:
                radii.append(
                    _feature(
                        "Polygon",
                        [circle(position.lat, position.lon, radius)],
                        {"role": "radius", "storm": storm.name, "force": force, "radius_km": round(radius, 1)},
                    )
                )
    return {"type": "FeatureCollection", "features": radii + lines + fixes + positions}


# --- cameras --------------------------------------------------------------------------------------


def _layer_points(layer: str) -> str:
    """SQL: the point features of a stored layer, in the layer's order: (ord, p = properties, lon, lat), the
    coordinates null when they are not numbers."""
    return f"""
  SELECT f.ord, f.feature -> 'properties' AS p,
         CASE WHEN jsonb_typeof(f.feature #> '{{geometry,coordinates,0}}') = 'number'
                THEN (f.feature #>> '{{geometry,coordinates,0}}')::float8 END AS lon,
         CASE WHEN jsonb_typeof(f.feature #> '{{geometry,coordinates,1}}') = 'number'
                THEN (f.feature #>> '{{geometry,coordinates,1}}')::float8 END AS lat
  FROM layers l CROSS JOIN LATERAL jsonb_array_elements(l.geojson -> 'features') WITH ORDINALITY AS f(feature, ord)
  WHERE l.name = '{layer}' AND f.feature -> 'geometry' ->> 'type' = 'Point'"""


# Each camera of the layer with its station's newest report at or before T (within LOOKBACK): the report of
# the same camera id, or any camera's report when the layer has only this camera at the station (drills and
# devices do not always name a camera as the layer does).
CAMERAS = f"""
WITH cam AS ({_layer_points("cameras")}
), placed AS (
  SELECT cam.*, s.id AS station_id, s.name AS station_name,
         count(*) OVER (PARTITION BY cam.p ->> 'station') AS at_station
  FROM cam LEFT JOIN stations s ON s.code = cam.p ->> 'station'
)
SELECT placed.p, placed.lon, placed.lat, placed.station_name, ve.camera, ve.ts, ve.online, ve.snapshot_url, ve.event
FROM placed
LEFT JOIN LATERAL (
  SELECT v.camera, v.ts, v.online, v.snapshot_url, v.event FROM video_events v
  WHERE v.station_id = placed.station_id AND v.drill_id = %(drill)s
    AND v.ts <= %(at)s AND v.ts > %(since)s
    AND (placed.at_station = 1 OR v.camera = placed.p ->> 'camera')
  ORDER BY v.ts DESC LIMIT 1
) ve ON true
ORDER BY placed.ord
"""


def safe_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host and nothing odd in it, else None."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    if any(c.isspace() or ord(c) < 32 or c in "\"'<>\\`" for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def camera_collection(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """CAMERAS rows as features: code, name, station, station_name, camera, online (null: no report),
    snapshot_url (the report's, else the layer's; http(s) only), event, ts."""
    features = []
    for p, lon, lat, station_name, camera, ts, online, snapshot, event in rows:
        if lon is None or lat is None:
            continue
        p = p or {}
        props = {
            "code": p.get("code"),
            "name": p.get("name"),
            "station": p.get("station"),
            "station_name": station_name,
            "camera": camera or p.get("camera"),
            "town": p.get("town"),
            "target": p.get("target"),
            "online": online,
            "ts": ts.isoformat() if ts else None,
            "event": event,
            "snapshot_url": safe_url(snapshot) or safe_url(p.get("snapshot_url")),
        }
        features.append(_feature("Point", [round(lon, COORD_DIGITS), round(lat, COORD_DIGITS)], props))
    return {"type": "FeatureCollection", "features": features}


# --- LED boards and loudspeakers ------------------------------------------------------------------

# Every device of the villages layer (LED boards first, in the layer's order) with the newest delivery to it
# on its channel in this drill that had been queued by `recorded_by`, and that delivery's order.
DEVICES = f"""
WITH village AS ({_layer_points("villages")}
), device AS (
  SELECT v.ord, v.p, v.lon, v.lat, d.channel, d.device, d.k
  FROM village v CROSS JOIN LATERAL (
    SELECT 'led' AS channel, x.device, x.k FROM jsonb_array_elements_text(
      CASE WHEN jsonb_typeof(v.p -> 'led_boards') = 'array' THEN v.p -> 'led_boards' ELSE '[]' END)
      WITH ORDINALITY AS x(device, k)
    UNION ALL
    SELECT 'speaker', x.device, 1000 + x.k FROM jsonb_array_elements_text(
      CASE WHEN jsonb_typeof(v.p -> 'speakers') = 'array' THEN v.p -> 'speakers' ELSE '[]' END)
      WITH ORDINALITY AS x(device, k)
  ) d
)
SELECT device.p ->> 'code', device.p ->> 'name', device.p ->> 'town', device.lon, device.lat, device.channel,
       device.device, last.state, last.created_at, last.sent_at, last.updated_at, last.body, last.order_id,
       last.order_no, last.title_zh, last.title_en
FROM device
LEFT JOIN LATERAL (
  SELECT dl.state, dl.created_at, dl.sent_at, dl.updated_at, dl.body, o.id AS order_id, o.order_no,
         o.title_zh, o.title_en
  FROM deliveries dl JOIN orders o ON o.id = dl.order_id
  WHERE dl.address = device.device AND dl.channel = device.channel AND dl.drill_id = %(drill)s
    AND dl.created_at <= coalesce(%(recorded_by)s::timestamptz, 'infinity')
  ORDER BY dl.created_at DESC, dl.id DESC LIMIT 1
) last ON true
ORDER BY device.ord, device.k
"""


def state_as_of(
    state: str, created_at: datetime, sent_at: datetime | None, updated_at: datetime, recorded_by: datetime | None
) -> tuple[str, datetime]:
    """A delivery's state, and since when, as recorded by ``recorded_by`` (None: as it stands)."""
    if recorded_by is None or updated_at <= recorded_by:
        return state, (sent_at if state == "sent" and sent_at is not None else updated_at)
    if sent_at is not None and sent_at <= recorded_by:
        return "sent", sent_at
    return "pending", created_at


def _offset(lat: float, lon: float, index: int, count: int) -> list[float]:
    """Device ``index`` of ``count`` on a ring DEVICE_RING_M around the village point, clockwise from north."""
    if count <= 1:
        return [round(lon, COORD_DIGITS), round(lat, COORD_DIGITS)]
    bearing = 2 * math.pi * index / count
    dlat = DEVICE_RING_M * math.cos(bearing) / METRES_PER_DEGREE
    dlon = DEVICE_RING_M * math.sin(bearing) / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    return [round(lon + dlon, COORD_DIGITS), round(lat + dlat, COORD_DIGITS)]


def device_collection(rows: Sequence[tuple[Any, ...]], recorded_by: datetime | None) -> dict[str, Any]:
    """DEVICES rows as features: device, kind (led|speaker), village, village_code, town, and the last
    command: state (null: none), when, order_id, order_no, title, title_en, text."""
    per_village: dict[str, int] = {}
    for row in rows:
        per_village[row[0]] = per_village.get(row[0], 0) + 1
    seen: dict[str, int] = {}
    features = []
    for (
        code,
        name,
        town,
        lon,
        lat,
        channel,
        device,
        state,
        created_at,
        sent_at,
        updated_at,
        body,
        order_id,
        order_no,
        title_zh,
        title_en,
    ) in rows:
        index = seen.get(code, 0)
        seen[code] = index + 1
        if lon is None or lat is None:
            continue
        props: dict[str, Any] = {
            "device": device,
            "kind": channel,
            "village": name,
            "village_code": code,
            "town": town,
            "state": None,
        }
        if state is not None:
            shown, since = state_as_of(state, created_at, sent_at, updated_at, recorded_by)
            props.update(
                state=shown,
                when=since.isoformat(),
                order_id=order_id,
                order_no=order_no,
                title=title_zh,
                title_en=title_en,
                text=body,
            )
        features.append(_feature("Point", _offset(lat, lon, index, per_village[code]), props))
    return {"type": "FeatureCollection", "features": features}


# --- the three layers -----------------------------------------------------------------------------


def overlay_data(
    conn: psycopg.Connection, drill_id: int, at: datetime, recorded_by: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """{"storm", "cameras", "devices"}: FeatureCollections as of ``at`` (event time; a drill's clock in a
    drill), with what is stamped by the wall clock bounded by ``recorded_by`` (None: no bound)."""
    if at.tzinfo is None or (recorded_by is not None and recorded_by.tzinfo is None):
        raise BadRequest("overlay times must carry a time zone")
    params = {"drill": drill_id, "at": at, "window": STORM_WINDOW, "since": at - LOOKBACK, "recorded_by": recorded_by}
    storms = storms_at(conn.execute(STORM_FIXES, params).fetchall(), at)
    return {
        "storm": storm_collection(storms),
        "cameras": camera_collection(conn.execute(CAMERAS, params).fetchall()),
        "devices": device_collection(conn.execute(DEVICES, params).fetchall(), recorded_by),
    }


def overlay_hideout(key: str, lang: Any, tz: str | None = None) -> dict[str, Any]:
    """What wall-overlays.js reads: the layer, the language ("zh" | "en") and the county's time zone."""
    return {"layer": key, "lang": lang_of(lang), "tz": tz}


def overlay_layers(lang: Any, *, tz: str | None = None, checked: frozenset[str] = frozenset(OVERLAY_IDS)) -> list[Any]:
    """``dl.Overlay`` entries for the wall's LayersControl: ``wall-layer-storm``, ``wall-layer-cameras-live``
    and ``wall-layer-devices`` (overlays ``wall-overlay-<key>``), empty, drawn by window.floodWall's
    functions; feed ``overlay_data(...)[key]`` into their ``data`` (cameras-live takes "cameras")."""
    # Imported here: the offline situation map (floodctl map export) uses this module without Dash.
    import dash_leaflet as dl

    chosen = lang_of(lang)
    out = []
    for key, component_id in OVERLAY_IDS.items():
        functions = {prop: {"variable": f"floodWall.{name}"} for prop, name in _FUNCTIONS[key].items()}
        layer = dl.GeoJSON(
            id=component_id,
            data={"type": "FeatureCollection", "features": []},
            hideout=overlay_hideout(key, chosen, tz),
            **functions,
        )
        out.append(dl.Overlay(layer, id=f"wall-overlay-{key}", name=OVERLAY_NAMES[chosen][key], checked=key in checked))
    return out
