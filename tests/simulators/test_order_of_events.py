"""The realistic order of events holds for every packaged scenario (In-Fa and the direct hit)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from floodctl.domain.geodesy import haversine_km
from gis_data import loader
from simulators.hazard import Readings, StationSet, simulate
from simulators.scenarios import SCENARIOS, get_scenario

HOUR = 12  # 5-minute steps
COUNTY_LAT, COUNTY_LON = 29.45, 121.9


@pytest.fixture(scope="module")
def county() -> StationSet:
    return StationSet.from_geojson(json.loads(loader.DEFAULT_STATIONS.read_text(encoding="utf-8")))


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def run(request: pytest.FixtureRequest, county: StationSet) -> tuple[str, Readings, int]:
    scenario = get_scenario(request.param)
    track = scenario.load()
    start = np.datetime64(int(track.start.timestamp()) // 300 * 300 + 300, "s")
    times = np.arange(start, np.datetime64(int(track.end.timestamp()), "s"), np.timedelta64(300, "s"))
    readings = simulate(county, track, times, seed=3)
    state = track.sample(times)
    closest = int(
        np.argmin(
            haversine_km(np.full_like(state.lat, COUNTY_LAT), np.full_like(state.lon, COUNTY_LON), state.lat, state.lon)
        )
    )
    return request.param, readings, closest


def test_rain_bands_come_first_and_the_tide_peaks_near_closest_approach(
    county: StationSet, run: tuple[str, Readings, int]
) -> None:
    name, r, closest = run
    gauges = county.mask("rain", "river", "reservoir", "weather")
    hourly = np.convolve(np.mean(r["rainfall"][gauges], axis=0), np.ones(HOUR))[: r["rainfall"].shape[1]]
    half_rain = int(np.argmax(hourly >= 0.5 * hourly.max()))
    tide = county.mask("tide")
    surge_peak = int(np.argmax(np.max(r.diagnostics["surge"][tide], axis=0)))
    tide_peak = int(np.argmax(np.max(r["tide_level"][tide], axis=0)))
    assert half_rain < surge_peak, name
    assert abs(tide_peak - closest) <= 12 * HOUR, name


def test_rivers_lag_their_rain_and_reservoirs_cross_their_flood_limit(
    county: StationSet, run: tuple[str, Readings, int]
) -> None:
    name, r, _closest = run
    rivers = np.flatnonzero(county.mask("river"))
    lags = [(np.argmax(r["water_level"][i]) - np.argmax(r["rainfall"][i])) * 5 for i in rivers]
    assert np.median(lags) >= 30, name
    res = county.mask("reservoir")
    limit = county.thresholds["fsltdz_typhoon"][res]
    level = r["water_level"][res]
    assert np.all(level[:, 0] < limit) and np.any(level.max(axis=1) > limit), name


def test_pressure_and_wind_extremes_near_closest_approach(county: StationSet, run: tuple[str, Readings, int]) -> None:
    name, r, closest = run
    wx = county.mask("weather")
    assert abs(int(np.argmin(np.min(r["pressure"][wx], axis=0))) - closest) <= 6 * HOUR, name
    assert abs(int(np.argmax(np.max(r["wind_speed"][wx], axis=0))) - closest) <= 6 * HOUR, name
