"""Wind and pressure in the hazard model, and the wind radii of the same wind profile.

The Holland (1980) profile with inflow, the storm's motion and gusts; the CMA-style wind radii (force 7,
10, 12) of its symmetric part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.hazard.noise import GUST, PRESSURE, Noise
from simulators.hazard.stations import StationSet
from simulators.hazard.storm import ENV_PRESSURE_HPA, StormAtStations, holland_parameters

RHO_AIR = 1.15  # kg/m³ in the boundary layer
SURFACE_REDUCTION = 0.8  # gradient → 10 m sustained wind
INFLOW_ANGLE_DEG = 20.0
TRANSLATION_FACTOR = 0.55
TRANSLATION_ROTATION_DEG = 20.0  # counter-clockwise (to the left of the motion)
GUST_SIGMA = 0.06
GUST_TAU_S = 1200.0
PRESSURE_NOISE_HPA = 0.15
PRESSURE_NOISE_TAU_S = 900.0
ATMOS_TIDE_HPA = 0.8  # semidiurnal atmospheric tide, maxima ~10:00 and 22:00 local
# Wind radii (CMA practice): lower bounds of Beaufort force 7, 10 and 12, m/s; searched out to 2,000 km.
WIND_FORCE_MS = {7: 13.9, 10: 24.5, 12: 32.7}
_RADII_GRID_KM = np.geomspace(1.0, 2000.0, 4000)


@dataclass(frozen=True, eq=False)
class WindField:
    """Station × time: surface wind (u east, v north, speed m/s, direction FROM, degrees) and pressure
    (``pressure`` as a barometer reads it; ``pressure_slp`` the storm's sea-level pressure alone)."""

    u: np.ndarray
    v: np.ndarray
    speed: np.ndarray
    direction: np.ndarray
    pressure: np.ndarray
    pressure_slp: np.ndarray


def wind_field(stations: StationSet, g: StormAtStations, noise: Noise) -> WindField:
    dp, b, storm = g.dp, g.b, g.storm
    a = (g.rmax[None, :] / g.r_km) ** b[None, :]
    ea = np.exp(-a)
    pressure_slp = (ENV_PRESSURE_HPA - dp)[None, :] + dp[None, :] * ea
    r_m = g.r_km * 1000.0
    half_rf = 0.5 * r_m * g.fcor[None, :]
    vg = np.sqrt(b[None, :] / RHO_AIR * a * dp[None, :] * 100.0 * ea + half_rf**2) - half_rf
    vg_max = np.sqrt(b * dp * 100.0 / (RHO_AIR * np.e))
    vs = SURFACE_REDUCTION * vg
    alpha = np.radians(INFLOW_ANGLE_DEG)
    # Counter-clockwise tangential (−ey, ex), turned inward by the inflow angle.
    u = vs * (-g.ey * np.cos(alpha) - g.ex * np.sin(alpha))
    v = vs * (g.ex * np.cos(alpha) - g.ey * np.sin(alpha))
    rot = np.radians(TRANSLATION_ROTATION_DEG)
    vte = storm.velocity_east_ms * np.cos(rot) - storm.velocity_north_ms * np.sin(rot)
    vtn = storm.velocity_east_ms * np.sin(rot) + storm.velocity_north_ms * np.cos(rot)
    taper = TRANSLATION_FACTOR * np.clip(vg / np.maximum(vg_max[None, :], 1e-6), 0.0, 1.0)
    u = (u + taper * vte[None, :] * g.fade[None, :]) * stations.wind_exposure[:, None]
    v = (v + taper * vtn[None, :] * g.fade[None, :]) * stations.wind_exposure[:, None]
    gust = np.exp(GUST_SIGMA * noise.ar1(GUST, GUST_TAU_S, g.dt) - 0.5 * GUST_SIGMA**2)
    u, v = u * gust, v * gust
    hour_local = ((g.epoch / 3600.0) + 8.0) % 24.0
    pressure = (
        pressure_slp
        + ATMOS_TIDE_HPA * np.cos(2 * np.pi * (hour_local - 10.0) / 12.0)[None, :]
        + PRESSURE_NOISE_HPA * noise.ar1(PRESSURE, PRESSURE_NOISE_TAU_S, g.dt)
    )
    return WindField(u, v, np.hypot(u, v), np.degrees(np.arctan2(-u, -v)) % 360.0, pressure, pressure_slp)


def symmetric_surface_wind_ms(r_km: np.ndarray | float, pressure_hpa: float, lat: float) -> np.ndarray:
    """The model's surface wind at ``r_km`` from the centre, without the motion, the gusts and the
    station's exposure: SURFACE_REDUCTION × the Holland gradient wind (what open water feels)."""
    dp = max(ENV_PRESSURE_HPA - pressure_hpa, 1.0)
    rmax, b, fcor = holland_parameters(dp, lat)
    r_km = np.maximum(np.asarray(r_km, dtype=float), 1.0)
    a = (rmax / r_km) ** b
    half_rf = 0.5 * r_km * 1000.0 * fcor
    vg = np.sqrt(b / RHO_AIR * a * dp * 100.0 * np.exp(-a) + half_rf**2) - half_rf
    wind: np.ndarray = SURFACE_REDUCTION * vg
    return wind


def wind_radii_km(
    pressure_hpa: float | None, max_wind_ms: float | None, lat: float
) -> tuple[float | None, float | None, float | None]:
    """(r7, r10, r12): how far from the centre the model's symmetric surface wind (see
    :func:`symmetric_surface_wind_ms`) stays at force 7 (≥ 13.9 m/s), 10 (≥ 24.5) and 12 (≥ 32.7), km,
    as the CMA gives wind radii. None where the storm's max wind (the fix's own) or the model's peak is
    below the force, or without a central pressure. The translation speed is left out (symmetric circles)."""
    if pressure_hpa is None or max_wind_ms is None or not (np.isfinite(pressure_hpa) and np.isfinite(max_wind_ms)):
        return None, None, None
    wind = symmetric_surface_wind_ms(_RADII_GRID_KM, pressure_hpa, lat)
    peak = int(np.argmax(wind))
    outside_r, outside_wind = _RADII_GRID_KM[peak:][::-1], wind[peak:][::-1]  # increasing wind inward
    radii: list[float | None] = []
    for threshold in WIND_FORCE_MS.values():
        if max_wind_ms < threshold or wind[peak] < threshold:
            radii.append(None)
            continue
        radii.append(round(float(np.interp(threshold, outside_wind, outside_r)), 1))
    return radii[0], radii[1], radii[2]
