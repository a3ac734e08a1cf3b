"""The storm as the stations see it: its strength and each station's distance and bearing from the centre.

Per time, the pressure deficit (faded outside the track) and the Holland parameters; per station × time,
the distance to the centre and the unit vector from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from floodctl.domain.geodesy import haversine_km
from simulators.hazard.stations import StationSet
from simulators.tracks import Track, TrackState

ENV_PRESSURE_HPA = 1010.0
OMEGA = 7.2921e-5  # Earth's rotation, rad/s
STORM_FADE_S = 12 * 3600.0  # e-folding of the storm outside the track's time span


def holland_parameters(
    dp_hpa: np.ndarray | float, lat: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Rmax km, Holland B, Coriolis parameter 1/s) of a storm with pressure deficit ``dp_hpa`` at ``lat``:
    Vickery & Wadhera (2008), clipped to the ranges in the module docstring."""
    phi = np.abs(np.asarray(lat, dtype=float))
    dp = np.asarray(dp_hpa, dtype=float)
    rmax = np.clip(np.exp(3.015 - 6.291e-5 * dp**2 + 0.0337 * phi), 15.0, 100.0)
    b = np.clip(1.881 - 0.00557 * rmax - 0.01295 * phi, 0.8, 2.2)
    fcor = 2 * OMEGA * np.sin(np.radians(np.maximum(phi, 5.0)))
    return rmax, b, fcor


@dataclass(frozen=True, eq=False)
class StormAtStations:
    """Per time (nt,): the storm, its fade and pressure deficit, Rmax, B, Coriolis; per station × time
    (n, nt): the distance to the centre and the unit vector (ex east, ey north) from the centre."""

    epoch: np.ndarray  # UTC seconds
    dt: np.ndarray  # seconds since the previous time (the first: one cadence)
    storm: TrackState
    fade: np.ndarray
    dp: np.ndarray  # hPa, faded
    rmax: np.ndarray
    b: np.ndarray
    fcor: np.ndarray
    r_km: np.ndarray
    ex: np.ndarray
    ey: np.ndarray


def storm_at_stations(stations: StationSet, track: Track, times: np.ndarray) -> StormAtStations:
    """``times``: datetime64[s], non-empty, strictly increasing (checked)."""
    epoch = times.astype(np.int64).astype(float)
    nt = len(times)
    dt = np.diff(epoch, prepend=epoch[0] - (np.median(np.diff(epoch)) if nt > 1 else 300.0))
    if np.any(dt <= 0):
        raise ValueError("times must be strictly increasing")
    storm = track.sample(times)
    t0, t1 = track.start.timestamp(), track.end.timestamp()
    fade = np.exp(-np.maximum(np.maximum(t0 - epoch, epoch - t1), 0.0) / STORM_FADE_S)
    dp = np.maximum(ENV_PRESSURE_HPA - storm.pressure_hpa, 1.0) * fade  # hPa, (nt,)
    rmax, b, fcor = holland_parameters(dp, storm.lat)

    lat_s, lon_s = stations.lat[:, None], stations.lon[:, None]
    r_km = np.maximum(haversine_km(lat_s, lon_s, storm.lat[None, :], storm.lon[None, :]), 1.0)
    ex = (lon_s - storm.lon[None, :]) * np.cos(np.radians(0.5 * (lat_s + storm.lat[None, :])))
    ey = lat_s - storm.lat[None, :]
    norm = np.maximum(np.hypot(ex, ey), 1e-9)
    return StormAtStations(epoch, dt, storm, fade, dp, rmax, b, fcor, r_km, ex / norm, ey / norm)
