"""HTTP routes of alerts: warnings, response orders and 叫应, county response level, CAP, SMS webhooks,
and the town acknowledgement page ``/a/{token}``.

Writes need a role (floodctl.auth.deps); reads follow the viewer rule. Webhooks are authenticated by
Twilio-style signatures instead (403 when forged), the page by its signed, expiring, single-use link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from alerts import orders, reports, warnings
from alerts.cap import CapArea, CapMessage, build_cap, cap_identifier
from alerts.rules import DEFAULT_PATH, REPORT_KINDS, RuleSet, load_rules
from alerts.signing import valid_twilio_signature
from alerts.templates import HAZARD_ZH, HAZARDS, RESPONSE_LEVEL_LABEL_ZH, RESPONSE_LEVELS
from floodctl.auth import privacy
from floodctl.auth.deps import (
    CommanderDep,
    ConnDep,
    DutyDep,
    Principal,
    PrincipalDep,
    SettingsDep,
    ViewerDep,
    in_database,
    require,
)
from floodctl.core import audit
from floodctl.core.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from floodctl.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["warnings and orders"])
pages = APIRouter(tags=["pages"], include_in_schema=False)

DrillQuery = Annotated[int, Query(ge=0, le=2**31 - 1, description="drill id; 0 = live operations")]
Level = Literal["blue", "yellow", "orange", "red"]
CAP_MSG_TYPE = {"alert": "Alert", "update": "Update", "cancel": "Cancel", "allclear": "Update"}
CAP_CATEGORY = {"river_flood": "Met", "reservoir": "Infra", "storm_tide": "Met", "rainstorm": "Met", "typhoon": "Met",
                "waterlogging": "Met", "seawall_breach": "Infra", "general": "Safety"}
CAP_RESPONSE = {"alert": "Evacuate", "update": "Evacuate", "cancel": "None", "allclear": "AllClear"}
MAX_FORM_BYTES = 16_384


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(value), status_code=status)


# --- warnings ---------------------------------------------------------------------------------------

@router.get("/warnings", summary="Warnings, active first and most severe first")
def list_warnings(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0, active: bool | None = None,
                  category: Literal["flood", "device"] | None = None, acknowledged: bool | None = None,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> JSONResponse:
    return _json({"warnings": warnings.list_warnings(conn, drill=drill, active=active, category=category,
                                                     acknowledged=acknowledged, limit=limit)})


@router.get("/warnings/{warning_id}/events", summary="A warning's history: raised, escalated, cleared, acknowledged")
def warning_events(warning_id: int, conn: ConnDep, viewer: ViewerDep) -> JSONResponse:
    return _json({"warning_id": warning_id, "events": warnings.events(conn, warning_id)})


@router.post("/warnings/{warning_id}/ack", summary="Acknowledge a warning (duty officer)")
def ack_warning(warning_id: int, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return _json(warnings.acknowledge_warning(conn, warning_id, who.name))


# --- response level ---------------------------------------------------------------------------------

class ResponseLevelBody(BaseModel):
    level: Literal["none", "IV", "III", "II", "I"]
    reason: str = Field(min_length=2, max_length=2000)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)


def response_level_in_force(conn: Any, drill: int, recorded_by: datetime | None = None) -> dict[str, Any]:
    """The county response level in force: the newest decision (made by ``recorded_by``, when given)."""
    row = conn.execute("SELECT level, reason, decided_by, decided_at FROM response_levels WHERE drill_id = %s "
                       "AND decided_at <= coalesce(%s::timestamptz, 'infinity') ORDER BY id DESC LIMIT 1",
                       (drill, recorded_by)).fetchone()
    if row is None:
        return {"drill_id": drill, "level": "none", "label_zh": RESPONSE_LEVEL_LABEL_ZH.get("none", "无"),
                "reason": None, "decided_by": None, "decided_at": None}
    return {"drill_id": drill, "level": row[0], "label_zh": RESPONSE_LEVEL_LABEL_ZH.get(row[0], row[0]),
            "reason": row[1], "decided_by": row[2], "decided_at": row[3]}


@router.get("/response-level", summary="The county response level in force (none, Ⅳ, Ⅲ, Ⅱ, Ⅰ)")
def get_response_level(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0) -> JSONResponse:
    return _json(response_level_in_force(conn, drill))


def apply_response_level(conn: Any, *, drill_id: int, level: str, reason: str, actor: str,
                         context: dict[str, Any] | None = None) -> int:
    """Set the county response level and audit it, in the caller's transaction: the one path for
    ``POST /response-level`` and a consultation's decision (``context`` joins the audit details, e.g. the
    consultation id). Returns the new ``response_levels`` row's id."""
    reason = reason.strip()
    if level not in RESPONSE_LEVELS:
        raise BadRequest(f"response level {level!r} is not one of {', '.join(RESPONSE_LEVELS)}")
    if not reason or len(reason) > 2000:
        raise BadRequest("a reason is required (at most 2000 characters)")
    if drill_id and conn.execute("SELECT 1 FROM drills WHERE id = %s", (drill_id,)).fetchone() is None:
        raise BadRequest(f"drill {drill_id} is not registered")
    before = response_level_in_force(conn, drill_id)["level"]
    row = conn.execute("INSERT INTO response_levels (drill_id, level, reason, decided_by) VALUES (%s, %s, %s, %s) "
                       "RETURNING id", (drill_id, level, reason, actor)).fetchone()
    audit.record(conn, actor, "response_level.set", f"response_level:{drill_id}",
                 {"from": before, "to": level, "reason": reason, **(context or {})}, drill_id=drill_id)
    return int(row[0])


@router.post("/response-level", summary="Set the county response level (commander), with the reason")
def set_response_level(body: ResponseLevelBody, conn: ConnDep, who: CommanderDep) -> JSONResponse:
    apply_response_level(conn, drill_id=body.drill_id, level=body.level, reason=body.reason, actor=who.name)
    return _json(response_level_in_force(conn, body.drill_id), 201)


# --- orders -----------------------------------------------------------------------------------------

class OrderBody(BaseModel):
    hazard: Literal[HAZARDS]  # type: ignore[valid-type]
    towns: list[str] = Field(min_length=1, max_length=500)
    level: Level | None = None
    msg_type: Literal["alert", "update", "cancel", "allclear"] = "alert"
    refers_to: int | None = Field(None, ge=1)
    response_level: Literal[RESPONSE_LEVELS] | None = None  # type: ignore[valid-type]
    extra: str | None = Field(None, max_length=1000)
    drill_id: int = Field(0, ge=0, le=2**31 - 1)
    channels: list[Literal["sms", "led", "speaker"]] = Field(default_factory=lambda: list(orders.CHANNELS),
                                                             min_length=1)
    ack_deadline_s: int | None = Field(None, ge=5, le=86_400)
    resend_after_s: int | None = Field(None, ge=1, le=86_400)


class CancelBody(BaseModel):
    reason: str = Field(min_length=2, max_length=1000)


class FeedbackBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    people_moved: int | None = Field(None, ge=0, le=10_000_000)


@router.get("/orders", summary="Response orders with their towns' 叫应 counts, newest first")
def list_orders(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0,
                status: Literal["draft", "approved", "cancelled"] | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> JSONResponse:
    return _json({"orders": orders.list_orders(conn, drill=drill, status=status, limit=limit)})


@router.post("/orders", status_code=201, summary="Draft a response order (duty officer or commander)")
def create_order(body: OrderBody, conn: ConnDep, who: DutyDep, settings: SettingsDep) -> JSONResponse:
    if body.msg_type == "alert" and body.level is None:
        raise BadRequest("level is required for an alert order (blue, yellow, orange or red)")
    order_id = orders.draft(conn, orders.OrderRequest(
        hazard=body.hazard, towns=body.towns, level=body.level, msg_type=body.msg_type, refers_to=body.refers_to,
        response_level=body.response_level, extra=body.extra, drill_id=body.drill_id, channels=body.channels,
        ack_deadline_s=body.ack_deadline_s, resend_after_s=body.resend_after_s), actor=who.name, settings=settings)
    assert order_id is not None
    return _json(orders.view(conn, order_id), 201)


@router.get("/orders/{order_id}", summary="One order: each town's 叫应 state, each delivery, the events")
def get_order(order_id: int, conn: ConnDep, viewer: ViewerDep) -> JSONResponse:
    return _json(privacy.for_principal(viewer, orders.view(conn, order_id)))   # phones masked unless a caller


@router.post("/orders/{order_id}/approve", summary="Approve and send (commander)")
def approve_order(order_id: int, conn: ConnDep, who: CommanderDep, settings: SettingsDep) -> JSONResponse:
    return _json(orders.approve(conn, order_id, actor=who.name, settings=settings))


@router.post("/orders/{order_id}/cancel", summary="Cancel (commander); a sent order gets a 撤销 notice")
def cancel_order(order_id: int, body: CancelBody, conn: ConnDep, who: CommanderDep,
                 settings: SettingsDep) -> JSONResponse:
    return _json(orders.cancel(conn, order_id, actor=who.name, reason=body.reason, settings=settings))


def _town_actor(who: Any, town: str) -> str:
    """Town officers act for their own town; duty officers and commanders record it for any town."""
    if who.has_any("duty_officer", "commander"):
        return str(who.name)
    if who.has_any("town_officer") and who.town == town:
        return str(who.name)
    raise Forbidden(f"requires role town_officer of town {town} (or duty_officer)")


@router.post("/orders/{order_id}/towns/{town}/ack", summary="Acknowledge an order for a town (叫应)")
def ack_town(order_id: int, town: str, conn: ConnDep, who: PrincipalDep) -> JSONResponse:
    if not who.authenticated:
        raise Forbidden("log in to acknowledge")
    actor = _town_actor(who, town)
    done = orders.acknowledge(conn, order_id, town, by=actor, via="page")
    return _json({"order_id": order_id, "town": town, "acknowledged": done,
                  "message": "acknowledged" if done else "nothing pending for this town (already acknowledged?)"})


@router.post("/orders/{order_id}/towns/{town}/carried-out", summary="Report the order carried out (已落实)")
def carried_out(order_id: int, town: str, body: FeedbackBody, conn: ConnDep, who: PrincipalDep) -> JSONResponse:
    if not who.authenticated:
        raise Forbidden("log in to report")
    actor = _town_actor(who, town)
    if not orders.carried_out(conn, order_id, town, by=actor, via="page", text=body.text,
                              people_moved=body.people_moved):
        raise NotFound(f"order {order_id} has no town {town} to report for")
    return _json(privacy.for_principal(who, orders.view(conn, order_id)))


@router.get("/orders/{order_id}/cap", summary="The order as an OASIS CAP 1.2 document",
            response_class=Response, responses={200: {"content": {"application/cap+xml": {}}}})
def order_cap(order_id: int, conn: ConnDep, viewer: ViewerDep, settings: SettingsDep) -> Response:
    return Response(cap_document(conn, order_id, settings), media_type="application/cap+xml; charset=utf-8")


def _sent(order: dict[str, Any]) -> datetime:
    return order["approved_at"] or order["drafted_at"]


def cap_document(conn: Any, order_id: int, settings: Settings) -> bytes:
    from psycopg.rows import dict_row
    with conn.cursor(row_factory=dict_row) as cur:
        order = cur.execute("SELECT * FROM orders WHERE id = %s", (order_id,)).fetchone()
        if order is None:
            raise NotFound(f"no order {order_id}")
        ref = None
        if order["refers_to"] is not None:
            ref = cur.execute("SELECT id, drafted_at, approved_at FROM orders WHERE id = %s",
                              (order["refers_to"],)).fetchone()
        towns = cur.execute("SELECT code, name, geometry FROM towns WHERE code = ANY(%s) ORDER BY code",
                            (order["towns"],)).fetchall()
    sender = f"{settings.county_code}-hq@floodctl"
    references = []
    if ref is not None:
        references.append((sender, cap_identifier(settings.county_code, ref["id"], _sent(ref)), _sent(ref)))
    drill = order["drill_id"] != 0
    message = CapMessage(
        identifier=cap_identifier(settings.county_code, order["id"], _sent(order)), sender=sender,
        sent=_sent(order).astimezone(settings.tz), status="Exercise" if drill else "Actual",
        msg_type=CAP_MSG_TYPE[order["msg_type"]], references=references,
        event=f"{HAZARD_ZH[order['hazard']]}应急响应指令", level=order["level"] or "yellow",
        headline=order["title_zh"], description=order["body_zh"], instruction=order["sms_zh"],
        sender_name=settings.hq_name,
        areas=[CapArea(description=name, geometry=geometry, geocode=code) for code, name, geometry in
               ((t["code"], t["name"], t["geometry"]) for t in towns)],
        category=CAP_CATEGORY.get(order["hazard"], "Safety"), response_type=CAP_RESPONSE[order["msg_type"]],
        note=f"演练 drill {order['drill_id']}" if drill else None,
        code=(f"drill:{order['drill_id']}",) if drill else (),
        web=f"{settings.public_url.rstrip('/')}/api/v1/orders/{order['id']}")
    return build_cap(message)


# --- field reports ----------------------------------------------------------------------------------

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


def _rules(request: Request, settings: Settings) -> RuleSet:
    rules = getattr(request.app.state, "rules", None)
    if rules is None:
        rules = request.app.state.rules = load_rules(settings.rules_path or DEFAULT_PATH)
    return rules  # type: ignore[no-any-return]


@router.post("/reports", status_code=201, tags=["reports"],
             summary="A field report: JSON, or multipart with a 'report' JSON part and an optional 'photo'")
async def create_report(request: Request, who: ReporterDep, settings: SettingsDep) -> JSONResponse:
    photo: bytes | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=5, max_part_size=reports.MAX_PHOTO_BYTES + 1)
        except Exception as exc:   # python-multipart's errors: too large, malformed
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
        body = ReportBody.model_validate_json(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed("invalid report: " + "; ".join(problems), details=problems) from None
    rules = _rules(request, settings)
    result = await in_database(request, lambda conn: reports.submit(
        conn, settings, rules, kind=body.kind, text=body.text, actor=who.name, town=body.town, lon=body.lon,
        lat=body.lat, people_affected=body.people_affected, photo=photo, drill_id=body.drill_id))
    return _json(result, 201)


@router.get("/reports", tags=["reports"], summary="Field reports, newest first")
def list_reports(conn: ConnDep, viewer: ViewerDep, drill: DrillQuery = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> JSONResponse:
    return _json({"reports": reports.list_reports(conn, drill, limit)})


@router.get("/reports/{report_id}/photo", tags=["reports"], response_class=Response)
def report_photo(report_id: int, conn: ConnDep, viewer: ViewerDep) -> Response:
    data, media = reports.photo(conn, report_id)
    return Response(data, media_type=media, headers={"X-Content-Type-Options": "nosniff",
                                                     "Content-Disposition": "inline"})


@router.post("/reports/{report_id}/resolve", tags=["reports"], summary="Resolve a report: its warning clears")
def resolve_report(report_id: int, body: ResolveBody, conn: ConnDep, who: DutyDep) -> JSONResponse:
    return _json(reports.resolve(conn, report_id, actor=who.name, note=body.note))


# --- SMS webhooks -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SignedForm:
    """A webhook's form, its Twilio signature verified, and which gateway's token signed it."""

    params: dict[str, str]
    gateway: Literal["live", "drill"]


async def _signed_form(request: Request, settings: Settings) -> SignedForm:
    """403 unless the live or the drill gateway's token signed the request (at our public URL). When both
    gateways share a token, the signed AccountSid tells them apart; when they share that too (development,
    one built-in stub for both), nothing can, and the request counts as live: it never answers a drill."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest("webhook body too large")
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise BadRequest("webhook body is not UTF-8 form data") from None
    url = settings.public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("x-twilio-signature")
    (live_sid, live_key), (drill_sid, drill_key) = settings.sms_credentials(), settings.drill_sms_credentials()
    by_live = valid_twilio_signature([live_key], url, params, signature)
    by_drill = valid_twilio_signature([drill_key], url, params, signature)
    if not (by_live or by_drill):
        raise Forbidden("invalid or missing X-Twilio-Signature")
    if by_live and by_drill:
        gateway: Literal["live", "drill"] = \
            "drill" if live_sid != drill_sid and params.get("AccountSid") == drill_sid else "live"
    else:
        gateway = "live" if by_live else "drill"
    return SignedForm(params, gateway)


@router.post("/hooks/sms/status", summary="SMS status callback (Twilio-style, signed)", tags=["webhooks"])
async def sms_status(request: Request, settings: SettingsDep) -> Response:
    params = (await _signed_form(request, settings)).params
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus") or params.get("SmsStatus", "")
    if not sid or not status:
        raise BadRequest("MessageSid and MessageStatus are required")
    await in_database(request, lambda conn: orders.record_sms_status(conn, sid, status.lower(),
                                                                     params.get("ErrorCode")))
    return Response(status_code=204)


MESSAGE_SID = re.compile(r"[A-Za-z0-9]{2,64}")


@router.post("/hooks/sms/inbound", summary="Inbound SMS reply (Twilio-style, signed): 1/收到 acknowledges",
             tags=["webhooks"])
async def sms_inbound(request: Request, settings: SettingsDep) -> Response:
    """A reply counts once (by MessageSid: a replay changes nothing and gets the same answer), and only on
    its own side: a reply the live gateway signed answers live orders, one the drill gateway signed drills."""
    form = await _signed_form(request, settings)
    params = form.params
    phone, text = params.get("From", "").strip(), params.get("Body", "")
    message_sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    if not phone:
        raise BadRequest("From is required")
    if "\x00" in phone or "\x00" in text:
        raise BadRequest("From and Body must not contain NUL characters")
    if not MESSAGE_SID.fullmatch(message_sid):
        raise BadRequest("MessageSid is required (the provider's id of the reply, 2 to 64 letters and digits)")
    reply = await in_database(request, lambda conn: orders.sms_reply(
        conn, phone, text, message_sid=message_sid, drill=form.gateway == "drill"))
    twiml = ('<?xml version="1.0" encoding="UTF-8"?>'
             f"<Response><Message>{html.escape(reply.message_zh)}</Message></Response>")
    return Response(twiml, media_type="application/xml")


# --- the acknowledgement page /a/{token} ------------------------------------------------------------

TEXT = {
    "zh": {"title": "指令确认", "ack": "确认收到", "done": "提交落实情况", "people": "转移人数", "what": "落实情况",
           "acked": "已确认收到，谢谢。请落实后反馈。", "recorded": "已记录落实情况，谢谢。", "used": "此链接已使用。",
           "expired": "此链接已过期，请回复短信“1”确认，或联系县防指值班室。", "invalid": "链接无效。",
           "cancelled": "此指令已撤销。", "lang": "English", "state": "状态"},
    "en": {"title": "Acknowledge order", "ack": "Acknowledge receipt", "done": "Report carried out",
           "people": "People moved", "what": "What was done", "acked": "Acknowledged, thank you. Report once done.",
           "recorded": "Report recorded, thank you.", "used": "This link has already been used.",
           "expired": "This link has expired: reply 1 to the SMS or call the county HQ duty room.",
           "invalid": "Invalid link.", "cancelled": "This order has been cancelled.", "lang": "中文", "state": "State"},
}
STATE_ZH = {"pending": "待确认", "acknowledged": "已确认", "carried_out": "已落实", "unreached": "未叫应",
            "cancelled": "已撤销"}
PAGE = """<!doctype html><html lang="{lang_attr}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>{title}</title><style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;padding:1rem;max-width:40rem;font-size:1.15rem;
background:#fff;color:#111}}h1{{font-size:1.4rem}}.box{{border:2px solid #333;padding:.8rem;white-space:pre-wrap}}
button{{font-size:1.2rem;padding:.8rem 1.2rem;margin:.6rem 0;width:100%;background:#0a3d91;color:#fff;border:0}}
input,textarea{{font-size:1.1rem;width:100%;box-sizing:border-box;margin:.3rem 0}}
.note{{background:#ffe9a8;padding:.6rem}}
a.lang{{float:right}}</style></head><body><a class="lang" href="?lang={other}">{lang_label}</a>
<h1>{title}</h1>{note}{content}</body></html>"""


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh"


def _page(lang: str, content: str, note: str = "", status: int = 200) -> HTMLResponse:
    t = TEXT[lang]
    return HTMLResponse(PAGE.format(lang_attr="en" if lang == "en" else "zh-CN", title=t["title"],
                                    other="zh" if lang == "en" else "en", lang_label=t["lang"],
                                    note=f'<p class="note">{html.escape(note)}</p>' if note else "",
                                    content=content), status_code=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


def _order_box(conn: Any, link: orders.Link, lang: str) -> tuple[str, str, str]:
    row = conn.execute("SELECT o.order_no, o.title_zh, o.body_zh, o.status, ot.state, t.name FROM orders o "
                       "JOIN order_towns ot ON ot.order_id = o.id JOIN towns t ON t.code = ot.town_code "
                       "WHERE o.id = %s AND ot.town_code = %s", (link.order_id, link.town_code)).fetchone()
    if row is None:
        return "", "cancelled", "cancelled"
    order_no, title, body, status, state, town = row
    label = STATE_ZH.get(state, state) if lang == "zh" else state
    box = (f"<p><b>{html.escape(order_no)}</b> · {html.escape(town)} · {TEXT[lang]['state']}: {html.escape(label)}</p>"
           f"<div class='box'><b>{html.escape(title)}</b>\n\n{html.escape(body)}</div>")
    return box, status, state


def _feedback_form(token: str, lang: str) -> str:
    t = TEXT[lang]
    return (f"<form method='post' action='/a/{html.escape(token)}?lang={lang}'><input type='hidden' name='action' "
            f"value='done'><label>{t['what']}<textarea name='text' rows='3' required maxlength='2000'></textarea>"
            f"</label><label>{t['people']}<input name='people' type='number' min='0' max='10000000'></label>"
            f"<button type='submit'>{t['done']}</button></form>")


@pages.get("/a/{token}", response_class=HTMLResponse)
def ack_page(token: str, request: Request, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """Shows the order. Opening the link does not acknowledge (link previewers open links too)."""
    lang = _lang(request)
    link = orders.resolve_link(conn, settings, token)
    if link is None:
        return _page(lang, "", TEXT[lang]["invalid"], 404)
    box, status, state = _order_box(conn, link, lang)
    if status == "cancelled" or state == "cancelled":
        return _page(lang, box, TEXT[lang]["cancelled"])
    if link.expired:
        return _page(lang, box, TEXT[lang]["expired"], 410)
    if link.used or state in ("acknowledged", "carried_out"):
        form = _feedback_form(token, lang) if state == "acknowledged" and not link.expired else ""
        return _page(lang, box + form, TEXT[lang]["recorded"] if state == "carried_out" else TEXT[lang]["used"])
    form = (f"<form method='post' action='/a/{html.escape(token)}?lang={lang}'><input type='hidden' name='action' "
            f"value='ack'><button type='submit'>{TEXT[lang]['ack']}</button></form>")
    return _page(lang, box + form)


@pages.post("/a/{token}", response_class=HTMLResponse)
async def ack_page_post(token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    lang = _lang(request)
    raw = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    return await in_database(request, lambda conn: _ack_page_answer(conn, settings, token, lang, fields))


def _ack_page_answer(conn: Any, settings: Settings, token: str, lang: str, fields: dict[str, str]) -> HTMLResponse:
    link = orders.resolve_link(conn, settings, token)
    if link is None:
        return _page(lang, "", TEXT[lang]["invalid"], 404)
    if link.expired:
        return _page(lang, "", TEXT[lang]["expired"], 410)
    action = fields.get("action")
    if action == "ack":
        first = orders.use_link(conn, link)
        box, _, state = _order_box(conn, link, lang)
        note = TEXT[lang]["acked"] if first else TEXT[lang]["used"]
        return _page(lang, box + (_feedback_form(token, lang) if state == "acknowledged" else ""), note,
                     200 if first else 409)
    if action == "done":
        box, _, state = _order_box(conn, link, lang)
        if state != "acknowledged":
            return _page(lang, box, TEXT[lang]["used"] if state == "carried_out" else TEXT[lang]["invalid"], 409)
        text = fields.get("text", "").strip()[:2000]
        people_raw = fields.get("people", "").strip()
        if not text or (people_raw and not people_raw.isdigit()):
            hint = "请填写落实情况，转移人数填整数。" if lang == "zh" else "Describe what was done; people as a number."
            return _page(lang, box + _feedback_form(token, lang), hint, 400)
        orders.carried_out(conn, link.order_id, link.town_code, by=link.person or link.recipient, via="link",
                           text=text, people_moved=int(people_raw) if people_raw else None)
        box, _, _ = _order_box(conn, link, lang)
        return _page(lang, box, TEXT[lang]["recorded"])
    return _page(lang, "", TEXT[lang]["invalid"], 400)

