"""``floodctl bench broadcast`` at a small size: its SMS go through draft → approve → outbox (every
recipient a town's roster person, texted with a signed link by the approval), each exactly once at the
gateway. No timing threshold: the figures are the bench's to print."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_broadcast_sends_every_recipient_through_approval_once() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOD_")} | {"COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "floodctl", "bench", "broadcast", "--recipients", "1200", "--rate", "2000", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # 1,200 towns of one primary each: three orders (at most 500 towns each, as the API allows), approved.
    assert figures["recipients"] == 1200 and figures["orders"] == 3 and figures["towns"] == 1200
    assert figures["approved_orders"] == 3 and figures["deliveries"] == 1200
    assert figures["ack_links"] == 1200  # written by the approval, one per SMS
    assert figures["gateway_messages"] == 1200 and figures["duplicates"] == 0 and figures["missing"] == 0
    assert figures["failed"] == 0 and figures["sent"] == 1200
    assert figures["elapsed_s"] > 0 and figures["rate_msg_s"] > 0 and figures["approve_s"] > 0
    assert "draft → approve → outbox" in done.stdout
