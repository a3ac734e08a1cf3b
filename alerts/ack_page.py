"""The town's acknowledgement page ``/a/{token}``: what it shows and what its two buttons do (HTML).

Opening the link does not acknowledge (link previewers open links too); the page's "acknowledge" form
does, once (the link is single-use), and then its "carried out" form reports 已落实. The router
(alerts/routes/pages.py) only reads the request and sends the ``Page`` these functions return.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import psycopg

from alerts import orders
from floodctl.core.settings import Settings

MAX_FEEDBACK = 2000
TEXT = {
    "zh": {
        "title": "指令确认",
        "ack": "确认收到",
        "done": "提交落实情况",
        "people": "转移人数",
        "what": "落实情况",
        "acked": "已确认收到，谢谢。请落实后反馈。",
        "recorded": "已记录落实情况，谢谢。",
        "used": "此链接已使用。",
        "expired": "此链接已过期，请回复短信“1”确认，或联系县防指值班室。",
        "invalid": "链接无效。",
        "cancelled": "此指令已撤销。",
        "lang": "English",
        "state": "状态",
        "hint": "请填写落实情况，转移人数填整数。",
    },
    "en": {
        "title": "Acknowledge order",
        "ack": "Acknowledge receipt",
        "done": "Report carried out",
        "people": "People moved",
        "what": "What was done",
        "acked": "Acknowledged, thank you. Report once done.",
        "recorded": "Report recorded, thank you.",
        "used": "This link has already been used.",
        "expired": "This link has expired: reply 1 to the SMS or call the county HQ duty room.",
        "invalid": "Invalid link.",
        "cancelled": "This order has been cancelled.",
        "lang": "中文",
        "state": "State",
        "hint": "Describe what was done; people as a number.",
    },
}
STATE_ZH = {
    "pending": "待确认",
    "acknowledged": "已确认",
    "carried_out": "已落实",
    "unreached": "未叫应",
    "cancelled": "已撤销",
}
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
ORDER_BOX = """
SELECT o.order_no, o.title_zh, o.body_zh, o.status, ot.state, t.name FROM orders o
JOIN order_towns ot ON ot.order_id = o.id JOIN towns t ON t.code = ot.town_code
WHERE o.id = %s AND ot.town_code = %s
"""


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page and its HTTP status."""

    html: str
    status: int = 200


def language(requested: str | None) -> str:
    """``en`` when asked for (``?lang=en``), else Chinese."""
    return "en" if requested == "en" else "zh"


def _page(lang: str, content: str, note: str = "", status: int = 200) -> Page:
    t = TEXT[lang]
    return Page(
        PAGE.format(
            lang_attr="en" if lang == "en" else "zh-CN",
            title=t["title"],
            other="zh" if lang == "en" else "en",
            lang_label=t["lang"],
            note=f'<p class="note">{html.escape(note)}</p>' if note else "",
            content=content,
        ),
        status,
    )


def _order_box(conn: psycopg.Connection, link: orders.Link, lang: str) -> tuple[str, str, str]:
    """The order as the town sees it, the order's status and the town's 叫应 state."""
    row = conn.execute(ORDER_BOX, (link.order_id, link.town_code)).fetchone()
    if row is None:
        return "", "cancelled", "cancelled"
    order_no, title, body, status, state, town = row
    label = str(STATE_ZH.get(state, state) if lang == "zh" else state)
    box = (
        f"<p><b>{html.escape(order_no)}</b> · {html.escape(town)} · {TEXT[lang]['state']}: {html.escape(label)}</p>"
        f"<div class='box'><b>{html.escape(title)}</b>\n\n{html.escape(body)}</div>"
    )
    return box, status, state


def _form(token: str, lang: str, action: str, fields: str) -> str:
    return (
        f"<form method='post' action='/a/{html.escape(token)}?lang={lang}'><input type='hidden' name='action' "
        f"value='{action}'>{fields}</form>"
    )


def _ack_form(token: str, lang: str) -> str:
    return _form(token, lang, "ack", f"<button type='submit'>{TEXT[lang]['ack']}</button>")


def _feedback_form(token: str, lang: str) -> str:
    t = TEXT[lang]
    return _form(
        token,
        lang,
        "done",
        f"<label>{t['what']}<textarea name='text' rows='3' required maxlength='{MAX_FEEDBACK}'></textarea>"
        f"</label><label>{t['people']}<input name='people' type='number' min='0' max='10000000'></label>"
        f"<button type='submit'>{t['done']}</button>",
    )


def show(conn: psycopg.Connection, settings: Settings, token: str, lang: str) -> Page:
    """GET: the order, and the form the town's state calls for."""
    t = TEXT[lang]
    link = orders.resolve_link(conn, settings, token)
    if link is None:
        return _page(lang, "", t["invalid"], 404)
    box, status, state = _order_box(conn, link, lang)
    if status == "cancelled" or state == "cancelled":
        return _page(lang, box, t["cancelled"])
    if link.expired:
        return _page(lang, box, t["expired"], 410)
    if link.used or state in ("acknowledged", "carried_out"):
        form = _feedback_form(token, lang) if state == "acknowledged" else ""
        return _page(lang, box + form, t["recorded"] if state == "carried_out" else t["used"])
    return _page(lang, box + _ack_form(token, lang))


def answer(conn: psycopg.Connection, settings: Settings, token: str, lang: str, fields: dict[str, str]) -> Page:
    """POST: acknowledge (``action=ack``, once per link) or report carried out (``action=done``)."""
    t = TEXT[lang]
    link = orders.resolve_link(conn, settings, token)
    if link is None:
        return _page(lang, "", t["invalid"], 404)
    if link.expired:
        return _page(lang, "", t["expired"], 410)
    action = fields.get("action")
    if action == "ack":
        first = orders.use_link(conn, link)
        box, _, state = _order_box(conn, link, lang)
        form = _feedback_form(token, lang) if state == "acknowledged" else ""
        return _page(lang, box + form, t["acked"] if first else t["used"], 200 if first else 409)
    if action == "done":
        return _carried_out(conn, link, token, lang, fields)
    return _page(lang, "", t["invalid"], 400)


def _carried_out(conn: psycopg.Connection, link: orders.Link, token: str, lang: str, fields: dict[str, str]) -> Page:
    t = TEXT[lang]
    box, _, state = _order_box(conn, link, lang)
    if state != "acknowledged":
        return _page(lang, box, t["used"] if state == "carried_out" else t["invalid"], 409)
    text = fields.get("text", "").strip()[:MAX_FEEDBACK]
    people_raw = fields.get("people", "").strip()
    if not text or (people_raw and not people_raw.isdigit()):
        return _page(lang, box + _feedback_form(token, lang), t["hint"], 400)
    orders.carried_out(
        conn,
        link.order_id,
        link.town_code,
        by=link.person or link.recipient,
        via="link",
        text=text,
        people_moved=int(people_raw) if people_raw else None,
    )
    box, _, _ = _order_box(conn, link, lang)
    return _page(lang, box, t["recorded"])
