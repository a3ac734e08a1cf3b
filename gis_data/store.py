"""The SQL of the GIS layers: towns, stations and the other layers into PostgreSQL, and back out as GeoJSON.

Towns and stations have tables of their own (property names follow the columns; properties without
a column are kept in the ``properties`` jsonb); every other layer is one row of ``layers`` holding
its whole document. Nothing here checks the data: the loader does that before calling in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from floodctl.core.errors import Conflict
from floodctl.domain.thresholds import THRESHOLD_NAMES
from gis_data.checks.stations import TEXT_FIELDS
from gis_data.layers import LAYERS

if TYPE_CHECKING:  # psycopg is imported where used: checking files needs only shapely
    import psycopg

TOWN_COLUMNS = ("code", "name", "name_en", "seat_lon", "seat_lat")
# Columns of `stations` filled from properties of the same name (`town` goes to town_code).
STATION_COLUMNS = (*TEXT_FIELDS, "elevation_m", *THRESHOLD_NAMES)


# --- towns and stations -----------------------------------------------------------------------


def _upsert_sql(table: str, columns: tuple[str, ...], fixed: Mapping[str, str]) -> str:
    """INSERT … ON CONFLICT (code) DO UPDATE for named parameters ``columns``.

    ``fixed`` are columns set to an SQL expression rather than a parameter, on insert and update.
    """
    names = [*columns, *fixed]
    values = [f"%({c})s" for c in columns] + list(fixed.values())
    updates = [f"{c} = EXCLUDED.{c}" for c in names if c != "code"]
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT (code) DO UPDATE SET {', '.join(updates)}"
    )


TOWN_ROW = (*TOWN_COLUMNS, "geometry", "properties")
STATION_ROW = ("code", "name", "kind", "town_code", "lon", "lat", *STATION_COLUMNS, "properties")
TOWN_UPSERT = _upsert_sql("towns", TOWN_ROW, {})
# A station that is in the file is active again, even if an earlier load had retired it.
STATION_UPSERT = _upsert_sql("stations", STATION_ROW, {"active": "true", "updated_at": "now()"})
# Stations missing from the file keep their rows (and so their history) but stop being active.
DEACTIVATE = "UPDATE stations SET active = false, updated_at = now() WHERE active AND NOT (code = ANY(%(codes)s))"


def town_row(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of ``TOWN_UPSERT`` for one valid feature (jsonb columns as plain dicts)."""
    props = feature["properties"]
    row = {column: props.get(column) for column in TOWN_COLUMNS}
    row["geometry"] = feature["geometry"]
    row["properties"] = {k: v for k, v in props.items() if k not in TOWN_COLUMNS}
    return row


def station_row(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of ``STATION_UPSERT`` for one valid feature (jsonb columns as plain dicts)."""
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    row = {column: props.get(column) for column in STATION_COLUMNS}
    own = {"code", "name", "kind", "town", *STATION_COLUMNS}
    row.update(
        code=props["code"],
        name=props["name"],
        kind=props["kind"],
        town_code=props["town"],
        lon=lon,
        lat=lat,
        properties={k: v for k, v in props.items() if k not in own},
    )
    return row


def write_towns_and_stations(
    conn: psycopg.Connection[Any], towns_fc: Mapping[str, Any], stations_fc: Mapping[str, Any]
) -> dict[str, int]:
    """Upsert towns, then stations, and deactivate stations not in ``stations_fc``, in one transaction.

    Returns ``{"towns": n, "stations": n, "deactivated": n}``. Runs in a transaction of its own, or
    in a savepoint if the caller already has one open; raises ``Conflict`` when the database refuses.
    """
    import psycopg
    from psycopg.types.json import Jsonb

    def adapt(row: dict[str, Any]) -> dict[str, Any]:
        # The dict-valued parameters are exactly the jsonb columns (geometry, properties).
        return {k: Jsonb(v) if isinstance(v, dict) else v for k, v in row.items()}

    towns = [adapt(town_row(f)) for f in towns_fc["features"]]
    stations = [adapt(station_row(f)) for f in stations_fc["features"]]
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(TOWN_UPSERT, towns)
            cur.executemany(STATION_UPSERT, stations)
            cur.execute(DEACTIVATE, {"codes": [s["code"] for s in stations]})
            deactivated = cur.rowcount
    except psycopg.errors.IntegrityError as exc:
        # E.g. a town name that the database holds under another code (names are unique).
        detail = (exc.diag.message_detail or exc.diag.message_primary or str(exc)).rstrip(".")
        raise Conflict(f"the database refused the GIS data: {detail}; nothing was loaded") from exc
    return {"towns": len(towns), "stations": len(stations), "deactivated": deactivated}


# --- the other layers -------------------------------------------------------------------------

LAYER_UPSERT = (
    "INSERT INTO layers (name, title, geojson, feature_count, loaded_at) "
    "VALUES (%(name)s, %(title)s, %(geojson)s, %(feature_count)s, now()) "
    "ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title, geojson = EXCLUDED.geojson, "
    "feature_count = EXCLUDED.feature_count, loaded_at = EXCLUDED.loaded_at"
)
SET_CATCHMENT = (
    "UPDATE stations SET properties = CASE WHEN %(catchment)s::text IS NULL THEN properties - 'catchment' "
    "ELSE properties || jsonb_build_object('catchment', %(catchment)s::text) END, updated_at = now() "
    "WHERE code = %(code)s AND properties->>'catchment' IS DISTINCT FROM %(catchment)s::text"
)


def _title(name: str, doc: Any) -> str:
    given = doc.get("name") if isinstance(doc, dict) else None
    return given if isinstance(given, str) and given else LAYERS[name].title


def _feature_count(name: str, doc: Any) -> int:
    key = "towns" if name == "roster" else "features"
    return len(doc.get(key, [])) if isinstance(doc, dict) else 0


def write_layers(
    conn: psycopg.Connection[Any], layers: Mapping[str, Any], catchments: Mapping[str, str | None] | None = None
) -> dict[str, int]:
    """One row of ``layers`` per document (name -> parsed file); with ``catchments`` (station code ->
    catchment code or None), each station's ``properties.catchment`` too.

    Returns the feature count per layer written, and ``catchment_links``: the stations in a catchment.
    """
    from psycopg.types.json import Jsonb

    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for name, doc in layers.items():
            counts[name] = _feature_count(name, doc)
            params = {"name": name, "title": _title(name, doc), "geojson": Jsonb(doc), "feature_count": counts[name]}
            cur.execute(LAYER_UPSERT, params)
        if catchments is not None:
            links = [{"code": c, "catchment": k} for c, k in sorted(catchments.items())]
            cur.executemany(SET_CATCHMENT, links)
            counts["catchment_links"] = sum(1 for k in catchments.values() if k is not None)
    return counts


# --- reading back -----------------------------------------------------------------------------

LIST_LAYERS = (
    "SELECT name, title, feature_count, loaded_at FROM layers "
    "UNION ALL SELECT 'towns', %(towns_title)s::text, count(*)::int, NULL::timestamptz FROM towns "
    "UNION ALL SELECT 'stations', %(stations_title)s::text, count(*)::int, max(updated_at) FROM stations WHERE active "
    "ORDER BY 1"
)
LAYER_BY_NAME = "SELECT geojson FROM layers WHERE name = %s"


def _properties_sql(columns: Mapping[str, str]) -> str:
    """``jsonb_build_object`` arguments that put each column (value) under its property name (key)."""
    return ", ".join(f"'{name}', {column}" for name, column in columns.items())


_TOWN_PROPERTIES = _properties_sql({c: c for c in TOWN_COLUMNS})
_STATION_PROPERTIES = _properties_sql(
    {"code": "code", "name": "name", "kind": "kind", "town": "town_code", **{c: c for c in STATION_COLUMNS}}
)
TOWNS_GEOJSON = f"""
SELECT json_build_object('type', 'FeatureCollection', 'name', %(title)s::text, 'features', coalesce(json_agg(
    json_build_object('type', 'Feature', 'geometry', geometry,
        'properties', properties || jsonb_build_object({_TOWN_PROPERTIES}))
    ORDER BY code), '[]'::json))::text
FROM towns
"""
STATIONS_GEOJSON = f"""
SELECT json_build_object('type', 'FeatureCollection', 'name', %(title)s::text, 'features', coalesce(json_agg(
    json_build_object('type', 'Feature', 'geometry', json_build_object('type', 'Point', 'coordinates',
        json_build_array(lon, lat)),
        'properties', jsonb_strip_nulls(properties || jsonb_build_object({_STATION_PROPERTIES})))
    ORDER BY code), '[]'::json))::text
FROM stations WHERE active
"""


def list_layers(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Name, title, feature_count and loaded_at (ISO text or None) of every layer in the database."""
    rows = conn.execute(
        LIST_LAYERS, {"towns_title": LAYERS["towns"].title, "stations_title": LAYERS["stations"].title}
    ).fetchall()
    return [
        {
            "name": r[0],
            "title": r[1],
            "feature_count": r[2],
            "loaded_at": r[3].isoformat() if r[3] is not None else None,
        }
        for r in rows
    ]


def layer_json(conn: psycopg.Connection[Any], name: str) -> str | None:
    """One layer as JSON text (towns and stations from their tables); None when there is no such layer."""
    if name == "towns":
        row = conn.execute(TOWNS_GEOJSON, {"title": LAYERS["towns"].title}).fetchone()
    elif name == "stations":
        row = conn.execute(STATIONS_GEOJSON, {"title": LAYERS["stations"].title}).fetchone()
    else:
        row = conn.execute(LAYER_BY_NAME, (name,)).fetchone()
        if row is not None:
            return json.dumps(row[0], ensure_ascii=False)
    return str(row[0]) if row else None
