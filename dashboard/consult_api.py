"""HTTP routes of consultations (会商): start and close, attendees, situation snapshots, decisions, and the
briefing (会商简报) as Markdown or a printable HTML page. Thin adapters around ``dashboard.consult``.

Starting and closing, attendees, snapshots and notes: duty officer or commander. Response-level and
approve-order decisions: commander only, as on their own routes. Reads follow the viewer rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from alerts.rules import DEFAULT_PATH, RuleSet, load_rules
from dashboard import briefing, consult
from floodctl.auth.deps import ConnDep, DutyDep, SettingsDep, ViewerDep
from floodctl.core.errors import Forbidden
from floodctl.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["consultations"])

DrillQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="drill id; 0 = live operations")]


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(value), status_code=status)


def _rules(request: Request, settings: Settings) -> RuleSet:
    """The warning rules (for the flood season in force), loaded once per app, shared with the alerts routes."""
    rules = getattr(request.app.state, "rules", None)
    if rules is None:
        rules = request.app.state.rules = load_rules(settings.rules_path or DEFAULT_PATH)
    return rules  # type: ignore[no-any-return]


class StartBody(BaseModel):
    title: str = Field(min_length=1, max_length=consult.MAX_TITLE)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)
    notes: str | None = Field(None, max_length=consult.MAX_TEXT)


class AttendeeBody(BaseModel):
    name: str = Field(min_length=1, max_length=consult.MAX_NAME)
    unit: str | None = Field(None, max_length=consult.MAX_UNIT, description="role or unit, e.g. 县水利局")


class DecisionBody(BaseModel):
    kind: Literal["response_level", "approve_order", "note"]
    text: str | None = Field(None, max_length=consult.MAX_TEXT,
                             description="the decision in words; required for a note")
    level: Literal["none", "IV", "III", "II", "I"] | None = Field(None, description="for response_level")
    reason: str | None = Field(None, max_length=2000, description="for response_level; the text when absent")
    order_id: int | None = Field(None, ge=1, le=2**63 - 1, description="the draft to approve (approve_order)")


class CloseBody(BaseModel):
    notes: str | None = Field(None, max_length=consult.MAX_TEXT, description="conclusions; replace the notes")


@router.post("/consultations", status_code=201, summary="Start a consultation (duty officer or commander)")
def start_consultation(body: StartBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    consultation_id = consult.start(conn, title=body.title, drill_id=body.drill_id, actor=who.name, notes=body.notes)
    return _json(consult.get(conn, consultation_id), 201)


@router.get("/consultations", summary="Consultations of live operations or a drill, newest first")
def list_consultations(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0,
                       state: Literal["open", "closed"] | None = None,
                       limit: Annotated[int, Query(ge=1, le=consult.MAX_LIST)] = 100) -> JSONResponse:
    return _json({"consultations": consult.list_consultations(conn, drill=drill, state=state, limit=limit)})


@router.get("/consultations/{consultation_id}",
            summary="One consultation: attendees, snapshots (payload with ?full=1) and decisions")
def get_consultation(consultation_id: int, conn: ConnDep, viewer: ViewerDep, full: bool = False) -> JSONResponse:
    return _json(consult.get(conn, consultation_id, full=full))


@router.post("/consultations/{consultation_id}/attendees", status_code=201,
             summary="Record an attendee (duty officer or commander)")
def add_attendee(consultation_id: int, body: AttendeeBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return _json(consult.add_attendee(conn, consultation_id, name=body.name, unit=body.unit, actor=who.name), 201)


@router.post("/consultations/{consultation_id}/snapshots", status_code=201,
             summary="Freeze the situation the wall shows now (duty officer or commander)")
def take_snapshot(consultation_id: int, request: Request, conn: ConnDep, who: DutyDep,
                  settings: SettingsDep) -> JSONResponse:
    return _json(consult.take_snapshot(conn, consultation_id, actor=who.name, rules=_rules(request, settings)), 201)


@router.post("/consultations/{consultation_id}/decisions", status_code=201,
             summary="Take a decision: set the response level or approve an order (commander), or a note")
def record_decision(consultation_id: int, body: DecisionBody, conn: ConnDep, who: DutyDep,
                    settings: SettingsDep) -> JSONResponse:
    roles = consult.DECISION_ROLES[body.kind]
    if not who.has_any(*roles):
        raise Forbidden(f"a {body.kind} decision requires role {' or '.join(roles)}")
    result = consult.record_decision(conn, consultation_id, kind=body.kind, actor=who.name, settings=settings,
                                     text=body.text, level=body.level, reason=body.reason, order_id=body.order_id)
    return _json(result, 201)


@router.post("/consultations/{consultation_id}/close", summary="Close the consultation (duty officer or commander)")
def close_consultation(consultation_id: int, conn: ConnDep, who: DutyDep,
                       body: CloseBody | None = None) -> JSONResponse:
    return _json(consult.close(conn, consultation_id, actor=who.name, notes=body.notes if body else None))


@router.get("/consultations/{consultation_id}/briefing", response_class=Response,
            summary="The briefing (会商简报) from the latest snapshot and the decisions: Markdown or printable HTML",
            responses={200: {"content": {"text/markdown": {}, "text/html": {}}}})
def get_briefing(consultation_id: int, conn: ConnDep, viewer: ViewerDep, settings: SettingsDep,
                 lang: Literal["zh", "en"] = "zh", format: Literal["html", "md"] = "html") -> Response:
    consultation = consult.get(conn, consultation_id)
    snapshot = consult.latest_snapshot(conn, consultation_id)
    options: dict[str, Any] = {"hq_name": settings.hq_name, "tz": settings.tz, "lang": lang,
                               "generated_at": datetime.now(UTC)}
    if format == "md":
        return Response(briefing.markdown(consultation, snapshot, **options),
                        media_type="text/markdown; charset=utf-8")
    return Response(briefing.html(consultation, snapshot, **options), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": briefing.CSP, "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer"})
