"""Tropical-cyclone tracks for drills: fixes, interpolation, and the storm's motion.

A :class:`Track` is a time-ordered list of :class:`Fix` (UTC times, position, central pressure,
2-minute maximum sustained wind). :meth:`Track.sample` interpolates it at any times (linearly in
time, position on a local flat Earth — fixes are ≤ 6 h apart) and gives the translation
velocity that the hazard model needs for the wind field's asymmetry.

Readers for the official formats (CMA ``CHYYYYBST.txt``, IBTrACS v04 CSV) and the packaged
scenarios live beside this class (see ``simulators.scenarios``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from floodctl.domain.geodesy import EARTH_RADIUS_KM


@dataclass(frozen=True, slots=True)
class Fix:
    time: datetime  # timezone-aware (converted to UTC on construction of a Track)
    lat: float  # degrees north
    lon: float  # degrees east
    pressure_hpa: float  # central pressure
    wind_ms: float  # 2-minute maximum sustained wind near the centre
    category: str | None = None  # TD, TS, STS, TY, STY, SuperTY, ... as the source says


@dataclass(frozen=True, slots=True)
class TrackState:
    """The storm at each sampled time (arrays of equal length)."""

    times: np.ndarray  # datetime64[s], UTC
    lat: np.ndarray
    lon: np.ndarray
    pressure_hpa: np.ndarray
    wind_ms: np.ndarray
    velocity_east_ms: np.ndarray  # translation velocity of the centre
    velocity_north_ms: np.ndarray


@dataclass(frozen=True)
class Track:
    name: str  # "In-Fa (烟花) 2106"
    storm_id: str  # "2106"
    fixes: tuple[Fix, ...]
    source: str = ""  # where the fixes came from

    def __post_init__(self) -> None:
        if len(self.fixes) < 2:
            raise ValueError(f"track {self.name!r} needs at least two fixes")
        fixes = tuple(sorted((_utc(f) for f in self.fixes), key=lambda f: f.time))
        if any(a.time == b.time for a, b in zip(fixes, fixes[1:], strict=False)):
            raise ValueError(f"track {self.name!r} has two fixes at the same time")
        object.__setattr__(self, "fixes", fixes)

    @property
    def start(self) -> datetime:
        return self.fixes[0].time

    @property
    def end(self) -> datetime:
        return self.fixes[-1].time

    def _columns(self) -> tuple[np.ndarray, ...]:
        t = np.array([f.time.timestamp() for f in self.fixes])
        return (
            t,
            np.array([f.lat for f in self.fixes]),
            np.array([f.lon for f in self.fixes]),
            np.array([f.pressure_hpa for f in self.fixes]),
            np.array([f.wind_ms for f in self.fixes]),
        )

    def sample(self, times: np.ndarray) -> TrackState:
        """The storm at ``times`` (datetime64 or epoch seconds); held constant outside the track."""
        epoch = _epoch_seconds(times)
        t, lat, lon, pres, wind = self._columns()
        lat_s = np.interp(epoch, t, lat)
        lon_s = np.interp(epoch, t, lon)
        # Translation velocity from the segment each time falls in.
        seg = np.clip(np.searchsorted(t, epoch, side="right") - 1, 0, len(t) - 2)
        dt = t[seg + 1] - t[seg]
        dlat = np.radians(lat[seg + 1] - lat[seg])
        dlon = np.radians(lon[seg + 1] - lon[seg]) * np.cos(np.radians((lat[seg + 1] + lat[seg]) / 2))
        return TrackState(
            times=epoch.astype("datetime64[s]"),
            lat=lat_s,
            lon=lon_s,
            pressure_hpa=np.interp(epoch, t, pres),
            wind_ms=np.interp(epoch, t, wind),
            velocity_east_ms=EARTH_RADIUS_KM * 1000.0 * dlon / dt,
            velocity_north_ms=EARTH_RADIUS_KM * 1000.0 * dlat / dt,
        )

    def at(self, when: datetime) -> Fix:
        state = self.sample(np.array([when.timestamp()]))
        return Fix(
            when.astimezone(UTC),
            float(state.lat[0]),
            float(state.lon[0]),
            float(state.pressure_hpa[0]),
            float(state.wind_ms[0]),
        )


def _utc(fix: Fix) -> Fix:
    if fix.time.tzinfo is None:
        raise ValueError(f"fix time {fix.time} has no time zone")
    return Fix(fix.time.astimezone(UTC), fix.lat, fix.lon, fix.pressure_hpa, fix.wind_ms, fix.category)


def _epoch_seconds(times: np.ndarray) -> np.ndarray:
    arr = np.asarray(times)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[s]").astype(np.int64).astype(float)
    return arr.astype(float)
