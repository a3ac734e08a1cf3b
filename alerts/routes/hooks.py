"""Routes of the SMS gateways' webhooks (Twilio-style, signed): status callbacks and inbound replies."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alerts import replies
from alerts.signing import valid_twilio_signature
from floodctl.auth.deps import SettingsDep, in_database
from floodctl.core.errors import BadRequest, Forbidden
from floodctl.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["warnings and orders", "webhooks"])

MAX_FORM_BYTES = 16_384
MESSAGE_SID = re.compile(r"[A-Za-z0-9]{2,64}")


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
        gateway: Literal["live", "drill"] = (
            "drill" if live_sid != drill_sid and params.get("AccountSid") == drill_sid else "live"
        )
    else:
        gateway = "live" if by_live else "drill"
    return SignedForm(params, gateway)


@router.post(
    "/hooks/sms/status", status_code=204, response_class=Response, summary="SMS status callback (Twilio-style, signed)"
)
async def sms_status(request: Request, settings: SettingsDep) -> Response:
    params = (await _signed_form(request, settings)).params
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus") or params.get("SmsStatus", "")
    if not sid or not status:
        raise BadRequest("MessageSid and MessageStatus are required")
    await in_database(
        request, lambda conn: replies.record_sms_status(conn, sid, status.lower(), params.get("ErrorCode"))
    )
    return Response(status_code=204)


@router.post(
    "/hooks/sms/inbound",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
    summary="Inbound SMS reply (Twilio-style, signed): 1/收到 acknowledges",
)
async def sms_inbound(request: Request, settings: SettingsDep) -> Response:
    """A reply counts once (by MessageSid: a replay changes nothing and gets the same answer), and only on
    its own side: a reply the live gateway signed answers live orders, one the drill gateway signed drills.
    The answer is TwiML: the text the gateway sends back to the replier."""
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
    reply = await in_database(
        request,
        lambda conn: replies.sms_reply(conn, phone, text, message_sid=message_sid, drill=form.gateway == "drill"),
    )
    twiml = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{html.escape(reply.message_zh)}</Message></Response>'
    )
    return Response(twiml, media_type="application/xml")
