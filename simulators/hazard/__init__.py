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

    stations.py   the stations as arrays, with the derived parameters
    storm.py      the storm relative to every station: distance, bearing, Holland parameters
    wind.py       pressure and wind; the wind radii
    rain.py       rain rate
    sea.py        tide, surge and waves
    hydrology.py  rivers and reservoirs
    noise.py      the seeded AR(1) noise streams
    model.py      ``simulate``: all of the above, in order, into :class:`Readings`
"""

from simulators.hazard.model import METRIC_NAMES, Readings, simulate
from simulators.hazard.sea import astronomical_tide
from simulators.hazard.stations import StationSet
from simulators.hazard.storm import holland_parameters
from simulators.hazard.wind import WIND_FORCE_MS, symmetric_surface_wind_ms, wind_radii_km

__all__ = [
    "METRIC_NAMES",
    "WIND_FORCE_MS",
    "Readings",
    "StationSet",
    "astronomical_tide",
    "holland_parameters",
    "simulate",
    "symmetric_surface_wind_ms",
    "wind_radii_km",
]
