"""Route of the town's acknowledgement page ``/a/{token}`` (HTML, rendered by alerts/ack_page.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alerts import ack_page
from floodctl.auth.deps import ConnDep, SettingsDep, in_database

router = APIRouter(tags=["pages"], include_in_schema=False)

MAX_FORM_BYTES = 16_384
# The page holds a single-use link's answer: never cached, never framed (no click-jacking of its buttons).
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


def _html(page: ack_page.Page) -> HTMLResponse:
    return HTMLResponse(page.html, status_code=page.status, headers=HEADERS)


@router.get("/a/{token}", response_class=HTMLResponse)
def ack_page_get(token: str, request: Request, conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """Shows the order. Opening the link does not acknowledge (link previewers open links too)."""
    lang = ack_page.language(request.query_params.get("lang"))
    return _html(ack_page.show(conn, settings, token, lang))


@router.post("/a/{token}", response_class=HTMLResponse)
async def ack_page_post(token: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    lang = ack_page.language(request.query_params.get("lang"))
    raw = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    return _html(await in_database(request, lambda conn: ack_page.answer(conn, settings, token, lang, fields)))
