"""Distances, lengths and areas of lon/lat geometry, measured in a local plane around it.

A degree of longitude is ``KM_PER_DEG_LON_EQUATOR · cos(lat)`` km and a degree of latitude
``KM_PER_DEG_LAT`` km: good to well under a percent across a county, which is all the checks and
the sample generator need.
"""

from __future__ import annotations

import math

import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

# TODO(domain): WGS 84 degree lengths (km) at the equator; floodctl.domain.geodesy has only the
# spherical KM_PER_DEGREE (111.195), and using it would move every coordinate of the sample.
KM_PER_DEG_LON_EQUATOR = 111.320
KM_PER_DEG_LAT = 110.574


def metres_from(area: BaseGeometry, lon: float, lat: float) -> float:
    """Distance in metres from (lon, lat) to ``area``, in a local plane around the point."""
    kx = 1000 * KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    ky = 1000 * KM_PER_DEG_LAT
    local = shapely.transform(area, lambda xy: (xy - (lon, lat)) * (kx, ky))
    return float(local.distance(Point(0.0, 0.0)))


def distance_text(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def km_length(geom: BaseGeometry) -> float:
    """Length of a lon/lat line in km (local plane around its centroid)."""
    lat = geom.centroid.y
    k = (KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)), KM_PER_DEG_LAT)
    return float(shapely.transform(geom, lambda xy: xy * k).length)


def square_km(square_degrees: float, lat: float) -> float:
    """An area given in square degrees, at latitude ``lat``, in km²."""
    return float(square_degrees * KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)) * KM_PER_DEG_LAT)


def km2(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry in km² (local plane around its centroid)."""
    if geom.is_empty:
        return 0.0
    return square_km(geom.area, geom.centroid.y)
