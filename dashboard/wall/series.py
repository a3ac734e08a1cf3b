"""The series panel: one station's last 24 h as a plotly figure, with its thresholds as labelled lines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from dash import dcc, html

from dashboard import i18n, queries
from dashboard.i18n import Lang, t
from dashboard.wall.data import WallData
from dashboard.wall.panels import local_time
from floodctl.core.settings import Settings
from floodctl.domain.thresholds import DEFAULT_METRIC_BY_KIND
from floodctl.stations import store as stations_store

SERIES_SPAN = timedelta(hours=24)
RAIN_BUCKET = timedelta(hours=1)
# Threshold lines of the series plot: (threshold, colour, dash); "fsltdz" is the season's flood limit.
THRESHOLD_LINES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "river": (("wrz", "#ffd23f", "dash"), ("grz", "#ff3b4e", "dashdot")),
    "reservoir": (
        ("fsltdz", "#ff8c1a", "dash"),
        ("dsflz", "#ff3b4e", "dashdot"),
        ("ckflz", "#ff7eb6", "dot"),
        ("dam_crest", "#ffffff", "longdash"),
    ),
    "tide": (
        ("tide_blue", "#3d8bfd", "dot"),
        ("tide_yellow", "#ffd23f", "dash"),
        ("tide_orange", "#ff8c1a", "dashdot"),
        ("tide_red", "#ff3b4e", "longdash"),
        ("seawall_crest", "#ffffff", "solid"),
    ),
    "camera": (("wrz", "#ffd23f", "dash"), ("grz", "#ff3b4e", "dashdot")),
}
# Beaufort force lower bounds (m/s) behind the typhoon signals: force 6, 8, 10, 12.
WIND_FORCE_LINES = (
    (6, 10.8, "#3d8bfd", "dot"),
    (8, 17.2, "#ffd23f", "dash"),
    (10, 24.5, "#ff8c1a", "dashdot"),
    (12, 32.7, "#ff3b4e", "longdash"),
)


def _figure_layout(lang: Lang, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": "#0f1a2c",
        "plot_bgcolor": "#0b1424",
        "font": {"color": "#f2f5fa", "size": 15},
        "margin": {"l": 60, "r": 60, "t": 10, "b": 40},
        "hovermode": "x unified",
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "bgcolor": "rgba(0,0,0,0)"},
        "xaxis": {"gridcolor": "#22324d", "type": "date"},
        "yaxis": {"gridcolor": "#22324d", "zeroline": False},
    }
    layout.update(extra)
    return layout


def series_hint(lang: Lang, text: str | None = None) -> html.Div:
    """The series panel before a station is picked (or when it has no data): text, no chart. The chart
    (plotly, ~1 s of the browser's time to load) is mounted only when there is a series to draw."""
    return html.Div(text or t(lang, "panel_series"), className="empty series-hint")


def series_graph(figure: dict[str, Any]) -> dcc.Graph:
    return dcc.Graph(
        id="wall-series",
        figure=figure,
        config={"displaylogo": False, "displayModeBar": False, "responsive": True},
        style={"flex": "1", "minHeight": 0, "height": "100%"},
    )


def _x(points: list[list[Any]], settings: Settings) -> list[str]:
    return [local_time(p[0], settings, "%Y-%m-%d %H:%M:%S") for p in points]


def threshold_lines(
    info: queries.StationInfo, flood_limit_column: str | None, lang: Lang
) -> list[tuple[str, float, str, str]]:
    """(label, value, colour, dash) of the lines to draw for this station's kind."""
    out = []
    for key, colour, dash_style in THRESHOLD_LINES.get(info.kind, ()):
        column = flood_limit_column if key == "fsltdz" else key
        if column is None or column not in info.thresholds:
            continue
        out.append((i18n.name(i18n.THRESHOLD_NAME, lang, key), info.thresholds[column], colour, dash_style))
    if info.kind == "weather":
        for force, speed, colour, dash_style in WIND_FORCE_LINES:
            out.append((f"{force}级" if lang == "zh" else f"force {force}", speed, colour, dash_style))
    return out


def series_figure(
    info: queries.StationInfo,
    main: stations_store.Series | None,
    rain: stations_store.Series | None,
    lines: list[tuple[str, float, str, str]],
    lang: Lang,
    settings: Settings,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """The station's main metric as a line (or hourly rainfall bars for a rain gauge), its rainfall as bars
    on a second axis, and its thresholds as labelled horizontal lines."""
    traces = _traces(main, rain, lang, settings)
    shapes, annotations = _threshold_marks(lines)
    if not traces:
        annotations.append(
            {
                "text": t(lang, "no_data"),
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 18, "color": "#a9b7cc"},
            }
        )
    x_range = [
        start.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S"),
        end.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S"),
    ]
    extra: dict[str, Any] = {
        "shapes": shapes,
        "annotations": annotations,
        "uirevision": info.code,
        "xaxis": {
            "gridcolor": "#22324d",
            "type": "date",
            "range": x_range,
            "tickformat": "%H:%M\n%m-%d",
            "hoverformat": "%m-%d %H:%M",
        },
        "meta": {"station": info.code, "thresholds": {label: v for label, v, _, _ in lines}},
    }
    extra |= _y_axes(main, rain, lang)
    return {"data": traces, "layout": _figure_layout(lang, **extra)}


def _traces(
    main: stations_store.Series | None, rain: stations_store.Series | None, lang: Lang, settings: Settings
) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    rain_axis = "y" if main is None else "y2"
    if main is not None and main.points:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": i18n.name(i18n.METRIC_NAME, lang, main.metric),
                "x": _x(main.points, settings),
                "y": [p[1] for p in main.points],
                "line": {"color": "#4fc3f7", "width": 3},
                "hovertemplate": f"%{{y:.2f}} {main.unit}",
            }
        )
    if rain is not None and rain.points:
        traces.append(
            {
                "type": "bar",
                "name": t(lang, "axis_rain"),
                "x": _x(rain.points, settings),
                "y": [p[1] for p in rain.points],
                "yaxis": rain_axis,
                "marker": {"color": "#7fb2ff"},
                "opacity": 0.75,
                "hovertemplate": "%{y:.1f} mm",
            }
        )
    return traces


def _threshold_marks(lines: list[tuple[str, float, str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(shapes, annotations): a horizontal line per threshold and its label."""
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": value,
            "y1": value,
            "line": {"color": colour, "width": 2, "dash": dash_style},
            "name": label,
        }
        for label, value, colour, dash_style in lines
    ]
    # Labels alternate between the right and left ends, so lines close together keep readable labels.
    annotations = [
        {
            "xref": "paper",
            "x": 1 - index % 2,
            "xanchor": "left" if index % 2 else "right",
            "yref": "y",
            "y": value,
            "yanchor": "bottom",
            "text": f"{label} {value:.2f}",
            "showarrow": False,
            "font": {"color": colour, "size": 14},
            "bgcolor": "rgba(15,26,44,0.8)",
        }
        for index, (label, value, colour, _) in enumerate(lines)
    ]
    return shapes, annotations


def _y_axes(main: stations_store.Series | None, rain: stations_store.Series | None, lang: Lang) -> dict[str, Any]:
    axes: dict[str, Any] = {}
    if main is not None:
        axes["yaxis"] = {
            "gridcolor": "#22324d",
            "zeroline": False,
            "title": {"text": f"{i18n.name(i18n.METRIC_NAME, lang, main.metric)} ({main.unit})"},
        }
        if rain is not None and rain.points:
            axes["yaxis2"] = {
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "rangemode": "tozero",
                "autorange": "reversed",
                "title": {"text": t(lang, "axis_rain")},
            }
    else:
        axes["yaxis"] = {"gridcolor": "#22324d", "rangemode": "tozero", "title": {"text": t(lang, "axis_rain")}}
    return axes


def scaled(figure: dict[str, Any], scale: Any) -> dict[str, Any]:
    """Plotly sizes text in pixels: scale it with the wall (``wall-scale``: viewport width / 1920, 1..3)."""
    try:
        factor = min(max(float(scale), 1.0), 3.0)
    except (TypeError, ValueError):
        factor = 1.0
    if factor == 1.0:
        return figure
    layout = figure["layout"]
    layout["font"] = {**layout.get("font", {}), "size": round(layout.get("font", {}).get("size", 15) * factor)}
    for note in layout.get("annotations", []):
        if "font" in note:
            note["font"] = {**note["font"], "size": round(note["font"].get("size", 14) * factor)}
    margin = layout.get("margin", {})
    layout["margin"] = {k: round(v * factor) for k, v in margin.items()}
    for trace in figure["data"]:
        if "line" in trace:
            trace["line"] = {**trace["line"], "width": trace["line"].get("width", 2) * factor}
    for shape in layout.get("shapes", []):
        shape["line"] = {**shape["line"], "width": shape["line"].get("width", 2) * factor}
    return figure


def station_series(
    conn: psycopg.Connection, data: WallData, code: str, drill_id: int, lang: Lang, at: datetime | None = None
) -> tuple[dict[str, Any] | None, str]:
    """(figure, heading) for one station over the SERIES_SPAN up to ``at`` (default: the drill's clock);
    no figure for a station that does not exist."""
    settings = data.settings
    info = queries.station_info(conn, code)
    if info is None:
        return None, t(lang, "panel_series")
    clock_at = at or queries.clock(conn, drill_id).at
    end = clock_at + timedelta(minutes=1)
    start = end - SERIES_SPAN
    origin = datetime(2000, 1, 1, tzinfo=settings.tz)
    main = None
    main_metric = DEFAULT_METRIC_BY_KIND.get(info.kind, "water_level")
    if main_metric != "rainfall":
        main = stations_store.series(
            conn,
            stations_store.SeriesQuery(
                code=code, metric=main_metric, start=start, end=end, bucket=None, drill_id=drill_id
            ),
            origin=origin,
        )
    rain = stations_store.series(
        conn,
        stations_store.SeriesQuery(
            code=code, metric="rainfall", start=start, end=end, bucket=RAIN_BUCKET, drill_id=drill_id
        ),
        origin=origin,
    )
    _, limit_column = queries.season_column(data.rules, clock_at)
    figure = series_figure(info, main, rain, threshold_lines(info, limit_column, lang), lang, settings, start, end)
    town = info.town_en if lang == "en" and info.town_en else info.town
    kind = i18n.name(i18n.KIND_NAME, lang, info.kind) + (f" · {town}" if town else "")
    return figure, t(lang, "series_title", name=info.name, code=info.code, kind=kind)
