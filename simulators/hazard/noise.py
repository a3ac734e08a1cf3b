"""Seeded noise for the hazard model: unit-variance AR(1) streams, one per station and one for the county."""

from __future__ import annotations

import numpy as np

# The per-station streams: which is which (each drawn once per station, independent of the others).
GUST, PRESSURE, RAIN, SEICHE = range(4)


class Noise:
    """Seeded AR(1) noise, one independent stream per station (keyed by code) and one for the county."""

    def __init__(self, keys: np.ndarray, seed: int, nt: int) -> None:
        self._draws = np.empty((4, len(keys), nt))
        for i, key in enumerate(keys):
            rng = np.random.default_rng([seed & 0xFFFFFFFF, int(key) & 0xFFFFFFFF, int(key) >> 32])
            self._draws[:, i, :] = rng.standard_normal((4, nt))
        self._county = np.random.default_rng([seed & 0xFFFFFFFF, 0xC0FFEE]).standard_normal(nt)

    def ar1(self, stream: int, tau_s: float, dt: np.ndarray) -> np.ndarray:
        return ar1(self._draws[stream], tau_s, dt)

    def county_ar1(self, tau_s: float, dt: np.ndarray) -> np.ndarray:
        county: np.ndarray = ar1(self._county[None, :], tau_s, dt)[0]
        return county


def ar1(white: np.ndarray, tau_s: float, dt: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) (Ornstein–Uhlenbeck sampled at ``dt``) driven by ``white`` (n, nt)."""
    rho = np.exp(-dt / tau_s)
    scale = np.sqrt(1.0 - rho**2)
    out = np.empty_like(white)
    x = white[:, 0].copy()
    out[:, 0] = x
    for j in range(1, white.shape[1]):
        x = rho[j] * x + scale[j] * white[:, j]
        out[:, j] = x
    return out
