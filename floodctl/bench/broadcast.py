"""``floodctl bench broadcast``: one drill order's SMS to N recipients through a rate-limited gateway.

Everything runs on this machine, in one run: a throw-away PostgreSQL cluster (durable settings:
fsync on) holding one approved drill order with N SMS deliveries, and the Twilio-compatible gateway
stub in a child process of its own (so its work does not share the dispatcher's interpreter),
limited to ``--rate`` messages a second (429 beyond that). The dispatcher, with its token bucket set
to the same rate, drains the outbox.

Status callbacks are off (the bench's public URL is not loopback, which the stub never calls): they
are the API's load, and on two cores they would compete with the dispatcher. The stub process's CPU
use is reported beside the dispatcher's, to show which side was the bottleneck.

Figures: elapsed time from the dispatcher's start to the last ``sent_at``, the achieved rate and its
ratio to the gateway's limit (target ≥ 0.95), the 429s the gateway answered, duplicates (the stub's
messages per number beyond one) and numbers that got nothing, and failed deliveries.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from floodctl.db.migrate import migrate
from floodctl.embedded.postgres import LocalCluster
from floodctl.errors import ServiceUnavailable
from floodctl.net import free_port, wait_for_port
from floodctl.settings import Settings

SID = "AC" + "b" * 32
TOKEN = "bench-stub-token"
TOWN = "330225100"
POLL_S = 0.25
READY_TIMEOUT_S = 30.0
# Our public_url in the bench: not loopback, so the stub does not call it (it never calls anything but
# loopback). Status callbacks are the API's load, not the dispatcher's; on two cores they would compete.
NO_CALLBACKS = "http://192.0.2.1"   # TEST-NET-1: never routed

ORDER_SQL = """
INSERT INTO orders (drill_id, msg_type, status, hazard, level, order_no, title_zh, body_zh, title_en, body_en,
                    sms_zh, led_zh, speaker_zh, towns, channels, source, drafted_by, approved_by, approved_at,
                    ack_deadline_s, resend_after_s)
VALUES (%s, 'alert', 'approved', 'typhoon', 'red', '象防指〔演练〕1号', '【演练】台风红色预警', '【演练】请立即转移',
        'Drill: typhoon red warning', 'Drill: evacuate now', '【演练】请立即转移', '【演练】请立即转移',
        '【演练】请立即转移', %s, '{sms}', 'officer', 'bench', 'bench', now(), 300, 120)
RETURNING id
"""
PROGRESS_SQL = """
SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state IN ('pending', 'sending'))
FROM deliveries WHERE order_id = %s
"""


def _serve_stub(port: int, rate: float) -> None:
    """Child process: the gateway stub, limited to ``rate`` msg/s."""
    import uvicorn

    from simulators.sms_gateway import SmsGatewayConfig, create_sms_app

    logging.basicConfig(level=logging.ERROR)
    app = create_sms_app(SmsGatewayConfig(account_sid=SID, auth_token=TOKEN, rate_limit_per_s=rate))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _insert(dsn: str, recipients: int) -> int:
    with psycopg.connect(dsn) as conn:
        drill_id = conn.execute("INSERT INTO drills (name, scenario) VALUES ('bench broadcast', NULL) RETURNING id"
                                ).fetchone()[0]  # type: ignore[index]
        order_id = int(conn.execute(ORDER_SQL, (drill_id, [TOWN])).fetchone()[0])  # type: ignore[index]
        salt = uuid.uuid4().hex[:8]
        with conn.cursor().copy("COPY deliveries (order_id, drill_id, town_code, recipient, channel, address, body) "
                                "FROM STDIN") as copy:
            for i in range(recipients):
                copy.write_row((order_id, drill_id, TOWN, f"bench-{i}", "sms", f"+86139{i:08d}",
                                f"【演练】台风红色预警：请立即组织低洼地区群众转移。确认: http://127.0.0.1:8000/a/{salt}{i}"))
    return order_id


def _stub_counts(base_url: str) -> Counter[str]:
    """Messages per number at the stub (its Messages list, page by page)."""
    counts: Counter[str] = Counter()
    url: str | None = f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"
    with httpx.Client(base_url=base_url, auth=(SID, TOKEN), timeout=60, trust_env=False) as http:
        while url:
            response = http.get(url)
            if response.status_code == 429:
                time.sleep(0.5)
                continue
            response.raise_for_status()
            page = response.json()
            counts.update(m["to"] for m in page["messages"])
            url = page.get("next_page_uri")
    return counts


def run_bench_broadcast(*, recipients: int, rate: float, as_json: bool, console: Console) -> dict[str, Any]:
    from alerts.dispatch import Dispatcher

    figures: dict[str, Any] = {"recipients": recipients, "limit_msg_s": rate}
    directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-"))
    directory.chmod(0o755)   # the server runs as an unprivileged account when we are root
    port = free_port()
    stub = mp.get_context("spawn").Process(target=_serve_stub, args=(port, rate), daemon=True, name="sms-stub")
    cluster = LocalCluster(directory / "pg", durable=True, preload_timescaledb=False)
    try:
        with console.status("starting PostgreSQL and the SMS gateway stub…"):
            cluster.start()
            dsn = cluster.create_database("bench")
            with psycopg.connect(dsn) as conn:
                migrate(conn, prefer="native")
            stub.start()
            if not wait_for_port("127.0.0.1", port, READY_TIMEOUT_S):
                raise ServiceUnavailable("the SMS gateway stub did not start")
            base = f"http://127.0.0.1:{port}"
            order_id = _insert(dsn, recipients)
        settings = Settings(_env_file=None, data_dir=directory / "var", sms_base_url=base, sms_account_sid=SID,
                            sms_auth_token=SecretStr(TOKEN), drill_sms_base_url=base, drill_sms_account_sid=SID,
                            drill_sms_auth_token=SecretStr(TOKEN), sms_rate_per_s=rate, public_url=NO_CALLBACKS)
        figures["threads"] = settings.dispatch_threads
        console.print(f"bench broadcast: {recipients:,} drill SMS, gateway stub limited to {rate:g} msg/s, "
                      f"{settings.dispatch_threads} dispatcher threads, PostgreSQL {cluster.bin_dir.parent.name}")
        dispatcher = Dispatcher(settings, dsn)
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher", daemon=True)
        deadline = time.monotonic() + recipients / rate * 3 + 120
        with psycopg.connect(dsn, autocommit=True) as conn:
            started_at = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
            cpu0, stub_cpu0 = time.process_time(), _cpu_s(stub.pid or 0)
            thread.start()
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[rate]}"), console=console) as progress:
                task = progress.add_task("sent", total=recipients, rate="")
                t0 = time.monotonic()
                while True:
                    sent, failed, open_ = conn.execute(PROGRESS_SQL, (order_id,)).fetchone()  # type: ignore[misc]
                    progress.update(task, completed=sent + failed,
                                    rate=f"{sent / max(time.monotonic() - t0, 1e-9):,.1f} msg/s")
                    if not open_:
                        break
                    if time.monotonic() > deadline:
                        raise ServiceUnavailable(f"the broadcast did not finish in time ({sent} of {recipients} sent)")
                    time.sleep(POLL_S)
            cpu, stub_cpu = time.process_time() - cpu0, _cpu_s(stub.pid or 0) - stub_cpu0
            stop.set()
            thread.join(60)
            last_sent = conn.execute("SELECT max(sent_at) FROM deliveries WHERE order_id = %s",
                                     (order_id,)).fetchone()[0]  # type: ignore[index]
        counts = _stub_counts(base)
    finally:
        stub.terminate()
        stub.join(10)
        cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)

    elapsed = (last_sent - started_at).total_seconds() if last_sent else float("nan")
    figures["elapsed_s"] = round(elapsed, 2)
    figures["sent"] = sent
    figures["failed"] = failed
    figures["rate_msg_s"] = round(sent / elapsed, 2) if elapsed > 0 else 0.0
    figures["ratio"] = round(figures["rate_msg_s"] / rate, 3)
    figures["rate_limited_429"] = dispatcher.stats["rate_limited"]
    figures["retries"] = dispatcher.stats["retry"]
    figures["in_doubt"] = dispatcher.stats["in_doubt"]
    figures["gateway_messages"] = sum(counts.values())
    figures["duplicates"] = sum(c - 1 for c in counts.values() if c > 1)
    figures["missing"] = recipients - len(counts)
    figures["dispatcher_cpu_pct"] = round(100 * cpu / elapsed) if elapsed > 0 else None
    figures["stub_cpu_pct"] = round(100 * stub_cpu / elapsed) if elapsed > 0 else None
    _report(figures, console)
    if as_json:
        print(json.dumps(figures))
    return figures


def _report(f: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n  recipients  {f['recipients']:,} (drill SMS, {f['threads']} dispatcher threads)\n"
        f"  elapsed     {f['elapsed_s']} s from the dispatcher's start to the last sent\n"
        f"  rate        {f['rate_msg_s']} msg/s against a gateway limit of {f['limit_msg_s']:g} msg/s: "
        f"ratio {f['ratio']} (target ≥ 0.95)\n"
        f"  gateway     {f['gateway_messages']:,} messages; {f['rate_limited_429']} answered 429, "
        f"{f['retries']} retries, {f['in_doubt']} in doubt\n"
        f"  CPU         dispatcher process {f['dispatcher_cpu_pct']} % (incl. this bench's polling), "
        f"gateway stub {f['stub_cpu_pct']} % of one core\n"
        f"  check       duplicates {f['duplicates']}, numbers without a message {f['missing']}, "
        f"failed {f['failed']}")
