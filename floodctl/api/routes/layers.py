"""Spatial layers: ``GET /api/v1/layers`` (what is loaded) and ``GET /api/v1/layers/{name}`` (GeoJSON).

Towns and stations come from their own tables (so they show what ingest and the rules use); every
other layer is the document stored by ``floodctl gis load`` in the ``layers`` table; phone numbers in
those (the duty roster's) are masked for roles that do not call people (``floodctl.auth.privacy``). The SQL lives in
``gis_data.loader`` (``list_layers``, ``layer_json``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from floodctl.auth import privacy
from floodctl.auth.deps import ConnDep, ViewerDep
from floodctl.core.errors import NotFound
from gis_data import loader

router = APIRouter(prefix="/api/v1/layers", tags=["layers"])
LAYER_DOCUMENT = {
    200: {
        "content": {"application/geo+json": {}, "application/json": {}},
        "description": "a GeoJSON FeatureCollection (the duty roster: its JSON document)",
    }
}


class Layer(BaseModel):
    name: str
    title: str | None
    feature_count: int | None
    loaded_at: str | None  # ISO 8601; None for towns and stations (their own tables)


class Layers(BaseModel):
    layers: list[Layer]


@router.get(
    "", response_model=Layers, summary="Spatial layers in the database: name, title, feature count, when loaded"
)
def list_layers(conn: ConnDep, viewer: ViewerDep) -> JSONResponse:
    return JSONResponse({"layers": loader.list_layers(conn)})


@router.get(
    "/{name}",
    response_class=Response,
    responses=LAYER_DOCUMENT,  # type: ignore[arg-type]
    summary="One layer as GeoJSON (the duty roster as its JSON document)",
)
def get_layer(
    conn: ConnDep,
    viewer: ViewerDep,
    name: str = Path(pattern="^[a-z0-9_]{1,40}$", description="layer name, e.g. villages"),
) -> Response:
    body = loader.layer_json(conn, name)
    if body is None:
        known = ", ".join(row["name"] for row in loader.list_layers(conn))
        raise NotFound(f"no layer {name!r}; loaded: {known}")
    if name not in ("towns", "stations") and not privacy.calls_people(viewer):
        # The duty roster (and any layer a county loads with contacts): phone numbers masked.
        body = json.dumps(privacy.for_principal(viewer, json.loads(body)), ensure_ascii=False)
    media = "application/json" if name == "roster" else "application/geo+json"
    return Response(body, media_type=media)
