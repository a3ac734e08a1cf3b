"""Parametric typhoon hazard model: wind, pressure, rain, tide, rivers and reservoirs at every station.

``simulate(stations, track, times, seed)`` evaluates, with numpy over stations × times, what each
gauge of the county would read while a tropical cyclone (a :class:`simulators.tracks.Track`) passes.
It is a drill generator, not a forecast: simple, physically consistent, fast (2,000 stations × 864
five-minute steps in about 2 s on one core), deterministic for a given seed.

The model, in the order it is computed::

    track ──► pressure P(r), wind (u, v)  Holland (1980) profile; Rmax and B from Vickery & Wadhera (2008)
      │         ΔP = 1010 hPa − Pc; Rmax = exp(3.015 − 6.291e-5 ΔP² + 0.0337 φ) km (15–100 km);
      │         B = 1.881 − 0.00557 Rmax − 0.01295 φ (0.8–2.2); gradient wind with Coriolis;
      │         surface wind = 0.8 × gradient × station exposure (land friction / ridge exposure);
      │         inflow angle 20°; + 0.55 × translation velocity rotated 20° to the left, tapered
      │         with V/Vmax; ±6 % gustiness (seeded AR(1)). Direction is meteorological (FROM).
      ├─► rain rate   R-CLIPER-like: peak Rp = 6 + 0.6 (Vmax − 17 m/s) mm/h (5–60) at the rain
      │         radius rm = Rmax (eye ramps 30 % → 100 %); outside, a core 0.6 exp(−(r − rm)/40 km) plus
      │         bands 0.4 exp(−(r − rm)/160 km) (reaching 400–500 km); × front-left asymmetry (±35 %,
      │         growing with translation speed up to 5 m/s), × two-arm log-spiral
      │         bands (±30 %), × orographic factor 1 + 0.6 (1 − exp(−z/300 m)), × lognormal noise
      │         (station AR(1) σ 0.35 / 30 min, county AR(1) σ 0.2 / 60 min); 0.2 mm/h is taken off as
      │         drizzle. ``rainfall`` = mm in the interval ending at t.
      ├─► tide        astronomical M2, S2, K1, O1 with equilibrium arguments (Doodson / Meeus mean
      │         longitudes) and nodal f, u; MSL 0.3 m on the 1985 datum; + surge = inverse barometer
      │         (1 cm/hPa below 1013) + wind set-up τL/(ρw g h) with τ = ρa Cd(U) |U| U_onshore over a
      │         60 km × 15 m shelf (offshore winds set down at half strength), relaxed with a 3 h lag.
      │         Waves: fetch-limited JONSWAP sea + storm swell, depth-limited (0.55 × depth).
      ├─► rivers      linear reservoir dQ/dt = (c·P·A − Q)/k + base flow 0.03 m³/s/km²; stage from a
      │         power rating z = z0 + (z_big − z0)(Q/Q_big)^0.6 anchored so that the "large flood"
      │         Q_big (rational method, 25 mm/h) stands midway between WRZ and GRZ.
      └─► reservoirs  the same catchment runoff as inflow; mass balance dV/dt = I − O, solved
                semi-implicitly (3 sub-steps per reading); O = free weir 1.7 L h^1.5 over the spillway
                crest + a controlled release that opens fully once the level passes the typhoon-season
                flood limit (FSLTDZ); storage curve V = V_ck ((z − z_bed)/(CKFLZ − z_bed))^m with
                V_ck = capacity_1e6m3 (总库容 is the storage at the check-flood level), m 2.4–2.8.
                The run starts 0.15–0.6 m below FSLTDZ (typhoon season).

``wind_radii_km(pressure, max_wind, lat)`` gives the CMA-style wind radii (force 7 / 10 / 12) of the same
symmetric wind profile (no motion, no gusts, open-water exposure), recorded with a drill's track.

Assumptions worth knowing: one storm at a time; times outside the track fade the storm with a 12 h
e-folding (``Track.sample`` holds the end points); pressure is sea-level pressure; catchment areas,
runoff coefficients, time constants, rating curves, reservoir geometry and tide constituents are not
in the station file, so they are *derived* deterministically from a hash of (seed, station code) and
the station's elevation and thresholds (see :meth:`StationSet.from_geojson`); missing thresholds fall
back to values derived from elevation. Every value is finally clipped into the physical ranges of
``floodctl.domain.metrics`` — in normal runs the clip changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from floodctl.domain.metrics import METRICS
from simulators.tracks import Track, distance_km

# --- wind and pressure ------------------------------------------------------------------------
ENV_PRESSURE_HPA = 1010.0
RHO_AIR = 1.15                    # kg/m³ in the boundary layer
OMEGA = 7.2921e-5                 # Earth's rotation, rad/s
SURFACE_REDUCTION = 0.8           # gradient → 10 m sustained wind
INFLOW_ANGLE_DEG = 20.0
TRANSLATION_FACTOR = 0.55
TRANSLATION_ROTATION_DEG = 20.0   # counter-clockwise (to the left of the motion)
GUST_SIGMA = 0.06
GUST_TAU_S = 1200.0
PRESSURE_NOISE_HPA = 0.15
ATMOS_TIDE_HPA = 0.8              # semidiurnal atmospheric tide, maxima ~10:00 and 22:00 local
STORM_FADE_S = 12 * 3600.0        # e-folding of the storm outside the track's time span
# Wind radii (CMA practice): lower bounds of Beaufort force 7, 10 and 12, m/s; searched out to 2,000 km.
WIND_FORCE_MS = {7: 13.9, 10: 24.5, 12: 32.7}
_RADII_GRID_KM = np.geomspace(1.0, 2000.0, 4000)

# --- rain -------------------------------------------------------------------------------------
RAIN_CORE_FRACTION = 0.6           # share of the eyewall peak that decays with the inner scale
RAIN_CORE_E_FOLD_KM = 40.0
RAIN_BAND_E_FOLD_KM = 160.0
RAIN_EYE_FRACTION = 0.3
RAIN_ASYMMETRY = 0.35
RAIN_ASYMMETRY_OFFSET_DEG = -30.0     # front-left of the motion
RAIN_BAND_AMPLITUDE = 0.3
RAIN_BAND_PITCH_DEG = 15.0
RAIN_DRIZZLE_MM_H = 0.2
RAIN_LOCAL_SIGMA, RAIN_LOCAL_TAU_S = 0.35, 1800.0
RAIN_COUNTY_SIGMA, RAIN_COUNTY_TAU_S = 0.2, 3600.0

# --- sea --------------------------------------------------------------------------------------
MSL_M = 0.3                       # mean sea level on the 1985 national height datum
IB_M_PER_HPA = 0.01
IB_REFERENCE_HPA = 1013.0
RHO_WATER = 1025.0
GRAVITY = 9.81
SHELF_LENGTH_M = 60_000.0
SHELF_DEPTH_M = 15.0
SETDOWN_FACTOR = 0.5
SETUP_LAG_S = 3 * 3600.0
SEICHE_SIGMA_M, SEICHE_TAU_S = 0.03, 1800.0
# Points out at sea around the county; a tide station's open water lies toward the nearest one:
# Xiangshan Harbour's mouth, the open East China Sea, off Shipu, south of Hepu, and Sanmen Bay.
SEA_ANCHORS = (("harbour", 121.95, 29.75), ("east", 122.30, 29.40), ("southeast", 122.20, 29.10),
               ("south", 121.85, 28.90), ("sanmen", 121.65, 29.15))
ENCLOSED_ANCHORS = ("harbour", "sanmen")

# --- hydrology --------------------------------------------------------------------------------
BASE_FLOW_M3S_KM2 = 0.03
RATING_EXPONENT = 0.6
BIG_FLOOD_MM_H = 25.0             # rational-method intensity of the rating curve's anchor flood
DESIGN_FLOOD_MM_H = 60.0          # spillway sized to pass this catchment runoff at DSFLZ
WEIR_COEFFICIENT = 1.7            # m^0.5/s, broad-crested weir
CONTROLLED_RELEASE_M3S_KM2 = 0.06
RESERVOIR_SUBSTEPS = 3

KINDS = ("river", "reservoir", "tide", "rain", "weather", "camera")
KIND_METRICS: dict[str, tuple[str, ...]] = {
    "rain": ("rainfall",),
    "river": ("water_level", "rainfall", "flow"),
    "reservoir": ("water_level", "inflow", "outflow", "storage", "rainfall"),
    "tide": ("tide_level", "wave_height", "wind_speed"),
    "weather": ("wind_speed", "wind_dir", "pressure", "rainfall"),
    "camera": (),
}
METRIC_NAMES = tuple(dict.fromkeys(m for ms in KIND_METRICS.values() for m in ms))
THRESHOLD_KEYS = ("wrz", "grz", "fsltdz_meiyu", "fsltdz_typhoon", "dsflz", "ckflz", "dam_crest",
                  "capacity_1e6m3", "spillway_crest", "tide_blue", "tide_yellow", "tide_orange",
                  "tide_red", "seawall_crest")
_N_UNIFORMS = 8


@dataclass(frozen=True, eq=False)
class StationSet:
    """The stations as parallel numpy arrays (index i is one station), with derived model parameters.

    Thresholds are NaN where the source lacks them; derived parameters are NaN where they do not
    apply to the station's kind (e.g. ``catchment_km2`` of a tide gauge).
    """

    codes: np.ndarray                  # str
    kinds: np.ndarray                  # str
    lon: np.ndarray
    lat: np.ndarray
    elevation: np.ndarray              # m, 1985 datum
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
    flood_limit_level: np.ndarray      # the typhoon-season FSLTDZ (or its fallback)
    initial_level: np.ndarray
    # tide gauges: amplitudes (m) and Greenwich phase lags (deg) of M2, S2, K1, O1
    tide_amplitude: np.ndarray         # (n, 4)
    tide_phase_deg: np.ndarray         # (n, 4)
    shore_normal_deg: np.ndarray       # direction (toward, from north) pointing from the sea inland
    surge_factor: np.ndarray
    max_fetch_m: np.ndarray
    nearshore_depth_m: np.ndarray
    swell_factor: np.ndarray
    noise_keys: np.ndarray = field(repr=False)   # uint64 per station, for per-station noise streams

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

        Derived parameters (documented in the module docstring and below) come from the station's
        elevation and thresholds and from uniforms u0..u7 = blake2b(f"{seed}:{code}"), so the same
        file and seed always give the same county, and adding a station changes no other station.
        """
        feats = [f for f in fc.get("features", []) if f.get("properties", {}).get("kind") in KINDS]
        n = len(feats)
        props = [f["properties"] for f in feats]
        codes = np.array([str(p["code"]) for p in props], dtype=object)
        kinds = np.array([p["kind"] for p in props], dtype=object)
        lon = np.array([float(f["geometry"]["coordinates"][0]) for f in feats])
        lat = np.array([float(f["geometry"]["coordinates"][1]) for f in feats])
        elev = np.array([_num(p.get("elevation_m")) for p in props])
        thr = {k: np.array([_num(p.get(k)) for p in props]) for k in THRESHOLD_KEYS}
        u, keys = _uniforms(codes, seed)
        z = np.where(np.isfinite(elev), elev, 5.0)
        nan = np.full(n, np.nan)
        is_river, is_res, is_tide = kinds == "river", kinds == "reservoir", kinds == "tide"
        hydro = is_river | is_res

        orographic = 1.0 + 0.6 * (1.0 - np.exp(-np.maximum(z, 0.0) / 300.0))
        exposure = np.where(is_tide, 1.0, 0.82 + 0.18 * np.clip(z / 400.0, 0.0, 1.0))

        # Catchments: rivers 8–100 km² shrinking upstream; reservoirs scale with their capacity.
        cap = _fill(thr["capacity_1e6m3"], 0.2 + 2.0 * u[:, 5])
        area = np.where(is_river, (8.0 + 92.0 * u[:, 0]) * (0.35 + 0.65 * np.exp(-np.maximum(z, 0) / 40.0)),
                        (2.0 + 8.0 * cap ** 0.6) * (0.7 + 0.6 * u[:, 0]))
        area = np.where(hydro, area, nan)
        runoff = np.where(is_river, 0.55 + 0.25 * u[:, 1], 0.6 + 0.2 * u[:, 1])
        runoff = np.where(hydro, runoff, nan)
        k_s = 0.8 * area ** 0.35 * (0.8 + 0.4 * u[:, 2]) * 3600.0
        base = BASE_FLOW_M3S_KM2 * area

        # River rating curve.
        wrz = _fill(thr["wrz"], z - 1.5)
        grz = _fill(thr["grz"], wrz + 0.6)
        z_big = np.where(is_river, 0.5 * (wrz + grz), nan)
        z0 = np.where(is_river, wrz - (1.2 + 0.15 * np.sqrt(np.nan_to_num(area)) + 0.5 * u[:, 3]), nan)
        q_big = np.where(is_river, runoff * area * BIG_FLOOD_MM_H / 3.6 + base, nan)

        # Reservoir geometry and operation.
        crest = _fill(thr["dam_crest"], z)
        spill = _fill(_fill(thr["spillway_crest"], thr["fsltdz_meiyu"]), crest - 3.0)
        ck = _fill(thr["ckflz"], crest - 0.5)
        ck = np.maximum(ck, spill + 0.3)
        ds = _fill(thr["dsflz"], spill + 0.6 * (ck - spill))
        ds = np.maximum(ds, spill + 0.2)
        limit = _fill(_fill(thr["fsltdz_typhoon"], thr["fsltdz_meiyu"] - 0.5), spill - 1.0)
        limit = np.minimum(limit, spill)
        height = 12.0 + 6.0 * np.sqrt(cap) * (0.8 + 0.4 * u[:, 2])
        bed = np.where(is_res, np.minimum(crest - height, limit - 3.0), nan)
        q_design = runoff * area * DESIGN_FLOOD_MM_H / 3.6
        width = np.clip(q_design / (WEIR_COEFFICIENT * np.maximum(ds - spill, 0.3) ** 1.5), 3.0, 300.0)

        # Tide gauges: open water toward the nearest sea anchor.
        anchor_lon = np.array([a[1] for a in SEA_ANCHORS])
        anchor_lat = np.array([a[2] for a in SEA_ANCHORS])
        d_anchor = distance_km(lat[:, None], lon[:, None], anchor_lat[None, :], anchor_lon[None, :])
        nearest = np.argmin(d_anchor, axis=1) if n else np.zeros(0, dtype=int)
        enclosed = np.isin(np.array([a[0] for a in SEA_ANCHORS])[nearest], ENCLOSED_ANCHORS)
        east = (lon - anchor_lon[nearest]) * np.cos(np.radians(lat))
        north = lat - anchor_lat[nearest]
        normal = np.degrees(np.arctan2(east, north)) % 360.0   # from the sea toward the station
        m2 = 1.5 + 0.2 * u[:, 6] + 0.1 * enclosed
        amp = np.stack([m2, m2 * (0.35 + 0.05 * u[:, 7]), 0.28 + 0.06 * u[:, 4], 0.20 + 0.05 * u[:, 3]], axis=1)
        phase = np.array([280.0, 320.0, 210.0, 170.0])[None, :] + (15.0 * enclosed + 10.0 * (u[:, 5] - 0.5))[:, None]
        tide_rows = is_tide[:, None]

        return cls(
            codes=codes, kinds=kinds, lon=lon, lat=lat, elevation=elev, thresholds=thr,
            orographic_factor=orographic, wind_exposure=exposure,
            catchment_km2=area, runoff_coefficient=runoff,
            time_constant_s=np.where(hydro, k_s, nan), base_flow_m3s=np.where(hydro, base, nan),
            rating_z0=z0, rating_z_big=z_big, rating_q_big=q_big,
            bed_level=bed, storage_ref_level=np.where(is_res, ck, nan),
            storage_ref_m3=np.where(is_res, cap * 1e6, nan),
            storage_exponent=np.where(is_res, 2.4 + 0.4 * u[:, 3], nan),
            spillway_crest=np.where(is_res, spill, nan), spillway_width_m=np.where(is_res, width, nan),
            controlled_release_m3s=np.where(is_res, 0.3 + CONTROLLED_RELEASE_M3S_KM2 * area, nan),
            flood_limit_level=np.where(is_res, limit, nan),
            initial_level=np.where(is_res, limit - (0.15 + 0.45 * u[:, 4]), nan),
            tide_amplitude=np.where(tide_rows, amp, np.nan), tide_phase_deg=np.where(tide_rows, phase, np.nan),
            shore_normal_deg=np.where(is_tide, normal, nan),
            surge_factor=np.where(is_tide, np.where(enclosed, 1.3, 1.0), nan),
            max_fetch_m=np.where(is_tide, np.where(enclosed, 25_000.0, 100_000.0), nan),
            nearshore_depth_m=np.where(is_tide, 4.0 + 4.0 * u[:, 7], nan),
            swell_factor=np.where(is_tide, np.where(enclosed, 0.3, 1.0), nan),
            noise_keys=keys,
        )


@dataclass(frozen=True, eq=False)
class Readings:
    """What every station reads: ``values[metric]`` is (n_stations, n_times), NaN where not measured.

    ``diagnostics`` holds model internals for checks and plots: ``surge`` and ``astro_tide`` (m,
    tide gauges), ``distance_km`` (station to storm centre), ``rain_rate`` (mm/h).
    """

    codes: np.ndarray
    kinds: np.ndarray
    times: np.ndarray                  # datetime64[s], UTC
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


def holland_parameters(dp_hpa: np.ndarray | float,
                       lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Rmax km, Holland B, Coriolis parameter 1/s) of a storm with pressure deficit ``dp_hpa`` at ``lat``:
    Vickery & Wadhera (2008), clipped to the ranges in the module docstring."""
    phi = np.abs(np.asarray(lat, dtype=float))
    dp = np.asarray(dp_hpa, dtype=float)
    rmax = np.clip(np.exp(3.015 - 6.291e-5 * dp ** 2 + 0.0337 * phi), 15.0, 100.0)
    b = np.clip(1.881 - 0.00557 * rmax - 0.01295 * phi, 0.8, 2.2)
    fcor = 2 * OMEGA * np.sin(np.radians(np.maximum(phi, 5.0)))
    return rmax, b, fcor


def symmetric_surface_wind_ms(r_km: np.ndarray | float, pressure_hpa: float, lat: float) -> np.ndarray:
    """The model's surface wind at ``r_km`` from the centre, without the motion, the gusts and the
    station's exposure: SURFACE_REDUCTION × the Holland gradient wind (what open water feels)."""
    dp = max(ENV_PRESSURE_HPA - pressure_hpa, 1.0)
    rmax, b, fcor = holland_parameters(dp, lat)
    r_km = np.maximum(np.asarray(r_km, dtype=float), 1.0)
    a = (rmax / r_km) ** b
    half_rf = 0.5 * r_km * 1000.0 * fcor
    vg = np.sqrt(b / RHO_AIR * a * dp * 100.0 * np.exp(-a) + half_rf ** 2) - half_rf
    return SURFACE_REDUCTION * vg


def wind_radii_km(pressure_hpa: float | None, max_wind_ms: float | None,
                  lat: float) -> tuple[float | None, float | None, float | None]:
    """(r7, r10, r12): how far from the centre the model's symmetric surface wind (see
    :func:`symmetric_surface_wind_ms`) stays at force 7 (≥ 13.9 m/s), 10 (≥ 24.5) and 12 (≥ 32.7), km,
    as the CMA gives wind radii. None where the storm's max wind (the fix's own) or the model's peak is
    below the force, or without a central pressure. The translation speed is left out (symmetric circles)."""
    if pressure_hpa is None or max_wind_ms is None or not (np.isfinite(pressure_hpa) and np.isfinite(max_wind_ms)):
        return None, None, None
    wind = symmetric_surface_wind_ms(_RADII_GRID_KM, pressure_hpa, lat)
    peak = int(np.argmax(wind))
    outside_r, outside_wind = _RADII_GRID_KM[peak:][::-1], wind[peak:][::-1]     # increasing wind inward
    radii: list[float | None] = []
    for threshold in WIND_FORCE_MS.values():
        if max_wind_ms < threshold or wind[peak] < threshold:
            radii.append(None)
            continue
        radii.append(round(float(np.interp(threshold, outside_wind, outside_r)), 1))
    return radii[0], radii[1], radii[2]


def simulate(stations: StationSet, track: Track, times: np.ndarray, seed: int = 0) -> Readings:
    """Run the hazard model for ``track`` at ``times`` (datetime64, regular cadence, UTC)."""
    times = np.asarray(times).astype("datetime64[s]")
    if times.ndim != 1 or len(times) == 0:
        raise ValueError("times must be a non-empty 1-D datetime64 array")
    epoch = times.astype(np.int64).astype(float)
    n, nt = len(stations), len(times)
    dt = np.diff(epoch, prepend=epoch[0] - (np.median(np.diff(epoch)) if nt > 1 else 300.0))
    if np.any(dt <= 0):
        raise ValueError("times must be strictly increasing")
    noise = _Noise(stations.noise_keys, seed, nt)

    storm = track.sample(times)
    t0, t1 = track.start.timestamp(), track.end.timestamp()
    fade = np.exp(-np.maximum(np.maximum(t0 - epoch, epoch - t1), 0.0) / STORM_FADE_S)
    dp = np.maximum(ENV_PRESSURE_HPA - storm.pressure_hpa, 1.0) * fade                  # hPa, (nt,)
    rmax, b, fcor = holland_parameters(dp, storm.lat)

    # Geometry station × time: r (km) and the unit vector from the centre to the station.
    lat_s, lon_s = stations.lat[:, None], stations.lon[:, None]
    r_km = np.maximum(distance_km(lat_s, lon_s, storm.lat[None, :], storm.lon[None, :]), 1.0)
    ex = (lon_s - storm.lon[None, :]) * np.cos(np.radians(0.5 * (lat_s + storm.lat[None, :])))
    ey = lat_s - storm.lat[None, :]
    norm = np.maximum(np.hypot(ex, ey), 1e-9)
    ex, ey = ex / norm, ey / norm

    # Pressure and gradient wind (Holland 1980).
    a = (rmax[None, :] / r_km) ** b[None, :]
    ea = np.exp(-a)
    pressure_slp = (ENV_PRESSURE_HPA - dp)[None, :] + dp[None, :] * ea
    r_m = r_km * 1000.0
    half_rf = 0.5 * r_m * fcor[None, :]
    vg = np.sqrt(b[None, :] / RHO_AIR * a * dp[None, :] * 100.0 * ea + half_rf ** 2) - half_rf
    vg_max = np.sqrt(b * dp * 100.0 / (RHO_AIR * np.e))
    vs = SURFACE_REDUCTION * vg
    alpha = np.radians(INFLOW_ANGLE_DEG)
    # Counter-clockwise tangential (−ey, ex), turned inward by the inflow angle.
    u = vs * (-ey * np.cos(alpha) - ex * np.sin(alpha))
    v = vs * (ex * np.cos(alpha) - ey * np.sin(alpha))
    rot = np.radians(TRANSLATION_ROTATION_DEG)
    vte = storm.velocity_east_ms * np.cos(rot) - storm.velocity_north_ms * np.sin(rot)
    vtn = storm.velocity_east_ms * np.sin(rot) + storm.velocity_north_ms * np.cos(rot)
    taper = TRANSLATION_FACTOR * np.clip(vg / np.maximum(vg_max[None, :], 1e-6), 0.0, 1.0)
    u = (u + taper * vte[None, :] * fade[None, :]) * stations.wind_exposure[:, None]
    v = (v + taper * vtn[None, :] * fade[None, :]) * stations.wind_exposure[:, None]
    gust = np.exp(GUST_SIGMA * noise.ar1(0, GUST_TAU_S, dt) - 0.5 * GUST_SIGMA ** 2)
    u, v = u * gust, v * gust
    wind_speed = np.hypot(u, v)
    wind_dir = np.degrees(np.arctan2(-u, -v)) % 360.0
    hour_local = ((epoch / 3600.0) + 8.0) % 24.0
    pressure = (pressure_slp + ATMOS_TIDE_HPA * np.cos(2 * np.pi * (hour_local - 10.0) / 12.0)[None, :]
                + PRESSURE_NOISE_HPA * noise.ar1(1, 900.0, dt))

    # Rain.
    vmax = storm.wind_ms * fade
    peak = np.clip(6.0 + 0.6 * (vmax - 17.0), 5.0, 60.0) * fade
    rm = rmax[None, :]
    radial = np.where(r_km < rm, RAIN_EYE_FRACTION + (1 - RAIN_EYE_FRACTION) * r_km / rm,
                      RAIN_CORE_FRACTION * np.exp(-(r_km - rm) / RAIN_CORE_E_FOLD_KM)
                      + (1 - RAIN_CORE_FRACTION) * np.exp(-(r_km - rm) / RAIN_BAND_E_FOLD_KM))
    speed_t = np.hypot(storm.velocity_east_ms, storm.velocity_north_ms)
    motion = np.arctan2(storm.velocity_east_ms, storm.velocity_north_ms)   # bearing, radians
    bearing = np.arctan2(ex, ey)
    asym = 1.0 + RAIN_ASYMMETRY * np.clip(speed_t / 5.0, 0.0, 1.0)[None, :] * np.cos(
        bearing - motion[None, :] - np.radians(RAIN_ASYMMETRY_OFFSET_DEG))
    theta = np.arctan2(ey, ex)
    spiral = theta + np.log(r_km / rm) / np.tan(np.radians(RAIN_BAND_PITCH_DEG))
    bands = 1.0 + RAIN_BAND_AMPLITUDE * np.clip((r_km / rm - 1.0), 0.0, 1.0) * np.cos(2.0 * spiral)
    rain_noise = np.exp(RAIN_LOCAL_SIGMA * noise.ar1(2, RAIN_LOCAL_TAU_S, dt) - 0.5 * RAIN_LOCAL_SIGMA ** 2
                        + RAIN_COUNTY_SIGMA * noise.county_ar1(RAIN_COUNTY_TAU_S, dt)[None, :]
                        - 0.5 * RAIN_COUNTY_SIGMA ** 2)
    rate = peak[None, :] * radial * asym * bands * stations.orographic_factor[:, None] * rain_noise
    rate = np.maximum(rate - RAIN_DRIZZLE_MM_H, 0.0)
    rainfall = rate * dt[None, :] / 3600.0

    values: dict[str, np.ndarray] = {m: np.full((n, nt), np.nan) for m in METRIC_NAMES}
    diagnostics: dict[str, np.ndarray] = {"distance_km": r_km, "rain_rate": rate}
    has = {m: np.isin(stations.kinds, [k for k, ms in KIND_METRICS.items() if m in ms]) for m in METRIC_NAMES}
    values["rainfall"][has["rainfall"]] = rainfall[has["rainfall"]]
    values["wind_speed"][has["wind_speed"]] = wind_speed[has["wind_speed"]]
    values["wind_dir"][has["wind_dir"]] = wind_dir[has["wind_dir"]]
    values["pressure"][has["pressure"]] = pressure[has["pressure"]]

    _sea(stations, stations.mask("tide"), epoch, dt, u, v, wind_speed, pressure_slp, r_km, dp, noise,
         values, diagnostics)
    _hydrology(stations, rainfall, dt, values)

    for name, arr in values.items():
        np.clip(arr, METRICS[name].low, METRICS[name].high, out=arr)
    return Readings(codes=stations.codes, kinds=stations.kinds, times=times, values=values,
                    diagnostics=diagnostics)


def astronomical_tide(amplitude: np.ndarray, phase_deg: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """M2 + S2 + K1 + O1 (m), amplitude/phase (n, 4) Greenwich lags, ``epoch`` UTC seconds (nt,)."""
    tc = (epoch - 946_728_000.0) / (36525.0 * 86400.0)        # Julian centuries since J2000.0
    s = 218.3164 + 481267.8812 * tc                         # Moon's mean longitude
    h = 280.4661 + 36000.7698 * tc                          # Sun's mean longitude
    nn = np.radians(125.0445 - 1934.1363 * tc)              # longitude of the Moon's ascending node
    hour_angle = 180.0 + 15.0 * ((epoch % 86400.0) / 3600.0)  # mean solar time at Greenwich
    v0 = np.stack([2 * hour_angle - 2 * s + 2 * h, 2 * hour_angle,
                   hour_angle + h + 90.0, hour_angle - 2 * s + h - 90.0])
    f = np.stack([1.0004 - 0.0373 * np.cos(nn) + 0.0002 * np.cos(2 * nn), np.ones_like(nn),
                  1.0060 + 0.1150 * np.cos(nn) - 0.0088 * np.cos(2 * nn) + 0.0006 * np.cos(3 * nn),
                  1.0089 + 0.1871 * np.cos(nn) - 0.0147 * np.cos(2 * nn) + 0.0014 * np.cos(3 * nn)])
    uu = np.stack([-2.14 * np.sin(nn), np.zeros_like(nn),
                   -8.86 * np.sin(nn) + 0.68 * np.sin(2 * nn) - 0.07 * np.sin(3 * nn),
                   10.80 * np.sin(nn) - 1.34 * np.sin(2 * nn) + 0.19 * np.sin(3 * nn)])
    arg = np.radians((v0 + uu)[None, :, :] - phase_deg[:, :, None])
    return np.sum(amplitude[:, :, None] * f[None, :, :] * np.cos(arg), axis=1)


def _sea(st: StationSet, tide: np.ndarray, epoch: np.ndarray, dt: np.ndarray, u: np.ndarray, v: np.ndarray,
         speed: np.ndarray, pressure_slp: np.ndarray, r_km: np.ndarray, dp: np.ndarray, noise: _Noise,
         values: dict[str, np.ndarray], diagnostics: dict[str, np.ndarray]) -> None:
    n, nt = u.shape
    surge_all = np.full((n, nt), np.nan)
    astro_all = np.full((n, nt), np.nan)
    diagnostics["surge"], diagnostics["astro_tide"] = surge_all, astro_all
    if not tide.any():
        return
    uu, vv, spd = u[tide], v[tide], speed[tide]
    normal = np.radians(st.shore_normal_deg[tide])[:, None]
    onshore = uu * np.sin(normal) + vv * np.cos(normal)              # wind component toward land, m/s
    cd = np.clip((0.8 + 0.065 * spd) * 1e-3, 1e-3, 2.5e-3)           # Wu (1982)
    stress = RHO_AIR * cd * spd * onshore
    setup_eq = stress * SHELF_LENGTH_M / (RHO_WATER * GRAVITY * SHELF_DEPTH_M)
    setup_eq = np.where(setup_eq < 0, SETDOWN_FACTOR * setup_eq, setup_eq) * st.surge_factor[tide][:, None]
    setup = np.empty_like(setup_eq)
    decay = np.exp(-dt / SETUP_LAG_S)
    level = setup_eq[:, 0].copy()
    for j in range(nt):
        level = level * decay[j] + setup_eq[:, j] * (1.0 - decay[j])
        setup[:, j] = level
    surge = IB_M_PER_HPA * (IB_REFERENCE_HPA - pressure_slp[tide]) + setup
    astro = astronomical_tide(st.tide_amplitude[tide], st.tide_phase_deg[tide], epoch)
    seiche = SEICHE_SIGMA_M * noise.ar1(3, SEICHE_TAU_S, dt)[tide]
    level_total = MSL_M + astro + surge + seiche
    surge_all[tide], astro_all[tide] = surge, astro
    values["tide_level"][tide] = level_total

    fetch = 5_000.0 + (st.max_fetch_m[tide][:, None] - 5_000.0) * np.clip(onshore / np.maximum(spd, 0.1), 0, 1) ** 2
    sea = 0.0016 * spd * np.sqrt(fetch / GRAVITY)
    sea = np.minimum(sea, 0.0248 * spd ** 2)
    swell = st.swell_factor[tide][:, None] * (0.15 + 3.0 * (dp[None, :] / 50.0) * np.exp(-r_km[tide] / 500.0))
    depth = np.maximum(st.nearshore_depth_m[tide][:, None] + level_total, 0.5)
    values["wave_height"][tide] = np.minimum(np.hypot(sea, swell), 0.55 * depth)


def _hydrology(st: StationSet, rainfall: np.ndarray, dt: np.ndarray, values: dict[str, np.ndarray]) -> None:
    hydro = st.mask("river", "reservoir")
    if not hydro.any():
        return
    nt = rainfall.shape[1]
    area, c, k, base = (st.catchment_km2[hydro], st.runoff_coefficient[hydro], st.time_constant_s[hydro],
                        st.base_flow_m3s[hydro])
    # mm per interval × km² → m³/s over the interval: P/1000 · A·1e6 / dt
    forcing = c[:, None] * area[:, None] * rainfall[hydro] * 1000.0 / dt[None, :]
    runoff = np.empty_like(forcing)
    q = np.zeros(len(area))
    for j in range(nt):
        decay = np.exp(-dt[j] / k)
        q = q * decay + forcing[:, j] * (1.0 - decay)
        runoff[:, j] = q
    flow = runoff + base[:, None]

    river = st.mask("river")
    if river.any():
        q_r = flow[river[hydro]]
        z0, zb, qb = st.rating_z0[river][:, None], st.rating_z_big[river][:, None], st.rating_q_big[river][:, None]
        values["flow"][river] = q_r
        values["water_level"][river] = z0 + (zb - z0) * (q_r / qb) ** RATING_EXPONENT

    res = st.mask("reservoir")
    if res.any():
        inflow = flow[res[hydro]]
        z_bed, z_ref = st.bed_level[res], st.storage_ref_level[res]
        v_ref, m = st.storage_ref_m3[res], st.storage_exponent[res]
        crest, width = st.spillway_crest[res], st.spillway_width_m[res]
        q_ctrl, limit = st.controlled_release_m3s[res], st.flood_limit_level[res]
        span = z_ref - z_bed

        def volume(z: np.ndarray) -> np.ndarray:
            return v_ref * (np.maximum(z - z_bed, 0.0) / span) ** m

        def level(vol: np.ndarray) -> np.ndarray:
            return z_bed + span * (np.maximum(vol, 1.0) / v_ref) ** (1.0 / m)

        def release(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            head = np.maximum(z - crest, 0.0)
            weir = WEIR_COEFFICIENT * width * head ** 1.5
            gate = q_ctrl * np.clip(0.15 + 0.85 * (z - limit + 0.2) / 0.2, 0.15, 1.0)
            d_weir = 1.5 * WEIR_COEFFICIENT * width * np.sqrt(head)
            return weir + gate, d_weir

        vol = volume(st.initial_level[res])
        out = np.empty_like(inflow)
        z_out = np.empty_like(inflow)
        v_out = np.empty_like(inflow)
        for j in range(nt):
            h = dt[j] / RESERVOIR_SUBSTEPS
            for _ in range(RESERVOIR_SUBSTEPS):
                z = level(vol)
                o, dodz = release(z)
                dvdz = np.maximum(m * vol / np.maximum(z - z_bed, 1e-3), 1.0)
                vol = np.maximum(vol + h * (inflow[:, j] - o) / (1.0 + h * dodz / dvdz), 1.0)
            z = level(vol)
            z_out[:, j], v_out[:, j] = z, vol
            out[:, j] = release(z)[0]
        values["inflow"][res] = inflow
        values["outflow"][res] = out
        values["storage"][res] = v_out / 1e6
        values["water_level"][res] = z_out


class _Noise:
    """Seeded AR(1) noise, one independent stream per station (keyed by code) and one for the county."""

    def __init__(self, keys: np.ndarray, seed: int, nt: int) -> None:
        self._draws = np.empty((4, len(keys), nt))
        for i, key in enumerate(keys):
            rng = np.random.default_rng([seed & 0xFFFFFFFF, int(key) & 0xFFFFFFFF, int(key) >> 32])
            self._draws[:, i, :] = rng.standard_normal((4, nt))
        self._county = np.random.default_rng([seed & 0xFFFFFFFF, 0xC0FFEE]).standard_normal(nt)

    def ar1(self, stream: int, tau_s: float, dt: np.ndarray) -> np.ndarray:
        return _ar1(self._draws[stream], tau_s, dt)

    def county_ar1(self, tau_s: float, dt: np.ndarray) -> np.ndarray:
        return _ar1(self._county[None, :], tau_s, dt)[0]


def _ar1(white: np.ndarray, tau_s: float, dt: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) (Ornstein–Uhlenbeck sampled at ``dt``) driven by ``white`` (n, nt)."""
    rho = np.exp(-dt / tau_s)
    scale = np.sqrt(1.0 - rho ** 2)
    out = np.empty_like(white)
    x = white[:, 0].copy()
    out[:, 0] = x
    for j in range(1, white.shape[1]):
        x = rho[j] * x + scale[j] * white[:, j]
        out[:, j] = x
    return out


def _uniforms(codes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.empty((len(codes), _N_UNIFORMS))
    keys = np.empty(len(codes), dtype=np.uint64)
    for i, code in enumerate(codes):
        digest = hashlib.blake2b(f"{seed}:{code}".encode(), digest_size=2 * _N_UNIFORMS + 8).digest()
        words = np.frombuffer(digest[: 2 * _N_UNIFORMS], dtype=">u2")
        u[i] = (words.astype(float) + 0.5) / 65536.0
        keys[i] = int.from_bytes(digest[2 * _N_UNIFORMS:], "big")
    return u, keys


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out if np.isfinite(out) else float("nan")


def _fill(values: np.ndarray, fallback: np.ndarray | float) -> np.ndarray:
    return np.where(np.isfinite(values), values, fallback)


__all__ = ["KIND_METRICS", "METRIC_NAMES", "WIND_FORCE_MS", "Readings", "StationSet", "astronomical_tide",
           "holland_parameters", "simulate", "symmetric_surface_wind_ms", "wind_radii_km"]
