"""``floodctl map export``: the situation map as one offline HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from floodctl.core.cli import FloodGroup, console
from floodctl.core.settings import get_settings


@click.group("map", cls=FloodGroup)
def map_group() -> None:
    """The situation map (形势图)."""


@map_group.command("export")
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="ISO_TIME",
    help="situation as of this time (no offset: FLOOD_TIMEZONE); default now, or the drill's clock",
)
@click.option(
    "--drill",
    "drill_id",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="a drill's data, warnings and storm track (0: live operations)",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE.html",
    help="the HTML file to write (replaced whole, or left as it was on error)",
)
@click.option(
    "--tiles",
    default=None,
    metavar="URL",
    help="a tile server's URL template ({z}/{x}/{y}); default none, so the file opens offline",
)
def map_export(at_text: str | None, drill_id: int, out: Path, tiles: str | None) -> None:
    """Write the situation map as one self-contained HTML file that opens offline."""
    from dashboard.situation_map import export_map, parse_at
    from floodctl.core import db as database
    from floodctl.core.embedded import database_url

    settings = get_settings()
    at = parse_at(at_text, settings.tz) if at_text is not None else None
    with database.connect(database_url(settings), wait_s=database.WAIT_FOR_DB_S) as conn:
        result = export_map(conn, out, at=at, drill_id=drill_id, tz=settings.tz, tiles=tiles)
    warned = ", ".join(f"{level} {n}" for level, n in result.levels.items() if n) or "none"
    console.print(
        f"wrote {out} ({result.size_bytes / 1024:,.0f} KB): {result.stations} stations as of "
        f"{result.at.astimezone(settings.tz):%Y-%m-%d %H:%M %Z}, warnings: {warned}",
        highlight=False,
    )
