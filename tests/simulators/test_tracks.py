"""Typhoon tracks: the packaged scenarios, the CMA and IBTrACS readers, and Track.sample.

Pure tests: the only files read are the packaged ones (track CSV, sample towns) and files the
tests write themselves under ``tmp_path``. The CMA and IBTrACS files are generated from the
packaged In-Fa fixes by the small writers below, in the official layouts.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from floodctl.domain.geodesy import haversine_km
from gis_data.loader import DEFAULT_TOWNS
from simulators.scenarios import (
    CST,
    DIRECT_HIT_HEPU_LANDFALL,
    HEPU_SEAT,
    IN_FA_LANDFALL,
    SCENARIOS,
    direct_hit_hepu_track,
    get_scenario,
    in_fa_track,
    read_cma_bst,
    read_ibtracs_csv,
    read_track_csv,
)
from simulators.tracks import Fix, Track

PUTUO = (29.95, 122.30)  # Putuo district, Zhoushan (In-Fa's first landfall)
CATEGORY_DIGIT = {"TD": 1, "TS": 2, "STS": 3, "TY": 4, "STY": 5, "SuperTY": 6, "ET": 9}


# -- writers for the official formats --------------------------------------------------------------


def cma_header(number: str, rows: int, serial: int, name: str) -> str:
    return f"66666 {number:>4} {rows:>4} {serial:04d} {number:>4} 0 6 {name:>20} 20220301"


def cma_row(fix: Fix) -> str:
    digit = CATEGORY_DIGIT.get(fix.category or "", 0)
    return (
        f"{fix.time.astimezone(UTC):%Y%m%d%H} {digit} {round(fix.lat * 10):3d} {round(fix.lon * 10):4d} "
        f"{round(fix.pressure_hpa):4d}     {round(fix.wind_ms):2d}"
    )


def dummy_fixes() -> list[Fix]:
    t0 = datetime(2021, 7, 10, 0, tzinfo=UTC)
    return [
        Fix(t0 + timedelta(hours=6 * i), 15.0 + 0.3 * i, 140.0 - 0.5 * i, 1000 - 2 * i, 15 + i, "TS") for i in range(5)
    ]


def cma_text(fixes: list[Fix]) -> str:
    """A CHYYYYBST-like file: a dummy storm, In-Fa, and an unnamed depression."""
    lines = [cma_header("2105", 5, 7, "Champi"), *map(cma_row, dummy_fixes())]
    lines += [cma_header("2106", len(fixes), 8, "In-fa"), *map(cma_row, fixes)]
    lines += [cma_header("0000", 2, 9, "(nameless)"), *map(cma_row, dummy_fixes()[:2])]
    return "\n".join(lines) + "\n"


IBTRACS_HEADER = [
    "SID",
    "SEASON",
    "NUMBER",
    "BASIN",
    "SUBBASIN",
    "NAME",
    "ISO_TIME",
    "NATURE",
    "LAT",
    "LON",
    "WMO_WIND",
    "WMO_PRES",
    "WMO_AGENCY",
    "TRACK_TYPE",
    "DIST2LAND",
    "LANDFALL",
    "IFLAG",
    "USA_AGENCY",
    "USA_ATCF_ID",
    "USA_LAT",
    "USA_LON",
    "CMA_LAT",
    "CMA_LON",
    "CMA_CAT",
    "CMA_WIND",
    "CMA_PRES",
]
IBTRACS_UNITS = [
    " ",
    "Year",
    " ",
    " ",
    " ",
    " ",
    " ",
    " ",
    "degrees_north",
    "degrees_east",
    "kts",
    "mb",
    " ",
    " ",
    "km",
    "km",
    " ",
    " ",
    " ",
    "degrees_north",
    "degrees_east",
    "degrees_north",
    "degrees_east",
    " ",
    "kts",
    "mb",
]


def ibtracs_row(sid: str, name: str, fix: Fix | None, when: datetime, lat: float, lon: float) -> list[str]:
    row = dict.fromkeys(IBTRACS_HEADER, " ")
    row.update(
        SID=sid,
        SEASON=str(when.year),
        NUMBER="52",
        BASIN="WP",
        SUBBASIN="MM",
        NAME=name,
        ISO_TIME=f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
        NATURE="TS",
        LAT=f"{lat:.4f}",
        LON=f"{lon:.4f}",
        TRACK_TYPE="main",
        USA_AGENCY="jtwc_wp",
    )
    if fix is not None:  # IBTrACS gives CMA's m/s winds in whole knots
        row.update(
            CMA_LAT=f"{fix.lat:.1f}",
            CMA_LON=f"{fix.lon:.1f}",
            CMA_CAT=str(CATEGORY_DIGIT.get(fix.category or "", 0)),
            CMA_WIND=str(round(fix.wind_ms / 0.514444)),
            CMA_PRES=str(round(fix.pressure_hpa)),
        )
    return [row[c] for c in IBTRACS_HEADER]


def write_ibtracs(path: Path, fixes: list[Fix]) -> None:
    rows = [IBTRACS_HEADER, IBTRACS_UNITS]
    rows += [ibtracs_row("2021191N15140", "CHAMPI", f, f.time, f.lat, f.lon) for f in dummy_fixes()]
    for a, b in zip(fixes[:-1], fixes[1:], strict=True):
        rows.append(ibtracs_row("2021198N22133", "IN-FA", a, a.time, a.lat, a.lon))
        if b.time - a.time == timedelta(hours=6):  # the 3-hourly interpolated row: CMA columns blank
            rows.append(
                ibtracs_row(
                    "2021198N22133",
                    "IN-FA",
                    None,
                    a.time + timedelta(hours=3),
                    (a.lat + b.lat) / 2,
                    (a.lon + b.lon) / 2,
                )
            )
    rows.append(ibtracs_row("2021198N22133", "IN-FA", fixes[-1], fixes[-1].time, fixes[-1].lat, fixes[-1].lon))
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def bearing_deg(track: Track, when: datetime) -> float:
    state = track.sample(np.array([when.timestamp()]))
    return math.degrees(math.atan2(state.velocity_east_ms[0], state.velocity_north_ms[0])) % 360


def assert_same_fixes(a: Track, b: Track, wind_tol: float = 0.0) -> None:
    assert len(a.fixes) == len(b.fixes)
    for fa, fb in zip(a.fixes, b.fixes, strict=True):
        assert fa.time == fb.time
        assert fa.lat == pytest.approx(fb.lat, abs=0.05)
        assert fa.lon == pytest.approx(fb.lon, abs=0.05)
        assert fa.pressure_hpa == fb.pressure_hpa
        assert fa.wind_ms == pytest.approx(fb.wind_ms, abs=wind_tol + 1e-9)
        assert fa.category == fb.category


# -- the packaged In-Fa ----------------------------------------------------------------------------


def test_packaged_in_fa_loads_in_utc() -> None:
    track = in_fa_track()
    assert len(track.fixes) == 39
    assert track.storm_id == "2106"
    assert all(f.time.utcoffset() == timedelta(0) for f in track.fixes)
    assert track.start == datetime(2021, 7, 17, 18, tzinfo=UTC)  # 2021-07-18 02:00 CST
    assert track.end == datetime(2021, 7, 26, 18, tzinfo=UTC)  # 2021-07-27 02:00 CST
    first = track.fixes[0]
    assert (first.lat, first.lon, first.pressure_hpa, first.wind_ms, first.category) == (22.2, 132.5, 998, 18, "TS")


def test_in_fa_at_landfall_is_near_zhoushan() -> None:
    fix = in_fa_track().at(IN_FA_LANDFALL)
    assert fix.time == datetime(2021, 7, 25, 4, 30, tzinfo=UTC)
    assert float(haversine_km(fix.lat, fix.lon, *PUTUO)) < 25
    assert fix.pressure_hpa == 965 and fix.wind_ms == 38


def test_read_track_csv_rejects_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "time_cst,lat,lon,type,pres_hpa,wind_ms\n"
        "2021-07-18 02:00,22.2,132.5,TS,998,18\n"
        "2021-07-18 08:00,22.5,east,TS,998,18\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.csv: line 3"):
        read_track_csv(path, "x", "x")


# -- CMA and IBTrACS readers -----------------------------------------------------------------------


def test_cma_reader_matches_packaged_track(tmp_path: Path) -> None:
    packaged = in_fa_track()
    path = tmp_path / "CH2021BST.txt"
    path.write_text(cma_text(list(packaged.fixes)), encoding="ascii")
    by_number = read_cma_bst(path, "2106")
    assert by_number.storm_id == "2106" and by_number.name == "In-fa 2106"
    assert_same_fixes(by_number, packaged)
    # By name, case-insensitively, from a str path or from the text itself.
    assert_same_fixes(read_cma_bst(str(path), "IN-FA"), packaged)
    assert_same_fixes(read_cma_bst(path.read_text(), "in-fa"), packaged)
    # The other storm in the file is there too.
    champi = read_cma_bst(path, "Champi")
    assert len(champi.fixes) == 5 and champi.fixes[0].lat == 15.0


def test_cma_and_ibtracs_give_the_same_fixes(tmp_path: Path) -> None:
    fixes = list(in_fa_track().fixes)
    cma_path, ib_path = tmp_path / "CH2021BST.txt", tmp_path / "ibtracs.WP.list.v04r01.csv"
    cma_path.write_text(cma_text(fixes), encoding="ascii")
    write_ibtracs(ib_path, fixes)
    assert sum(1 for _ in ib_path.open()) > len(fixes) + 2 + 5  # interpolated rows were written

    cma = read_cma_bst(cma_path, "2106")
    by_name = read_ibtracs_csv(ib_path, "IN-FA 2021")
    by_sid = read_ibtracs_csv(ib_path, "2021198N22133")
    assert by_name.storm_id == "2021198N22133" and by_name.name == "In-Fa 2021"
    assert_same_fixes(by_name, cma, wind_tol=0.3)  # whole knots → m/s
    assert_same_fixes(by_sid, by_name)
    assert_same_fixes(read_ibtracs_csv(ib_path, "in-fa"), by_name)  # name alone, unique in the file
    assert all(f.time.tzinfo == UTC for f in by_name.fixes)


def test_ibtracs_units_row_in_metres_per_second(tmp_path: Path) -> None:
    path = tmp_path / "ib.csv"
    units = [u if u != "kts" else "m/s" for u in IBTRACS_UNITS]
    rows = [IBTRACS_HEADER, units]
    for f in dummy_fixes():
        row = ibtracs_row("2021191N15140", "CHAMPI", f, f.time, f.lat, f.lon)
        row[IBTRACS_HEADER.index("CMA_WIND")] = str(round(f.wind_ms))
        rows.append(row)
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    track = read_ibtracs_csv(path, "CHAMPI 2021")
    assert [f.wind_ms for f in track.fixes] == [f.wind_ms for f in dummy_fixes()]


def test_cma_malformed_row_names_the_line(tmp_path: Path) -> None:
    lines = cma_text(list(in_fa_track().fixes)).splitlines()
    lines[8] = "2021071718 2 222 13X5  998     18"  # line 9: In-Fa's 2nd row (header on line 7)
    path = tmp_path / "CH2021BST.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"CH2021BST\.txt: line 9\b"):
        read_cma_bst(path, "2106")
    lines[8] = "2021071718 2 222"
    with pytest.raises(ValueError, match=r"line 9\b.*YYYYMMDDHH"):
        read_cma_bst("\n".join(lines), "2106")
    lines[8] = "2021071799 2 222 1325  998     18"
    with pytest.raises(ValueError, match=r"line 9\b"):
        read_cma_bst("\n".join(lines), "2106")


def test_cma_malformed_header_and_short_storm(tmp_path: Path) -> None:
    text = cma_text(list(in_fa_track().fixes))
    with pytest.raises(ValueError, match=r"line 1\b.*header"):
        read_cma_bst(text.replace("66666 2105    5", "66666 2105 five", 1), "2106")
    truncated = "\n".join(text.splitlines()[:-1])  # the last storm announces 2 rows, 1 is left
    lineno = len(truncated.splitlines()) - 1
    with pytest.raises(ValueError, match=rf"line {lineno}: header announces 2 rows, the file ends after 1"):
        read_cma_bst(truncated, "2106")


def test_cma_unknown_or_ambiguous_storm(tmp_path: Path) -> None:
    text = cma_text(list(in_fa_track().fixes))
    with pytest.raises(ValueError, match=r"no storm 'Haikui'.*2105 Champi, 2106 In-fa"):
        read_cma_bst(text, "Haikui")
    with pytest.raises(ValueError, match="no storm '2107'"):
        read_cma_bst(text, "2107")
    with pytest.raises(ValueError, match="unnamed"):
        read_cma_bst(text, "0000")


def test_ibtracs_unknown_storm_and_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "ib.csv"
    write_ibtracs(path, list(in_fa_track().fixes))
    with pytest.raises(ValueError, match=r"no storm 'HAIKUI 2012'.*IN-FA 2021 \(2021198N22133\)"):
        read_ibtracs_csv(path, "HAIKUI 2012")
    with pytest.raises(ValueError, match="no storm 'IN-FA 2020'"):
        read_ibtracs_csv(path, "IN-FA 2020")
    lines = path.read_text().splitlines()
    lines[9] = lines[9].replace(",22.5,", ",22.5N,", 1)  # line 10: a CMA_LAT that is not a number
    assert "22.5N" in lines[9]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"ib\.csv: line 10\b"):
        read_ibtracs_csv(path, "IN-FA 2021")
    not_ibtracs = tmp_path / "other.csv"
    not_ibtracs.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an IBTrACS CSV"):
        read_ibtracs_csv(not_ibtracs, "IN-FA 2021")


# -- the synthetic direct hit ----------------------------------------------------------------------


def test_hepu_seat_matches_the_sample_towns() -> None:
    towns = json.loads(DEFAULT_TOWNS.read_text(encoding="utf-8"))
    (hepu,) = [f["properties"] for f in towns["features"] if f["properties"]["name"] == "鹤浦镇"]
    assert (hepu["seat_lat"], hepu["seat_lon"]) == HEPU_SEAT


def test_direct_hit_lands_on_hepu_moving_northwest() -> None:
    track = direct_hit_hepu_track()
    assert get_scenario("direct-hit-hepu").landfall == DIRECT_HIT_HEPU_LANDFALL
    at = track.at(DIRECT_HIT_HEPU_LANDFALL)
    assert float(haversine_km(at.lat, at.lon, *HEPU_SEAT)) < 10
    assert (at.pressure_hpa, at.wind_ms) == (965, 42)  # Haikui's landfall intensity
    for when in (
        DIRECT_HIT_HEPU_LANDFALL - timedelta(minutes=30),
        DIRECT_HIT_HEPU_LANDFALL,
        DIRECT_HIT_HEPU_LANDFALL + timedelta(hours=3),
    ):
        assert 292.5 <= bearing_deg(track, when) <= 337.5, when  # north-west octant


def test_direct_hit_shape() -> None:
    track = direct_hit_hepu_track()
    lead = DIRECT_HIT_HEPU_LANDFALL - track.start
    assert timedelta(hours=55) <= lead <= timedelta(hours=66)
    assert haversine_km(track.fixes[0].lat, track.fixes[0].lon, 24.0, 128.0) < 50
    assert min(f.pressure_hpa for f in track.fixes) == 960 and max(f.wind_ms for f in track.fixes) == 45
    after = [f for f in track.fixes if f.time > DIRECT_HIT_HEPU_LANDFALL]
    assert [f.wind_ms for f in after] == sorted((f.wind_ms for f in after), reverse=True)  # weakening
    assert timedelta(hours=20) <= track.end - DIRECT_HIT_HEPU_LANDFALL <= timedelta(hours=28)
    last = track.fixes[-1]
    assert 31.0 <= last.lat <= 32.0 and 119.0 <= last.lon <= 119.8  # near the Anhui/Jiangsu border
    assert track.start.astimezone(CST).year == 2025 and track.start.astimezone(CST).month == 8
    # A steady storm: no 6-hour jump faster than 30 km/h.
    for a, b in zip(track.fixes[:-1], track.fixes[1:], strict=True):
        hours = (b.time - a.time).total_seconds() / 3600
        assert float(haversine_km(a.lat, a.lon, b.lat, b.lon)) / hours < 30


# -- scenarios -------------------------------------------------------------------------------------


def test_scenarios_registry() -> None:
    assert set(SCENARIOS) == {"in-fa-2106", "direct-hit-hepu"}
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name and scenario.title_zh and scenario.title_en and scenario.description
        track = scenario.load()
        assert scenario.landfall is not None and track.start < scenario.landfall < track.end
    assert get_scenario("in-fa-2106").landfall == datetime(2021, 7, 25, 12, 30, tzinfo=CST)
    with pytest.raises(KeyError, match="direct-hit-hepu, in-fa-2106"):
        get_scenario("haikui")


# -- Track.sample ----------------------------------------------------------------------------------


def test_sample_interpolates_between_fixes() -> None:
    track = in_fa_track()
    a = track.fixes[29]  # 2021-07-25 08:00 CST, 29.6N 123.1E
    b = track.fixes[30]  # 2021-07-25 12:00 CST, 30.0N 122.5E
    mid = a.time + (b.time - a.time) / 2
    state = track.sample(np.array([np.datetime64(mid.replace(tzinfo=None), "s")]))
    assert state.lat[0] == pytest.approx((a.lat + b.lat) / 2)
    assert state.lon[0] == pytest.approx((a.lon + b.lon) / 2)
    assert state.pressure_hpa[0] == pytest.approx((a.pressure_hpa + b.pressure_hpa) / 2)
    assert min(a.lat, b.lat) < state.lat[0] < max(a.lat, b.lat)
    # Speed over the segment: its length over 4 h.
    speed = math.hypot(state.velocity_east_ms[0], state.velocity_north_ms[0])
    expected = float(haversine_km(a.lat, a.lon, b.lat, b.lon)) * 1000 / (4 * 3600)
    assert speed == pytest.approx(expected, rel=0.01)
    # Held constant outside the track.
    before = track.sample(np.array([(track.start - timedelta(days=1)).timestamp()]))
    assert (before.lat[0], before.lon[0]) == (track.fixes[0].lat, track.fixes[0].lon)


def test_in_fa_moves_northwest_to_north_before_landfall() -> None:
    track = in_fa_track()
    for hour in (3, 6, 10):  # 25 Jul CST; at landfall itself (12:30) the packaged fixes go due west
        bearing = bearing_deg(track, datetime(2021, 7, 25, hour, tzinfo=CST))
        assert 292.5 <= bearing <= 360, (hour, bearing)
    assert 265 <= bearing_deg(track, IN_FA_LANDFALL) <= 315
