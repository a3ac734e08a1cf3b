"""Routes of warnings: the list, one warning's history, a duty officer's acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from alerts import warnings
from alerts.deps import json_response
from floodctl.auth.deps import ConnDep, DrillQuery, DutyDep, ViewerDep
from floodctl.domain.hazards import CATEGORIES
from floodctl.domain.levels import LevelName

router = APIRouter(prefix="/api/v1", tags=["warnings and orders"])


class WarningRow(BaseModel):
    id: int
    rule_id: str
    subject: str
    subject_kind: str
    subject_name: str | None
    town_code: str | None
    town_name: str | None
    drill_id: int
    category: str
    hazard: str | None
    state: Literal["active", "cleared"]
    level: LevelName
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    raised_at: datetime
    last_seen: datetime
    cleared_at: datetime | None
    value: float | None
    threshold: float | None
    message_zh: str
    message_en: str
    late: bool
    level_history: list[tuple[float, LevelName]]
    order_id: int | None


class WarningList(BaseModel):
    warnings: list[WarningRow]


class WarningEvent(BaseModel):
    kind: str
    at: datetime
    level: LevelName | None
    previous_level: LevelName | None
    value: float | None
    threshold: float | None
    actor: str | None


class WarningHistory(BaseModel):
    warning_id: int
    events: list[WarningEvent]


class WarningAck(BaseModel):
    id: int
    state: Literal["active", "cleared"]
    level: LevelName
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@router.get("/warnings", response_model=WarningList, summary="Warnings, active first and most severe first")
def list_warnings(
    conn: ConnDep,
    viewer: ViewerDep,
    drill: DrillQuery = 0,
    active: bool | None = None,
    category: Literal[CATEGORIES] | None = None,  # type: ignore[valid-type]
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> JSONResponse:
    return json_response(
        {
            "warnings": warnings.list_warnings(
                conn, drill=drill, active=active, category=category, acknowledged=acknowledged, limit=limit
            )
        }
    )


@router.get(
    "/warnings/{warning_id}/events",
    response_model=WarningHistory,
    summary="A warning's history: raised, escalated, cleared, acknowledged",
)
def warning_events(warning_id: int, conn: ConnDep, viewer: ViewerDep) -> JSONResponse:
    return json_response({"warning_id": warning_id, "events": warnings.events(conn, warning_id)})


@router.post("/warnings/{warning_id}/ack", response_model=WarningAck, summary="Acknowledge a warning (duty officer)")
def ack_warning(warning_id: int, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return json_response(warnings.acknowledge_warning(conn, warning_id, who.name))
