"""The county's layers (``LAYERS``: file, title, geometry, required fields, check) and their cross-layer check.

Every layer besides towns and stations is checked feature by feature against its ``LayerSpec``
(geometry type, required fields, a per-feature check) and then across layers: a village lies in
its town, a river's stations exist and sit on it, every river and reservoir gauge lies in a
catchment, every town has a complete duty roster. Towns and stations are the context of all of
them: taken from the same folder when it has them, else from the packaged sample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry

from gis_data.checks.context import Context
from gis_data.checks.places import (
    check_camera,
    check_county,
    check_seawall,
    check_shelter,
    check_village,
    check_waterlogging,
)
from gis_data.checks.roster import ROSTER_ROLES, check_roster
from gis_data.checks.towns import town_areas
from gis_data.checks.water import check_catchment, check_reservoir, check_river, check_station_catchments
from gis_data.geojson import AREAS, LINES, POINT, Feature, Problems, check_unique, features_of, geometry_of, show


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its file, what its features look like, and how each is checked."""

    name: str
    filename: str
    title: str
    geometry: tuple[str, ...]
    required: tuple[str, ...]
    check: Callable[[Feature, BaseGeometry | None, Context, Problems, dict[str, Any]], None] | None = None
    unique: tuple[str, ...] = ("code",)


# In checking order: a layer may be checked against those before it.
LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec("towns", "towns.geojson", "乡镇（街道）", AREAS, ("code", "name")),
        LayerSpec("stations", "stations.geojson", "监测站点", POINT, ("code", "name", "kind", "town")),
        LayerSpec("county", "county.geojson", "县界与海岸线", AREAS + LINES, ("code", "name", "kind"), check_county),
        LayerSpec("catchments", "catchments.geojson", "流域", AREAS, ("code", "name"), check_catchment),
        LayerSpec("rivers", "rivers.geojson", "河流", LINES, ("code", "name", "towns", "stations"), check_river),
        LayerSpec(
            "reservoirs",
            "reservoirs.geojson",
            "水库",
            AREAS + POINT,
            ("code", "station", "capacity_1e6m3", "spillway_crest", "storage_curve"),
            check_reservoir,
        ),
        LayerSpec(
            "seawalls",
            "seawalls.geojson",
            "海塘",
            LINES,
            ("code", "name", "crest_m", "design_standard", "towns"),
            check_seawall,
        ),
        LayerSpec(
            "villages",
            "villages.geojson",
            "行政村",
            POINT,
            ("code", "name", "town", "led_boards", "speakers"),
            check_village,
        ),
        LayerSpec(
            "shelters", "shelters.geojson", "避灾安置点", POINT, ("code", "name", "town", "capacity"), check_shelter
        ),
        LayerSpec(
            "waterlogging",
            "waterlogging.geojson",
            "易涝点",
            POINT,
            ("code", "name", "town", "threshold_mm_h"),
            check_waterlogging,
        ),
        LayerSpec("cameras", "cameras.geojson", "视频监控", POINT, ("code", "station", "snapshot_url"), check_camera),
        LayerSpec("roster", "roster.json", "防汛责任人", (), ("town", *ROSTER_ROLES)),
    )
}
EXTRA_LAYERS = tuple(name for name in LAYERS if name not in ("towns", "stations"))


def check_layer(spec: LayerSpec, fc: Any, ctx: Context, problems: Problems, source: str) -> None:
    usable: list[tuple[Feature, BaseGeometry | None]] = []
    seen: dict[str, dict[str, int]] = {field: {} for field in spec.unique}
    state: dict[str, Any] = {}
    for f in features_of(fc, source, problems):
        geom = geometry_of(f, spec.geometry, problems)
        for field in spec.required:
            if f.props.get(field) is None or f.props.get(field) == "":
                problems.append(f.problem(field, "required"))
        for field in spec.unique:
            value = f.props.get(field)
            if isinstance(value, str):
                check_unique(f, field, value, seen[field], problems)
            elif value is not None:
                problems.append(f.problem(field, f"must be text, got {show(value)}"))
        if spec.check is not None:
            spec.check(f, geom, ctx, problems, state)
        usable.append((f, geom))
    ctx.checked[spec.name] = usable


def validate_collections(
    layers: Mapping[str, Any], *, towns_fc: Any, stations_fc: Any, sources: Mapping[str, str] | None = None
) -> list[str]:
    """Every problem of the given extra layers (name -> parsed file), checked against towns and stations.

    Towns and stations themselves are not re-checked here (``validate_layers`` does that).
    """
    sources = dict(sources or {})
    src = {name: sources.get(name, spec.filename) for name, spec in LAYERS.items()}
    problems: Problems = []
    ctx = Context(town_areas(towns_fc, src["towns"], []), src["towns"], stations_fc, src["stations"])
    for name in EXTRA_LAYERS:
        if name not in layers:
            continue
        if name == "roster":
            check_roster(layers[name], ctx, problems, src[name])
        else:
            check_layer(LAYERS[name], layers[name], ctx, problems, src[name])
    if "catchments" in layers:
        check_station_catchments(ctx, layers["catchments"], src["catchments"], problems)
    unknown = sorted(set(layers) - set(LAYERS))
    problems += [f"{name}: unknown layer (known: {', '.join(LAYERS)})" for name in unknown]
    return problems
