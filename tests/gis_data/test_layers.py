"""The county layers besides towns and stations: sample content, cross-layer checks, loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from floodctl.core.errors import ValidationFailed
from gis_data import loader
from gis_data.build_sample import build_all
from gis_data.checks.roster import FICTIONAL_PHONE, ROSTER_ROLES
from gis_data.checks.water import station_catchments
from gis_data.layers import EXTRA_LAYERS

SAMPLE = loader.DEFAULT_DIR
FILES = [spec.filename for spec in loader.LAYERS.values()]


def sample(name: str) -> Any:
    return loader.read_layer(SAMPLE / loader.LAYERS[name].filename)


def copy_sample(tmp_path: Path) -> Path:
    folder = tmp_path / "county"
    folder.mkdir()
    for name in FILES:
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def edit(folder: Path, name: str, change: Any) -> None:
    path = folder / loader.LAYERS[name].filename
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def one(db: psycopg.Connection, sql: str) -> Any:
    """The single value of a query that returns one row."""
    row = db.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


def test_sample_layers_validate_clean() -> None:
    assert set(loader.layer_files(SAMPLE)) == set(loader.LAYERS)
    assert loader.validate_directory(SAMPLE) == []
    assert loader.validate_files() == []


def test_sample_counts() -> None:
    towns = {f["properties"]["code"] for f in sample("towns")["features"]}
    villages = sample("villages")["features"]
    assert len(villages) >= 100
    assert {v["properties"]["town"] for v in villages} == towns
    assert all(v["properties"]["name"].endswith("村") for v in villages)
    assert all(v["properties"]["led_boards"] and v["properties"]["speakers"] for v in villages)
    assert len(sample("waterlogging")["features"]) == 13
    roster = sample("roster")
    assert {e["town"] for e in roster["towns"]} == towns and len(towns) == 18
    phones = [e[r]["phone"] for e in roster["towns"] for r in ROSTER_ROLES]
    assert len(set(phones)) == 54 and all(FICTIONAL_PHONE.fullmatch(p) for p in phones)
    stations = sample("stations")["features"]
    reservoirs = {f["properties"]["code"] for f in stations if f["properties"]["kind"] == "reservoir"}
    cameras = {f["properties"]["code"] for f in stations if f["properties"]["kind"] == "camera"}
    assert {f["properties"]["station"] for f in sample("reservoirs")["features"]} == reservoirs
    assert {f["properties"]["station"] for f in sample("cameras")["features"]} == cameras
    rivers = sample("rivers")["features"]
    assert len(rivers) == len(sample("catchments")["features"]) >= 10
    assert any(len(r["properties"]["towns"]) > 1 for r in rivers)
    listed = {c for r in rivers for c in r["properties"]["stations"]}
    assert listed == {f["properties"]["code"] for f in stations if f["properties"]["kind"] == "river"}
    assert sample("seawalls")["features"] and sample("shelters")["features"]
    kinds = {f["properties"]["kind"] for f in sample("county")["features"]}
    assert kinds == {"boundary", "coastline"}


def test_every_layer_says_it_is_schematic_and_how_to_replace_it() -> None:
    for name in loader.LAYERS:
        doc = sample(name)
        assert doc["name"] and "SCHEMATIC" in doc["description"], name
        assert "floodctl gis load" in doc["description"], name
    assert "FICTIONAL" in sample("roster")["description"]


def test_station_catchment_relation_covers_every_gauge() -> None:
    relation = station_catchments(sample("stations"), sample("catchments"))
    props = [f["properties"] for f in sample("stations")["features"]]
    gauges = [p for p in props if p["kind"] in ("river", "reservoir")]
    rivers = {r["properties"]["name"]: r["properties"]["catchment"] for r in sample("rivers")["features"]}
    for g in gauges:
        assert relation[g["code"]] == rivers[g["river"]], g["code"]


@pytest.mark.parametrize(
    ("layer", "change", "expected"),
    [
        (
            "villages",
            lambda d: d["features"][11]["properties"].update(town="330225999"),
            "villages.geojson: feature #12 (code {code}): field 'town': unknown town 330225999",
        ),
        (
            "villages",
            lambda d: d["features"][0]["geometry"].update(coordinates=[121.95, 29.12]),
            "villages.geojson: feature #1 (code {code}): geometry: (121.95, 29.12) lies",
        ),
        (
            "shelters",
            lambda d: d["features"][2]["properties"].update(capacity=-5),
            "shelters.geojson: feature #3 (code {code}): field 'capacity': -5 must be at least 1",
        ),
        (
            "reservoirs",
            lambda d: d["features"][0]["properties"]["storage_curve"].reverse(),
            "reservoirs.geojson: feature #1 (code {code}): field 'storage_curve': not monotonic",
        ),
        (
            "seawalls",
            lambda d: d["features"][0]["properties"].update(towns=["330225999"]),
            "seawalls.geojson: feature #1 (code {code}): field 'towns': unknown town 330225999",
        ),
        (
            "seawalls",
            lambda d: d["features"][0]["properties"].update(design_standard="50 years"),
            "seawalls.geojson: feature #1 (code {code}): field 'design_standard': \"50 years\" must read like",
        ),
        (
            "cameras",
            lambda d: d["features"][0]["properties"].update(station="70101001"),
            "cameras.geojson: feature #1 (code {code}): field 'station': station 70101001 is a river station",
        ),
        (
            "rivers",
            lambda d: d["features"][0]["properties"]["stations"].append("79999999"),
            "rivers.geojson: feature #1 (code {code}): field 'stations': unknown station 79999999",
        ),
    ],
)
def test_broken_layer_names_feature_and_field(tmp_path: Path, layer: str, change: Any, expected: str) -> None:
    folder = copy_sample(tmp_path)
    edit(folder, layer, change)
    doc = json.loads((folder / loader.LAYERS[layer].filename).read_text(encoding="utf-8"))
    index = int(expected.split("#")[1].split(" ")[0]) - 1
    expected = expected.format(code=doc["features"][index]["properties"]["code"])
    problems = loader.validate_directory(folder)
    assert any(p.startswith(expected) for p in problems), problems


def test_bad_phone_and_missing_role(tmp_path: Path) -> None:
    folder = copy_sample(tmp_path)

    def change(doc: dict[str, Any]) -> None:
        doc["towns"][0]["primary"]["phone"] = "12345"
        doc["towns"][1]["deputy"]["phone"] = "13812345678"
        del doc["towns"][2]["superior"]
        del doc["towns"][3]

    edit(folder, "roster", change)
    problems = loader.validate_directory(folder)
    assert (
        "roster.json: entry #1 (town 330225001): field 'primary.phone': \"12345\" is not a mainland mobile "
        "number (11 digits, 13x–19x)" in problems
    )
    assert any(
        p.startswith(
            "roster.json: entry #2 (town 330225002): field 'deputy.phone': 13812345678 is outside the fictional range"
        )
        for p in problems
    )
    assert any(p.startswith("roster.json: entry #3 (town 330225003): field 'superior': required") for p in problems)
    assert any(p.startswith("roster.json: town 330225100 石浦镇 has no duty entry") for p in problems)
    assert len(problems) == 4


def test_river_station_outside_every_catchment(tmp_path: Path) -> None:
    folder = copy_sample(tmp_path)
    catchments = sample("catchments")
    stations = sample("stations")
    relation = station_catchments(stations, catchments)
    victim = next(f["properties"]["code"] for f in stations["features"] if f["properties"]["kind"] == "river")
    gone = relation[victim]
    edit(
        folder,
        "catchments",
        lambda d: d["features"].__setitem__(slice(None), [f for f in d["features"] if f["properties"]["code"] != gone]),
    )
    problems = loader.validate_directory(folder)
    assert any(
        p.startswith(
            f"stations.geojson: feature #1 (code {victim}): geometry: river station lies in no "
            "catchment of catchments.geojson (nearest: "
        )
        for p in problems
    ), problems
    assert any(f"field 'catchment': unknown catchment \"{gone}\"" in p for p in problems)


def test_a_single_replacement_file_is_checked_against_the_folder_or_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "villages.geojson"
    doc = sample("villages")
    doc["features"][4]["properties"]["town"] = "330225999"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    problems = loader.validate_directory(path)
    assert problems == ["villages.geojson: feature #5 (code 330225001205): field 'town': unknown town 330225999"]
    assert loader.validate_directory(tmp_path / "nonsense.geojson")[0].startswith("nonsense.geojson: not a known")


def test_unreadable_layer_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    folder = copy_sample(tmp_path)
    (folder / "shelters.geojson").write_text("{", encoding="utf-8")
    problems = loader.validate_directory(folder)
    assert problems and problems[0].startswith("shelters.geojson: invalid JSON at line 1")


def test_every_generated_file_is_deterministic(tmp_path: Path) -> None:
    first = build_all(tmp_path / "a")
    second = build_all(tmp_path / "b")
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name
        assert path.read_bytes() == (SAMPLE / path.name).read_bytes(), f"rerun python -m gis_data.build_sample ({name})"


# --- into a real database ---------------------------------------------------------------------


def test_load_layers_into_the_database(db: psycopg.Connection) -> None:
    counts = loader.load_layers(db, SAMPLE)
    assert counts["villages"] >= 100 and counts["waterlogging"] == 13 and counts["roster"] == 18
    assert counts["towns"] == 18 and counts["catchment_links"] > 0
    rows = {name for name, _ in db.execute("SELECT name, feature_count FROM layers").fetchall()}
    assert rows == set(EXTRA_LAYERS)
    doc = one(db, "SELECT geojson FROM layers WHERE name = 'rivers'")
    assert doc == sample("rivers")
    missing = one(
        db, "SELECT count(*) FROM stations WHERE kind IN ('river', 'reservoir') AND properties->>'catchment' IS NULL"
    )
    assert missing == 0
    listed = {row["name"]: row for row in loader.list_layers(db)}
    assert listed["stations"]["feature_count"] == len(sample("stations")["features"])
    towns = loader.layer_json(db, "towns")
    assert towns is not None and json.loads(towns)["features"][0]["properties"]["code"] == "330225001"
    assert loader.layer_json(db, "nothing") is None


def test_load_layers_refuses_a_broken_folder_and_leaves_the_database_alone(
    tmp_path: Path, db: psycopg.Connection
) -> None:
    folder = copy_sample(tmp_path)
    edit(folder, "villages", lambda d: d["features"][0]["properties"].update(town="330225999"))
    snapshot = "SELECT name, loaded_at, md5(geojson::text) FROM layers ORDER BY name"
    before = db.execute(snapshot).fetchall()
    with pytest.raises(ValidationFailed) as caught:
        loader.load_layers(db, folder)
    assert "nothing was loaded" in caught.value.message and caught.value.details
    assert db.execute(snapshot).fetchall() == before


def test_a_county_replaces_one_layer(tmp_path: Path, db: psycopg.Connection) -> None:
    loader.load_layers(db, SAMPLE)
    path = tmp_path / "shelters.geojson"
    doc = sample("shelters")
    doc["features"] = doc["features"][:3]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert loader.load_layers(db, path) == {"shelters": 3}
    assert one(db, "SELECT feature_count FROM layers WHERE name = 'shelters'") == 3
    assert one(db, "SELECT feature_count FROM layers WHERE name = 'villages'") >= 100
