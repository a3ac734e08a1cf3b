"""The wall's panels rendered (pure: plain values in, Dash components out): response level, warnings, rainfall
ranking, reservoirs over their flood limit, orders with their 叫应, field reports, the drill banner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import html

from dashboard import i18n
from dashboard.components import attrs
from dashboard.i18n import Lang, level_mark, t
from dashboard.wall.data import as_datetime
from floodctl.core.settings import Settings


def local_time(value: Any, settings: Settings, fmt: str = "%m-%d %H:%M") -> str:
    moment = as_datetime(value)
    return moment.astimezone(settings.tz).strftime(fmt) if moment else ""


def town_of(row: dict[str, Any], lang: Lang, key: str = "town") -> str:
    if lang == "en":
        return str(row.get(f"{key}_en") or row.get(key) or "")
    return str(row.get(key) or "")


def render_response_level(level: dict[str, Any], lang: Lang, settings: Settings) -> tuple[list[Any], str]:
    code = level.get("level") or "none"
    children: list[Any] = [
        html.Span(t(lang, "response_level"), className="resp-label"),
        html.Strong(i18n.RESPONSE_NAME[lang].get(code, code), className="resp-value", **attrs(data_level=code)),
    ]
    if level.get("decided_by"):
        children.append(
            html.Span(
                t(
                    lang,
                    "response_by",
                    who=level["decided_by"],
                    at=local_time(level.get("decided_at"), settings, "%H:%M"),
                ),
                className="resp-by",
                title=str(level.get("reason") or ""),
            )
        )
    return children, f"resp-{code}"


def render_warnings(rows: list[dict[str, Any]], lang: Lang, settings: Settings) -> list[Any]:
    if not rows:
        return [html.Div(t(lang, "no_warnings"), className="empty")]
    out = []
    for w in rows:
        level = w.get("level")
        subject = w.get("subject_name") or w.get("subject")
        town = w.get("town_name")
        acked = bool(w.get("acknowledged"))
        by = w.get("acknowledged_by")
        ack_text = t(lang, "acknowledged") + (f" · {by}" if acked and by else "")
        out.append(
            html.Div(
                [
                    html.Span(level_mark(level, lang), className=f"badge level-{level}"),
                    html.Span(f"{subject} · {town}" if town else str(subject), className="w-subject"),
                    html.Span(local_time(w.get("raised_at"), settings), className="w-time"),
                    html.Span(w.get("message_en" if lang == "en" else "message_zh") or "", className="w-msg"),
                    html.Span(
                        ack_text if acked else t(lang, "unacknowledged"),
                        className="w-ack acked" if acked else "w-ack unack",
                    ),
                ],
                className=f"w-row level-{level}",
                **attrs(data_level=level, data_id=str(w.get("id"))),
            )
        )
    return out


def render_rain(ranking: dict[str, Any], lang: Lang) -> list[Any]:
    columns = []
    for window in ("1h", "3h", "24h"):
        items = ranking.get(window) or []
        body: Any = (
            html.Ol(
                [
                    html.Li(
                        [
                            html.Span(item["name"], className="rain-name", title=town_of(item, lang)),
                            html.Span(f"{float(item['mm']):.1f}", className="rain-mm"),
                        ],
                        **attrs(data_code=item["code"]),
                    )
                    for item in items
                ]
            )
            if items
            else html.Div(t(lang, "no_rain"), className="empty")
        )
        columns.append(
            html.Div([html.H3(t(lang, f"rain_{window}")), body], id=f"wall-rain-{window}", className="rain-col")
        )
    return columns


def render_reservoirs(rows: list[dict[str, Any]], season: str | None, lang: Lang) -> list[Any]:
    if season is None:
        return [html.Div(t(lang, "off_season"), className="empty")]
    note = html.Div(t(lang, "season", season=i18n.name(i18n.SEASON_NAME, lang, season)), className="season-note")
    if not rows:
        return [note, html.Div(t(lang, "no_reservoirs"), className="empty")]
    head = html.Tr(
        [
            html.Th(x)
            for x in (
                ("水库", "乡镇", "水位 m", "汛限 m", "超汛限")
                if lang == "zh"
                else ("Reservoir", "Town", "Level m", "Limit m", "Over")
            )
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(r["name"]),
                html.Td(town_of(r, lang)),
                html.Td(f"{r['level']:.2f}", className="num"),
                html.Td(f"{r['flood_limit']:.2f}", className="num"),
                html.Td(t(lang, "level_over", excess=f"{r['excess']:.2f}"), className="num excess"),
            ],
            **attrs(data_code=r["code"]),
        )
        for r in rows
    ]
    return [note, html.Table([html.Thead(head), html.Tbody(body)], className="wall-table")]


CALL_STATES = ("acknowledged", "carried_out", "pending", "unreached")
CALL_MARK = {"acknowledged": "✔", "carried_out": "★", "pending": "…", "unreached": "✖"}


def _left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def render_orders(rows: list[dict[str, Any]], lang: Lang, settings: Settings, now: datetime | None = None) -> list[Any]:
    """Order cards; ``now`` (live only) turns the nearest pending 叫应 deadline into a countdown."""
    if not rows:
        return [html.Div(t(lang, "no_orders"), className="empty")]
    out = []
    for o in rows:
        draft = o["status"] == "draft"
        head = [
            html.Span(o["order_no"], className="o-no"),
            html.Span(
                t(lang, "order_draft" if draft else "order_approved"),
                className="o-status draft" if draft else "o-status",
            ),
        ]
        if o.get("level"):
            head.append(html.Span(level_mark(o["level"], lang), className=f"badge level-{o['level']}"))
        head.append(html.Span(local_time(o.get("approved_at") or o.get("drafted_at"), settings), className="w-time"))
        parts = [
            html.Div(head, className="o-head"),
            html.Div(o["title_en"] if lang == "en" else o["title_zh"], className="o-title"),
        ]
        if not draft:
            parts.append(
                html.Div(
                    [
                        html.Span(
                            f"{CALL_MARK[state]} {t(lang, f'town_{state}')} {o[state]}",
                            className=f"c-{state}",
                            **attrs(data_count=str(o[state])),
                        )
                        for state in CALL_STATES
                    ],
                    className="o-counts",
                )
            )
            extra = []
            if o.get("escalated"):
                extra.append(
                    html.Span(
                        f"⇧ {t(lang, 'town_escalated')} {o['escalated']}",
                        className="c-escalated",
                        **attrs(data_count=str(o["escalated"])),
                    )
                )
            deadline = as_datetime(o.get("next_deadline"))
            if now is not None and deadline is not None and o.get("pending"):
                left = (deadline - now).total_seconds()
                extra.append(
                    html.Span(
                        t(lang, "deadline_in", left=_left(left)) if left > 0 else t(lang, "deadline_over"),
                        className="o-deadline" + ("" if left > 0 else " over"),
                    )
                )
            if extra:
                parts.append(html.Div(extra, className="o-calls"))
            unreached = o["unreached_towns_en"] if lang == "en" else o["unreached_towns"]
            if unreached:
                parts.append(
                    html.Div(
                        f"{t(lang, 'town_unreached')}：{'、'.join(x for x in unreached if x)}"
                        if lang == "zh"
                        else f"Unreached: {', '.join(x for x in unreached if x)}",
                        className="o-unreached",
                    )
                )
        out.append(html.Div(parts, className="o-card", **attrs(data_id=str(o["id"]), data_status=o["status"])))
    return out


def render_reports(rows: list[dict[str, Any]], lang: Lang, settings: Settings) -> list[Any]:
    if not rows:
        return [html.Div(t(lang, "no_reports"), className="empty")]
    out = []
    for r in rows:
        head = [
            html.Span(local_time(r.get("reported_at"), settings), className="r-time"),
            html.Span(i18n.name(i18n.REPORT_KIND_NAME, lang, r.get("kind")), className="r-kind"),
            html.Span(r.get("town_name") or "", className="r-town"),
        ]
        if r.get("warning_level") and r.get("warning_state") == "active":
            head.append(html.Span(level_mark(r["warning_level"], lang), className=f"badge level-{r['warning_level']}"))
        if r.get("people_affected"):
            head.append(html.Span(t(lang, "people_affected", n=r["people_affected"])))
        text = str(r.get("text") or "")
        out.append(
            html.Div(
                [
                    html.Div(head, className="r-head"),
                    html.Div(text if len(text) <= 80 else text[:79] + "…", className="r-text"),
                ],
                className="r-row",
                **attrs(data_id=str(r.get("id"))),
            )
        )
    return out


def drill_options(drills: list[dict[str, Any]], lang: Lang) -> list[dict[str, Any]]:
    return [{"label": t(lang, "live"), "value": 0}] + [
        {"label": t(lang, "drill_option", id=d["id"], name=d["name"]), "value": d["id"]} for d in drills
    ]


def render_drill_banner(drill_id: int, drills: list[dict[str, Any]], lang: Lang) -> tuple[str, str]:
    if drill_id == 0:
        return "", ""
    name = next((d["name"] for d in drills if d["id"] == drill_id), "")
    return t(lang, "drill_banner", id=drill_id, name=name), "drill-on"
