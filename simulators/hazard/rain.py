"""Rain in the hazard model: an R-CLIPER-like rate around the storm, at every station.

The radial profile is shaped by the motion's asymmetry, two spiral bands, orography and seeded
lognormal noise.
"""

from __future__ import annotations

import numpy as np

from simulators.hazard.noise import RAIN, Noise
from simulators.hazard.stations import StationSet
from simulators.hazard.storm import StormAtStations

RAIN_CORE_FRACTION = 0.6  # share of the eyewall peak that decays with the inner scale
RAIN_CORE_E_FOLD_KM = 40.0
RAIN_BAND_E_FOLD_KM = 160.0
RAIN_EYE_FRACTION = 0.3
RAIN_ASYMMETRY = 0.35
RAIN_ASYMMETRY_OFFSET_DEG = -30.0  # front-left of the motion
RAIN_BAND_AMPLITUDE = 0.3
RAIN_BAND_PITCH_DEG = 15.0
RAIN_DRIZZLE_MM_H = 0.2
RAIN_LOCAL_SIGMA, RAIN_LOCAL_TAU_S = 0.35, 1800.0
RAIN_COUNTY_SIGMA, RAIN_COUNTY_TAU_S = 0.2, 3600.0


def rain_rate(stations: StationSet, g: StormAtStations, noise: Noise) -> np.ndarray:
    """Rain rate (mm/h), station × time."""
    storm, r_km, ex, ey, dt = g.storm, g.r_km, g.ex, g.ey, g.dt
    vmax = storm.wind_ms * g.fade
    peak = np.clip(6.0 + 0.6 * (vmax - 17.0), 5.0, 60.0) * g.fade
    rm = g.rmax[None, :]
    radial = np.where(
        r_km < rm,
        RAIN_EYE_FRACTION + (1 - RAIN_EYE_FRACTION) * r_km / rm,
        RAIN_CORE_FRACTION * np.exp(-(r_km - rm) / RAIN_CORE_E_FOLD_KM)
        + (1 - RAIN_CORE_FRACTION) * np.exp(-(r_km - rm) / RAIN_BAND_E_FOLD_KM),
    )
    speed_t = np.hypot(storm.velocity_east_ms, storm.velocity_north_ms)
    motion = np.arctan2(storm.velocity_east_ms, storm.velocity_north_ms)  # bearing, radians
    bearing = np.arctan2(ex, ey)
    asym = 1.0 + RAIN_ASYMMETRY * np.clip(speed_t / 5.0, 0.0, 1.0)[None, :] * np.cos(
        bearing - motion[None, :] - np.radians(RAIN_ASYMMETRY_OFFSET_DEG)
    )
    theta = np.arctan2(ey, ex)
    spiral = theta + np.log(r_km / rm) / np.tan(np.radians(RAIN_BAND_PITCH_DEG))
    bands = 1.0 + RAIN_BAND_AMPLITUDE * np.clip((r_km / rm - 1.0), 0.0, 1.0) * np.cos(2.0 * spiral)
    rain_noise = np.exp(
        RAIN_LOCAL_SIGMA * noise.ar1(RAIN, RAIN_LOCAL_TAU_S, dt)
        - 0.5 * RAIN_LOCAL_SIGMA**2
        + RAIN_COUNTY_SIGMA * noise.county_ar1(RAIN_COUNTY_TAU_S, dt)[None, :]
        - 0.5 * RAIN_COUNTY_SIGMA**2
    )
    rate = peak[None, :] * radial * asym * bands * stations.orographic_factor[:, None] * rain_noise
    drizzle_off: np.ndarray = np.maximum(rate - RAIN_DRIZZLE_MM_H, 0.0)
    return drizzle_off
