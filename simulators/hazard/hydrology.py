"""Rivers and reservoirs in the hazard model: catchment runoff, river stage, reservoir mass balance.

Runoff is a linear reservoir, river stage a power rating, and a reservoir's outflow a free weir over the
spillway crest plus a controlled release.
"""

from __future__ import annotations

import numpy as np

from simulators.hazard.stations import WEIR_COEFFICIENT, StationSet

RATING_EXPONENT = 0.6
RESERVOIR_SUBSTEPS = 3


def rivers_and_reservoirs(st: StationSet, rainfall: np.ndarray, dt: np.ndarray, values: dict[str, np.ndarray]) -> None:
    """Fill ``flow`` and ``water_level`` of the rivers, and ``inflow``, ``outflow``, ``storage`` and
    ``water_level`` of the reservoirs, from the rain on their catchments (``rainfall`` mm per interval)."""
    hydro = st.mask("river", "reservoir")
    if not hydro.any():
        return
    flow = _catchment_flow(st, hydro, rainfall, dt)
    river = st.mask("river")
    if river.any():
        q_r = flow[river[hydro]]
        z0, zb, qb = st.rating_z0[river][:, None], st.rating_z_big[river][:, None], st.rating_q_big[river][:, None]
        values["flow"][river] = q_r
        values["water_level"][river] = z0 + (zb - z0) * (q_r / qb) ** RATING_EXPONENT
    res = st.mask("reservoir")
    if res.any():
        _reservoirs(st, res, flow[res[hydro]], dt, values)


def _catchment_flow(st: StationSet, hydro: np.ndarray, rainfall: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Flow (m³/s) out of each catchment of ``hydro``: linear-reservoir runoff plus base flow."""
    nt = rainfall.shape[1]
    area, c, k, base = (
        st.catchment_km2[hydro],
        st.runoff_coefficient[hydro],
        st.time_constant_s[hydro],
        st.base_flow_m3s[hydro],
    )
    # mm per interval × km² → m³/s over the interval: P/1000 · A·1e6 / dt
    forcing = c[:, None] * area[:, None] * rainfall[hydro] * 1000.0 / dt[None, :]
    runoff = np.empty_like(forcing)
    q = np.zeros(len(area))
    for j in range(nt):
        decay = np.exp(-dt[j] / k)
        q = q * decay + forcing[:, j] * (1.0 - decay)
        runoff[:, j] = q
    flow: np.ndarray = runoff + base[:, None]
    return flow


def _reservoirs(
    st: StationSet, res: np.ndarray, inflow: np.ndarray, dt: np.ndarray, values: dict[str, np.ndarray]
) -> None:
    """Mass balance dV/dt = I − O of the reservoirs ``res``, semi-implicit, RESERVOIR_SUBSTEPS per reading."""
    nt = inflow.shape[1]
    z_bed, z_ref = st.bed_level[res], st.storage_ref_level[res]
    v_ref, m = st.storage_ref_m3[res], st.storage_exponent[res]
    crest, width = st.spillway_crest[res], st.spillway_width_m[res]
    q_ctrl, limit = st.controlled_release_m3s[res], st.flood_limit_level[res]
    span = z_ref - z_bed

    def volume(z: np.ndarray) -> np.ndarray:
        stored: np.ndarray = v_ref * (np.maximum(z - z_bed, 0.0) / span) ** m
        return stored

    def level(vol: np.ndarray) -> np.ndarray:
        z: np.ndarray = z_bed + span * (np.maximum(vol, 1.0) / v_ref) ** (1.0 / m)
        return z

    def release(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        head = np.maximum(z - crest, 0.0)
        weir = WEIR_COEFFICIENT * width * head**1.5
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
