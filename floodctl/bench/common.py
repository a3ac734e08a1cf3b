"""What the benchmarks share: timing a call several times, summarising the samples, serving floodctl
as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from floodctl.core.errors import ServiceUnavailable
from floodctl.core.net import free_port

WARMUP = 3  # untimed runs of each query first


SERVER_START_TIMEOUT_S = 60.0


def summarize(samples_ms: Sequence[float], target_ms: float | None = None) -> dict[str, Any]:
    """median / p90 / min / max of a list of milliseconds, with the ratio median/target when there is one."""
    values = np.asarray(samples_ms, dtype=float)
    out: dict[str, Any] = {
        "n": int(values.size),
        "median_ms": round(float(np.median(values)), 2),
        "p90_ms": round(float(np.percentile(values, 90)), 2),
        "min_ms": round(float(values.min()), 2),
        "max_ms": round(float(values.max()), 2),
    }
    if target_ms is not None:
        out["target_ms"] = target_ms
        out["ratio"] = round(out["median_ms"] / target_ms, 3)
    return out


def time_calls(call: Callable[[int], object], repeat: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of ``repeat`` timed calls, after ``warmup`` untimed ones; ``call`` gets the call's index
    (0 … warmup + repeat - 1), e.g. to pick a different station each time."""
    for i in range(warmup):
        call(i)
    out = []
    for i in range(warmup, warmup + repeat):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


@contextmanager
def serve_floodctl(dsn: str, directory: Path) -> Iterator[str]:
    """``floodctl serve`` on a free loopback port as a child process (as in production: its own interpreter,
    uvicorn's own listening socket), reads open to anonymous viewers; yields its base URL once /healthz
    answers. Runs in ``directory`` (its output in ``serve.log`` there) with no FLOOD_* setting inherited
    (no .env, no production settings)."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {
        "FLOOD_DATABASE_URL": dsn,
        "FLOOD_DATA_DIR": str(directory / "var"),
        "FLOOD_ENVIRONMENT": "development",
        "FLOOD_ANONYMOUS_READ": "true",
        "FLOOD_LOG_LEVEL": "WARNING",
    }
    log = directory / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "floodctl", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=directory,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                last = (log.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
                raise ServiceUnavailable(
                    f"floodctl serve exited with status {process.returncode} while starting: {last[:300]}"
                )
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"floodctl serve did not answer on {base} in {SERVER_START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
