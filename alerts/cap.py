"""OASIS CAP 1.2 (urn:oasis:names:tc:emergency:cap:1.2) XML for response orders.

``cap_document(conn, order_id, settings)`` reads an order and its towns and assembles its message
(``order_message``); the rest is pure: no database, network or clock. ``build_cap(CapMessage)``
returns UTF-8 XML bytes whose element order follows the official CAP 1.2 XSD exactly (alert:
identifier, sender, sent, status, msgType, scope, code*, note?, references?, info; info: language,
category, event, responseType, urgency, severity, certainty, expires?, senderName, headline,
description, instruction?, web?, parameter*, area*; area: areaDesc, polygon*, geocode*). Built with
the standard library's ElementTree only; the XSD check lives in the tests.

Conventions (CAP 1.2 §3.3.2 and the element rules):

* times are ``YYYY-MM-DDThh:mm:ss±hh:mm``: no fractional seconds (truncated), an explicit offset, never
  "Z"; UTC is written ``-00:00`` as the spec requires. Naive datetimes are refused.
* ``identifier`` and ``sender`` hold no whitespace, commas, "<" or "&"; ``references`` is the
  space-separated list of ``sender,identifier,sent`` triples of the earlier messages (Update/Cancel).
* ``scope`` is always Public, ``language`` zh-CN, one ``info`` block.
* polygons are ``lat,lon`` pairs (WGS 84), first pair equal to the last, at least 4 pairs. Only the
  exterior ring of each polygon part is written (a MultiPolygon gives one <polygon> per part); parts
  with more than ``MAX_POLYGON_POINTS`` points are simplified (topology-preserving) and every
  coordinate is snapped to 5 decimals (about 1 m) with validity preserved.
* the warning colour goes into ``parameter`` twice: ``颜色级别``/``红色`` and ``level``/``red``, and into
  urgency/severity/certainty via ``severity_for``.

No ``eventCode`` is written: the message carries no GB/T 35561 event-type code to put there.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import shapely
from psycopg.rows import dict_row
from shapely.geometry import MultiPolygon, Polygon, shape

from floodctl.core.errors import NotFound
from floodctl.core.settings import Settings
from floodctl.domain.hazards import HAZARD_ZH
from floodctl.domain.levels import LEVEL_CAP, LEVEL_ZH, LEVELS

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
LANGUAGE = "zh-CN"
SCOPE = "Public"
STATUSES = ("Actual", "Exercise")
MSG_TYPES = ("Alert", "Update", "Cancel")
CATEGORIES = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
RESPONSE_TYPES = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
GEOCODE_VALUE_NAME = "GB/T 2260"
MAX_POLYGON_POINTS = 200
COORD_DECIMALS = 5
BEIJING = timezone(timedelta(hours=8))
# An order's msg_type, hazard and msg_type again -> CAP msgType, category and responseType.
ORDER_MSG_TYPE = {"alert": "Alert", "update": "Update", "cancel": "Cancel", "allclear": "Update"}
HAZARD_CATEGORY = {
    "river_flood": "Met",
    "reservoir": "Infra",
    "storm_tide": "Met",
    "rainstorm": "Met",
    "typhoon": "Met",
    "waterlogging": "Met",
    "seawall_breach": "Infra",
    "general": "Safety",
}
ORDER_RESPONSE = {"alert": "Evacuate", "update": "Evacuate", "cancel": "None", "allclear": "AllClear"}


_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
# Characters XML 1.0 cannot carry at all (C0 controls other than tab/newline/CR, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class CapArea:
    description: str  # areaDesc, e.g. "石浦镇"
    geometry: Mapping[str, Any] | None  # GeoJSON Polygon or MultiPolygon, lon/lat EPSG:4326, or None
    geocode: str | None = None  # administrative code, e.g. "330225100"


@dataclass(frozen=True, slots=True)
class CapMessage:
    identifier: str  # unique; no whitespace, commas, "<" or "&" (see cap_identifier)
    sender: str  # e.g. "xiangshan-hq@floodctl"
    sent: datetime  # aware
    status: str  # Actual | Exercise
    msg_type: str  # Alert | Update | Cancel
    references: Sequence[tuple[str, str, datetime]]  # (sender, identifier, sent) of earlier messages
    event: str  # zh-CN, e.g. "河道水位预警"
    level: str  # blue | yellow | orange | red
    headline: str  # zh-CN
    description: str  # zh-CN
    instruction: str | None
    sender_name: str  # e.g. "象山县防汛防台抗旱指挥部"
    areas: Sequence[CapArea]
    category: str = "Met"  # CAP category
    response_type: str = "Evacuate"  # CAP responseType
    expires: datetime | None = None
    web: str | None = None
    note: str | None = None  # e.g. "演练 drill 3" for exercises
    code: Sequence[str] = ()  # e.g. ("drill:3",)


def severity_for(level: str) -> tuple[str, str, str]:
    """(urgency, severity, certainty) for a warning colour; see ``floodctl.domain.levels.LEVEL_CAP``."""
    try:
        return LEVEL_CAP[level]
    except KeyError:
        raise ValueError(f"unknown warning level {level!r}; one of {', '.join(LEVELS)}") from None


def cap_identifier(county_code: str, order_id: int, sent: datetime, *, agency_code: str = "000") -> str:
    """A GB/T 35965.1-2018 style message identifier: ``<unit code>_<YYYYMMDDhhmmss>_<order id>``.

    The national early-warning exchange format (GB/T 35965.1-2018, annex A) writes the identifier as
    ``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N``:

    * ``ZZZZZZDDDUUUXX`` the 14-digit issuing-unit code: ZZZZZZ the 6-digit GB/T 2260 division code,
      DDD the 3-digit GB/T 4657 sector code of the issuing body, UUU an internal sub-unit code
      (default "000"), XX an extension (default "00");
    * ``YYYYMMDDhhmmss`` the issue time in Beijing time (UTC+08:00), whatever zone ``sent`` is in;
    * ``N`` a one-digit serial (0-9) for messages of one unit in the same second.

    Here the serial is replaced by the response order id, zero-padded to at least 6 digits, so the
    identifier is unique per order and the same order and time always give the same identifier.

    ``county_code`` is either the 6-digit division code (the unit code is then that code, ``agency_code``
    and "00000") or an already complete 14-digit unit code. ``agency_code`` defaults to "000" (no sector
    code assigned); a deployment registered with the provincial release system passes its own.

    >>> cap_identifier("330225", 42, datetime(2026, 1, 22, 6, 30, tzinfo=timezone.utc))
    '33022500000000_20260122143000_000042'
    """
    if not (county_code.isascii() and county_code.isdigit() and len(county_code) in (6, 14)):
        raise ValueError(f"county code {county_code!r} must be 6 (GB/T 2260) or 14 (issuing unit) digits")
    if not (agency_code.isascii() and agency_code.isdigit() and len(agency_code) == 3):
        raise ValueError(f"agency code {agency_code!r} must be 3 digits (GB/T 4657)")
    if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id < 0:
        raise ValueError(f"order id must be a non-negative integer, got {order_id!r}")
    _require_aware(sent, "sent")
    unit = county_code if len(county_code) == 14 else f"{county_code}{agency_code}00000"
    return f"{unit}_{sent.astimezone(BEIJING):%Y%m%d%H%M%S}_{order_id:06d}"


def cap_datetime(value: datetime) -> str:
    """CAP 1.2 dateTime: ``2026-01-22T14:30:00+08:00``; UTC is ``-00:00``; fractions are dropped."""
    offset = _require_aware(value, "datetime")
    seconds = int(offset.total_seconds())
    if offset % timedelta(minutes=1):
        raise ValueError(f"UTC offset {offset} of {value!r} is not a whole number of minutes")
    sign = "-" if seconds <= 0 else "+"  # zero offset is "-00:00" per CAP 1.2
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{value:%Y-%m-%dT%H:%M:%S}{sign}{hours:02d}:{minutes:02d}"


def build_cap(message: CapMessage) -> bytes:
    """The message as a CAP 1.2 ``<alert>`` document: UTF-8 bytes with an XML declaration."""
    m = message
    _check(m)
    urgency, severity, certainty = severity_for(m.level)

    alert = ET.Element(_tag("alert"))
    _sub(alert, "identifier", m.identifier)
    _sub(alert, "sender", m.sender)
    _sub(alert, "sent", cap_datetime(m.sent))
    _sub(alert, "status", m.status)
    _sub(alert, "msgType", m.msg_type)
    _sub(alert, "scope", SCOPE)
    for code in m.code:
        _sub(alert, "code", code)
    if m.note is not None:
        _sub(alert, "note", m.note)
    if m.references:
        _sub(alert, "references", " ".join(f"{s},{i},{cap_datetime(t)}" for s, i, t in m.references))

    info = _sub(alert, "info")
    _sub(info, "language", LANGUAGE)
    _sub(info, "category", m.category)
    _sub(info, "event", m.event)
    _sub(info, "responseType", m.response_type)
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", certainty)
    if m.expires is not None:
        _sub(info, "expires", cap_datetime(m.expires))
    _sub(info, "senderName", m.sender_name)
    _sub(info, "headline", m.headline)
    _sub(info, "description", m.description)
    if m.instruction is not None:
        _sub(info, "instruction", m.instruction)
    if m.web is not None:
        _sub(info, "web", m.web)
    for name, value in (("颜色级别", LEVEL_ZH[m.level]), ("level", m.level)):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    for area in m.areas:
        element = _sub(info, "area")
        _sub(element, "areaDesc", area.description)
        if area.geometry is not None:
            for polygon in cap_polygons(area.geometry, where=area.description):
                _sub(element, "polygon", polygon)
        if area.geocode is not None:
            geocode = _sub(element, "geocode")
            _sub(geocode, "valueName", GEOCODE_VALUE_NAME)
            _sub(geocode, "value", area.geocode)

    ET.indent(alert, space="  ")
    body = ET.tostring(alert, encoding="unicode", default_namespace=CAP_NS)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def cap_polygons(geometry: Mapping[str, Any], *, where: str = "area") -> list[str]:
    """CAP <polygon> strings for a GeoJSON Polygon/MultiPolygon: one per part, exterior ring only."""
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"{where}: geometry must be a GeoJSON Polygon or MultiPolygon, got {kind!r}")
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValueError(f"{where}: malformed {kind} coordinates: {exc}") from None
    parts = [Polygon(p.exterior) for p in _parts(geom)]
    if not parts or any(not math.isfinite(c) for p in parts for xy in p.exterior.coords for c in xy):
        raise ValueError(f"{where}: empty or non-finite {kind}")
    out: list[str] = []
    for part in parts:
        for ring in _fit(part, where):
            out.append(" ".join(f"{_num(lat)},{_num(lon)}" for lon, lat in ring))
    return out


# --------------------------------------------------------------------------------------------- helpers


def _tag(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    if text is not None:
        element.text = text
    return element


def _require_aware(value: datetime, what: str) -> timedelta:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{what} {value.isoformat()} is naive; give it a time zone")
    return offset


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or _FORBIDDEN_IN_ID.search(value):
        raise ValueError(f"{what} {value!r} must be non-empty without spaces, commas, '<' or '&' (CAP 1.2)")


def _check_text(value: str | None, what: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    bad = _NOT_XML.search(value)
    if bad:
        raise ValueError(f"{what} holds a character XML cannot carry: U+{ord(bad.group()):04X}")


def _check(m: CapMessage) -> None:
    _check_id(m.identifier, "identifier")
    _check_id(m.sender, "sender")
    cap_datetime(m.sent)
    if m.status not in STATUSES:
        raise ValueError(f"unknown status {m.status!r}; one of {', '.join(STATUSES)}")
    if m.msg_type not in MSG_TYPES:
        raise ValueError(f"unknown msg_type {m.msg_type!r}; one of {', '.join(MSG_TYPES)}")
    severity_for(m.level)
    if m.category not in CATEGORIES:
        raise ValueError(f"unknown category {m.category!r}; one of {', '.join(CATEGORIES)}")
    if m.response_type not in RESPONSE_TYPES:
        raise ValueError(f"unknown response_type {m.response_type!r}; one of {', '.join(RESPONSE_TYPES)}")
    if m.msg_type in ("Update", "Cancel") and not m.references:
        raise ValueError(f"a {m.msg_type} message needs references to the messages it updates or cancels")
    for n, ref in enumerate(m.references):
        if not (isinstance(ref, tuple) and len(ref) == 3):
            raise ValueError(f"references[{n}] must be a (sender, identifier, sent) tuple, got {ref!r}")
        _check_id(ref[0], f"references[{n}] sender")
        _check_id(ref[1], f"references[{n}] identifier")
        cap_datetime(ref[2])
    if m.expires is not None:
        cap_datetime(m.expires)
        if m.expires <= m.sent:
            raise ValueError(f"expires {m.expires.isoformat()} is not after sent {m.sent.isoformat()}")
    for value, what in (
        (m.event, "event"),
        (m.headline, "headline"),
        (m.description, "description"),
        (m.sender_name, "sender_name"),
    ):
        _check_text(value, what)
    for optional, what in ((m.instruction, "instruction"), (m.note, "note"), (m.web, "web")):
        _check_text(optional, what, required=False)
    for n, code in enumerate(m.code):
        _check_text(code, f"code[{n}]")
    for n, area in enumerate(m.areas):
        _check_text(area.description, f"areas[{n}].description")
        if area.geocode is not None:
            _check_id(area.geocode, f"areas[{n}].geocode")


def _parts(geom: Any) -> list[Polygon]:
    """The non-empty polygon parts of a (Multi)Polygon, repaired first if it is invalid."""
    if geom.is_empty:
        return []
    if not geom.is_valid:
        geom = shapely.make_valid(
            Polygon(geom.exterior)
            if isinstance(geom, Polygon)
            else MultiPolygon([Polygon(p.exterior) for p in geom.geoms])
        )
    if isinstance(geom, Polygon):
        return [geom]
    found: list[Polygon] = []
    for sub in getattr(geom, "geoms", ()):  # MultiPolygon or GeometryCollection; lines and points drop out
        found.extend(_parts(sub))
    return found


def _fit(part: Polygon, where: str) -> list[list[tuple[float, float]]]:
    """Exterior rings of ``part`` snapped to 5 decimals, each at most MAX_POLYGON_POINTS points, valid.

    Simplification is topology-preserving (Douglas-Peucker that never self-intersects); the tolerance
    starts at the snapping grid and doubles until every ring fits. Snapping uses GEOS' precision model,
    which keeps the result valid (a sliver may split off into its own part, or vanish).
    """
    grid = 10.0**-COORD_DECIMALS
    tolerance = 0.0
    while True:
        simplified = part.simplify(tolerance, preserve_topology=True) if tolerance else part
        snapped = shapely.set_precision(simplified, grid)
        rings = [list(p.exterior.coords) for p in _parts(snapped)]
        if not rings:
            raise ValueError(f"{where}: polygon collapses below {grid:g}° precision")
        if all(len(r) <= MAX_POLYGON_POINTS for r in rings):
            break
        tolerance = tolerance * 2 if tolerance else grid
    for ring in rings:
        if len(ring) < 4 or ring[0] != ring[-1]:  # GEOS guarantees this for valid polygons; CAP requires it
            raise ValueError(f"{where}: polygon ring is not closed with at least 4 points")
    return rings


def _num(value: float) -> str:
    text = f"{value:.{COORD_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def cap_document(conn: psycopg.Connection, order_id: int, settings: Settings) -> bytes:
    """The order ``order_id`` as a CAP 1.2 document (NotFound when there is no such order)."""
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute("SELECT * FROM orders WHERE id = %s", (order_id,)).fetchone()
        if order is None:
            raise NotFound(f"no order {order_id}")
        ref = None
        if order["refers_to"] is not None:
            ref = cur.execute(
                "SELECT id, drafted_at, approved_at FROM orders WHERE id = %s", (order["refers_to"],)
            ).fetchone()
        towns = cur.execute(
            "SELECT code, name, geometry FROM towns WHERE code = ANY(%s) ORDER BY code", (order["towns"],)
        ).fetchall()
    return build_cap(order_message(order, ref, towns, settings))


def _sent(order: Mapping[str, Any]) -> datetime:
    """When an order went out: its approval, or its drafting while it is a draft."""
    return order["approved_at"] or order["drafted_at"]  # type: ignore[no-any-return]


def order_message(
    order: Mapping[str, Any], ref: Mapping[str, Any] | None, towns: Sequence[Mapping[str, Any]], settings: Settings
) -> CapMessage:
    """The CAP message of an ``orders`` row, the order it refers to (Update/Cancel) and its towns."""
    sender = f"{settings.county_code}-hq@floodctl"
    references = []
    if ref is not None:
        references.append((sender, cap_identifier(settings.county_code, ref["id"], _sent(ref)), _sent(ref)))
    drill = order["drill_id"] != 0
    return CapMessage(
        identifier=cap_identifier(settings.county_code, order["id"], _sent(order)),
        sender=sender,
        sent=_sent(order).astimezone(settings.tz),
        status="Exercise" if drill else "Actual",
        msg_type=ORDER_MSG_TYPE[order["msg_type"]],
        references=references,
        event=f"{HAZARD_ZH[order['hazard']]}应急响应指令",
        level=order["level"] or "yellow",
        headline=order["title_zh"],
        description=order["body_zh"],
        instruction=order["sms_zh"],
        sender_name=settings.hq_name,
        areas=[CapArea(description=t["name"], geometry=t["geometry"], geocode=t["code"]) for t in towns],
        category=HAZARD_CATEGORY.get(order["hazard"], "Safety"),
        response_type=ORDER_RESPONSE[order["msg_type"]],
        note=f"演练 drill {order['drill_id']}" if drill else None,
        code=(f"drill:{order['drill_id']}",) if drill else (),
        web=f"{settings.public_url.rstrip('/')}/api/v1/orders/{order['id']}",
    )
