"""Tests of gis_data's towns and stations: the packaged sample, the checks, the load, the generator."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from shapely.geometry import shape

from floodctl.core.errors import ValidationFailed
from floodctl.domain.thresholds import STATION_KINDS
from gis_data import (
    DEFAULT_STATIONS,
    DEFAULT_TOWNS,
    load,
    read_geojson,
    validate_stations,
    validate_towns,
)
from gis_data.build_sample import build
from gis_data.store import station_row, town_row

REAL_TOWNS = {
    "丹西街道", "丹东街道", "爵溪街道", "石浦镇", "西周镇", "鹤浦镇", "贤庠镇", "墙头镇", "泗洲头镇",
    "定塘镇", "涂茨镇", "大徐镇", "新桥镇", "东陈乡", "晓塘乡", "黄避岙乡", "茅洋乡", "高塘岛乡",
}  # fmt: skip
REAL_RESERVOIRS = {"岩头陈水库", "燕山水库", "兴坑水库", "塘岙水库", "南盘水库", "大斜桥水库", "上张水库"}

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def towns() -> dict[str, Any]:
    return read_geojson(DEFAULT_TOWNS)


@pytest.fixture(scope="module")
def stations() -> dict[str, Any]:
    return read_geojson(DEFAULT_STATIONS)


def first(fc: dict[str, Any], kind: str, *fields: str) -> int:
    """Index of the first station of ``kind`` that has all ``fields`` filled in."""
    return next(
        i
        for i, f in enumerate(fc["features"])
        if f["properties"]["kind"] == kind and all(f["properties"].get(k) is not None for k in fields)
    )


def broken_copy(tmp_path: Path, sample: dict[str, Any], index: int, edit: Edit) -> dict[str, Any]:
    """Write the sample with feature ``index`` edited to tmp_path and read it back."""
    fc = copy.deepcopy(sample)
    edit(fc["features"][index])
    path = tmp_path / "stations.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return read_geojson(path)


# --- the sample -------------------------------------------------------------------------------


def test_sample_validates_clean(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    assert validate_towns(towns) == []
    assert validate_stations(stations, towns) == []


def test_sample_says_it_is_schematic(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    for fc in (towns, stations):
        assert "SCHEMATIC" in fc["description"]
        assert "floodctl gis load" in fc["description"]
        assert fc["name"]


def test_sample_towns_are_the_real_eighteen(towns: dict[str, Any]) -> None:
    props = [f["properties"] for f in towns["features"]]
    assert {p["name"] for p in props} == REAL_TOWNS
    assert all(p["code"].startswith("330225") and len(p["code"]) == 9 for p in props)
    assert {p["kind"] for p in props} == {"街道", "镇", "乡"}


def test_sample_stations_cover_every_town_and_kind(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    props = [f["properties"] for f in stations["features"]]
    assert len(props) >= 150
    kinds = Counter(p["kind"] for p in props)
    assert set(kinds) == set(STATION_KINDS)
    per_town = Counter(p["town"] for p in props)
    town_names = {f["properties"]["code"]: f["properties"]["name"] for f in towns["features"]}
    assert {town_names[code] for code in per_town} == REAL_TOWNS
    assert min(per_town.values()) >= 3, "every town should have several stations"
    assert {p["name"] for p in props if p["kind"] == "reservoir"} >= REAL_RESERVOIRS
    assert len({p["name"] for p in props}) == len(props), "station names repeat"


def test_sample_points_lie_strictly_inside_their_town(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    areas = {f["properties"]["code"]: shape(f["geometry"]) for f in towns["features"]}
    for f in stations["features"]:
        assert areas[f["properties"]["town"]].contains(shape(f["geometry"])), f["properties"]["code"]


def test_sample_has_gaps_like_real_data(stations: dict[str, Any]) -> None:
    """A few thresholds are null or absent, and the loader accepts that."""
    expected = {
        "river": ("wrz", "grz"),
        "reservoir": ("fsltdz_meiyu", "fsltdz_typhoon", "dsflz", "ckflz", "dam_crest"),
        "tide": ("tide_blue", "tide_yellow", "tide_orange", "tide_red", "seawall_crest"),
    }
    nulls = absent = 0
    for f in stations["features"]:
        p = f["properties"]
        for field in expected.get(p["kind"], ()):
            nulls += field in p and p[field] is None
            absent += field not in p
    assert nulls and absent
    assert nulls + absent <= 0.1 * len(stations["features"])


# --- broken copies: each problem names the feature and the field -------------------------------


def set_props(**values: Any) -> Edit:
    return lambda feature: feature["properties"].update(values)


def move_to(lon: float, lat: float) -> Edit:
    return lambda feature: feature["geometry"].update(coordinates=[lon, lat])


def typhoon_above_meiyu(feature: dict[str, Any]) -> None:
    feature["properties"]["fsltdz_typhoon"] = feature["properties"]["fsltdz_meiyu"] + 0.5


@pytest.mark.parametrize(
    ("kind", "fields", "edit", "field", "text"),
    [
        ("rain", (), set_props(code="7040-001"), "code", "must be 8 characters"),
        ("rain", (), set_props(code="7040100a"), "code", "must be 8 characters"),
        ("rain", (), set_props(code=70401001), "code", "must be text, got 70401001"),
        ("rain", (), set_props(town="330225999"), "town", "330225999 is not the code of a town"),
        ("rain", (), set_props(kind="lake"), "kind", 'got "lake"'),
        ("rain", (), set_props(name=""), "name", "required"),
        ("river", ("wrz", "grz"), set_props(wrz=3.4, grz=2.1), "grz", "2.1 must be above wrz 3.4"),
        ("river", ("wrz",), set_props(wrz="abc"), "wrz", 'must be a number, got "abc"'),
        ("river", ("wrz",), set_props(wrz=True), "wrz", "must be a number, got true"),
        ("reservoir", ("fsltdz_meiyu", "fsltdz_typhoon"), typhoon_above_meiyu, "fsltdz_typhoon",
         "must not be above fsltdz_meiyu"),
        ("reservoir", ("dsflz", "ckflz"), set_props(ckflz=1.0), "ckflz", "must be at least dsflz"),
        ("reservoir", ("capacity_1e6m3",), set_props(capacity_1e6m3="大"), "capacity_1e6m3",
         "must be a number"),
        ("tide", ("tide_red",), set_props(tide_red=420), "tide_red", "outside the plausible"),
        ("tide", ("tide_orange", "tide_red"), set_props(tide_orange=9.0), "tide_red",
         "must be above tide_orange 9"),
        ("camera", (), move_to(121.5, 29.9), "geometry", "outside its town"),
        ("weather", (), move_to(29.4, 121.9), "geometry", "not a lon/lat position in China"),
    ],
)  # fmt: skip
def test_broken_station_is_reported_by_feature_and_field(
    tmp_path: Path,
    towns: dict[str, Any],
    stations: dict[str, Any],
    kind: str,
    fields: tuple[str, ...],
    edit: Edit,
    field: str,
    text: str,
) -> None:
    index = first(stations, kind, *fields)
    fc = broken_copy(tmp_path, stations, index, edit)
    code = fc["features"][index]["properties"]["code"]
    problems = validate_stations(fc, towns)
    where = "geometry" if field == "geometry" else f"field '{field}'"
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"stations.geojson: feature #{index + 1} (code {code}): {where}: ")
    assert text in problems[0]


def test_message_format_is_exact(tmp_path: Path, towns: dict[str, Any], stations: dict[str, Any]) -> None:
    index = first(stations, "river", "wrz", "grz")
    code = stations["features"][index]["properties"]["code"]
    fc = broken_copy(tmp_path, stations, index, set_props(wrz=3.4, grz=2.1))
    assert validate_stations(fc, towns) == [
        f"stations.geojson: feature #{index + 1} (code {code}): field 'grz': 2.1 must be above wrz 3.4"
    ]


def test_duplicate_code_names_both_features(tmp_path: Path, towns: dict[str, Any], stations: dict[str, Any]) -> None:
    original = stations["features"][0]["properties"]["code"]
    fc = broken_copy(tmp_path, stations, 5, set_props(code=original))
    assert validate_stations(fc, towns) == [
        f"stations.geojson: feature #6 (code {original}): field 'code': {original} is already used by feature #1"
    ]


def test_every_problem_is_reported_not_just_the_first(
    tmp_path: Path, towns: dict[str, Any], stations: dict[str, Any]
) -> None:
    fc = copy.deepcopy(stations)
    fc["features"][0]["properties"]["town"] = "nowhere"
    fc["features"][1]["properties"]["kind"] = None
    fc["features"][2]["geometry"] = None
    problems = validate_stations(fc, towns)
    assert [p.split(":")[1].strip() for p in problems] == [
        f"feature #{n} ({'code ' + fc['features'][n - 1]['properties']['code']})" for n in (1, 2, 3)
    ]


def test_missing_thresholds_are_fine(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    fc = copy.deepcopy(stations)
    for f in fc["features"]:
        for key in ("wrz", "dsflz", "tide_yellow"):
            f["properties"].pop(key, None)
    assert validate_stations(fc, towns) == []


def test_unknown_properties_are_allowed(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    fc = copy.deepcopy(stations)
    fc["features"][0]["properties"]["县内编号"] = "XS-001"
    assert validate_stations(fc, towns) == []


# --- towns ------------------------------------------------------------------------------------


def test_overlapping_towns_are_reported(towns: dict[str, Any]) -> None:
    fc = copy.deepcopy(towns)
    fc["features"][1]["geometry"] = fc["features"][0]["geometry"]
    problems = validate_towns(fc)
    assert any("feature #2" in p and "geometry: overlaps feature #1" in p for p in problems), problems


def test_invalid_town_polygon_is_reported(towns: dict[str, Any]) -> None:
    fc = copy.deepcopy(towns)
    bowtie = [[121.80, 29.40], [121.82, 29.42], [121.82, 29.40], [121.80, 29.42], [121.80, 29.40]]
    fc["features"][3]["geometry"] = {"type": "Polygon", "coordinates": [bowtie]}
    code = fc["features"][3]["properties"]["code"]
    problems = validate_towns(fc)
    assert any(p.startswith(f"towns.geojson: feature #4 (code {code}): geometry: invalid") for p in problems)


@pytest.mark.parametrize(
    ("edit", "text"),
    [
        (set_props(code="3302251"), "(code 3302251): field 'code': \"3302251\" must be 9 digits"),
        (set_props(name="丹西街道"), "field 'name': 丹西街道 is already used by feature #1"),
        (set_props(kind="村"), "field 'kind': must be one of 街道/镇/乡"),
        (set_props(seat_lat=None), "field 'seat_lat': required when the other seat coordinate"),
        (set_props(seat_lon=121.0), "field 'seat_lon': seat (121.0, 29.47) lies 83.8 km outside"),
    ],
)
def test_broken_town_is_reported(towns: dict[str, Any], edit: Edit, text: str) -> None:
    fc = copy.deepcopy(towns)
    edit(fc["features"][1])
    problems = validate_towns(fc)
    assert len(problems) == 1, problems
    assert problems[0].startswith("towns.geojson: feature #2 (code ")
    assert text in problems[0]


def test_crs_other_than_lonlat_is_an_error(towns: dict[str, Any], stations: dict[str, Any]) -> None:
    fc = copy.deepcopy(towns)
    fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}}
    problems = validate_towns(fc)
    assert problems == [
        'towns.geojson: crs "urn:ogc:def:crs:EPSG::4549" is not EPSG:4326; '
        "reproject to lon/lat WGS 84 (e.g. ogr2ogr -t_srs EPSG:4326)"
    ]
    for name in ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326"):
        fc["crs"]["properties"]["name"] = name
        assert validate_towns(fc) == []


def test_stations_against_an_empty_towns_layer(stations: dict[str, Any]) -> None:
    """A broken towns layer is reported by validate_towns, not repeated for every station."""
    problems = validate_stations(stations, {"type": "FeatureCollection", "features": []})
    assert problems and all("field 'town'" in p for p in problems)


# --- reading files ----------------------------------------------------------------------------


def test_read_invalid_json_says_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "stations.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature",, }]}\n')
    with pytest.raises(ValidationFailed) as caught:
        read_geojson(path)
    assert caught.value.message.startswith("stations.geojson: invalid JSON at line 3, column 22:")


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match=r"towns.geojson: file not found"):
        read_geojson(tmp_path / "towns.geojson")


def test_read_not_a_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "towns.geojson"
    path.write_text('{"type": "Feature", "properties": {}, "geometry": null}')
    with pytest.raises(ValidationFailed, match=r'expected a GeoJSON FeatureCollection, got "Feature"'):
        read_geojson(path)


def test_read_gbk_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "towns.geojson"
    path.write_bytes('{"name": "象山"}'.encode("gbk"))
    with pytest.raises(ValidationFailed, match=r"not UTF-8 text"):
        read_geojson(path)


def test_read_accepts_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "towns.geojson"
    path.write_bytes(DEFAULT_TOWNS.read_bytes().decode().encode("utf-8-sig"))
    assert len(read_geojson(path)["features"]) == 18


# --- loading ----------------------------------------------------------------------------------


def test_load_refuses_invalid_data_before_touching_the_database(
    tmp_path: Path, towns: dict[str, Any], stations: dict[str, Any]
) -> None:
    fc = broken_copy(tmp_path, stations, first(stations, "river", "wrz"), set_props(wrz="abc"))
    with pytest.raises(ValidationFailed) as caught:
        load(object(), towns, fc)  # type: ignore[arg-type]  # any use of it would fail
    assert len(caught.value.details) == 1
    assert "nothing was loaded" in caught.value.message


def test_rows_put_known_fields_in_columns_and_the_rest_in_properties(
    towns: dict[str, Any], stations: dict[str, Any]
) -> None:
    reservoir = stations["features"][first(stations, "reservoir", "dsflz")]
    row = station_row(reservoir)
    props = reservoir["properties"]
    assert row["town_code"] == props["town"]
    assert [row["lon"], row["lat"]] == reservoir["geometry"]["coordinates"]
    assert row["dsflz"] == props["dsflz"] and row["wrz"] is None
    assert row["properties"] == {
        "capacity_1e6m3": props["capacity_1e6m3"],
        "spillway_crest": props["spillway_crest"],
    }
    town = town_row(towns["features"][0])
    assert town["geometry"] == towns["features"][0]["geometry"]
    assert town["properties"] == {"kind": "街道"}


def one(db: psycopg.Connection, sql: str, *params: Any) -> Any:
    """The single value of a query that returns one row."""
    row = db.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def test_load_upserts_towns_then_stations_and_deactivates_the_rest(
    db: psycopg.Connection, towns: dict[str, Any], stations: dict[str, Any]
) -> None:
    """Into the real database (a clone of the template that already holds the sample county)."""
    codes = [f["properties"]["code"] for f in stations["features"]]
    assert load(db, towns, stations) == {"towns": 18, "stations": len(codes), "deactivated": 0}

    # The county's next delivery: one station retired, one town with new attributes.
    retired = codes[first(stations, "rain")]
    fewer = copy.deepcopy(stations)
    fewer["features"] = [f for f in fewer["features"] if f["properties"]["code"] != retired]
    changed = copy.deepcopy(towns)
    town = changed["features"][3]["properties"]
    town.update(name_en="Shipu Town", 备注="渔港")
    counts = load(db, changed, fewer)
    assert counts == {"towns": 18, "stations": len(codes) - 1, "deactivated": 1}

    assert one(db, "SELECT count(*) FROM towns") == 18, "towns are upserted, not added"
    assert one(db, "SELECT name_en FROM towns WHERE code = %s", town["code"]) == "Shipu Town"
    assert one(db, "SELECT properties FROM towns WHERE code = %s", town["code"]) == {"kind": "镇", "备注": "渔港"}
    assert one(db, "SELECT count(*) FROM stations") == len(codes), "the retired station's row is kept"
    assert one(db, "SELECT active FROM stations WHERE code = %s", retired) is False
    active = {r[0] for r in db.execute("SELECT code FROM stations WHERE active").fetchall()}
    assert active == set(codes) - {retired}

    # A station that comes back in a later file is active again.
    assert load(db, towns, stations)["deactivated"] == 0
    assert one(db, "SELECT active FROM stations WHERE code = %s", retired) is True


# --- the generator ----------------------------------------------------------------------------


def test_generator_is_deterministic_and_matches_the_checked_in_files(tmp_path: Path) -> None:
    for run in ("a", "b"):
        towns_path, stations_path = build(tmp_path / run)
        assert towns_path.read_bytes() == DEFAULT_TOWNS.read_bytes(), "rerun python -m gis_data.build_sample"
        assert stations_path.read_bytes() == DEFAULT_STATIONS.read_bytes()
