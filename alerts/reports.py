"""Field reports (巡查上报): an inspector's observation, with a place and optionally a photo.

A report whose kind the rules name (``[report_triggers]`` in rules.toml, e.g. a seawall breach) raises a
warning at once — an area warning on the report, in its town — and, from the trigger's ``order_from``
level, drafts an order to that town (approved at once only where ``auto_approve_from`` says so). All in
the transaction that stores the report. A duty officer resolves the report, which clears its warning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi.encoders import jsonable_encoder
from psycopg.rows import dict_row
from shapely.geometry import Point, shape

from alerts import orders
from alerts.rules import REPORT_KINDS, ReportTrigger, RuleSet
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Conflict, NotFound
from floodctl.core.settings import Settings
from floodctl.domain.levels import LEVEL_RANK

MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
MAX_TEXT = 2000

INSERT = """
INSERT INTO reports (drill_id, kind, town_code, lon, lat, text, people_affected, photo, photo_type, reported_by)
VALUES (%(drill_id)s, %(kind)s, %(town)s, %(lon)s, %(lat)s, %(text)s, %(people)s, %(photo)s, %(photo_type)s,
        %(actor)s)
RETURNING id, reported_at
"""
INSERT_WARNING = """
INSERT INTO warnings (rule_id, subject, subject_kind, town_code, drill_id, category, hazard, state, level,
                      raised_at, last_seen, value, threshold, message_zh, message_en, level_history)
VALUES (%s, %s, 'area', %s, %s, 'flood', %s, 'active', %s, %s, %s, NULL, NULL, %s, %s, %s)
RETURNING id
"""
# Reports made by `until` (a wall-clock moment; 'infinity': all), with the state their warning had then.
LIST = """
SELECT r.id, r.drill_id, r.kind, r.town_code, t.name AS town_name, t.name_en AS town_name_en, r.lon, r.lat, r.text,
       r.people_affected, r.photo IS NOT NULL AS has_photo, r.reported_by, r.reported_at, r.warning_id,
       CASE WHEN %(until)s::timestamptz = 'infinity' THEN w.state
            WHEN w.cleared_at <= %(until)s::timestamptz THEN 'cleared'
            WHEN w.id IS NOT NULL THEN 'active' END AS warning_state, w.level AS warning_level
FROM reports r LEFT JOIN towns t ON t.code = r.town_code LEFT JOIN warnings w ON w.id = r.warning_id
WHERE r.drill_id = %(drill)s AND r.reported_at <= %(until)s::timestamptz ORDER BY r.id DESC LIMIT %(limit)s
"""


def photo_type(data: bytes) -> str:
    """The photo's media type from its first bytes (JPEG or PNG); BadRequest otherwise."""
    if len(data) > MAX_PHOTO_BYTES:
        raise BadRequest(f"photo too large: {len(data):,} bytes (at most {MAX_PHOTO_BYTES:,})")
    for magic, media in PHOTO_TYPES.items():
        if data.startswith(magic):
            return media
    raise BadRequest("photo must be a JPEG or PNG image")


def town_at(conn: psycopg.Connection, lon: float, lat: float) -> str | None:
    point = Point(lon, lat)
    for code, geometry in conn.execute("SELECT code, geometry FROM towns WHERE geometry IS NOT NULL"):
        if shape(geometry).covers(point):
            return str(code)
    return None


def submit(
    conn: psycopg.Connection,
    settings: Settings,
    rules: RuleSet,
    *,
    kind: str,
    text: str,
    actor: str,
    town: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    people_affected: int | None = None,
    photo: bytes | None = None,
    drill_id: int = 0,
) -> dict[str, Any]:
    if kind not in REPORT_KINDS:
        raise BadRequest(f"unknown report kind {kind!r}; one of {', '.join(REPORT_KINDS)}")
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise BadRequest(f"text is required (at most {MAX_TEXT} characters)")
    if (lon is None) != (lat is None):
        raise BadRequest("give both lon and lat, or neither")
    if people_affected is not None and people_affected < 0:
        raise BadRequest("people_affected must not be negative")
    if drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {drill_id} is not registered")
    town = _where(conn, town, lon, lat)
    media = photo_type(photo) if photo else None
    report_id, reported_at = conn.execute(
        INSERT,
        dict(
            drill_id=drill_id,
            kind=kind,
            town=town,
            lon=lon,
            lat=lat,
            text=text,
            people=people_affected,
            photo=photo or None,
            photo_type=media,
            actor=actor,
        ),
    ).fetchone()  # type: ignore[misc]
    audit.record(conn, actor, "report.submit", f"report:{report_id}", {"kind": kind, "town": town}, drill_id=drill_id)
    result: dict[str, Any] = {"id": report_id, "town_code": town, "warning_id": None, "order_id": None}
    trigger = rules.report_triggers.get(kind)
    if trigger is None:
        return result
    result["warning_id"], result["order_id"] = _raise_warning(
        conn,
        settings,
        trigger,
        report_id=report_id,
        reported_at=reported_at,
        town=town,
        kind=kind,
        text=text,
        actor=actor,
        drill_id=drill_id,
    )
    return result


def _where(conn: psycopg.Connection, town: str | None, lon: float | None, lat: float | None) -> str:
    """The report's town: the code given (if known), else the town covering lon/lat."""
    if town is not None:
        if conn.execute("SELECT 1 FROM towns WHERE code = %s", (town,)).fetchone() is None:
            raise BadRequest(f"unknown town code {town!r}")
        return town
    if lon is not None and lat is not None:
        found = town_at(conn, lon, lat)
        if found is None:
            raise BadRequest(f"the place ({lon}, {lat}) is not inside any town of the county; give the town code")
        return found
    raise BadRequest("say where: a town code, or lon and lat")


def _raise_warning(
    conn: psycopg.Connection,
    settings: Settings,
    trigger: ReportTrigger,
    *,
    report_id: int,
    reported_at: datetime,
    town: str,
    kind: str,
    text: str,
    actor: str,
    drill_id: int,
) -> tuple[int, int | None]:
    """The trigger's area warning on the report, and from its ``order_from`` level a drafted order (approved
    at once from ``auto_approve_from``): (warning id, order id or None)."""
    town_name = conn.execute("SELECT name FROM towns WHERE code = %s", (town,)).fetchone()[0]  # type: ignore[index]
    message_zh = f"{trigger.title_zh}：{town_name}，{text[:80]}（{actor}上报）"
    message_en = f"field report ({kind}) in {town}: {text[:80]} (reported by {actor})"
    at = reported_at.astimezone(UTC)
    history = orjson.dumps([[at.timestamp(), trigger.level]]).decode()
    warning_id = conn.execute(
        INSERT_WARNING,
        (
            trigger.rule_id,
            f"report:{report_id}",
            town,
            drill_id,
            trigger.hazard,
            trigger.level,
            at,
            at,
            message_zh,
            message_en,
            history,
        ),
    ).fetchone()[0]  # type: ignore[index]
    conn.execute(
        "INSERT INTO warning_events (warning_id, kind, at, level, actor) VALUES (%s, 'raised', %s, %s, %s)",
        (warning_id, at, trigger.level, actor),
    )
    conn.execute("UPDATE reports SET warning_id = %s WHERE id = %s", (warning_id, report_id))
    if trigger.order_from is None or LEVEL_RANK[trigger.level] < LEVEL_RANK[trigger.order_from]:
        return warning_id, None
    order_id = orders.draft(
        conn,
        orders.OrderRequest(
            hazard=trigger.hazard,
            towns=[town],
            level=trigger.level,
            drill_id=drill_id,
            warning_id=warning_id,
            subject=f"{town_name}巡查人员报告",
            observed=f"{trigger.title_zh}（{text[:60]}）",
        ),
        actor=f"rule:{trigger.rule_id}",
        settings=settings,
        source="rule",
    )
    auto = trigger.auto_approve_from is not None and LEVEL_RANK[trigger.level] >= LEVEL_RANK[trigger.auto_approve_from]
    if order_id is not None and auto:
        orders.approve(conn, order_id, actor="system:auto-approve", settings=settings, auto=True)
    return warning_id, order_id


def resolve(conn: psycopg.Connection, report_id: int, *, actor: str, note: str) -> dict[str, Any]:
    """The situation reported is under control: its warning clears."""
    row = conn.execute("SELECT warning_id, drill_id FROM reports WHERE id = %s FOR UPDATE", (report_id,)).fetchone()
    if row is None:
        raise NotFound(f"no report {report_id}")
    warning_id, drill_id = row
    if warning_id is None:
        raise Conflict(f"report {report_id} raised no warning; nothing to resolve")
    now = datetime.now(UTC)
    cleared = conn.execute(
        "UPDATE warnings SET state = 'cleared', cleared_at = %s, updated_at = now() "
        "WHERE id = %s AND state = 'active' RETURNING level",
        (now, warning_id),
    ).fetchone()
    if cleared is None:
        raise Conflict(f"the warning of report {report_id} is already cleared")
    conn.execute(
        "INSERT INTO warning_events (warning_id, kind, at, level, previous_level, actor) "
        "VALUES (%s, 'cleared', %s, %s, %s, %s)",
        (warning_id, now, cleared[0], cleared[0], actor),
    )
    audit.record(conn, actor, "report.resolve", f"report:{report_id}", {"note": note}, drill_id=drill_id)
    return {"id": report_id, "warning_id": warning_id, "warning_state": "cleared"}


def list_reports(
    conn: psycopg.Connection, drill: int = 0, limit: int = 200, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Newest first; with ``until``, only those made by then (the wall's time slider)."""
    params = {"drill": drill, "limit": limit, "until": until or "infinity"}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST, params).fetchall()
    encoded: list[dict[str, Any]] = jsonable_encoder(rows)
    return encoded


def photo(conn: psycopg.Connection, report_id: int) -> tuple[bytes, str]:
    row = conn.execute("SELECT photo, photo_type FROM reports WHERE id = %s", (report_id,)).fetchone()
    if row is None or row[0] is None:
        raise NotFound(f"report {report_id} has no photo")
    return bytes(row[0]), str(row[1])
