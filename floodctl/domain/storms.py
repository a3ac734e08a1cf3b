"""A storm track's fix: where a tropical cyclone is (or is forecast to be), how strong and how wide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class StormFix:
    at: float  # epoch seconds (observed or forecast time)
    lat: float
    lon: float
    max_wind_ms: float  # 2-min mean maximum sustained wind near the centre
    pressure_hpa: float | None = None
    rmw_km: float | None = None  # radius of maximum wind, if known (else estimated)
    r7_km: float | None = None  # radii of force-7, -10 and -12 winds, if known
    r10_km: float | None = None
    r12_km: float | None = None
    forecast: bool = False

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def radius_km(self, force: int) -> float | None:
        """The radius of force-``force`` winds (7, 10 or 12), None when unknown."""
        return {7: self.r7_km, 10: self.r10_km, 12: self.r12_km}.get(force)
