"""Routes of field reports (巡查上报): submit (JSON, or multipart with a photo), list, photo, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from alerts import reports
from alerts.deps import RulesDep, json_response
from alerts.rules import REPORT_KINDS
from floodctl.auth.deps import ConnDep, DrillQuery, DutyDep, Principal, SettingsDep, ViewerDep, in_database, require
from floodctl.core.errors import BadRequest, ValidationFailed
from floodctl.domain.levels import LevelName

router = APIRouter(prefix="/api/v1", tags=["warnings and orders", "reports"])

ReporterDep = Annotated[Principal, require("inspector", "duty_officer", "commander")]


class ReportBody(BaseModel):
    kind: Literal[REPORT_KINDS]  # type: ignore[valid-type]
    text: str = Field(min_length=1, max_length=reports.MAX_TEXT)
    town: str | None = Field(None, pattern=r"^[0-9]{9}$")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    people_affected: int | None = Field(None, ge=0, le=10_000_000)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)


class ResolveBody(BaseModel):
    note: str = Field(min_length=1, max_length=1000)


class Submitted(BaseModel):
    """The stored report, and the warning and order it raised (when its kind is a trigger)."""

    id: int
    town_code: str
    warning_id: int | None
    order_id: int | None


class ReportRow(BaseModel):
    id: int
    drill_id: int
    kind: str
    town_code: str | None
    town_name: str | None
    town_name_en: str | None
    lon: float | None
    lat: float | None
    text: str
    people_affected: int | None
    has_photo: bool
    reported_by: str
    reported_at: datetime
    warning_id: int | None
    warning_state: Literal["active", "cleared"] | None
    warning_level: LevelName | None


class ReportList(BaseModel):
    reports: list[ReportRow]


class Resolved(BaseModel):
    id: int
    warning_id: int
    warning_state: Literal["cleared"]


async def _read_report(request: Request) -> tuple[ReportBody, bytes | None]:
    """The report (JSON body, or a multipart 'report' part) and its photo, if one was uploaded."""
    photo: bytes | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=5, max_part_size=reports.MAX_PHOTO_BYTES + 1)
        except Exception as exc:  # python-multipart's errors: too large, malformed
            raise BadRequest(f"could not read the upload: {exc}") from None
        raw = form.get("report")
        if not isinstance(raw, str):
            raise BadRequest("multipart upload needs a 'report' part holding the report as JSON")
        upload = form.get("photo")
        if upload is not None and not isinstance(upload, str):
            photo = await upload.read(reports.MAX_PHOTO_BYTES + 1)
    else:
        raw = (await request.body()).decode("utf-8", "replace")
    try:
        return ReportBody.model_validate_json(raw), photo
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed("invalid report: " + "; ".join(problems), details=problems) from None


@router.post(
    "/reports",
    status_code=201,
    response_model=Submitted,
    summary="A field report: JSON, or multipart with a 'report' JSON part and an optional 'photo'",
)
async def create_report(request: Request, who: ReporterDep, settings: SettingsDep, rules: RulesDep) -> JSONResponse:
    body, photo = await _read_report(request)
    result = await in_database(
        request,
        lambda conn: reports.submit(
            conn,
            settings,
            rules,
            kind=body.kind,
            text=body.text,
            actor=who.name,
            town=body.town,
            lon=body.lon,
            lat=body.lat,
            people_affected=body.people_affected,
            photo=photo,
            drill_id=body.drill_id,
        ),
    )
    return json_response(result, 201)


@router.get("/reports", response_model=ReportList, summary="Field reports, newest first")
def list_reports(
    conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> JSONResponse:
    return json_response({"reports": reports.list_reports(conn, drill, limit)})


@router.get(
    "/reports/{report_id}/photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}, "description": "the photo"}},
)
def report_photo(report_id: int, conn: ConnDep, viewer: ViewerDep) -> Response:
    data, media = reports.photo(conn, report_id)
    return Response(
        data, media_type=media, headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"}
    )


@router.post("/reports/{report_id}/resolve", response_model=Resolved, summary="Resolve a report: its warning clears")
def resolve_report(report_id: int, body: ResolveBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return json_response(reports.resolve(conn, report_id, actor=who.name, note=body.note))
