"""Unit tests of alerts.typhoon: Beaufort scale, the wind profile and the typhoon signal from a track."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alerts.typhoon import (
    BEAUFORT_LOWER_MS,
    GUST_FACTOR,
    beaufort,
    estimate_rmw_km,
    typhoon_signal,
    wind_at,
)
from floodctl.domain.geodesy import haversine_km
from floodctl.domain.storms import StormFix

CST = timezone(timedelta(hours=8))
LAT, LON = 29.48, 121.87  # Xiangshan county seat (丹城)
IN_FA = Path(__file__).resolve().parents[2] / "simulators" / "data" / "typhoons" / "in-fa-2106.csv"
T0 = datetime(2026, 8, 1, 8, tzinfo=CST).timestamp()
H = 3600.0
RANK = {None: -1, "blue": 0, "yellow": 1, "orange": 2, "red": 3}


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=CST).timestamp()


def offset(lat: float, lon: float, east_km: float, north_km: float) -> tuple[float, float]:
    """The point east_km / north_km from (lat, lon) (local flat approximation, fine within ~2000 km here)."""
    return lat + north_km / 111.2, lon + east_km / (111.2 * math.cos(math.radians(lat)))


def straight_track(
    start_km: float,
    end_km: float,
    speed_kmh: float = 20.0,
    vmax: float = 45.0,
    miss_km: float = 0.0,
    every_h: float = 6.0,
) -> list[StormFix]:
    """A storm moving north-west along a straight line through (or miss_km beside) the county seat.

    Along-track coordinate s: -start_km (south-east, at T0) … +end_km (north-west); s = 0 at closest approach.
    """
    fixes = []
    s = -start_km
    t = T0
    while s <= end_km + 1e-9:
        # along-track unit vector points north-west; the cross-track one north-east
        east = -s / math.sqrt(2) + miss_km / math.sqrt(2)
        north = s / math.sqrt(2) + miss_km / math.sqrt(2)
        lat, lon = offset(LAT, LON, east, north)
        fixes.append(StormFix(at=t, lat=lat, lon=lon, max_wind_ms=vmax, forecast=t > T0))
        s += speed_kmh * every_h
        t += every_h * H
    return fixes


# --- Beaufort and the profile ---------------------------------------------------------------------------


def test_beaufort_boundaries():
    assert BEAUFORT_LOWER_MS[6:15] == (10.8, 13.9, 17.2, 20.8, 24.5, 28.5, 32.7, 37.0, 41.5)
    for force, bound in enumerate(BEAUFORT_LOWER_MS):
        assert beaufort(bound) == force
        if force:
            assert beaufort(bound - 0.01) == force - 1
    assert beaufort(0) == 0 and beaufort(10.79) == 5 and beaufort(32.7) == 12 and beaufort(41.49) == 13
    assert beaufort(24.5 - 1e-12) == 10  # float noise on a bound
    assert beaufort(80.0) == 17
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError):
            beaufort(bad)


def test_haversine():
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.05)
    assert haversine_km(LAT, LON, LAT, LON) == 0.0
    assert haversine_km(30.0, 179.5, 30.0, -179.5) == pytest.approx(96.3, abs=0.5)


def test_wind_rises_to_the_eyewall_then_decreases_with_distance():
    fix = StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=40.0, rmw_km=30.0)
    means = []
    for r_km in (0, 10, 20, 30, 40, 60, 100, 200, 400, 800):
        lat, lon = offset(LAT, LON, r_km, 0.0)
        mean, gust = wind_at(fix, lat, lon)
        assert gust == pytest.approx(GUST_FACTOR * mean)
        means.append(mean)
    assert means[0] == 0.0  # calm eye
    assert means[:4] == sorted(means[:4]) and means[3] == pytest.approx(40.0, rel=0.01)
    assert means[3:] == sorted(means[3:], reverse=True) and means[-1] < 10.8


def test_wind_decreases_with_distance_with_estimated_radius():
    fix = StormFix(at=T0, lat=25.0, lon=125.0, max_wind_ms=50.0, pressure_hpa=940.0)
    winds = [wind_at(fix, *offset(25.0, 125.0, 0.0, d))[0] for d in range(100, 1000, 50)]
    assert all(a > b for a, b in zip(winds, winds[1:], strict=False))


def test_r7_tunes_the_decay():
    fix = StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=40.0, rmw_km=35.0, r7_km=350.0)
    mean, _ = wind_at(fix, *offset(LAT, LON, 0.0, 350.0))
    assert mean == pytest.approx(13.9, abs=0.15)
    small = StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=40.0, rmw_km=35.0, r7_km=150.0)
    assert wind_at(small, *offset(LAT, LON, 0.0, 150.0))[0] == pytest.approx(13.9, abs=0.15)
    assert wind_at(small, *offset(LAT, LON, 0.0, 300.0))[0] < mean


def test_rmw_estimate():
    assert 15.0 <= estimate_rmw_km(45.0, 29.5) <= 100.0
    assert estimate_rmw_km(60.0, 25.0) < estimate_rmw_km(25.0, 25.0)  # stronger → tighter
    assert estimate_rmw_km(40.0, 25.0, pressure_hpa=930.0) < estimate_rmw_km(40.0, 25.0, pressure_hpa=990.0)


def test_wind_at_rejects_non_finite():
    with pytest.raises(ValueError):
        wind_at(StormFix(at=T0, lat=math.nan, lon=LON, max_wind_ms=30.0), LAT, LON)
    with pytest.raises(ValueError):
        wind_at(StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=30.0), LAT, math.inf)


# --- the signal --------------------------------------------------------------------------------------------


def test_storm_heading_straight_at_the_county_seat():
    fixes = straight_track(start_km=1500.0, end_km=1200.0)
    arrival = T0 + 1500.0 / 20.0 * H  # passes over the county seat
    seen: list[tuple[float, str | None]] = []
    now = T0
    while now <= fixes[-1].at + 12 * H:
        sig = typhoon_signal(fixes, LAT, LON, now)
        assert sig.at == now
        if not seen or seen[-1][1] != sig.level:
            seen.append((now, sig.level))
        now += H
    levels = [lv for _, lv in seen]
    assert levels[:5] == [None, "blue", "yellow", "orange", "red"], levels
    assert levels[-1] is None
    peak = levels.index("red")
    assert all(RANK[a] >= RANK[b] for a, b in zip(levels[peak:], levels[peak + 1 :], strict=False)), levels
    assert seen[peak][0] < arrival < seen[peak + 1][0]
    # an hour before red is first given, red-strength wind is already expected, but more than 6 h ahead
    just_before = typhoon_signal(fixes, LAT, LON, seen[peak][0] - H)
    assert just_before.level == "orange"
    assert GUST_FACTOR * just_before.peak_mean_ms >= 41.5 or just_before.peak_mean_ms >= 32.7
    assert 6 * H < just_before.peak_at - just_before.at <= 12 * H
    first_red = typhoon_signal(fixes, LAT, LON, seen[peak][0])
    assert first_red.peak_at - first_red.at <= 6 * H
    gone = typhoon_signal(fixes, LAT, LON, arrival + 48 * H)
    assert gone.level is None and gone.closest_km > 900
    before = typhoon_signal(fixes, LAT, LON, arrival - 3 * H)
    assert before.level == "red"
    assert before.closest_km < 10 and abs(before.closest_at - arrival) <= 600
    assert before.peak_gust_ms == pytest.approx(GUST_FACTOR * before.peak_mean_ms)
    assert before.peak_gust_ms >= 41.5 or before.peak_mean_ms >= 32.7
    assert "台风红色预警信号" in before.message_zh and "6小时内" in before.message_zh
    assert "经过本地" in before.message_zh and "red" in before.message_en


def test_storm_600_km_away_gives_no_signal():
    fixes = straight_track(start_km=1500.0, end_km=1500.0, miss_km=600.0, vmax=42.0)
    closest = math.inf
    for k in range(0, 150, 3):
        sig = typhoon_signal(fixes, LAT, LON, T0 + k * H)
        assert sig.level is None, (k, sig.message_zh)
        closest = min(closest, sig.closest_km)
    assert closest == pytest.approx(600.0, abs=15.0)


def test_horizon_rule_red_wind_ten_hours_ahead_gives_orange():
    start = offset(LAT, LON, 330.0, 0.0)
    arrive = offset(LAT, LON, 30.0, 0.0)  # eyewall over the point at +10 h
    fixes = [
        StormFix(at=T0, lat=start[0], lon=start[1], max_wind_ms=45.0, rmw_km=30.0),
        StormFix(at=T0 + 10 * H, lat=arrive[0], lon=arrive[1], max_wind_ms=45.0, rmw_km=30.0, forecast=True),
    ]
    sig = typhoon_signal(fixes, LAT, LON, T0)
    assert sig.level == "orange"
    assert sig.peak_mean_ms >= 32.7 and sig.peak_at == pytest.approx(T0 + 10 * H)
    assert "12小时内" in sig.message_zh
    assert typhoon_signal(fixes, LAT, LON, T0 + 5 * H).level == "red"


def test_nothing_is_extrapolated_beyond_the_last_fix():
    fixes = straight_track(start_km=1500.0, end_km=0.0)
    cut = [f for f in fixes if f.at <= T0 + 36 * H]  # ends 780 km away
    assert typhoon_signal(cut, LAT, LON, T0 + 30 * H).level is None
    assert typhoon_signal(fixes, LAT, LON, T0 + 30 * H).level is not None
    stale = typhoon_signal(cut, LAT, LON, T0 + 40 * H)
    assert stale.level is None and stale.peak_at is None and "路径" in stale.message_zh


def test_track_beyond_the_window():
    fixes = straight_track(start_km=300.0, end_km=300.0)
    sig = typhoon_signal(fixes, LAT, LON, T0 - 30 * H)
    assert sig.level is None and sig.closest_at is None and math.isinf(sig.closest_km)


def test_empty_and_unsorted_fixes():
    empty = typhoon_signal([], LAT, LON, T0)
    assert empty.level is None and empty.peak_at is None and "无台风路径数据" in empty.message_zh
    fixes = straight_track(start_km=600.0, end_km=600.0)
    now = T0 + 20 * H
    shuffled = fixes[1::2] + fixes[::2]
    assert typhoon_signal(shuffled, LAT, LON, now) == typhoon_signal(fixes, LAT, LON, now)
    # an observed fix wins over a forecast one at the same time
    moved = StormFix(at=fixes[3].at, lat=10.0, lon=150.0, max_wind_ms=45.0, forecast=True)
    assert typhoon_signal([*fixes, moved], LAT, LON, now) == typhoon_signal(fixes, LAT, LON, now)


@pytest.mark.parametrize(
    "bad",
    [
        dict(fixes=[StormFix(at=math.nan, lat=LAT, lon=LON, max_wind_ms=30.0)]),
        dict(fixes=[StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=math.inf)]),
        dict(fixes=[StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=30.0, rmw_km=math.nan)]),
        dict(fixes=[StormFix(at=T0, lat=LAT, lon=LON, max_wind_ms=-1.0)]),
        dict(now=math.nan),
        dict(lat=math.inf),
        dict(step_s=0),
    ],
)
def test_invalid_input_raises(bad):
    args = dict(fixes=[StormFix(at=T0, lat=LAT, lon=LON + 1, max_wind_ms=30.0)], lat=LAT, lon=LON, now=T0)
    args.update(bad)
    with pytest.raises(ValueError):
        typhoon_signal(**args)


def read_in_fa() -> list[StormFix]:
    with IN_FA.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) >= {"time_cst", "lat", "lon", "pres_hpa", "wind_ms"}
    return [
        StormFix(
            at=datetime.strptime(r["time_cst"], "%Y-%m-%d %H:%M").replace(tzinfo=CST).timestamp(),
            lat=float(r["lat"]),
            lon=float(r["lon"]),
            max_wind_ms=float(r["wind_ms"]),
            pressure_hpa=float(r["pres_hpa"]),
        )
        for r in rows
    ]


def test_in_fa_2021_at_the_county_seat():
    fixes = read_in_fa()
    landfall = ts(2021, 7, 25, 12, 30)  # Putuo, Zhoushan
    levels = [typhoon_signal(fixes, LAT, LON, landfall - k * H).level for k in range(0, 25)]
    assert max(RANK[lv] for lv in levels) >= RANK["yellow"], levels
    assert typhoon_signal(fixes, LAT, LON, landfall - 24 * H).level is not None
    closest = typhoon_signal(fixes, LAT, LON, landfall - 12 * H)
    assert 40 < closest.closest_km < 120
    assert ts(2021, 7, 25, 8) < closest.closest_at < ts(2021, 7, 26, 2)
    for day in (28, 29, 30):
        assert typhoon_signal(fixes, LAT, LON, ts(2021, 7, day, 8)).level is None
