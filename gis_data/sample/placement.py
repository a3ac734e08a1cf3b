"""Where the sample's points go: random spots kept apart from each other, counts shared out over towns."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

MIN_SPACING_KM = 0.6  # keeps markers apart on the map


class Placer:
    """Random points inside an area, kept apart from every point placed before."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.placed: list[Point] = []

    def _far_enough(self, p: Point, spacing: float) -> bool:
        return all(p.distance(q) >= spacing for q in self.placed)

    def in_area(self, area: BaseGeometry) -> Point:
        minx, miny, maxx, maxy = area.bounds
        spacing = MIN_SPACING_KM
        while True:  # relax the spacing if a small area is already crowded
            for _ in range(400):
                x, y = self.rng.uniform((minx, miny), (maxx, maxy))
                p = Point(x, y)
                if area.contains(p) and self._far_enough(p, spacing):
                    self.placed.append(p)
                    return p
            spacing /= 2
            assert spacing > 0.01, "area too small to place a station"

    def on_line(self, line: BaseGeometry, inner: BaseGeometry) -> Point:
        """A point near a random spot of ``line``, pulled just inside ``inner``."""
        spacing = MIN_SPACING_KM
        while True:
            for _ in range(400):
                spot = line.interpolate(self.rng.uniform(0, line.length))
                p = nearest_points(inner, spot)[0]
                if self._far_enough(p, spacing):
                    self.placed.append(p)
                    return p
            spacing /= 2
            assert spacing > 0.01, "coast too short to place a station"


def apportion(total: int, weights: dict[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` over towns: ``minimum`` each, the rest by weight (largest remainder)."""
    counts = {code: minimum for code in weights}
    rest = total - minimum * len(weights)
    assert rest >= 0
    weight_sum = sum(weights.values())
    shares = {code: rest * w / weight_sum for code, w in weights.items()}
    for code, share in shares.items():
        counts[code] += int(share)
    left = total - sum(counts.values())
    # Ties broken by code so that the result never depends on dict order.
    by_remainder = sorted(shares, key=lambda c: (-(shares[c] - int(shares[c])), c))
    for code in by_remainder[:left]:
        counts[code] += 1
    return counts
