"""Routes of response orders: draft, approve, cancel; each town's 叫应 (acknowledge) and 已落实 report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from alerts import orders
from alerts.deps import json_response
from floodctl.auth import Principal, privacy
from floodctl.auth.deps import CommanderDep, ConnDep, DrillQuery, DutyDep, PrincipalDep, SettingsDep, ViewerDep
from floodctl.core.errors import BadRequest, Forbidden, NotFound
from floodctl.domain.hazards import HAZARDS
from floodctl.domain.levels import LevelName
from floodctl.domain.response import ResponseLevelName

router = APIRouter(prefix="/api/v1", tags=["warnings and orders"])

MsgType = Literal["alert", "update", "cancel", "allclear"]
OrderStatus = Literal["draft", "approved", "cancelled"]
TownState = Literal["pending", "acknowledged", "carried_out", "unreached", "cancelled"]


class OrderBody(BaseModel):
    hazard: Literal[HAZARDS]  # type: ignore[valid-type]
    towns: list[str] = Field(min_length=1, max_length=500)
    level: LevelName | None = None
    msg_type: MsgType = "alert"
    refers_to: int | None = Field(None, ge=1)
    response_level: ResponseLevelName | None = None
    extra: str | None = Field(None, max_length=1000)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)
    channels: list[orders.ChannelName] = Field(default_factory=lambda: list(orders.CHANNELS), min_length=1)
    ack_deadline_s: int | None = Field(None, ge=5, le=86_400)
    resend_after_s: int | None = Field(None, ge=1, le=86_400)


class CancelBody(BaseModel):
    reason: str = Field(min_length=2, max_length=1000)


class FeedbackBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    people_moved: int | None = Field(None, ge=0, le=10_000_000)


class OrderSummary(BaseModel):
    """An order as listed, with its towns' 叫应 counts."""

    id: int
    drill_id: int
    msg_type: MsgType
    refers_to: int | None
    status: OrderStatus
    hazard: str
    level: LevelName | None
    response_level: ResponseLevelName | None
    order_no: str
    title_zh: str
    title_en: str
    towns: list[str]
    source: Literal["rule", "officer"]
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    auto_approved: bool
    cancelled_at: datetime | None
    warning_id: int | None
    towns_total: int
    towns_acknowledged: int
    towns_carried_out: int
    towns_unreached: int
    towns_pending: int


class OrderList(BaseModel):
    orders: list[OrderSummary]


class TownCall(BaseModel):
    """One town's 叫应: whom it has reached (roster rank), until when, and what the town answered."""

    town_code: str
    town_name: str
    state: TownState
    contact_rank: int
    escalations: int
    called_at: datetime
    resend_at: datetime
    deadline_at: datetime
    resent: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_via: str | None
    carried_out_at: datetime | None
    carried_out_by: str | None
    carried_out_text: str | None
    people_moved: int | None
    seconds_left: int


class DeliveryRow(BaseModel):
    """One outbox row: an SMS, LED board text or loudspeaker broadcast (phones masked unless a caller)."""

    id: int
    town_code: str
    recipient: str
    recipient_name: str | None
    channel: orders.ChannelName
    address: str
    round: int
    state: str
    attempts: int
    provider_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    provider_status: str | None
    provider_error: str | None


class OrderEvent(BaseModel):
    town_code: str | None
    at: datetime
    kind: str
    actor: str | None
    detail: str | None


class OrderView(BaseModel):
    """One order: its texts, each town's 叫应 state, each delivery and the events."""

    id: int
    drill_id: int
    msg_type: MsgType
    refers_to: int | None
    refers_to_no: str | None
    status: OrderStatus
    hazard: str
    level: LevelName | None
    response_level: ResponseLevelName | None
    order_no: str
    title_zh: str
    body_zh: str
    title_en: str
    body_en: str
    sms_zh: str
    led_zh: str
    speaker_zh: str
    towns: list[str]
    channels: list[orders.ChannelName]
    warning_id: int | None
    source: Literal["rule", "officer"]
    drafted_by: str
    drafted_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    auto_approved: bool
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    ack_deadline_s: int
    resend_after_s: int
    towns_status: list[TownCall]
    deliveries: list[DeliveryRow]
    events: list[OrderEvent]


class Cancelled(BaseModel):
    cancelled: int
    cancel_order: int | None = Field(description="the 撤销 notice sent to the towns (an approved order's)")


class TownAck(BaseModel):
    order_id: int
    town: str
    acknowledged: bool
    message: str


@router.get("/orders", response_model=OrderList, summary="Response orders with their towns' 叫应 counts, newest first")
def list_orders(
    conn: ConnDep,
    viewer: ViewerDep,
    drill: DrillQuery = 0,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> JSONResponse:
    return json_response({"orders": orders.list_orders(conn, drill=drill, status=status, limit=limit)})


@router.post(
    "/orders", status_code=201, response_model=OrderView, summary="Draft a response order (duty officer or commander)"
)
def create_order(body: OrderBody, conn: ConnDep, who: DutyDep, settings: SettingsDep) -> JSONResponse:
    if body.msg_type == "alert" and body.level is None:
        raise BadRequest("level is required for an alert order (blue, yellow, orange or red)")
    order_id = orders.draft(
        conn,
        orders.OrderRequest(
            hazard=body.hazard,
            towns=body.towns,
            level=body.level,
            msg_type=body.msg_type,
            refers_to=body.refers_to,
            response_level=body.response_level,
            extra=body.extra,
            drill_id=body.drill_id,
            channels=body.channels,
            ack_deadline_s=body.ack_deadline_s,
            resend_after_s=body.resend_after_s,
        ),
        actor=who.name,
        settings=settings,
    )
    assert order_id is not None
    return json_response(orders.view(conn, order_id), 201)


@router.get(
    "/orders/{order_id}",
    response_model=OrderView,
    summary="One order: each town's 叫应 state, each delivery, the events",
)
def get_order(order_id: int, conn: ConnDep, viewer: ViewerDep) -> JSONResponse:
    return json_response(privacy.for_principal(viewer, orders.view(conn, order_id)))  # phones masked unless a caller


@router.post("/orders/{order_id}/approve", response_model=OrderView, summary="Approve and send (commander)")
def approve_order(order_id: int, conn: ConnDep, who: CommanderDep, settings: SettingsDep) -> JSONResponse:
    return json_response(orders.approve(conn, order_id, actor=who.name, settings=settings))


@router.post(
    "/orders/{order_id}/cancel", response_model=Cancelled, summary="Cancel (commander); a sent order gets a 撤销 notice"
)
def cancel_order(
    order_id: int, body: CancelBody, conn: ConnDep, who: CommanderDep, settings: SettingsDep
) -> JSONResponse:
    return json_response(orders.cancel(conn, order_id, actor=who.name, reason=body.reason, settings=settings))


def _town_actor(who: Principal, town: str) -> str:
    """Town officers act for their own town; duty officers and commanders record it for any town."""
    if who.has_any("duty_officer", "commander"):
        return str(who.name)
    if who.has_any("town_officer") and who.town == town:
        return str(who.name)
    raise Forbidden(f"requires role town_officer of town {town} (or duty_officer)")


@router.post(
    "/orders/{order_id}/towns/{town}/ack", response_model=TownAck, summary="Acknowledge an order for a town (叫应)"
)
def ack_town(order_id: int, town: str, conn: ConnDep, who: PrincipalDep) -> JSONResponse:
    if not who.authenticated:
        raise Forbidden("log in to acknowledge")
    actor = _town_actor(who, town)
    done = orders.acknowledge(conn, order_id, town, by=actor, via="page")
    message = "acknowledged" if done else "nothing pending for this town (already acknowledged?)"
    return json_response({"order_id": order_id, "town": town, "acknowledged": done, "message": message})


@router.post(
    "/orders/{order_id}/towns/{town}/carried-out",
    response_model=OrderView,
    summary="Report the order carried out (已落实)",
)
def carried_out(order_id: int, town: str, body: FeedbackBody, conn: ConnDep, who: PrincipalDep) -> JSONResponse:
    if not who.authenticated:
        raise Forbidden("log in to report")
    actor = _town_actor(who, town)
    if not orders.carried_out(
        conn, order_id, town, by=actor, via="page", text=body.text, people_moved=body.people_moved
    ):
        raise NotFound(f"order {order_id} has no town {town} to report for")
    return json_response(privacy.for_principal(who, orders.view(conn, order_id)))
