"""The consultation (会商) drawer and login of the wall dashboard: Dash components here, behaviour in the browser.

::

    timebar: consult_button ──click──▶ drawer (overlays the right-hand column; assets/wall-consult.js)
      login ─POST /api/v1/auth/token─▶ bearer token in sessionStorage["floodctl.token"] ─GET /auth/me─▶ roles
      every POLL 3 s while open: GET /consultations?drill=N&state=open → the open one (or the last closed),
                                  GET /consultations/{id}, GET /orders?drill=N&status=draft
      actions: start, attendees, snapshots, decisions (response_level | approve_order | note), close,
               briefing (HTML in a new tab from a Blob URL, Markdown download), warning ack (确认 on the rows)

Every change goes through the HTTP API with the user's token, so roles and the audit trail are the API's; the
Dash side only lays the drawer out. Its texts live in ``TEXT`` (zh-CN and English): the layout is rendered in
one language and wall-consult.js relabels every element carrying ``data-ct`` (text), ``data-cph``
(placeholder) or ``data-ctitle`` (title) when the wall's language changes. ``register(app)`` adds one
clientside callback that hands the language, the drill shown and ``TEXT`` to the script and sets
``document.documentElement.lang``.

Ids (stable; browser tests rely on them):

==================================  =================================================================
``wall-consult-button``             the timebar button that opens and closes the drawer
``wall-consult``                    the drawer (``html.Aside``); shown while ``body.consult-drawer-open``
``wall-consult-texts``              dcc.Store: ``TEXT``;  ``wall-consult-context``: {lang, drill}
``wall-consult-hide``               the drawer's close button;  ``wall-consult-scope``: live or drill #N
``wall-consult-message``            the last error (the API's ``message``), ``.ok`` for a notice
``wall-login``                      login section: ``wall-login-name``, ``wall-login-password``,
                                    ``wall-login-submit``, ``wall-login-error``; once logged in
                                    ``wall-login-user`` ("name（roles）") and ``wall-login-logout``
``wall-consult-start``              no consultation open: ``wall-consult-start-title``,
                                    ``wall-consult-start-submit``
``wall-consult-current``            the open one: ``wall-consult-title``, ``wall-consult-meta``
``wall-consult-attendees``          ul > li.wc-attendee; ``wall-consult-attendee-name``, ``-unit``, ``-add``
``wall-consult-snapshot``           freeze a snapshot; ``wall-consult-snapshot-info`` how many, the last
``wall-consult-decisions``          ol > li.wc-decision[data-kind] (kind, text, who, when)
``wall-consult-level``              select none|IV|III|II|I; ``wall-consult-level-reason``, ``-submit``
``wall-consult-orders``             drafts: .wc-order[data-id] with button.wall-consult-approve[data-id]
``wall-consult-note``               note text; ``wall-consult-note-submit``
``wall-consult-briefing``           open the briefing; ``wall-consult-briefing-md`` download Markdown
``wall-consult-end``                close the consultation (after a confirm())
``wall-consult-last``               none open: the last closed one (``wall-consult-last-title``) and its
                                    briefing (``wall-consult-last-briefing``, ``wall-consult-last-md``)
==================================  =================================================================

Body classes set by the script: ``logged-in``, ``can-act`` (duty officer or commander), ``can-decide``
(commander), ``consult-open``, ``consult-last``, ``consult-drawer-open``. Controls that need a role the user
lacks stay visible, dimmed and tagged with the role, and the API's refusal is shown if they are used. Warning
rows of ``#wall-warnings`` not yet acknowledged get ``button.wall-ack-button[data-id]`` (确认) for
``can-act``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.development.base_component import Component

from dashboard import i18n
from dashboard.components import attrs, clientside_callback
from dashboard.i18n import Lang, lang_of
from floodctl.domain.drills import DRILL_MARKER
from floodctl.domain.response import RESPONSE_LEVELS

__all__ = ["CONTEXT_ID", "DRAWER_ID", "TEXT", "TEXTS_ID", "consult_button", "consult_drawer", "register", "t"]

DRAWER_ID = "wall-consult"
TEXTS_ID = "wall-consult-texts"
CONTEXT_ID = "wall-consult-context"

TEXT: dict[str, dict[Lang, str]] = {
    "button": i18n.TEXT["consult_button"],
    "drawer_title": {"zh": "会商", "en": "Consultation"},
    "hide": {"zh": "关闭", "en": "Close"},
    "scope_live": {"zh": "实时业务", "en": "Live operations"},
    "scope_drill": {"zh": DRILL_MARKER + "#{id}", "en": "[DRILL] #{id}"},
    "login_title": {"zh": "登录", "en": "Log in"},
    "login_name": {"zh": "用户名", "en": "User name"},
    "login_password": {"zh": "密码", "en": "Password"},
    "login_submit": {"zh": "登录", "en": "Log in"},
    "login_missing": {"zh": "请输入用户名和密码", "en": "Enter a user name and a password"},
    "logout": {"zh": "退出", "en": "Log out"},
    "who": {"zh": "{name}（{roles}）", "en": "{name} ({roles})"},
    "roles_sep": {"zh": "、", "en": ", "},
    "no_role": {"zh": "无角色", "en": "no role"},
    "role_admin": {"zh": "管理员", "en": "administrator"},
    "role_commander": {"zh": "指挥长", "en": "commander"},
    "role_duty_officer": {"zh": "值班员", "en": "duty officer"},
    "role_inspector": {"zh": "巡查员", "en": "inspector"},
    "role_town_officer": {"zh": "乡镇责任人", "en": "town officer"},
    "role_viewer": {"zh": "查看", "en": "viewer"},
    "needs_act": {"zh": "值班员或指挥长", "en": "duty officer or commander"},
    "needs_decide": {"zh": "指挥长", "en": "commander"},
    "none_open": {"zh": "当前无进行中的会商", "en": "No consultation is open"},
    "start_title": {"zh": "会商主题，如：防御台风会商", "en": "Title, e.g. typhoon defence consultation"},
    "start_submit": {"zh": "开始会商", "en": "Start consultation"},
    "start_missing": {"zh": "请填写会商主题", "en": "Enter a title"},
    "started": {"zh": "{who} {at} 发起", "en": "started by {who} at {at}"},
    "attendees": {"zh": "参会人员", "en": "Attendees"},
    "no_attendees": {"zh": "尚未登记", "en": "None recorded"},
    "attendee_name": {"zh": "姓名", "en": "Name"},
    "attendee_unit": {"zh": "单位或职务", "en": "Unit or role"},
    "attendee_add": {"zh": "添加", "en": "Add"},
    "attendee_missing": {"zh": "请填写姓名", "en": "Enter a name"},
    "snapshot": {"zh": "冻结态势快照", "en": "Freeze situation snapshot"},
    "snapshots_none": {"zh": "尚无快照", "en": "No snapshot yet"},
    "snapshots_info": {"zh": "已冻结 {n} 次，最近 {at}", "en": "{n} taken, the last at {at}"},
    "decisions": {"zh": "会商决定", "en": "Decisions"},
    "no_decisions": {"zh": "尚无决定", "en": "None yet"},
    "kind_response_level": {"zh": "响应等级", "en": "Response level"},
    "kind_approve_order": {"zh": "批准指令", "en": "Order approved"},
    "kind_note": {"zh": "会商意见", "en": "Note"},
    "level_title": {"zh": "县应急响应等级", "en": "County response level"},
    "level_none": {"zh": "不启动／解除", "en": "None (stand down)"},
    "level_reason": {"zh": "理由", "en": "Reason"},
    "level_submit": {"zh": "决定", "en": "Decide"},
    "level_missing": {"zh": "请填写理由", "en": "Enter a reason"},
    "orders": {"zh": "待审批指令", "en": "Orders awaiting approval"},
    "no_orders": {"zh": "无待审批指令", "en": "None awaiting approval"},
    "approve": {"zh": "批准", "en": "Approve"},
    "note_title": {"zh": "会商意见", "en": "Note"},
    "note_text": {"zh": "记录会商意见", "en": "Record a note"},
    "note_submit": {"zh": "记录", "en": "Record"},
    "note_missing": {"zh": "请填写会商意见", "en": "Enter the note"},
    "briefing": {"zh": "生成简报", "en": "Open briefing"},
    "briefing_md": {"zh": "下载简报 Markdown", "en": "Download briefing (Markdown)"},
    "end": {"zh": "结束会商", "en": "Close consultation"},
    "end_confirm": {
        "zh": "结束会商“{title}”？结束后不能再记录。",
        "en": "Close “{title}”? Nothing more can be recorded.",
    },
    "last": {"zh": "上次会商（已结束）", "en": "Last consultation (closed)"},
    "ended": {"zh": "{who} {at} 结束", "en": "closed by {who} at {at}"},
    "ack": {"zh": "确认", "en": "Acknowledge"},
    "ack_done": {"zh": "已确认", "en": "Acknowledged"},
    "network": {"zh": "无法连接服务器：{why}", "en": "Cannot reach the server: {why}"},
    "http_error": {"zh": "请求失败（HTTP {status}）", "en": "Request failed (HTTP {status})"},
    "popup_blocked": {
        "zh": "浏览器阻止了新标签页，请允许本页弹出窗口",
        "en": "The browser blocked the new tab; allow pop-ups",
    },
    "briefing_file": {"zh": "会商简报", "en": "briefing"},
    **{
        f"level_{code}": {lang: i18n.RESPONSE_NAME[lang][code] for lang in i18n.LANGS}
        for code in RESPONSE_LEVELS
        if code != "none"
    },
}


def t(lang: Lang, key: str, **values: object) -> str:
    text = TEXT[key][lang]
    return text.format(**values) if values else text


# --- components ---------------------------------------------------------------------------------------


def _label(key: str, lang: Lang, tag: Callable[..., Component] = html.Span, **props: Any) -> Component:
    """Static text the script relabels on the language toggle (``data-ct``)."""
    return tag(t(lang, key), **attrs(data_ct=key), **props)


def _input(id_: str, key: str, lang: Lang, **props: Any) -> html.Label:
    """A text box (``dcc.Input``: the ``input`` element carries ``id_``; the script reads and clears it) in a
    label naming it for screen readers; its placeholder says the same and follows the language (``data-cph``,
    on the label: dcc.Input takes no data attributes). ``debounce``: Dash hears of the text only on Enter or
    blur, not at every key."""
    return html.Label(
        [
            _label(key, lang, className="wc-sr"),
            dcc.Input(
                id=id_,
                type=props.pop("type", "text"),
                placeholder=t(lang, key),
                className="wc-input",
                debounce=True,
                **props,
            ),
        ],
        className="wc-field",
        **attrs(data_cph=key),
    )


def _button(id_: str | None, key: str, lang: Lang, extra_class: str = "", **props: Any) -> html.Button:
    """A button handled by the script (event delegation on ``document``), no Dash round trip."""
    if id_ is not None:
        props["id"] = id_
    return html.Button(
        t(lang, key),
        type="button",
        className=f"wc-button {extra_class}".strip(),
        disable_n_clicks=True,
        **attrs(data_ct=key),
        **props,
    )


def _role_tag(gate: str, lang: Lang) -> Component:
    return _label(f"needs_{gate}", lang, className="wc-role")


def _form(children: list[Any], extra_class: str = "") -> html.Div:
    """Inputs and their submit button (``.wc-submit``): Enter in an input presses it. Not a <form>: nothing
    typed here can ever be submitted by the browser itself (a password in a URL), script or no script."""
    return html.Div(children, className=f"wc-form {extra_class}".strip())


def _section(
    id_: str, title_key: str | None, lang: Lang, children: list[Any], gate: str | None = None, extra_class: str = ""
) -> html.Section:
    """``gate`` ("act" or "decide"): the role the section's controls need, shown as a tag to those without it."""
    classes = ["wc-section", extra_class]
    heading: list[Any] = []
    if title_key:
        heading.append(_label(title_key, lang))
    if gate:
        classes.append(f"wc-needs-{gate}")
        heading.append(_role_tag(gate, lang))
    body = [html.H3(heading)] if heading else []
    return html.Section(body + children, id=id_, className=" ".join(c for c in classes if c))


def consult_button(lang: Any = i18n.DEFAULT_LANG) -> html.Button:
    """The timebar's "会商 / Consultation" button: opens and closes the drawer."""
    lang = lang_of(lang)
    return html.Button(
        [html.Span("", className="wc-dot"), _label("button", lang)],
        id="wall-consult-button",
        type="button",
        className="tb-button",
        disable_n_clicks=True,
        **attrs(aria_controls=DRAWER_ID, aria_expanded="false"),
    )


def consult_drawer(lang: Any = i18n.DEFAULT_LANG) -> html.Aside:
    """The drawer (hidden until ``wall-consult-button`` is pressed), laid out in ``lang``."""
    lang = lang_of(lang)
    return html.Aside(
        [
            dcc.Store(id=TEXTS_ID, data=TEXT),
            dcc.Store(id=CONTEXT_ID, data=None),
            html.Div(
                [
                    html.H2(
                        [_label("drawer_title", lang), html.Span("", id="wall-consult-scope", className="wc-scope")]
                    ),
                    html.Button(
                        "×",
                        id="wall-consult-hide",
                        type="button",
                        className="wc-hide",
                        disable_n_clicks=True,
                        title=t(lang, "hide"),
                        **attrs(aria_label=t(lang, "hide"), data_ctitle="hide"),
                    ),
                ],
                className="wc-head",
            ),
            html.Div(
                [
                    html.Div("", id="wall-consult-message", className="wc-message", role="alert"),
                    _login(lang),
                    _start(lang),
                    _current(lang),
                    _last(lang),
                ],
                className="wc-body",
            ),
        ],
        id=DRAWER_ID,
        className="wall-consult",
        **attrs(aria_label=t(lang, "drawer_title"), data_ctitle="drawer_title"),
    )


def _login(lang: Lang) -> html.Section:
    return _section(
        "wall-login",
        "login_title",
        lang,
        [
            _form(
                [
                    _input("wall-login-name", "login_name", lang, autoComplete="username"),
                    _input(
                        "wall-login-password", "login_password", lang, type="password", autoComplete="current-password"
                    ),
                    _button("wall-login-submit", "login_submit", lang, "wc-submit wc-primary"),
                ],
                "wc-logged-out",
            ),
            html.Div(
                [
                    html.Span("", id="wall-login-user", className="wc-user"),
                    _button("wall-login-logout", "logout", lang),
                ],
                className="wc-logged-in wc-row",
            ),
            html.Div("", id="wall-login-error", className="wc-error", role="alert"),
        ],
        extra_class="wc-login",
    )


def _start(lang: Lang) -> html.Section:
    return _section(
        "wall-consult-start",
        None,
        lang,
        [
            _label("none_open", lang, html.Div, className="wc-muted"),
            _form(
                [
                    _input("wall-consult-start-title", "start_title", lang, maxLength=200),
                    _button("wall-consult-start-submit", "start_submit", lang, "wc-submit wc-primary"),
                ],
                "wc-act",
            ),
            _role_tag("act", lang),
        ],
        extra_class="wc-needs-act",
    )


def _current(lang: Lang) -> html.Section:
    """The open consultation: attendees, snapshots, decisions and the briefing."""
    return html.Section(
        [
            html.Div(
                [
                    html.H3("", id="wall-consult-title", className="wc-title"),
                    html.Div("", id="wall-consult-meta", className="wc-muted"),
                ],
                className="wc-section wc-heading",
            ),
            _section(
                "wall-consult-attendees-section",
                "attendees",
                lang,
                [
                    html.Ul([], id="wall-consult-attendees", className="wc-list"),
                    _form(
                        [
                            _input("wall-consult-attendee-name", "attendee_name", lang, maxLength=100),
                            _input("wall-consult-attendee-unit", "attendee_unit", lang, maxLength=200),
                            _button("wall-consult-attendee-add", "attendee_add", lang, "wc-submit"),
                        ],
                        "wc-act",
                    ),
                ],
                gate="act",
            ),
            _section(
                "wall-consult-snapshot-section",
                None,
                lang,
                [
                    html.Div(
                        [
                            _button("wall-consult-snapshot", "snapshot", lang, "wc-act"),
                            html.Span("", id="wall-consult-snapshot-info", className="wc-muted"),
                        ],
                        className="wc-row",
                    ),
                    _role_tag("act", lang),
                ],
                extra_class="wc-needs-act",
            ),
            _section(
                "wall-consult-decisions-section",
                "decisions",
                lang,
                [
                    html.Ol([], id="wall-consult-decisions", className="wc-list wc-decisions"),
                ],
            ),
            *_decision_sections(lang),
            html.Div(
                [
                    _button("wall-consult-briefing", "briefing", lang, "wc-briefing", **attrs(data_format="html")),
                    _button("wall-consult-briefing-md", "briefing_md", lang, "wc-briefing", **attrs(data_format="md")),
                    _button("wall-consult-end", "end", lang, "wc-danger wc-act"),
                ],
                className="wc-section wc-actions",
            ),
        ],
        id="wall-consult-current",
        className="wc-current",
    )


def _decision_sections(lang: Lang) -> list[html.Section]:
    """Setting the response level and approving orders (commander), notes (duty officer or commander)."""
    level_options = [
        html.Option(t(lang, f"level_{code}"), value=code, **attrs(data_ct=f"level_{code}")) for code in RESPONSE_LEVELS
    ]
    return [
        _section(
            "wall-consult-level-section",
            "level_title",
            lang,
            [
                _form(
                    [
                        html.Select(
                            level_options,
                            id="wall-consult-level",
                            className="wc-input wc-select",
                            **attrs(aria_label=t(lang, "level_title"), data_ctitle="level_title"),
                        ),
                        _input("wall-consult-level-reason", "level_reason", lang, maxLength=2000),
                        _button("wall-consult-level-submit", "level_submit", lang, "wc-submit wc-primary"),
                    ],
                    "wc-act",
                ),
            ],
            gate="decide",
        ),
        _section(
            "wall-consult-orders-section",
            "orders",
            lang,
            [
                html.Div([], id="wall-consult-orders", className="wc-list"),
            ],
            gate="decide",
        ),
        _section(
            "wall-consult-note-section",
            "note_title",
            lang,
            [
                _form(
                    [
                        _input("wall-consult-note", "note_text", lang, maxLength=4000),
                        _button("wall-consult-note-submit", "note_submit", lang, "wc-submit"),
                    ],
                    "wc-act",
                ),
            ],
            gate="act",
        ),
    ]


def _last(lang: Lang) -> html.Section:
    return _section(
        "wall-consult-last",
        "last",
        lang,
        [
            html.Div("", id="wall-consult-last-title", className="wc-title"),
            html.Div("", id="wall-consult-last-meta", className="wc-muted"),
            html.Div(
                [
                    _button("wall-consult-last-briefing", "briefing", lang, "wc-briefing", **attrs(data_format="html")),
                    _button("wall-consult-last-md", "briefing_md", lang, "wc-briefing", **attrs(data_format="md")),
                ],
                className="wc-row",
            ),
        ],
    )


def register(app: dash.Dash) -> None:
    """One clientside callback: the wall's language, the drill shown and the time zone go to wall-consult.js
    (which also sets ``document.documentElement.lang``); the texts ride along once."""
    clientside_callback(
        app,
        ClientsideFunction(namespace="floodConsult", function_name="context"),
        Output(CONTEXT_ID, "data"),
        Input("wall-lang-store", "data"),
        Input("wall-drill", "value"),
        State(TEXTS_ID, "data"),
        State("wall-config", "data"),
    )
