"""A storm track's fix: where a tropical cyclone is (or is forecast to be) and how strong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StormFix:
    at: float  # epoch seconds (observed or forecast time)
    lat: float
    lon: float
    max_wind_ms: float  # 2-min mean maximum sustained wind near the centre
    pressure_hpa: float | None = None
    rmw_km: float | None = None  # radius of maximum wind, if known (else estimated)
    r7_km: float | None = None  # radius of force-7 winds, if known
    forecast: bool = False
