"""The hazard model's run: ``simulate`` evaluates every part for a track and returns what each gauge reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from floodctl.domain.metrics import METRICS
from floodctl.domain.thresholds import KIND_METRICS
from simulators.hazard.hydrology import rivers_and_reservoirs
from simulators.hazard.noise import Noise
from simulators.hazard.rain import rain_rate
from simulators.hazard.sea import tides_and_waves
from simulators.hazard.stations import StationSet
from simulators.hazard.storm import storm_at_stations
from simulators.hazard.wind import wind_field
from simulators.tracks import Track

METRIC_NAMES = tuple(dict.fromkeys(m for ms in KIND_METRICS.values() for m in ms))


@dataclass(frozen=True, eq=False)
class Readings:
    """What every station reads: ``values[metric]`` is (n_stations, n_times), NaN where not measured.

    ``diagnostics`` holds model internals for checks and plots: ``surge`` and ``astro_tide`` (m,
    tide gauges), ``distance_km`` (station to storm centre), ``rain_rate`` (mm/h).
    """

    codes: np.ndarray
    kinds: np.ndarray
    times: np.ndarray  # datetime64[s], UTC
    values: dict[str, np.ndarray]
    diagnostics: dict[str, np.ndarray]

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.values[metric]

    def observations(self, j: int) -> Iterator[tuple[str, dict[str, float]]]:
        """(station code, {metric: value}) for time index ``j``, measured metrics only."""
        for i, (code, kind) in enumerate(zip(self.codes, self.kinds, strict=True)):
            metrics = KIND_METRICS[kind]
            if metrics:
                yield code, {m: float(self.values[m][i, j]) for m in metrics}


def simulate(stations: StationSet, track: Track, times: np.ndarray, seed: int = 0) -> Readings:
    """Run the hazard model for ``track`` at ``times`` (datetime64, regular cadence, UTC)."""
    times = np.asarray(times).astype("datetime64[s]")
    if times.ndim != 1 or len(times) == 0:
        raise ValueError("times must be a non-empty 1-D datetime64 array")
    n, nt = len(stations), len(times)
    g = storm_at_stations(stations, track, times)
    noise = Noise(stations.noise_keys, seed, nt)
    wind = wind_field(stations, g, noise)
    rate = rain_rate(stations, g, noise)
    rainfall = rate * g.dt[None, :] / 3600.0

    values: dict[str, np.ndarray] = {m: np.full((n, nt), np.nan) for m in METRIC_NAMES}
    diagnostics: dict[str, np.ndarray] = {"distance_km": g.r_km, "rain_rate": rate}
    for metric, field in (
        ("rainfall", rainfall),
        ("wind_speed", wind.speed),
        ("wind_dir", wind.direction),
        ("pressure", wind.pressure),
    ):
        has = np.isin(stations.kinds, [k for k, ms in KIND_METRICS.items() if metric in ms])
        values[metric][has] = field[has]
    tides_and_waves(stations, g, wind, noise, values, diagnostics)
    rivers_and_reservoirs(stations, rainfall, g.dt, values)

    for name, arr in values.items():
        np.clip(arr, METRICS[name].low, METRICS[name].high, out=arr)
    return Readings(codes=stations.codes, kinds=stations.kinds, times=times, values=values, diagnostics=diagnostics)
