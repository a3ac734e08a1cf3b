"""Wind radii (r7 / r10 / r12) from the hazard model's own wind profile: ordered, absent below the force,
plausible for In-Fa, and where the model's virtual gauges really feel the force."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from floodctl.domain.geodesy import EARTH_RADIUS_KM
from simulators.hazard import WIND_FORCE_MS, StationSet, simulate, symmetric_surface_wind_ms, wind_radii_km
from simulators.tracks import Fix, Track


def test_radii_shrink_with_the_force() -> None:
    for pressure, wind, lat in ((955.0, 42.0, 24.0), (935.0, 52.0, 20.0), (965.0, 38.0, 29.6), (920.0, 60.0, 35.0)):
        r7, r10, r12 = wind_radii_km(pressure, wind, lat)
        assert r7 is not None and r10 is not None, (pressure, wind, lat)
        assert r7 > r10 > 0
        if r12 is not None:
            assert r10 > r12 > 0


def test_a_deeper_storm_has_wider_radii() -> None:
    weaker, stronger = wind_radii_km(980.0, 30.0, 25.0), wind_radii_km(950.0, 45.0, 25.0)
    assert weaker[0] is not None and stronger[0] is not None and stronger[0] > weaker[0]
    assert weaker[1] is not None and stronger[1] is not None and stronger[1] > weaker[1]


def test_no_radius_for_a_force_the_storm_does_not_reach() -> None:
    r7, r10, r12 = wind_radii_km(995.0, 20.0, 23.0)  # a tropical storm: force 8, no force 10
    assert r7 is not None and r7 > 0
    assert r10 is None and r12 is None
    assert wind_radii_km(1006.0, 12.0, 20.0) == (None, None, None)  # a depression below force 7
    # The fix's own max wind rules even where the pressure alone would give the model a stronger storm.
    assert wind_radii_km(955.0, 20.0, 24.0)[1:] == (None, None)


def test_unknown_pressure_gives_no_radii() -> None:
    assert wind_radii_km(None, 40.0, 25.0) == (None, None, None)
    assert wind_radii_km(float("nan"), 40.0, 25.0) == (None, None, None)


def test_in_fa_at_its_peak_has_a_few_hundred_km_of_force_7() -> None:
    # In-Fa (2106): 955 hPa, 42 m/s over the sea south of Okinawa and again on the way to Zhejiang;
    # the CMA's advisories gave r7 of about 250–400 km. The model's symmetric profile is a little
    # more compact (no motion asymmetry), so the bounds are loose on the low side.
    for lat in (24.1, 28.5):
        r7, r10, r12 = wind_radii_km(955.0, 42.0, lat)
        assert r7 is not None and 200.0 <= r7 <= 450.0, r7
        assert r10 is not None and 80.0 <= r10 <= 200.0, r10
        assert r12 is not None and 40.0 <= r12 <= 120.0, r12


def test_the_radius_is_where_the_profile_falls_to_the_force() -> None:
    radii = wind_radii_km(960.0, 40.0, 27.0)
    for radius, threshold in zip(radii, WIND_FORCE_MS.values(), strict=True):
        assert radius is not None
        inside, at, outside = symmetric_surface_wind_ms(np.array([0.95 * radius, radius, 1.05 * radius]), 960.0, 27.0)
        assert inside > threshold > outside
        assert at == pytest.approx(threshold, rel=0.005)


def test_a_virtual_gauge_on_the_force_7_circle_reads_force_7() -> None:
    """A tide gauge (open water, exposure 1) due north of a storm that stands still for a day: its mean
    wind over the day is the model's force-7 threshold when it stands on the r7 circle."""
    lat0, lon0, pressure = 27.0, 124.0, 955.0
    r7, _, _ = wind_radii_km(pressure, 42.0, lat0)
    assert r7 is not None
    start = datetime(2021, 7, 24, tzinfo=UTC)
    track = Track(
        "still",
        "0000",
        (Fix(start, lat0, lon0, pressure, 42.0), Fix(start + timedelta(hours=24), lat0, lon0, pressure, 42.0)),
    )
    gauges = []
    for i, factor in enumerate((0.8, 1.0, 1.25)):
        lat = lat0 + math.degrees(factor * r7 / EARTH_RADIUS_KM)  # due north: along a meridian
        gauges.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon0, lat]},
                "properties": {"code": f"9990000{i}", "kind": "tide", "elevation_m": 2.0},
            }
        )
    stations = StationSet.from_geojson({"type": "FeatureCollection", "features": gauges}, seed=3)
    times = np.arange(
        np.datetime64("2021-07-24T00:00:00"), np.datetime64("2021-07-25T00:00:01"), np.timedelta64(300, "s")
    )
    mean_wind = simulate(stations, track, times, seed=3)["wind_speed"].mean(axis=1)
    assert mean_wind[1] == pytest.approx(WIND_FORCE_MS[7], rel=0.03)
    assert mean_wind[0] > WIND_FORCE_MS[7] > mean_wind[2]


def test_a_drill_records_its_track_with_the_radii(db) -> None:  # type: ignore[no-untyped-def]
    from simulators.drill import register_drill
    from simulators.scenarios import get_scenario

    track = get_scenario("in-fa-2106").load()
    drill = register_drill(db, "in-fa-2106", "radii test", track=track)
    rows = db.execute(
        "SELECT at, pressure_hpa, max_wind_ms, lat, r7_km, r10_km, r12_km FROM storm_fixes "
        "WHERE drill_id = %s ORDER BY at",
        (drill,),
    ).fetchall()
    assert [r[0] for r in rows] == [f.time for f in track.fixes]
    for _at, pressure, wind, lat, *radii in rows:
        assert tuple(radii) == wind_radii_km(pressure, wind, lat)
    assert all(r[4] is not None for r in rows), "In-Fa was at least a tropical storm all along"
    assert any(r[6] is None for r in rows) and any(r[6] is not None for r in rows)
    # A second drill of the same storm records its own copy.
    again = register_drill(db, "in-fa-2106", "radii test", track=track)
    assert again != drill
    assert db.execute("SELECT count(*) FROM storm_fixes WHERE drill_id = %s", (again,)).fetchone()[0] == len(rows)
