"""The structure the code promises (docs/architecture.md): layers that only point down, routers mounted
only by the app, and the domain vocabulary spelled in one place. Read from the code's own imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("floodctl", "ingest", "alerts", "dashboard", "gis_data", "simulators")
# Rooms from the ground floor up; a module may import its own room or a room further down.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("floodctl.domain",),
    ("floodctl.core",),
    ("floodctl.stations", "gis_data"),
    ("floodctl.auth",),
    ("ingest",),
    ("alerts",),
    ("simulators",),
    ("dashboard",),
    ("floodctl.api",),
    ("floodctl.bench",),
    ("floodctl",),  # the shell: cli, up, config_check
)
RANK = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}
APP = "floodctl.api.app"  # the one module that mounts routers


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


def modules() -> Iterator[Module]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield Module(".".join(parts), path, ast.parse(path.read_text(encoding="utf-8")))


MODULES = {m.name: m for m in modules()}


def room(name: str) -> str:
    return max((r for r in RANK if name == r or name.startswith(r + ".")), key=len)


def imported(module: Module) -> Iterator[tuple[int, str]]:
    """(line, module name) of every project module it imports, at the top or inside a function."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                yield node.lineno, name


def test_every_import_points_down_or_stays_in_its_room() -> None:
    upward = []
    for module in MODULES.values():
        here = room(module.name)
        for line, target in imported(module):
            there = room(target)
            if there != here and RANK[there] >= RANK[here]:
                upward.append(f"{module.path.relative_to(ROOT)}:{line} ({here}) imports {target} ({there})")
    assert not upward, "imports that run up or sideways:\n" + "\n".join(upward)


def test_no_cycle_between_rooms() -> None:
    edges: dict[str, set[str]] = {}
    for module in MODULES.values():
        for _, target in imported(module):
            if room(target) != room(module.name):
                edges.setdefault(room(module.name), set()).add(room(target))
    seen: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            assert seen.get(nxt) != 1, "cycle: " + " -> ".join(path + [node, nxt])
            if nxt not in seen:
                visit(nxt, path + [node])
        seen[node] = 2

    for node in sorted(edges):
        if node not in seen:
            visit(node, [])


def test_only_the_app_imports_a_router() -> None:
    routers = {name for name in MODULES if name.endswith(".routes") or ".routes." in name}
    assert routers, "no router found: the naming convention (routes.py, routes/) is not followed"
    wrong = [
        f"{m.path.relative_to(ROOT)}:{line} imports {target}"
        for m in MODULES.values()
        if m.name != APP and m.name not in routers
        for line, target in imported(m)
        if target in routers
    ]
    assert not wrong, "\n".join(wrong)


def test_every_json_route_declares_its_response_model(settings: Any, database_url: str) -> None:
    from starlette.responses import HTMLResponse, Response

    from floodctl.api.app import api_routes, create_app

    app = create_app(settings, database_url)
    missing, seen = [], 0
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        seen += 1
        cls = route.response_class if isinstance(route.response_class, type) else Response
        if issubclass(cls, HTMLResponse) or route.status_code in (204, 302, 303, 307):
            continue
        if route.response_model is None and not route.responses:
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert seen > 40, f"only {seen} routes found: the walk through the routers misses some"
    assert not missing, "routes without a response_model:\n" + "\n".join(missing)


# --- the vocabulary in one place ----------------------------------------------------------------

LEVEL_WORDS = {"blue", "yellow", "orange", "red"}
THRESHOLD_WORDS = {
    "wrz",
    "grz",
    "fsltdz_meiyu",
    "fsltdz_typhoon",
    "dsflz",
    "ckflz",
    "dam_crest",
    "tide_blue",
    "tide_yellow",
    "tide_orange",
    "tide_red",
    "seawall_crest",
}
MARKER = "\u3010\u6f14\u7ec3\u3011"  # the drill marker, spelled so that this file holds no copy
TOPIC = "flood" + "/v1"


def docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def vocabulary_outside_the_domain() -> Iterator[str]:
    for module in MODULES.values():
        if room(module.name) == "floodctl.domain":
            continue
        skip = docstrings(module.tree)
        where = module.path.relative_to(ROOT)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                items = {s for e in node.elts for s in strings(e) if isinstance(e, ast.Constant)}
                if len(items & LEVEL_WORDS) >= 3:
                    yield f"{where}:{node.lineno}: a level list"
                if len(items & THRESHOLD_WORDS) >= 4:  # (a few named for one purpose are a choice)
                    yield f"{where}:{node.lineno}: a threshold list"
            elif isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                if len(keys & LEVEL_WORDS) >= 3:
                    yield f"{where}:{node.lineno}: a table by level"
                labels = all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.values)
                if len(keys & THRESHOLD_WORDS) >= 3 and labels:  # (a station's values by name are data)
                    yield f"{where}:{node.lineno}: a table by threshold"
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                text = node.value
                if MARKER in text:
                    yield f"{where}:{node.lineno}: the drill marker"
                if TOPIC in text:
                    yield f"{where}:{node.lineno}: a topic literal"
                if sum(f"'{w}'" in text for w in LEVEL_WORDS) >= 3:
                    yield f"{where}:{node.lineno}: a level list in SQL"
                if sum(w in text.replace(",", " ").split() for w in THRESHOLD_WORDS) >= 3:
                    yield f"{where}:{node.lineno}: a threshold list in SQL"


def test_the_vocabulary_is_spelled_only_in_the_domain_package() -> None:
    found = sorted(set(vocabulary_outside_the_domain()))
    assert not found, "define these in floodctl/domain and import them:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "snippet, what",
    [
        ("LEVELS = ('blue', 'yellow', 'orange', 'red')", "a level list"),
        ("SQL = \"ORDER BY array_position(ARRAY['red', 'orange', 'yellow', 'blue'], level)\"", "a level list in SQL"),
        ("T = ('wrz', 'grz', 'dsflz', 'ckflz')", "a threshold list"),
        ("P = '\u3010\u6f14\u7ec3\u3011' + text", "the drill marker"),
        ("t = f'flood/v1/{code}/obs'", "a topic literal"),
    ],
)
def test_the_vocabulary_check_sees_each_kind(snippet: str, what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Module("alerts.fake", ROOT / "alerts" / "fake.py", ast.parse(snippet))
    monkeypatch.setitem(MODULES, fake.name, fake)
    assert any(what in line for line in vocabulary_outside_the_domain() if "fake.py" in line)


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_no_module_over_600_lines_and_no_function_over_80() -> None:
    too_big = []
    for module in MODULES.values():
        lines = module.path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{module.path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = (node.end_lineno or node.lineno) - start + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{module.path.relative_to(ROOT)}:{node.lineno} {node.name}(): {length} lines")
    assert not too_big, "split along a seam:\n" + "\n".join(too_big)
