"""The county's stations for the hazard model: positions, thresholds and the parameters derived from them.

Catchment areas, runoff coefficients, time constants, rating curves, reservoir geometry and tide
constituents are not in the station file, so they are derived deterministically from a hash of (seed,
station code) and the station's elevation and thresholds; missing thresholds fall back to values
derived from elevation (see :meth:`StationSet.from_geojson` and ``simulators.hazard``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from floodctl.domain.geodesy import haversine_km
from floodctl.domain.thresholds import RESERVOIR_PROPERTIES, STATION_KINDS, THRESHOLD_NAMES

# --- hydrology (the parameters; the model is in simulators.hazard.hydrology) ------------------
BASE_FLOW_M3S_KM2 = 0.03
BIG_FLOOD_MM_H = 25.0  # rational-method intensity of the rating curve's anchor flood
DESIGN_FLOOD_MM_H = 60.0  # spillway sized to pass this catchment runoff at DSFLZ
WEIR_COEFFICIENT = 1.7  # m^0.5/s, broad-crested weir
CONTROLLED_RELEASE_M3S_KM2 = 0.06

# --- sea --------------------------------------------------------------------------------------
# Points out at sea around the county; a tide station's open water lies toward the nearest one:
# Xiangshan Harbour's mouth, the open East China Sea, off Shipu, south of Hepu, and Sanmen Bay.
SEA_ANCHORS = (
    ("harbour", 121.95, 29.75),
    ("east", 122.30, 29.40),
    ("southeast", 122.20, 29.10),
    ("south", 121.85, 28.90),
    ("sanmen", 121.65, 29.15),
)
ENCLOSED_ANCHORS = ("harbour", "sanmen")

# What the station file may give: the thresholds and the reservoir properties kept beside them.
THRESHOLD_KEYS = THRESHOLD_NAMES + RESERVOIR_PROPERTIES
_N_UNIFORMS = 8
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class StationSet:
    """The stations as parallel numpy arrays (index i is one station), with derived model parameters.

    Thresholds are NaN where the source lacks them; derived parameters are NaN where they do not
    apply to the station's kind (e.g. ``catchment_km2`` of a tide gauge).
    """

    codes: np.ndarray  # str
    kinds: np.ndarray  # str
    lon: np.ndarray
    lat: np.ndarray
    elevation: np.ndarray  # m, 1985 datum
    thresholds: Mapping[str, np.ndarray]
    # derived, all stations
    orographic_factor: np.ndarray
    wind_exposure: np.ndarray
    # rivers and reservoirs
    catchment_km2: np.ndarray
    runoff_coefficient: np.ndarray
    time_constant_s: np.ndarray
    base_flow_m3s: np.ndarray
    # rivers: z = z0 + (z_big − z0) (Q / Q_big)^RATING_EXPONENT
    rating_z0: np.ndarray
    rating_z_big: np.ndarray
    rating_q_big: np.ndarray
    # reservoirs: V = V_ref ((z − z_bed)/(z_ref − z_bed))^m
    bed_level: np.ndarray
    storage_ref_level: np.ndarray
    storage_ref_m3: np.ndarray
    storage_exponent: np.ndarray
    spillway_crest: np.ndarray
    spillway_width_m: np.ndarray
    controlled_release_m3s: np.ndarray
    flood_limit_level: np.ndarray  # the typhoon-season FSLTDZ (or its fallback)
    initial_level: np.ndarray
    # tide gauges: amplitudes (m) and Greenwich phase lags (deg) of M2, S2, K1, O1
    tide_amplitude: np.ndarray  # (n, 4)
    tide_phase_deg: np.ndarray  # (n, 4)
    shore_normal_deg: np.ndarray  # direction (toward, from north) pointing from the sea inland
    surge_factor: np.ndarray
    max_fetch_m: np.ndarray
    nearshore_depth_m: np.ndarray
    swell_factor: np.ndarray
    noise_keys: np.ndarray = field(repr=False)  # uint64 per station, for per-station noise streams

    def __len__(self) -> int:
        return len(self.codes)

    def index(self, code: str) -> int:
        hits = np.flatnonzero(self.codes == code)
        if not len(hits):
            raise KeyError(code)
        return int(hits[0])

    def mask(self, *kinds: str) -> np.ndarray:
        return np.isin(self.kinds, kinds)

    @classmethod
    def from_geojson(cls, fc: Mapping[str, Any], seed: int = 0) -> StationSet:
        """Stations from a GeoJSON FeatureCollection (``gis_data/stations.geojson`` layout).

        Derived parameters (documented in ``simulators.hazard`` and below) come from the station's
        elevation and thresholds and from uniforms u0..u7 = blake2b(f"{seed}:{code}"), so the same
        file and seed always give the same county, and adding a station changes no other station.
        """
        feats = [f for f in fc.get("features", []) if f.get("properties", {}).get("kind") in STATION_KINDS]
        props = [f["properties"] for f in feats]
        codes = np.array([str(p["code"]) for p in props], dtype=object)
        kinds = np.array([p["kind"] for p in props], dtype=object)
        lon = np.array([float(f["geometry"]["coordinates"][0]) for f in feats])
        lat = np.array([float(f["geometry"]["coordinates"][1]) for f in feats])
        elev = np.array([_num(p.get("elevation_m")) for p in props])
        thr = {k: np.array([_num(p.get(k)) for p in props]) for k in THRESHOLD_KEYS}
        u, keys = _uniforms(codes, seed)
        site = _Site(kinds, lon, lat, np.where(np.isfinite(elev), elev, 5.0), thr, u)
        catchment = _catchments(site)
        return cls(
            codes=codes,
            kinds=kinds,
            lon=lon,
            lat=lat,
            elevation=elev,
            thresholds=thr,
            noise_keys=keys,
            **_terrain(site),
            **catchment,
            **_river_ratings(site, catchment),
            **_reservoirs(site, catchment),
            **_tide_gauges(site),
        )


@dataclass(frozen=True, eq=False)
class _Site:
    """What the derivations start from: kinds, position, elevation (filled), thresholds, uniforms (n, 8)."""

    kinds: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    z: np.ndarray
    thr: Mapping[str, np.ndarray]
    u: np.ndarray

    @property
    def nan(self) -> np.ndarray:
        return np.full(len(self.kinds), np.nan)

    def kind(self, *kinds: str) -> np.ndarray:
        return np.isin(self.kinds, kinds)

    @property
    def capacity_1e6m3(self) -> np.ndarray:
        return _fill(self.thr["capacity_1e6m3"], 0.2 + 2.0 * self.u[:, 5])


def _terrain(s: _Site) -> Arrays:
    """Orographic rain factor and wind exposure (land friction, ridge exposure; open water 1)."""
    return {
        "orographic_factor": 1.0 + 0.6 * (1.0 - np.exp(-np.maximum(s.z, 0.0) / 300.0)),
        "wind_exposure": np.where(s.kind("tide"), 1.0, 0.82 + 0.18 * np.clip(s.z / 400.0, 0.0, 1.0)),
    }


def _catchments(s: _Site) -> Arrays:
    """Rivers 8–100 km² shrinking upstream; reservoirs scale with their capacity."""
    u, z, is_river, hydro = s.u, s.z, s.kind("river"), s.kind("river", "reservoir")
    cap = s.capacity_1e6m3
    area = np.where(
        is_river,
        (8.0 + 92.0 * u[:, 0]) * (0.35 + 0.65 * np.exp(-np.maximum(z, 0) / 40.0)),
        (2.0 + 8.0 * cap**0.6) * (0.7 + 0.6 * u[:, 0]),
    )
    area = np.where(hydro, area, s.nan)
    runoff = np.where(is_river, 0.55 + 0.25 * u[:, 1], 0.6 + 0.2 * u[:, 1])
    runoff = np.where(hydro, runoff, s.nan)
    k_s = 0.8 * area**0.35 * (0.8 + 0.4 * u[:, 2]) * 3600.0
    base = BASE_FLOW_M3S_KM2 * area
    return {
        "catchment_km2": area,
        "runoff_coefficient": runoff,
        "time_constant_s": np.where(hydro, k_s, s.nan),
        "base_flow_m3s": np.where(hydro, base, s.nan),
    }


def _river_ratings(s: _Site, c: Arrays) -> Arrays:
    """The power rating anchored so that the large flood stands midway between WRZ and GRZ."""
    is_river, thr = s.kind("river"), s.thr
    area, runoff = c["catchment_km2"], c["runoff_coefficient"]
    wrz = _fill(thr["wrz"], s.z - 1.5)
    grz = _fill(thr["grz"], wrz + 0.6)
    return {
        "rating_z_big": np.where(is_river, 0.5 * (wrz + grz), s.nan),
        "rating_z0": np.where(is_river, wrz - (1.2 + 0.15 * np.sqrt(np.nan_to_num(area)) + 0.5 * s.u[:, 3]), s.nan),
        "rating_q_big": np.where(is_river, runoff * area * BIG_FLOOD_MM_H / 3.6 + c["base_flow_m3s"], s.nan),
    }


def _reservoirs(s: _Site, c: Arrays) -> Arrays:
    """Reservoir geometry (storage curve, spillway) and operation (flood limit, controlled release)."""
    is_res, thr, u, nan = s.kind("reservoir"), s.thr, s.u, s.nan
    cap, area = s.capacity_1e6m3, c["catchment_km2"]
    crest = _fill(thr["dam_crest"], s.z)
    spill = _fill(_fill(thr["spillway_crest"], thr["fsltdz_meiyu"]), crest - 3.0)
    ck = _fill(thr["ckflz"], crest - 0.5)
    ck = np.maximum(ck, spill + 0.3)
    ds = _fill(thr["dsflz"], spill + 0.6 * (ck - spill))
    ds = np.maximum(ds, spill + 0.2)
    limit = _fill(_fill(thr["fsltdz_typhoon"], thr["fsltdz_meiyu"] - 0.5), spill - 1.0)
    limit = np.minimum(limit, spill)
    height = 12.0 + 6.0 * np.sqrt(cap) * (0.8 + 0.4 * u[:, 2])
    q_design = c["runoff_coefficient"] * area * DESIGN_FLOOD_MM_H / 3.6
    width = np.clip(q_design / (WEIR_COEFFICIENT * np.maximum(ds - spill, 0.3) ** 1.5), 3.0, 300.0)
    return {
        "bed_level": np.where(is_res, np.minimum(crest - height, limit - 3.0), nan),
        "storage_ref_level": np.where(is_res, ck, nan),
        "storage_ref_m3": np.where(is_res, cap * 1e6, nan),
        "storage_exponent": np.where(is_res, 2.4 + 0.4 * u[:, 3], nan),
        "spillway_crest": np.where(is_res, spill, nan),
        "spillway_width_m": np.where(is_res, width, nan),
        "controlled_release_m3s": np.where(is_res, 0.3 + CONTROLLED_RELEASE_M3S_KM2 * area, nan),
        "flood_limit_level": np.where(is_res, limit, nan),
        "initial_level": np.where(is_res, limit - (0.15 + 0.45 * u[:, 4]), nan),
    }


def _tide_gauges(s: _Site) -> Arrays:
    """Tide constituents, shore orientation and exposure: open water toward the nearest sea anchor."""
    lon, lat, u, nan, is_tide = s.lon, s.lat, s.u, s.nan, s.kind("tide")
    anchor_lon = np.array([a[1] for a in SEA_ANCHORS])
    anchor_lat = np.array([a[2] for a in SEA_ANCHORS])
    d_anchor = haversine_km(lat[:, None], lon[:, None], anchor_lat[None, :], anchor_lon[None, :])
    nearest = np.argmin(d_anchor, axis=1) if len(lon) else np.zeros(0, dtype=int)
    enclosed = np.isin(np.array([a[0] for a in SEA_ANCHORS])[nearest], ENCLOSED_ANCHORS)
    east = (lon - anchor_lon[nearest]) * np.cos(np.radians(lat))
    north = lat - anchor_lat[nearest]
    normal = np.degrees(np.arctan2(east, north)) % 360.0  # from the sea toward the station
    m2 = 1.5 + 0.2 * u[:, 6] + 0.1 * enclosed
    amp = np.stack([m2, m2 * (0.35 + 0.05 * u[:, 7]), 0.28 + 0.06 * u[:, 4], 0.20 + 0.05 * u[:, 3]], axis=1)
    phase = np.array([280.0, 320.0, 210.0, 170.0])[None, :] + (15.0 * enclosed + 10.0 * (u[:, 5] - 0.5))[:, None]
    tide_rows = is_tide[:, None]
    return {
        "tide_amplitude": np.where(tide_rows, amp, np.nan),
        "tide_phase_deg": np.where(tide_rows, phase, np.nan),
        "shore_normal_deg": np.where(is_tide, normal, nan),
        "surge_factor": np.where(is_tide, np.where(enclosed, 1.3, 1.0), nan),
        "max_fetch_m": np.where(is_tide, np.where(enclosed, 25_000.0, 100_000.0), nan),
        "nearshore_depth_m": np.where(is_tide, 4.0 + 4.0 * u[:, 7], nan),
        "swell_factor": np.where(is_tide, np.where(enclosed, 0.3, 1.0), nan),
    }


def _uniforms(codes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.empty((len(codes), _N_UNIFORMS))
    keys = np.empty(len(codes), dtype=np.uint64)
    for i, code in enumerate(codes):
        digest = hashlib.blake2b(f"{seed}:{code}".encode(), digest_size=2 * _N_UNIFORMS + 8).digest()
        words = np.frombuffer(digest[: 2 * _N_UNIFORMS], dtype=">u2")
        u[i] = (words.astype(float) + 0.5) / 65536.0
        keys[i] = int.from_bytes(digest[2 * _N_UNIFORMS :], "big")
    return u, keys


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out if np.isfinite(out) else float("nan")


def _fill(values: np.ndarray, fallback: np.ndarray | float) -> np.ndarray:
    return np.where(np.isfinite(values), values, fallback)
