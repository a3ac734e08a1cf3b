"""The sea in the hazard model: astronomical tide, storm surge and waves at the tide gauges.

Tide: M2, S2, K1, O1. Surge: inverse barometer and wind set-up, relaxed with a lag. Waves: fetch-limited
sea and storm swell, depth-limited.
"""

from __future__ import annotations

import numpy as np

from simulators.hazard.noise import SEICHE, Noise
from simulators.hazard.stations import StationSet
from simulators.hazard.storm import StormAtStations
from simulators.hazard.wind import RHO_AIR, WindField

MSL_M = 0.3  # mean sea level on the 1985 national height datum
IB_M_PER_HPA = 0.01
IB_REFERENCE_HPA = 1013.0
RHO_WATER = 1025.0
GRAVITY = 9.81
SHELF_LENGTH_M = 60_000.0
SHELF_DEPTH_M = 15.0
SETDOWN_FACTOR = 0.5
SETUP_LAG_S = 3 * 3600.0
SEICHE_SIGMA_M, SEICHE_TAU_S = 0.03, 1800.0


def astronomical_tide(amplitude: np.ndarray, phase_deg: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """M2 + S2 + K1 + O1 (m), amplitude/phase (n, 4) Greenwich lags, ``epoch`` UTC seconds (nt,)."""
    tc = (epoch - 946_728_000.0) / (36525.0 * 86400.0)  # Julian centuries since J2000.0
    s = 218.3164 + 481267.8812 * tc  # Moon's mean longitude
    h = 280.4661 + 36000.7698 * tc  # Sun's mean longitude
    nn = np.radians(125.0445 - 1934.1363 * tc)  # longitude of the Moon's ascending node
    hour_angle = 180.0 + 15.0 * ((epoch % 86400.0) / 3600.0)  # mean solar time at Greenwich
    v0 = np.stack(
        [2 * hour_angle - 2 * s + 2 * h, 2 * hour_angle, hour_angle + h + 90.0, hour_angle - 2 * s + h - 90.0]
    )
    f = np.stack(
        [
            1.0004 - 0.0373 * np.cos(nn) + 0.0002 * np.cos(2 * nn),
            np.ones_like(nn),
            1.0060 + 0.1150 * np.cos(nn) - 0.0088 * np.cos(2 * nn) + 0.0006 * np.cos(3 * nn),
            1.0089 + 0.1871 * np.cos(nn) - 0.0147 * np.cos(2 * nn) + 0.0014 * np.cos(3 * nn),
        ]
    )
    uu = np.stack(
        [
            -2.14 * np.sin(nn),
            np.zeros_like(nn),
            -8.86 * np.sin(nn) + 0.68 * np.sin(2 * nn) - 0.07 * np.sin(3 * nn),
            10.80 * np.sin(nn) - 1.34 * np.sin(2 * nn) + 0.19 * np.sin(3 * nn),
        ]
    )
    arg = np.radians((v0 + uu)[None, :, :] - phase_deg[:, :, None])
    tide: np.ndarray = np.sum(amplitude[:, :, None] * f[None, :, :] * np.cos(arg), axis=1)
    return tide


def tides_and_waves(
    st: StationSet,
    g: StormAtStations,
    w: WindField,
    noise: Noise,
    values: dict[str, np.ndarray],
    diagnostics: dict[str, np.ndarray],
) -> None:
    """Fill ``tide_level`` and ``wave_height`` of the tide gauges, and the ``surge`` and ``astro_tide``
    diagnostics (NaN elsewhere)."""
    tide, epoch, dt, r_km, dp = st.mask("tide"), g.epoch, g.dt, g.r_km, g.dp
    u, v, speed, pressure_slp = w.u, w.v, w.speed, w.pressure_slp
    n, nt = u.shape
    surge_all = np.full((n, nt), np.nan)
    astro_all = np.full((n, nt), np.nan)
    diagnostics["surge"], diagnostics["astro_tide"] = surge_all, astro_all
    if not tide.any():
        return
    uu, vv, spd = u[tide], v[tide], speed[tide]
    normal = np.radians(st.shore_normal_deg[tide])[:, None]
    onshore = uu * np.sin(normal) + vv * np.cos(normal)  # wind component toward land, m/s
    cd = np.clip((0.8 + 0.065 * spd) * 1e-3, 1e-3, 2.5e-3)  # Wu (1982)
    stress = RHO_AIR * cd * spd * onshore
    setup_eq = stress * SHELF_LENGTH_M / (RHO_WATER * GRAVITY * SHELF_DEPTH_M)
    setup_eq = np.where(setup_eq < 0, SETDOWN_FACTOR * setup_eq, setup_eq) * st.surge_factor[tide][:, None]
    setup = np.empty_like(setup_eq)
    decay = np.exp(-dt / SETUP_LAG_S)
    level = setup_eq[:, 0].copy()
    for j in range(nt):
        level = level * decay[j] + setup_eq[:, j] * (1.0 - decay[j])
        setup[:, j] = level
    surge = IB_M_PER_HPA * (IB_REFERENCE_HPA - pressure_slp[tide]) + setup
    astro = astronomical_tide(st.tide_amplitude[tide], st.tide_phase_deg[tide], epoch)
    seiche = SEICHE_SIGMA_M * noise.ar1(SEICHE, SEICHE_TAU_S, dt)[tide]
    level_total = MSL_M + astro + surge + seiche
    surge_all[tide], astro_all[tide] = surge, astro
    values["tide_level"][tide] = level_total

    fetch = 5_000.0 + (st.max_fetch_m[tide][:, None] - 5_000.0) * np.clip(onshore / np.maximum(spd, 0.1), 0, 1) ** 2
    wind_sea = 0.0016 * spd * np.sqrt(fetch / GRAVITY)
    wind_sea = np.minimum(wind_sea, 0.0248 * spd**2)
    swell = st.swell_factor[tide][:, None] * (0.15 + 3.0 * (dp[None, :] / 50.0) * np.exp(-r_km[tide] / 500.0))
    depth = np.maximum(st.nearshore_depth_m[tide][:, None] + level_total, 0.5)
    values["wave_height"][tide] = np.minimum(np.hypot(wind_sea, swell), 0.55 * depth)
