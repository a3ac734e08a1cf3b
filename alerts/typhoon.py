"""Typhoon signals (台风预警信号) for a point of the county from a storm's track and forecast.

    wind_at(fix, lat, lon) -> (mean m/s, gust m/s)          the wind one fix implies at a point
    typhoon_signal(fixes, lat, lon, now) -> TyphoonSignal     blue | yellow | orange | red | None
    beaufort(speed m/s) -> force 0…17

Pure: no clock, database or network; ``now`` is the moment judged (epoch seconds).

Signal definitions (China Meteorological Administration; the project's contract), with the 2-min
mean wind and the gust at the point:

    ======  ========  ========================  ==========================
    signal  horizon   mean wind at least        or gusts at least
    ======  ========  ========================  ==========================
    blue    24 h      force 6  (10.8 m/s)       force 8  (17.2 m/s)
    yellow  24 h      force 8  (17.2 m/s)       force 10 (24.5 m/s)
    orange  12 h      force 10 (24.5 m/s)       force 12 (32.7 m/s)
    red      6 h      force 12 (32.7 m/s)       force 14 (41.5 m/s)
    ======  ========  ========================  ==========================

"Will be or is affected": a criterion counts if it is met at any moment from ``now`` to ``now`` +
its horizon. The signal is the highest one whose criterion is met within its own horizon, so a
red-strength wind expected in 10 h gives orange (its 12 h horizon), not red.

Wind profile (``wind_at``), axisymmetric modified Rankine vortex around the interpolated centre::

    v(r) = Vmax · r / Rmw               r ≤ Rmw      (calm eye, linear rise to the eyewall)
    v(r) = Vmax · (Rmw / r) ** x        r > Rmw      x = 0.55 (DECAY_EXPONENT)

with r the great-circle (haversine) distance and Vmax the fix's 2-min mean maximum sustained wind.
Rmw, when the fix does not give it: Vickery & Wadhera (2008), Rmw = exp(3.015 − 6.291e-5 Δp² +
0.0337 φ) km with Δp = 1010 hPa − Pc, when the central pressure is known (the formula the drill
simulator ``simulators.hazard`` uses for its Holland profile, so drills line up); else Willoughby,
Darling & Rahn (2006), Rmw = 46.4 exp(−0.0155 Vmax + 0.0169 φ) km; both kept within 15–100 km. When the
force-7 radius R7 is known (and Vmax > 13.9 m/s), x is tuned so that v(R7) = 13.9 m/s,
x = ln(Vmax / 13.9) / ln(R7 / Rmw), kept within 0.3–1.2 (an estimated Rmw is first capped at R7 / 2).
Gust = 1.4 × mean (GUST_FACTOR; 3-s gust over 2-min mean on an exposed coast, WMO guidance gives
about 1.3–1.5). Not modelled: the asymmetry from the storm's motion, land friction and terrain,
decay at landfall beyond what the forecast Vmax says — the signal is a screening value for the
duty officer, the meteorological service's own signal prevails.

Track: fixes are sorted by time (for equal times an observed fix wins over a forecast one, else the
later one in the input); position, Vmax and the optional sizes are interpolated linearly in time
(sizes only where both neighbours give them). The window [now, now + 24 h] is sampled every
``step_s`` seconds, but only where the fixes cover it: nothing is extrapolated before the first fix
or beyond the last one. Times in messages are China Standard Time (UTC+8).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from floodctl.domain.geodesy import haversine_km
from floodctl.domain.levels import LEVEL_ZH
from floodctl.domain.storms import StormFix

__all__ = [
    "BEAUFORT_LOWER_MS",
    "SIGNALS",
    "GUST_FACTOR",
    "DECAY_EXPONENT",
    "TyphoonSignal",
    "beaufort",
    "estimate_rmw_km",
    "wind_at",
    "typhoon_signal",
]

# Lower bounds of Beaufort forces 0…17 (GB/T 28591-2012); 17 is "17 and above" (≥ 56.1 m/s).
BEAUFORT_LOWER_MS = (
    0.0,
    0.3,
    1.6,
    3.4,
    5.5,
    8.0,
    10.8,
    13.9,
    17.2,
    20.8,
    24.5,
    28.5,
    32.7,
    37.0,
    41.5,
    46.2,
    51.0,
    56.1,
)
FORCE7_MS = 13.9
GUST_FACTOR = 1.4
DECAY_EXPONENT = 0.55
DECAY_EXPONENT_RANGE = (0.3, 1.2)
RMW_RANGE_KM = (15.0, 100.0)
ENV_PRESSURE_HPA = 1010.0
WINDOW_S = 24 * 3600
NEAR_KM = 10.0  # closer than this, messages say the centre passes over
CST = timedelta(hours=8)

# (level, horizon s, mean threshold m/s, gust threshold m/s), highest first.
SIGNALS: tuple[tuple[str, int, float, float], ...] = (
    ("red", 6 * 3600, 32.7, 41.5),
    ("orange", 12 * 3600, 24.5, 32.7),
    ("yellow", 24 * 3600, 17.2, 24.5),
    ("blue", 24 * 3600, 10.8, 17.2),
)


@dataclass(frozen=True, slots=True)
class TyphoonSignal:
    level: str | None  # "blue" | "yellow" | "orange" | "red" | None
    at: float  # when judged (``now``)
    peak_mean_ms: float  # the expected peak at the point within the horizon that set the level
    peak_gust_ms: float  # (no level: within the covered 24 h; nothing covered: 0)
    peak_at: float | None
    closest_km: float  # closest approach of the centre within the covered 24 h (inf: none)
    closest_at: float | None
    message_zh: str
    message_en: str


# --- basics ------------------------------------------------------------------------------------------


def beaufort(speed_ms: float) -> int:
    """Beaufort force (0…17) of a wind speed in m/s; a speed on a bound belongs to the higher force."""
    if not isinstance(speed_ms, int | float) or not math.isfinite(speed_ms) or speed_ms < 0:
        raise ValueError(f"wind speed must be a finite number ≥ 0 m/s, not {speed_ms!r}")
    # Bounds are given to 0.1 m/s; the epsilon keeps e.g. 24.499999999 (float noise) out of force 10.
    return bisect.bisect_right(BEAUFORT_LOWER_MS, float(speed_ms) + 1e-9) - 1


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _check_point(lat: float, lon: float) -> None:
    if not -90.0 <= _finite("lat", lat) <= 90.0:
        raise ValueError(f"lat must lie within -90…90, not {lat!r}")
    _finite("lon", lon)


def _check_fix(fix: StormFix, index: int | None = None) -> None:
    where = f"fix {index} " if index is not None else "fix "
    if not isinstance(fix, StormFix):
        raise ValueError(f"{where}must be a StormFix, not {type(fix).__name__}")
    _finite(where + "at", fix.at)
    if not -90.0 <= _finite(where + "lat", fix.lat) <= 90.0:
        raise ValueError(f"{where}lat must lie within -90…90, not {fix.lat!r}")
    _finite(where + "lon", fix.lon)
    if _finite(where + "max_wind_ms", fix.max_wind_ms) < 0:
        raise ValueError(f"{where}max_wind_ms must be ≥ 0, not {fix.max_wind_ms!r}")
    for name in ("pressure_hpa", "rmw_km", "r7_km"):
        value = getattr(fix, name)
        if value is not None and _finite(where + name, value) <= 0:
            raise ValueError(f"{where}{name} must be > 0, not {value!r}")


# --- wind profile -------------------------------------------------------------------------------------


def estimate_rmw_km(max_wind_ms: float, lat: float, pressure_hpa: float | None = None) -> float:
    """Radius of maximum wind: Vickery & Wadhera (2008) from the pressure deficit when the central
    pressure is known, else Willoughby, Darling & Rahn (2006) from Vmax and latitude; 15–100 km."""
    phi = abs(lat)
    if pressure_hpa is not None:
        dp = max(ENV_PRESSURE_HPA - pressure_hpa, 0.0)
        rmw = math.exp(3.015 - 6.291e-5 * dp**2 + 0.0337 * phi)
    else:
        rmw = 46.4 * math.exp(-0.0155 * max_wind_ms + 0.0169 * phi)
    return min(max(rmw, RMW_RANGE_KM[0]), RMW_RANGE_KM[1])


def _profile(fix: StormFix) -> tuple[float, float]:
    """(Rmw km, outer decay exponent) of a fix."""
    rmw = fix.rmw_km
    if rmw is None:
        rmw = estimate_rmw_km(fix.max_wind_ms, fix.lat, fix.pressure_hpa)
        if fix.r7_km is not None:
            rmw = min(rmw, 0.5 * fix.r7_km)
    x = DECAY_EXPONENT
    if fix.r7_km is not None and fix.max_wind_ms > FORCE7_MS and fix.r7_km > rmw:
        x = math.log(fix.max_wind_ms / FORCE7_MS) / math.log(fix.r7_km / rmw)
        x = min(max(x, DECAY_EXPONENT_RANGE[0]), DECAY_EXPONENT_RANGE[1])
    return rmw, x


def _wind(fix: StormFix, r_km: float) -> float:
    rmw, x = _profile(fix)
    if r_km <= rmw:
        return fix.max_wind_ms * r_km / rmw
    return fix.max_wind_ms * float((rmw / r_km) ** x)


def wind_at(fix: StormFix, lat: float, lon: float) -> tuple[float, float]:
    """(2-min mean, gust) in m/s that ``fix`` implies at (lat, lon): modified Rankine vortex, gust 1.4 × mean."""
    _check_fix(fix)
    _check_point(lat, lon)
    mean = _wind(fix, haversine_km(fix.lat, fix.lon, lat, lon))
    return mean, GUST_FACTOR * mean


# --- track ---------------------------------------------------------------------------------------------


def _prepare(fixes: Sequence[StormFix]) -> list[StormFix]:
    """Validated fixes sorted by time, one per time (observed beats forecast, else the later in the input)."""
    if isinstance(fixes, StormFix) or not isinstance(fixes, Sequence):
        raise ValueError("fixes must be a sequence of StormFix")
    for i, fix in enumerate(fixes):
        _check_fix(fix, i)
    by_time: dict[float, StormFix] = {}
    for fix in fixes:
        held = by_time.get(fix.at)
        if held is None or not (fix.forecast and not held.forecast):
            by_time[fix.at] = fix
    return [by_time[t] for t in sorted(by_time)]


def _lerp_opt(a: float | None, b: float | None, f: float) -> float | None:
    return None if a is None or b is None else a + f * (b - a)


def _interpolate(track: list[StormFix], times: list[float], t: float) -> StormFix:
    i = bisect.bisect_right(times, t)
    if i == 0:
        return track[0]
    if i >= len(track):
        return track[-1]
    a, b = track[i - 1], track[i]
    f = (t - a.at) / (b.at - a.at)
    dlon = (b.lon - a.lon + 180.0) % 360.0 - 180.0  # the short way round
    return StormFix(
        at=t,
        lat=a.lat + f * (b.lat - a.lat),
        lon=a.lon + f * dlon,
        max_wind_ms=a.max_wind_ms + f * (b.max_wind_ms - a.max_wind_ms),
        pressure_hpa=_lerp_opt(a.pressure_hpa, b.pressure_hpa, f),
        rmw_km=_lerp_opt(a.rmw_km, b.rmw_km, f),
        r7_km=_lerp_opt(a.r7_km, b.r7_km, f),
        forecast=a.forecast or b.forecast,
    )


# --- messages ------------------------------------------------------------------------------------------


def _cst(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC) + CST


def _when_zh(t: float) -> str:
    d = _cst(t)
    return f"{d.month}月{d.day}日{d.hour}时"


def _when_en(t: float) -> str:
    return _cst(t).strftime("%d %b %H:%M") + " CST"


def _force_zh(speed: float) -> str:
    force = beaufort(speed)
    return f"{force}级以上" if force == len(BEAUFORT_LOWER_MS) - 1 else f"{force}级"


def _force_en(speed: float) -> str:
    force = beaufort(speed)
    return f"force {force}+" if force == len(BEAUFORT_LOWER_MS) - 1 else f"force {force}"


def _closest_text(closest_km: float, closest_at: float, now: float) -> tuple[str, str]:
    if closest_at <= now:
        return (
            f"台风中心目前距离约{closest_km:.0f}公里，正在远离",
            f"the centre is now about {closest_km:.0f} km away and moving off",
        )
    if closest_km < NEAR_KM:
        return (
            f"台风中心可能于{_when_zh(closest_at)}前后经过本地",
            f"the centre may pass over the point around {_when_en(closest_at)}",
        )
    return (
        f"台风中心最近距离约{closest_km:.0f}公里（{_when_zh(closest_at)}前后）",
        f"closest approach of the centre about {closest_km:.0f} km around {_when_en(closest_at)}",
    )


# --- the signal -----------------------------------------------------------------------------------------


def typhoon_signal(fixes: Sequence[StormFix], lat: float, lon: float, now: float, step_s: int = 600) -> TyphoonSignal:
    """The typhoon signal at (lat, lon) judged at ``now`` from the storm's fixes (see the module docstring)."""
    _check_point(lat, lon)
    now = _finite("now", now)
    if _finite("step_s", step_s) <= 0:
        raise ValueError(f"step_s must be > 0, not {step_s!r}")
    track = _prepare(fixes)

    def nothing(zh: str, en: str) -> TyphoonSignal:
        return TyphoonSignal(None, now, 0.0, 0.0, None, math.inf, None, zh, en)

    if not track:
        return nothing("无台风路径数据，未判定台风预警信号。", "No track data: no typhoon signal judged.")
    start, end = max(now, track[0].at), min(now + WINDOW_S, track[-1].at)
    if start > end:
        if track[-1].at < now:
            return nothing(
                f"台风路径数据截至{_when_zh(track[-1].at)}，此后无路径数据，不据此发布台风预警信号。",
                f"The track ends at {_when_en(track[-1].at)}; with no data after it, no signal.",
            )
        return nothing(
            f"台风路径自{_when_zh(track[0].at)}起，未来24小时内无路径数据，暂无台风预警信号。",
            f"The track starts at {_when_en(track[0].at)}, beyond the next 24 h: no signal.",
        )

    times = [f.at for f in track]
    samples: list[tuple[float, float, float]] = []  # (t, distance km, mean m/s)
    n = int((end - start) // step_s)
    for t in [start + k * step_s for k in range(n + 1)] + ([end] if start + n * step_s < end else []):
        fix = _interpolate(track, times, t)
        r_km = haversine_km(fix.lat, fix.lon, lat, lon)
        samples.append((t, r_km, _wind(fix, r_km)))

    closest_t, closest_km, _ = min(samples, key=lambda s: s[1])
    level, horizon = None, WINDOW_S
    for name, horizon_s, mean_min, gust_min in SIGNALS:
        if any(t <= now + horizon_s and (m >= mean_min or GUST_FACTOR * m >= gust_min) for t, _, m in samples):
            level, horizon = name, horizon_s
            break
    peak_t, _, peak = max((s for s in samples if s[0] <= now + horizon), key=lambda s: s[2])
    gust = GUST_FACTOR * peak
    hours = horizon // 3600
    near_zh, near_en = _closest_text(closest_km, closest_t, now)
    cover_zh = cover_en = ""
    if end < now + WINDOW_S:
        cover_zh = f"（路径数据仅覆盖至{_when_zh(end)}）"
        cover_en = f" (the track only covers up to {_when_en(end)})"

    wind_zh = f"{_force_zh(peak)}（{peak:.1f} m/s），阵风{_force_zh(gust)}（{gust:.1f} m/s）"
    wind_en = f"mean wind {_force_en(peak)} ({peak:.1f} m/s), gusts {_force_en(gust)} ({gust:.1f} m/s)"
    if level is None:
        zh = f"未达台风预警信号标准：未来24小时内本地预计最大平均风力{wind_zh}，{near_zh}{cover_zh}。"
        en = (
            f"Below the typhoon signal criteria: in the next 24 h at most {wind_en} expected here; {near_en}{cover_en}."
        )
    else:
        when_zh = "目前平均风力已达" if peak_t <= now else f"预计{hours}小时内平均风力可达"
        when_en = "now" if peak_t <= now else f"within {hours} h"
        zh = f"台风{LEVEL_ZH[level]}预警信号：{when_zh}{wind_zh}，{near_zh}{cover_zh}。"
        en = f"Typhoon {level} signal: {when_en} {wind_en}; {near_en}{cover_en}."
    return TyphoonSignal(level, now, peak, gust, peak_t, closest_km, closest_t, zh, en)
