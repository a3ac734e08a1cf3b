"""Routes of consultations (会商): start and close, attendees, situation snapshots, decisions, and the briefing
(会商简报) as Markdown or a printable HTML page. Thin adapters around ``dashboard.consult``.

Starting and closing, attendees, snapshots and notes: duty officer or commander. Response-level and
approve-order decisions: commander only, as on their own routes. Reads follow the viewer rule. Each JSON
answer is what ``dashboard.consult`` returned, encoded as is (``alerts.deps.json_response``); its
``response_model`` describes it in /openapi.json.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from alerts.deps import RulesDep, json_response
from dashboard import briefing, consult
from floodctl.auth.deps import ConnDep, DrillQuery, DutyDep, SettingsDep, ViewerDep
from floodctl.core.errors import Forbidden
from floodctl.domain.response import ResponseLevelName

router = APIRouter(prefix="/api/v1", tags=["consultations"])

ConsultationState = Literal["open", "closed"]
DecisionKind = Literal["response_level", "approve_order", "note"]
EXACT = ConfigDict(extra="forbid")  # the answers' models name every field (tests/dashboard/test_consult.py)


class StartBody(BaseModel):
    title: str = Field(min_length=1, max_length=consult.MAX_TITLE)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)
    notes: str | None = Field(None, max_length=consult.MAX_TEXT)


class AttendeeBody(BaseModel):
    name: str = Field(min_length=1, max_length=consult.MAX_NAME)
    unit: str | None = Field(None, max_length=consult.MAX_UNIT, description="role or unit, e.g. 县水利局")


class DecisionBody(BaseModel):
    kind: DecisionKind
    text: str | None = Field(
        None, max_length=consult.MAX_TEXT, description="the decision in words; required for a note"
    )
    level: ResponseLevelName | None = Field(None, description="for response_level")
    reason: str | None = Field(None, max_length=2000, description="for response_level; the text when absent")
    order_id: int | None = Field(None, ge=1, le=2**63 - 1, description="the draft to approve (approve_order)")


class CloseBody(BaseModel):
    notes: str | None = Field(None, max_length=consult.MAX_TEXT, description="conclusions; replace the notes")


class Attendee(BaseModel):
    model_config = EXACT
    id: int
    name: str
    unit: str | None
    joined_at: datetime
    added_by: str


class Snapshot(BaseModel):
    """A frozen situation: its time (a drill's clock), who took it, the summary; the payload only when asked."""

    model_config = EXACT

    id: int
    at: datetime
    taken_at: datetime
    taken_by: str
    summary: dict[str, Any] | None
    payload: dict[str, Any] | None = Field(None, description="with ?full=1 only: the situation as the wall showed it")


class Decision(BaseModel):
    """A decision with what it did: the response level it set, or the order it approved (as it is now)."""

    model_config = EXACT

    id: int
    kind: DecisionKind
    text: str | None
    decided_by: str
    decided_at: datetime
    audit_id: int | None
    response_level_id: int | None
    level: ResponseLevelName | None
    reason: str | None
    order_id: int | None
    order_no: str | None
    order_title_zh: str | None
    order_title_en: str | None
    order_status: str | None


class Consultation(BaseModel):
    model_config = EXACT
    id: int
    drill_id: int
    drill_name: str
    title: str
    state: ConsultationState
    started_by: str
    started_at: datetime
    ended_by: str | None
    ended_at: datetime | None
    notes: str | None
    attendees: list[Attendee]
    snapshots: list[Snapshot]
    decisions: list[Decision]


class ConsultationSummary(BaseModel):
    """A consultation as listed, with how many attendees, snapshots and decisions it has."""

    model_config = EXACT

    id: int
    drill_id: int
    title: str
    state: ConsultationState
    started_by: str
    started_at: datetime
    ended_by: str | None
    ended_at: datetime | None
    attendees: int
    snapshots: int
    decisions: int


class ConsultationList(BaseModel):
    model_config = EXACT
    consultations: list[ConsultationSummary]


class DecisionResult(BaseModel):
    """The decision, and the response level in force after it or the order approved (as its own route answers)."""

    model_config = EXACT

    decision: Decision
    response_level: dict[str, Any] | None = Field(None, description="for response_level: the level now in force")
    order: dict[str, Any] | None = Field(None, description="for approve_order: the order, as its own route answers")


@router.post(
    "/consultations",
    status_code=201,
    response_model=Consultation,
    summary="Start a consultation (duty officer or commander)",
)
def start_consultation(body: StartBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    consultation_id = consult.start(conn, title=body.title, drill_id=body.drill_id, actor=who.name, notes=body.notes)
    return json_response(consult.get(conn, consultation_id), 201)


@router.get(
    "/consultations",
    response_model=ConsultationList,
    summary="Consultations of live operations or a drill, newest first",
)
def list_consultations(
    conn: ConnDep,
    viewer: ViewerDep,
    drill: DrillQuery = 0,
    state: ConsultationState | None = None,
    limit: Annotated[int, Query(ge=1, le=consult.MAX_LIST)] = 100,
) -> JSONResponse:
    return json_response({"consultations": consult.list_consultations(conn, drill=drill, state=state, limit=limit)})


@router.get(
    "/consultations/{consultation_id}",
    response_model=Consultation,
    summary="One consultation: attendees, snapshots (payload with ?full=1) and decisions",
)
def get_consultation(consultation_id: int, conn: ConnDep, viewer: ViewerDep, full: bool = False) -> JSONResponse:
    return json_response(consult.get(conn, consultation_id, full=full))


@router.post(
    "/consultations/{consultation_id}/attendees",
    status_code=201,
    response_model=Attendee,
    summary="Record an attendee (duty officer or commander)",
)
def add_attendee(consultation_id: int, body: AttendeeBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return json_response(
        consult.add_attendee(conn, consultation_id, name=body.name, unit=body.unit, actor=who.name), 201
    )


@router.post(
    "/consultations/{consultation_id}/snapshots",
    status_code=201,
    response_model=Snapshot,
    summary="Freeze the situation the wall shows now (duty officer or commander)",
)
def take_snapshot(consultation_id: int, conn: ConnDep, who: DutyDep, rules: RulesDep) -> JSONResponse:
    return json_response(consult.take_snapshot(conn, consultation_id, actor=who.name, rules=rules), 201)


@router.post(
    "/consultations/{consultation_id}/decisions",
    status_code=201,
    response_model=DecisionResult,
    summary="Take a decision: set the response level or approve an order (commander), or a note",
)
def record_decision(
    consultation_id: int, body: DecisionBody, conn: ConnDep, who: DutyDep, settings: SettingsDep
) -> JSONResponse:
    roles = consult.DECISION_ROLES[body.kind]
    if not who.has_any(*roles):
        raise Forbidden(f"a {body.kind} decision requires role {' or '.join(roles)}")
    result = consult.record_decision(
        conn,
        consultation_id,
        kind=body.kind,
        actor=who.name,
        settings=settings,
        text=body.text,
        level=body.level,
        reason=body.reason,
        order_id=body.order_id,
    )
    return json_response(result, 201)


@router.post(
    "/consultations/{consultation_id}/close",
    response_model=Consultation,
    summary="Close the consultation (duty officer or commander)",
)
def close_consultation(
    consultation_id: int, conn: ConnDep, who: DutyDep, body: CloseBody | None = None
) -> JSONResponse:
    return json_response(consult.close(conn, consultation_id, actor=who.name, notes=body.notes if body else None))


@router.get(
    "/consultations/{consultation_id}/briefing",
    response_class=Response,
    summary="The briefing (会商简报) from the latest snapshot and the decisions: Markdown or printable HTML",
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
)
def get_briefing(
    consultation_id: int,
    conn: ConnDep,
    viewer: ViewerDep,
    settings: SettingsDep,
    lang: Literal["zh", "en"] = "zh",
    format: Literal["html", "md"] = "html",
) -> Response:
    consultation = consult.get(conn, consultation_id)
    snapshot = consult.latest_snapshot(conn, consultation_id)
    options: dict[str, Any] = {
        "hq_name": settings.hq_name,
        "tz": settings.tz,
        "lang": lang,
        "generated_at": datetime.now(UTC),
    }
    if format == "md":
        return Response(briefing.markdown(consultation, snapshot, **options), media_type="text/markdown; charset=utf-8")
    return Response(
        briefing.html(consultation, snapshot, **options),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": briefing.CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
