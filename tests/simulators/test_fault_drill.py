"""The bounded fault drill (``floodctl drill faults --quick``), end to end as an operator runs it: an
In-Fa replay on a throw-away stack while every component is killed -9 in turn, the database and the
broker restart, the SMS gateway answers 503/429 and a station's clock jumps; every invariant must hold
and every fault be recovered from without a hand on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.fault_drill.invariants import missed_warnings

INVARIANTS = (
    "every acknowledged reading stored once",
    "every warning the readings imply raised",
    "every approved order delivered once per recipient and channel",
    "no forged acknowledgement accepted",
    "back to normal without a hand on it",
)


@pytest.mark.slow
def test_the_quick_fault_drill_holds_every_invariant(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")}
    done = subprocess.run(
        [sys.executable, "-m", "floodctl", "drill", "faults", "--quick"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "240", "FLOOD_DATA_DIR": str(tmp_path / "var")},
        cwd=tmp_path,
        timeout=900,
    )
    out = done.stdout
    print(out[-6000:])  # the table, in the test log
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert "BROKEN" not in out and "not recovered" not in out
    for name in INVARIANTS:
        assert any(name in line and "holds" in line for line in out.splitlines()), name
    for fault in (
        "kill -9 ingest worker",
        "kill -9 API",
        "kill -9 active alerts",
        "kill -9 device gateways",
        "database restart",
        "SMS gateway 503/429",
        "broker restart",
        "station clock +1 day",
    ):
        assert fault in out, fault


def test_a_warning_missing_or_below_its_implied_level_is_missed() -> None:
    """The reference judge and the stored warnings compare by level rank; no warning at all ranks below blue."""
    implied = {("r1", "A"): "blue", ("r1", "B"): "yellow", ("r2", "A"): "red", ("r2", "B"): "orange"}
    raised = {("r1", "B"): "blue", ("r2", "A"): "red", ("r2", "B"): "red", ("r3", "C"): "yellow"}
    assert missed_warnings(implied, raised) == [("r1", "A"), ("r1", "B")]
    assert missed_warnings(implied, implied) == []
    assert missed_warnings({}, raised) == []
