"""The hazard model with the sample county and Typhoon In-Fa (2106): determinism, ranges, physics, scale."""

from __future__ import annotations

import copy
import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from floodctl.domain.geodesy import haversine_km
from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import KIND_METRICS, RESERVOIR_PROPERTIES, THRESHOLDS
from simulators.hazard import METRIC_NAMES, Readings, StationSet, simulate
from simulators.tracks import Fix, Track

ROOT = Path(__file__).resolve().parents[2]
STATIONS = ROOT / "gis_data" / "stations.geojson"
IN_FA = ROOT / "simulators" / "data" / "typhoons" / "in-fa-2106.csv"
CST = timezone(timedelta(hours=8))
COUNTY_LAT, COUNTY_LON = 29.45, 121.85
HOUR = 12  # 5-minute steps per hour


def _read_track(path: Path) -> Track:
    """A tiny local reader (time_cst,lat,lon,type,pres_hpa,wind_ms); the official one is elsewhere."""
    with path.open(newline="", encoding="utf-8") as fh:
        fixes = tuple(
            Fix(
                datetime.strptime(row["time_cst"], "%Y-%m-%d %H:%M").replace(tzinfo=CST),
                float(row["lat"]),
                float(row["lon"]),
                float(row["pres_hpa"]),
                float(row["wind_ms"]),
                row["type"],
            )
            for row in csv.DictReader(fh)
        )
    return Track("In-Fa (烟花) 2106", "2106", fixes, source=path.name)


def _utc_times(start_cst: str, end_cst: str) -> np.ndarray:
    start = datetime.fromisoformat(start_cst).replace(tzinfo=CST).astimezone(UTC).replace(tzinfo=None)
    end = datetime.fromisoformat(end_cst).replace(tzinfo=CST).astimezone(UTC).replace(tzinfo=None)
    return np.arange(np.datetime64(start, "s"), np.datetime64(end, "s") + 1, np.timedelta64(300, "s"))


def _direct_hit() -> Track:
    """960 hPa / 42 m/s landfall at 121.99E 29.13N moving north-west at ~20 km/h."""
    landfall = datetime(2021, 7, 25, 14, tzinfo=CST)
    step_deg = 12 * 20.0 * np.cos(np.radians(45)) / 111.2  # 12 h at 20 km/h, per axis (lat)
    intensity = {-2: (950, 45), -1: (955, 44), 0: (960, 42), 1: (975, 30), 2: (988, 20)}
    fixes = tuple(
        Fix(
            landfall + timedelta(hours=12 * k),
            29.13 + k * step_deg,
            121.99 - k * step_deg / np.cos(np.radians(29.13)),
            float(p),
            float(w),
        )
        for k, (p, w) in intensity.items()
    )
    return Track("synthetic direct hit", "9999", fixes)


@pytest.fixture(scope="module")
def county() -> StationSet:
    return StationSet.from_geojson(json.loads(STATIONS.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def in_fa() -> Track:
    return _read_track(IN_FA)


@pytest.fixture(scope="module")
def times() -> np.ndarray:
    return _utc_times("2021-07-22T00:00", "2021-07-27T00:00")


@pytest.fixture(scope="module")
def readings(county: StationSet, in_fa: Track, times: np.ndarray) -> Readings:
    return simulate(county, in_fa, times, seed=7)


@pytest.fixture(scope="module")
def closest(in_fa: Track, times: np.ndarray) -> int:
    state = in_fa.sample(times)
    return int(
        np.argmin(
            haversine_km(np.full_like(state.lat, COUNTY_LAT), np.full_like(state.lon, COUNTY_LON), state.lat, state.lon)
        )
    )


def _cst(times: np.ndarray, j: int) -> str:
    return str(times[j] + np.timedelta64(8, "h"))


def _county_mean_rate(county: StationSet, r: Readings) -> np.ndarray:
    """County-mean rain rate (mm/h): the mean over gauges of the rain in the hour ending at each time."""
    mean = np.mean(r["rainfall"][county.mask("rain", "river", "reservoir", "weather")], axis=0)
    return np.convolve(mean, np.ones(HOUR))[: len(mean)]


def test_station_set_derives_parameters(county: StationSet) -> None:
    assert len(county) == 162
    assert county.mask("camera").sum() == 20
    assert np.isnan(county.thresholds["grz"][county.index("70104002")])  # missing stays missing
    hydro = county.mask("river", "reservoir")
    for name in ("catchment_km2", "runoff_coefficient", "time_constant_s", "base_flow_m3s"):
        values = getattr(county, name)
        assert np.all(np.isfinite(values[hydro])) and np.all(np.isnan(values[~hydro])), name
    assert np.all((county.runoff_coefficient[hydro] > 0.4) & (county.runoff_coefficient[hydro] < 0.9))
    res = county.mask("reservoir")
    assert np.all(county.bed_level[res] < county.flood_limit_level[res])
    assert np.all(county.initial_level[res] < county.thresholds["fsltdz_typhoon"][res])
    tide = county.mask("tide")
    assert np.all((county.tide_amplitude[tide, 0] >= 1.5) & (county.tide_amplitude[tide, 0] <= 2.0))
    again = StationSet.from_geojson(json.loads(STATIONS.read_text(encoding="utf-8")))
    assert np.array_equal(again.catchment_km2, county.catchment_km2, equal_nan=True)
    other = StationSet.from_geojson(json.loads(STATIONS.read_text(encoding="utf-8")), seed=1)
    assert not np.array_equal(other.catchment_km2, county.catchment_km2, equal_nan=True)


# Every value the station file may give a river or reservoir gauge.
HYDRO_KEYS = [t.name for t in THRESHOLDS if {"river", "reservoir"} & set(t.kinds)] + list(RESERVOIR_PROPERTIES)


def test_missing_thresholds_fall_back(county: StationSet) -> None:
    fc = json.loads(STATIONS.read_text(encoding="utf-8"))
    for feature in fc["features"]:
        for key in HYDRO_KEYS:
            feature["properties"].pop(key, None)
    bare = StationSet.from_geojson(fc)
    r = simulate(bare, _read_track(IN_FA), _utc_times("2021-07-25T00:00", "2021-07-25T12:00"))
    for kind, metrics in KIND_METRICS.items():
        for metric in metrics:
            assert np.all(np.isfinite(r[metric][bare.mask(kind)])), (kind, metric)


def test_same_seed_same_readings_other_seed_other_rain(
    county: StationSet, in_fa: Track, times: np.ndarray, readings: Readings
) -> None:
    again = simulate(county, in_fa, times, seed=7)
    for metric in METRIC_NAMES:
        assert np.array_equal(again[metric], readings[metric], equal_nan=True), metric
    other = simulate(county, in_fa, times, seed=8)
    assert not np.allclose(other["rainfall"], readings["rainfall"], equal_nan=True)


def test_values_in_vocabulary_ranges_and_nan_only_where_unmeasured(county: StationSet, readings: Readings) -> None:
    assert set(readings.values) == set(METRIC_NAMES)
    for metric in METRIC_NAMES:
        arr = readings[metric]
        assert arr.shape == (len(county), len(readings.times))
        measured = np.isin(county.kinds, [k for k, ms in KIND_METRICS.items() if metric in ms])
        assert np.all(np.isfinite(arr[measured])), metric
        assert np.all(np.isnan(arr[~measured])), metric
        finite = arr[measured]
        assert finite.min() >= METRICS[metric].low and finite.max() <= METRICS[metric].high, metric
    code, values = next(readings.observations(0))
    assert code == county.codes[0] and set(values) == set(KIND_METRICS[county.kinds[0]])


def test_rain_leads_surge_and_tide_peaks_near_closest_approach(
    county: StationSet, readings: Readings, times: np.ndarray, closest: int
) -> None:
    rate = _county_mean_rate(county, readings)
    half_rain = int(np.argmax(rate >= 0.5 * rate.max()))
    tide = county.mask("tide")
    surge_peak = int(np.argmax(np.max(readings.diagnostics["surge"][tide], axis=0)))  # the county's largest
    tide_peak = int(np.argmax(np.max(readings["tide_level"][tide], axis=0)))
    print(
        f"\nclosest approach {_cst(times, closest)} CST; county rain at 50 % of peak {_cst(times, half_rain)}; "
        f"surge peak {_cst(times, surge_peak)}; tide peak {_cst(times, tide_peak)}"
    )
    assert half_rain < surge_peak
    assert abs(tide_peak - closest) <= 12 * HOUR


def test_rivers_lag_their_rain(county: StationSet, readings: Readings) -> None:
    river = np.flatnonzero(county.mask("river"))
    lags = [(np.argmax(readings["water_level"][i]) - np.argmax(readings["rainfall"][i])) * 5 for i in river]
    print(f"\nriver peak lag behind rain peak: median {np.median(lags):.0f} min, range {min(lags)}..{max(lags)}")
    assert np.median(lags) >= 30


def test_a_reservoir_passes_its_typhoon_flood_limit(county: StationSet, readings: Readings) -> None:
    res = county.mask("reservoir")
    limit = county.thresholds["fsltdz_typhoon"][res]
    level = readings["water_level"][res]
    assert np.all(level[:, 0] < limit)
    assert np.any(level.max(axis=1) > limit)
    # Mass balance: storage change equals accumulated inflow − outflow (semi-implicit steps, 5 %).
    inflow, outflow, storage = readings["inflow"][res], readings["outflow"][res], readings["storage"][res]
    net = np.sum(inflow[:, 1:] - outflow[:, 1:], axis=1) * 300 / 1e6
    np.testing.assert_allclose(storage[:, -1] - storage[:, 0], net, rtol=0.05, atol=0.02)


def test_weather_extremes_near_closest_approach(
    county: StationSet, readings: Readings, times: np.ndarray, closest: int
) -> None:
    wx = county.mask("weather")
    p_min = int(np.argmin(np.min(readings["pressure"][wx], axis=0)))
    w_max = int(np.argmax(np.max(readings["wind_speed"][wx], axis=0)))
    peak_wind = np.nanmax(readings["wind_speed"])
    print(
        f"\nweather min pressure {np.min(readings['pressure'][wx]):.1f} hPa at {_cst(times, p_min)}, "
        f"max wind {np.max(readings['wind_speed'][wx]):.1f} m/s at {_cst(times, w_max)}; county max wind "
        f"{peak_wind:.1f} m/s"
    )
    assert abs(p_min - closest) <= 6 * HOUR
    assert abs(w_max - closest) <= 6 * HOUR
    assert 15 <= peak_wind <= 50


def test_direct_hit_is_worse_than_in_fa(county: StationSet, readings: Readings, times: np.ndarray) -> None:
    hit = simulate(county, _direct_hit(), times, seed=7)
    wet = county.mask("rain", "river", "reservoir", "weather")
    hourly, six_hourly = (
        {
            name: np.convolve(np.mean(r["rainfall"][wet], axis=0), np.ones(n), "valid").max()
            for name, r in (("in_fa", readings), ("hit", hit))
        }
        for n in (HOUR, 6 * HOUR)
    )
    wind = {name: np.nanmax(r["wind_speed"]) for name, r in (("in_fa", readings), ("hit", hit))}
    print(
        f"\nmax wind In-Fa {wind['in_fa']:.1f} vs direct hit {wind['hit']:.1f} m/s; county-mean max 1 h rain "
        f"In-Fa {hourly['in_fa']:.1f} vs direct hit {hourly['hit']:.1f} mm; max 6 h In-Fa "
        f"{six_hourly['in_fa']:.1f} vs direct hit {six_hourly['hit']:.1f} mm"
    )
    assert wind["hit"] > wind["in_fa"]
    assert hourly["hit"] > hourly["in_fa"]
    assert six_hourly["hit"] > six_hourly["in_fa"]


def test_in_fa_key_figures(county: StationSet, readings: Readings) -> None:
    """Not a pass/fail physics check beyond sanity: prints the figures a drill organiser looks at."""
    wet = county.mask("rain", "river", "reservoir", "weather")
    rain = readings["rainfall"][wet]
    totals = rain.sum(axis=1)
    tide = county.mask("tide")
    tide_max = readings["tide_level"][tide].max(axis=1)
    red = county.thresholds["tide_red"][tide]
    river = county.mask("river")
    over_wrz = readings["water_level"][river].max(axis=1) - county.thresholds["wrz"][river]
    res = county.mask("reservoir")
    over_fsl = readings["water_level"][res].max(axis=1) - county.thresholds["fsltdz_typhoon"][res]
    print(
        f"\nIn-Fa: peak 5-min rain rate {rain.max() * HOUR:.1f} mm/h, max 1 h "
        f"{max(np.convolve(row, np.ones(HOUR), 'valid').max() for row in rain):.1f} mm, county-mean total "
        f"{totals.mean():.0f} mm (max {totals.max():.0f}); peak wind {np.nanmax(readings['wind_speed']):.1f} m/s; "
        f"peak tide {tide_max.max():.2f} m ({np.sum(tide_max > red)} of {tide.sum()} gauges over tide_red, "
        f"max excess {np.max(tide_max - red):+.2f} m); rivers over WRZ {np.sum(over_wrz > 0)} of {river.sum()} "
        f"(max {over_wrz.max():+.2f} m); reservoirs over FSLTDZ {np.sum(over_fsl > 0)} of {res.sum()} "
        f"(max {over_fsl.max():+.2f} m); peak wave {np.nanmax(readings['wave_height']):.1f} m"
    )
    assert 100 < totals.mean() < 1000
    assert tide_max.max() < np.nanmax(county.thresholds["seawall_crest"])


def test_two_thousand_stations_each_read_as_if_simulated_alone(in_fa: Track) -> None:
    """At drill scale (2,000 stations × 864 five-minute steps) every station gets a full, finite, in-range
    series of what its kind measures, and NaN for the rest; and the vectorised run mixes no stations: a
    station reads the same in the crowd as simulated alone. (Speed is measured by ``floodctl bench drill``.)"""
    fc = json.loads(STATIONS.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    features = []
    for k in range(2000):
        feature = copy.deepcopy(fc["features"][k % len(fc["features"])])
        feature["properties"]["code"] = f"9{k:07d}"
        lon, lat = feature["geometry"]["coordinates"]
        feature["geometry"]["coordinates"] = [lon + rng.uniform(-0.05, 0.05), lat + rng.uniform(-0.05, 0.05)]
        features.append(feature)
    many = StationSet.from_geojson({"type": "FeatureCollection", "features": features})
    times = _utc_times("2021-07-23T00:00", "2021-07-26T00:00")[:864]
    r = simulate(many, in_fa, times, seed=1)
    assert len(many) == 2000 and list(r.codes) == [f["properties"]["code"] for f in features]
    assert len(times) == 864 and set(r.values) == set(METRIC_NAMES)
    for metric in METRIC_NAMES:
        arr = r[metric]
        assert arr.shape == (2000, 864), metric
        measured = np.isin(many.kinds, [k for k, ms in KIND_METRICS.items() if metric in ms])
        assert measured.any(), metric
        assert np.all(np.isfinite(arr[measured])) and np.all(np.isnan(arr[~measured])), metric
        assert arr[measured].min() >= METRICS[metric].low and arr[measured].max() <= METRICS[metric].high, metric
    res = many.mask("reservoir")
    net = np.sum(r["inflow"][res][:, 1:] - r["outflow"][res][:, 1:], axis=1) * 300 / 1e6
    np.testing.assert_allclose(r["storage"][res][:, -1] - r["storage"][res][:, 0], net, rtol=0.05, atol=0.02)

    picked = [0, 161, 999, 1999]  # the first, a county's worth in, the middle and the last
    alone = StationSet.from_geojson({"type": "FeatureCollection", "features": [features[i] for i in picked]})
    lone = simulate(alone, in_fa, times, seed=1)
    for metric in METRIC_NAMES:
        np.testing.assert_allclose(
            lone[metric], r[metric][picked], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=metric
        )
