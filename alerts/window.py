"""A station's recent readings as the rule engine holds them: per metric, ascending in time (numpy)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Window:
    """Recent readings of one station, per metric, ascending in time."""

    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    newest: float = -np.inf

    def merge(self, metric: str, times: np.ndarray, values: np.ndarray, horizon_s: float) -> None:
        old = self.series.get(metric)
        if old is not None and len(old[0]):
            times = np.concatenate((old[0], times))
            values = np.concatenate((old[1], values))
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        keep = np.ones(len(times), dtype=bool)
        keep[1:] = times[1:] != times[:-1]  # the first stored value of a time wins (as in the table)
        times, values = times[keep], values[keep]
        if len(times):
            self.newest = max(self.newest, float(times[-1]))
            cut = int(np.searchsorted(times, self.newest - horizon_s, side="left"))
            times, values = times[cut:], values[cut:]
        self.series[metric] = (times, values)


def times_after(window: Window, since: float) -> list[float]:
    """The distinct reading times in ``window`` after ``since``, ascending."""
    parts = [times[times > since] for times, _ in window.series.values() if len(times)]
    return [float(t) for t in np.unique(np.concatenate(parts))] if parts else []
