"""GET /api/v1/layers and /api/v1/layers/{name} through a real uvicorn server and database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from floodctl.core.settings import Settings
from gis_data import loader


@pytest.fixture(scope="module")
def layers_database_url(clone_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with clone_database("layers") as url:
        yield url


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    layers_database_url: str,
    serve_api: Callable[..., AbstractContextManager[httpx.Client]],
) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("var"), ingest_metrics_port=0, _env_file=None)
    with serve_api(settings, layers_database_url) as client:
        yield client


def test_list_names_every_layer_with_counts(api: httpx.Client) -> None:
    response = api.get("/api/v1/layers")
    assert response.status_code == 200
    layers = {row["name"]: row for row in response.json()["layers"]}
    assert set(layers) == set(loader.LAYERS)
    assert layers["towns"]["feature_count"] == 18
    assert layers["villages"]["feature_count"] >= 100 and layers["villages"]["loaded_at"]
    assert layers["waterlogging"]["feature_count"] == 13
    assert "SCHEMATIC" not in layers["rivers"]["title"] and layers["rivers"]["title"]


@pytest.mark.parametrize("name", sorted(set(loader.LAYERS) - {"roster"}))
def test_each_layer_is_geojson(api: httpx.Client, name: str) -> None:
    response = api.get(f"/api/v1/layers/{name}")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["features"]


def test_stations_come_from_the_table_with_their_catchment(api: httpx.Client) -> None:
    body = api.get("/api/v1/layers/stations").json()
    river = next(f for f in body["features"] if f["properties"]["kind"] == "river")
    assert river["properties"]["catchment"].startswith("LY")
    assert river["geometry"]["type"] == "Point"


def test_roster_is_served_as_json(api: httpx.Client) -> None:
    body = api.get("/api/v1/layers/roster").json()
    assert len(body["towns"]) == 18 and body["fictional"] is True


def test_unknown_layer_is_a_json_404(api: httpx.Client) -> None:
    response = api.get("/api/v1/layers/lakes")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and "lakes" in response.json()["message"]
    assert api.get("/api/v1/layers/Bad%20Name").status_code == 400
