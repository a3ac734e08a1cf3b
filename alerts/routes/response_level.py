"""Routes of the county response level: the level in force, and the commander's decision."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from alerts.deps import json_response
from alerts.response import MAX_REASON, apply_response_level, response_level_in_force
from floodctl.auth.deps import CommanderDep, ConnDep, DrillQuery, ViewerDep
from floodctl.domain.response import ResponseLevelName

router = APIRouter(prefix="/api/v1", tags=["warnings and orders"])


class ResponseLevelBody(BaseModel):
    level: ResponseLevelName
    reason: str = Field(min_length=2, max_length=MAX_REASON)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)


class ResponseLevelInForce(BaseModel):
    drill_id: int
    level: ResponseLevelName
    label_zh: str
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None


@router.get(
    "/response-level",
    response_model=ResponseLevelInForce,
    summary="The county response level in force (none, Ⅳ, Ⅲ, Ⅱ, Ⅰ)",
)
def get_response_level(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0) -> JSONResponse:
    return json_response(response_level_in_force(conn, drill))


@router.post(
    "/response-level",
    status_code=201,
    response_model=ResponseLevelInForce,
    summary="Set the county response level (commander), with the reason",
)
def set_response_level(body: ResponseLevelBody, conn: ConnDep, who: CommanderDep) -> JSONResponse:
    apply_response_level(conn, drill_id=body.drill_id, level=body.level, reason=body.reason, actor=who.name)
    return json_response(response_level_in_force(conn, body.drill_id), 201)
