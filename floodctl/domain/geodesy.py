"""Great-circle distance on the mean Earth radius (IUGG), scalar or numpy-vectorised."""

from __future__ import annotations

from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM: Final = 6371.0088
KM_PER_DEGREE: Final = float(np.pi * EARTH_RADIUS_KM / 180.0)  # along a meridian

Coordinate = TypeVar("Coordinate", float, npt.NDArray[np.float64])


def haversine_km(lat1: Coordinate, lon1: Coordinate, lat2: Coordinate, lon2: Coordinate) -> Coordinate:
    """Distance in km between points given in degrees; arrays broadcast."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d  # type: ignore[return-value]
