"""Routes of the situation map: the map as one offline HTML file (the wall's "download" button and scripts:
``GET /api/v1/map/export?drill=&at=``).

Reads follow the viewer rule; the wall's download link is a plain navigation, so its session cookie
counts too (``PageViewerDep``). The file is the same as ``floodctl map export`` writes: folium with
Leaflet inlined, no reference to another host (checked before it is sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from dashboard.situation_map import build_map, load_situation, parse_at, render_offline
from floodctl.auth.deps import ConnDep, DrillQuery, PageViewerDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["situation map"])


@router.get(
    "/map/export",
    summary="The situation map as one self-contained HTML file that opens offline",
    response_class=HTMLResponse,
)
def export_situation_map(
    conn: ConnDep,
    settings: SettingsDep,
    viewer: PageViewerDep,
    drill: DrillQuery = 0,
    at: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 time; default now, or the drill's clock")
    ] = None,
) -> HTMLResponse:
    when: datetime | None = parse_at(at, settings.tz) if at else None
    situation = load_situation(conn, at=when, drill_id=drill)
    page = render_offline(build_map(situation, tz=settings.tz))
    stamp = situation.at.astimezone(settings.tz).strftime("%Y%m%d-%H%M")
    name = f"situation-map-{'drill' + str(drill) + '-' if drill else ''}{stamp}.html"
    return HTMLResponse(
        page, headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    )
