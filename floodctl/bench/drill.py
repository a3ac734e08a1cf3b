"""``floodctl bench drill``: a 72-hour storm over 2,000 stations at 5-minute cadence.

The sample county's 162 stations are replicated (new codes, positions jittered inside the county)
to the requested count; the In-Fa drill is generated for them (hazard model + messages) and
published with QoS 1 to a throw-away Mosquitto by several publisher processes (forked, so the
plan is shared, not copied). Generation and publishing are timed separately; ingest is not part of
this figure (``bench ingest`` measures it).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from floodctl.core.embedded.broker import start_broker
from gis_data import loader
from simulators import drill as drills
from simulators.publisher import Publisher

TARGET_S = 120.0
PUBLISHERS = 4
_PLAN: drills.DrillPlan | None = None  # shared with forked publishers


def replicate_stations(count: int, seed: int = 0) -> dict[str, Any]:
    """``count`` stations modelled on the sample: same kinds and thresholds, new codes and places."""
    sample = json.loads(loader.DEFAULT_STATIONS.read_text(encoding="utf-8"))["features"]
    rng = np.random.default_rng(seed)
    features = []
    for i in range(count):
        base = sample[i % len(sample)]
        lon, lat = base["geometry"]["coordinates"]
        props = dict(base["properties"], code=f"X{i:07d}")
        if i >= len(sample):
            lon, lat = lon + rng.normal(0, 0.01), lat + rng.normal(0, 0.01)
        features.append(
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}
        )
    return {"type": "FeatureCollection", "features": features}


def _publish_share(url: str, share: int, shares: int, out: Any) -> None:
    assert _PLAN is not None
    mine = [m for m in _PLAN.messages if zlib.crc32(m.station.encode()) % shares == share]
    with Publisher(url, f"bench-drill-{uuid.uuid4().hex[:6]}", window=drills.PUBLISH_WINDOW) as pub:
        drills.publish_messages(pub, mine, 1, speed=None)
    out.put(len(mine))


def run_bench_drill(*, stations: int, hours: int, as_json: bool, console: Console) -> dict[str, Any]:
    global _PLAN
    figures: dict[str, Any] = {"stations": stations, "hours": hours}
    directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-drill-"))
    broker = start_broker(directory / "mqtt")
    try:
        fc = replicate_stations(stations)
        with console.status("generating the drill…"):
            t0 = time.perf_counter()
            _PLAN = drills.plan_drill("in-fa-2106", fc, seed=0, faults="none", n_times=hours * 12)
            figures["generate_s"] = round(time.perf_counter() - t0, 2)
        figures["messages"] = len(_PLAN.messages)
        figures["readings"] = _PLAN.readings
        console.print(
            f"bench drill: {stations:,} stations × {hours} h at 5 min: {len(_PLAN.messages):,} messages, "
            f"{_PLAN.readings:,} readings, generated in {figures['generate_s']} s"
        )
        with console.status(f"publishing with {PUBLISHERS} processes…"):
            ctx = mp.get_context("fork")
            out = ctx.Queue()
            t0 = time.perf_counter()
            procs = [
                ctx.Process(target=_publish_share, args=(broker.url, i, PUBLISHERS, out)) for i in range(PUBLISHERS)
            ]
            for proc in procs:
                proc.start()
            published = sum(out.get() for _ in procs)
            for proc in procs:
                proc.join()
            figures["publish_s"] = round(time.perf_counter() - t0, 2)
        figures["published"] = published
        figures["total_s"] = round(figures["generate_s"] + figures["publish_s"], 2)
        figures["generate_msgs_per_s"] = round(len(_PLAN.messages) / figures["generate_s"])
        figures["publish_msgs_per_s"] = round(published / figures["publish_s"])
        figures["target_s"] = TARGET_S
        figures["within_target"] = figures["total_s"] <= TARGET_S
    finally:
        _PLAN = None
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)
    console.print(
        f"  generate {figures['generate_s']:>7} s  ({figures['generate_msgs_per_s']:,} msg/s)\n"
        f"  publish  {figures['publish_s']:>7} s  ({figures['publish_msgs_per_s']:,} msg/s, QoS 1, "
        f"{PUBLISHERS} processes)\n"
        f"  total    {figures['total_s']:>7} s  (target ≤ {TARGET_S:.0f} s: "
        f"{'met' if figures['within_target'] else 'missed'})"
    )
    if as_json:
        print(json.dumps(figures))
    return figures
