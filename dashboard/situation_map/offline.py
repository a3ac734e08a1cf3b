"""The map rendered to one self-contained HTML file (Leaflet and markercluster inlined from the xstatic packages,
checked to reference nothing outside itself) and written atomically: ``export_map``."""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import folium
import psycopg
from branca.element import Element, Figure
from folium.elements import JSCSSMixin
from xstatic.pkg import leaflet as xs_leaflet
from xstatic.pkg import leaflet_markercluster as xs_markercluster

from dashboard.situation_map.markers import Inline
from dashboard.situation_map.page import build_map
from dashboard.situation_map.situation import Situation, load_situation
from floodctl.core.errors import BadRequest, FloodError
from floodctl.domain.levels import LEVELS

LEAFLET_DIR = Path(xs_leaflet.BASE_DIR)
MARKERCLUSTER_DIR = Path(xs_markercluster.BASE_DIR)
# folium's resource names -> the local copy inlined instead of the CDN link.
LOCAL_JS = {
    "leaflet": LEAFLET_DIR / "leaflet.js",
    "markerclusterjs": MARKERCLUSTER_DIR / "leaflet.markercluster.js",
}
LOCAL_CSS = {
    "leaflet_css": LEAFLET_DIR / "leaflet.css",
    "markerclustercss": MARKERCLUSTER_DIR / "MarkerCluster.css",
    "markerclusterdefaultcss": MARKERCLUSTER_DIR / "MarkerCluster.Default.css",
}
# folium's page defaults that nothing here uses (DivIcons and our own popups instead).
NOT_NEEDED = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)
# Leaflet's attribution prefix links to its web site; offline the link is dead, so it says the name only.
LEAFLET_PREFIX = '\'<a href="https://leafletjs.com" title="A JavaScript library for interactive maps">\''
LEAFLET_PREFIX_OFFLINE = "'<a title=\"Leaflet: a JavaScript library for interactive maps (leafletjs.com)\">'"
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster)\s*=\s*\\?["']?|url\(\s*\\?["']?|@import\s+\\?["']?)"""
    r"""\s*(?:https?:|wss?:|ftp:)?//[^\s"')<>]*""",
    re.IGNORECASE,
)


def _elements(root: Element) -> Iterator[Element]:
    stack = [root]
    while stack:
        element = stack.pop()
        yield element
        stack.extend(reversed(list(element._children.values())))


def _script(text: str) -> str:
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


def _style(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def inline_image(match: re.Match[str]) -> str:
        image = path.parent / match.group(1)
        if not image.is_file():
            return match.group(0)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\(\s*['\"]?(images/[\w.-]+\.png)['\"]?\s*\)", inline_image, css)
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


def external_references(page: str) -> list[str]:
    """``src=`` / ``href=`` / ``url(`` / ``@import`` references to another host in a page."""
    return [m.group(0) for m in EXTERNAL.finditer(page)]


def render_offline(m: folium.Map, *, allow_external: bool = False) -> str:
    """The whole page as one string, Leaflet and its plugins inlined (see the module docstring)."""
    root = m.get_root()
    assert isinstance(root, Figure)
    js: list[str] = []
    css: list[str] = []
    for element in _elements(root):
        if not isinstance(element, JSCSSMixin):
            continue
        for names, resources, local in ((js, element.default_js, LOCAL_JS), (css, element.default_css, LOCAL_CSS)):
            for name, url in resources:
                if name in local:
                    if name not in names:
                        names.append(name)
                elif name not in NOT_NEEDED:
                    raise FloodError(f"situation map: no local copy of {name} ({url})")
        element.default_js = []
        element.default_css = []
    js.sort(key=lambda name: name != "leaflet")  # Leaflet before its plugins
    css.sort(key=lambda name: name != "leaflet_css")
    inlined = [_style(LOCAL_CSS[name]) for name in css]
    for name in js:
        text = LOCAL_JS[name].read_text(encoding="utf-8")
        inlined.append(_script(text.replace(LEAFLET_PREFIX, LEAFLET_PREFIX_OFFLINE) if name == "leaflet" else text))
    for index, text in enumerate(inlined, start=1):  # right after the charset, before any use
        root.header.add_child(Inline(text), name=f"inline_{index}", index=index)
    page = root.render()
    page = page.replace("<html>", '<html lang="zh-CN">', 1)
    if not allow_external:
        found = external_references(page)
        if found:
            raise FloodError(f"situation map: the page still references {found[0]!r}")
    return page


# --- export -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    size_bytes: int
    at: datetime
    stations: int
    levels: dict[str, int]  # stations per warning level at T
    storm_fixes: int  # fixes drawn up to T
    situation: Situation


def write_atomically(path: Path, text: str) -> int:
    """Write the file whole or not at all (a temporary file beside it, then a rename)."""
    data = text.encode("utf-8")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise FloodError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FloodError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(data)


def export_map(
    conn: psycopg.Connection,
    out: Path,
    *,
    at: datetime | None = None,
    drill_id: int = 0,
    tz: tzinfo = UTC,
    tiles: str | None = None,
) -> ExportResult:
    """Read the situation as of ``at`` and write it to ``out`` as one self-contained HTML file."""
    if tiles is not None and not all(part in tiles for part in ("{z}", "{x}", "{y}")):
        raise BadRequest(f"--tiles: {tiles!r} is not a tile URL template with {{z}}, {{x}} and {{y}}")
    if out.is_dir():
        raise FloodError(f"cannot write {out}: it is a directory")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise FloodError(f"cannot write {out}: no directory {out.parent}")
    situation = load_situation(conn, at=at, drill_id=drill_id)
    page = render_offline(build_map(situation, tz=tz, tiles=tiles), allow_external=tiles is not None)
    size = write_atomically(out, page)
    levels: dict[str, int] = {level: 0 for level in LEVELS}
    for s in situation.stations:
        if s.level:
            levels[s.level] += 1
    return ExportResult(
        out, size, situation.at, len(situation.stations), levels, sum(len(s.past) for s in situation.storms), situation
    )
