"""``floodctl bench broadcast``: a drill broadcast to N recipients, drafted, approved and dispatched the
way a duty officer's orders are (draft → approve → outbox), through a rate-limited gateway.

Everything runs on this machine, in one run: a throw-away PostgreSQL cluster (durable settings:
fsync on), the Twilio-compatible gateway stub in a child process of its own (so its work does not
share the dispatcher's interpreter), limited to ``--rate`` messages a second (429 beyond that), and
the dispatcher, with its token bucket set to the same rate, draining the outbox.

Where the N recipients come from: an approval texts each named town's first roster person (叫应), so
N recipients are N towns. The sample county has 18; the bench registers a synthetic county of N towns
(codes ``9xxxxxxxx``, names ``演练镇00001``…) in its own database, with a roster layer giving each town
a primary, deputy and superior of their own (distinct numbers ``+86139…``), and drafts drill orders of
at most 500 towns each (what ``POST /orders`` accepts) with :func:`alerts.orders.draft`, then approves
them one after another with :func:`alerts.orders.approve` — the functions behind the API's routes —
while the dispatcher runs. Every SMS therefore carries its signed /a/ link and has its 叫应 row, and
duplicates or lost towns would show. (10,000 towns is not a county; it is the fan-out of one
approval path at the size of a county-wide broadcast to village-level people.)

Status callbacks are off (the bench's public URL is not loopback, which the stub never calls): they
are the API's load, and on two cores they would compete with the dispatcher. The 叫应 timers do not
run (the deadline is an hour), so no resend or escalation adds messages. The stub process's CPU
use is reported beside the dispatcher's, to show which side was the bottleneck.

Figures: elapsed time from the first approval to the last ``sent_at``, the achieved rate and its
ratio to the gateway's limit (target ≥ 0.95), the time the approvals took, the 429s the gateway
answered, duplicates (the stub's messages per number beyond one), numbers that got nothing, and
failed deliveries; and from the database: orders approved, deliveries and ack links written.
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
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from floodctl.core.db.migrate import migrate
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import ServiceUnavailable
from floodctl.core.net import free_port, wait_for_port
from floodctl.core.settings import Settings

SID = "AC" + "b" * 32
TOKEN = "bench-stub-token"
TOWNS_PER_ORDER = 500  # what POST /orders accepts (OrderBody.towns max_length)
DEADLINE_S = 3600  # 叫应 deadline and resend: beyond the run, so no timer adds messages
POLL_S = 0.25
READY_TIMEOUT_S = 30.0
# Our public_url in the bench: not loopback, so the stub does not call it (it never calls anything but
# loopback). Status callbacks are the API's load, not the dispatcher's; on two cores they would compete.
NO_CALLBACKS = "http://192.0.2.1"  # TEST-NET-1: never routed

PROGRESS_SQL = """
SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state IN ('pending', 'sending'))
FROM deliveries WHERE order_id = ANY(%s)
"""
RECORD_SQL = """
SELECT (SELECT count(*) FROM orders WHERE id = ANY(%(ids)s) AND status = 'approved'),
       (SELECT count(*) FROM deliveries WHERE order_id = ANY(%(ids)s)),
       (SELECT count(*) FROM ack_links WHERE order_id = ANY(%(ids)s)),
       (SELECT count(*) FROM order_towns WHERE order_id = ANY(%(ids)s)),
       (SELECT min(created_at) FROM deliveries WHERE order_id = ANY(%(ids)s)),
       (SELECT max(sent_at) FROM deliveries WHERE order_id = ANY(%(ids)s))
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


def _county(dsn: str, towns: int) -> list[str]:
    """Register the synthetic county: ``towns`` towns, each with a roster of three people of its own."""
    codes = [f"9{i:08d}" for i in range(towns)]
    roster = {
        "type": "roster",
        "name": "bench roster",
        "fictional": True,
        "towns": [
            {
                "town": code,
                "town_name": f"演练镇{i:05d}",
                "primary": {"name": f"主{i:05d}", "title": "镇长", "phone": f"139{i:08d}"},
                "deputy": {"name": f"副{i:05d}", "title": "副镇长", "phone": f"137{i:08d}"},
                "superior": {"name": f"县{i:05d}", "title": "联系县领导", "phone": f"136{i:08d}"},
            }
            for i, code in enumerate(codes)
        ],
    }
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy("COPY towns (code, name) FROM STDIN") as copy:
            for i, code in enumerate(codes):
                copy.write_row((code, f"演练镇{i:05d}"))
        conn.execute(
            "INSERT INTO layers (name, title, geojson, feature_count) VALUES ('roster', %s, %s, %s)",
            ("bench roster", Jsonb(roster), towns),
        )
    return codes


def _draft(dsn: str, settings: Settings, codes: list[str]) -> tuple[int, list[int]]:
    """One drill, and its orders of at most TOWNS_PER_ORDER towns each, drafted as a duty officer would."""
    from alerts import orders

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO drills (name, scenario) VALUES ('bench broadcast', NULL) RETURNING id"
        ).fetchone()
        assert row is not None
        drill_id = int(row[0])
        ids = []
        for start in range(0, len(codes), TOWNS_PER_ORDER):
            request = orders.OrderRequest(
                hazard="typhoon",
                level="red",
                towns=codes[start : start + TOWNS_PER_ORDER],
                drill_id=drill_id,
                channels=["sms"],
                ack_deadline_s=DEADLINE_S,
                resend_after_s=DEADLINE_S,
            )
            order_id = orders.draft(conn, request, actor="bench-duty", settings=settings)
            assert order_id is not None
            ids.append(order_id)
    return drill_id, ids


def _approve(dsn: str, settings: dict[str, Any], ids: list[int], took: Any) -> None:
    """Child process (as the API is to the dispatcher): approve each order in its own transaction, as
    each POST /orders/{id}/approve does; puts the seconds taken on ``took``."""
    from alerts import orders

    config = Settings(_env_file=None, **settings)
    started = time.monotonic()
    with psycopg.connect(dsn) as conn:
        for order_id in ids:
            with conn.transaction():
                orders.approve(conn, order_id, actor="bench-commander", settings=config)
    took.put(time.monotonic() - started)


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
    directory.chmod(0o755)  # the server runs as an unprivileged account when we are root
    port = free_port()
    stub = mp.get_context("spawn").Process(target=_serve_stub, args=(port, rate), daemon=True, name="sms-stub")
    cluster = LocalCluster(directory / "pg", durable=True, preload_timescaledb=False)
    approver: Any = None
    try:
        with console.status("starting PostgreSQL and the SMS gateway stub, drafting the orders…"):
            cluster.start()
            dsn = cluster.create_database("bench")
            with psycopg.connect(dsn) as conn:
                migrate(conn, prefer="native")
            stub.start()
            if not wait_for_port("127.0.0.1", port, READY_TIMEOUT_S):
                raise ServiceUnavailable("the SMS gateway stub did not start")
            base = f"http://127.0.0.1:{port}"
            values = _settings_values(directory, base, rate)
            settings = Settings(_env_file=None, **values)
            codes = _county(dsn, recipients)
            _, ids = _draft(dsn, settings, codes)
        figures["threads"] = settings.dispatch_threads
        figures["orders"] = len(ids)
        figures["towns"] = len(codes)
        console.print(
            f"bench broadcast: {recipients:,} drill SMS (draft → approve → outbox: {len(ids)} orders of "
            f"≤ {TOWNS_PER_ORDER} towns, one primary per town), gateway stub limited to {rate:g} msg/s, "
            f"{settings.dispatch_threads} dispatcher threads, PostgreSQL {cluster.bin_dir.parent.name}"
        )
        dispatcher = Dispatcher(settings, dsn)
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher", daemon=True)
        spawn = mp.get_context("spawn")
        took = spawn.Queue()
        approver = spawn.Process(target=_approve, args=(dsn, values, ids, took), daemon=True, name="approver")
        deadline = time.monotonic() + recipients / rate * 3 + 120
        with psycopg.connect(dsn, autocommit=True) as conn:
            cpu0, stub_cpu0 = time.process_time(), _cpu_s(stub.pid or 0)
            thread.start()  # the dispatcher is up before the commander approves
            approver.start()
            sent, failed = _watch(conn, ids, recipients, approver, deadline, console)
            cpu, stub_cpu = time.process_time() - cpu0, _cpu_s(stub.pid or 0) - stub_cpu0
            figures["approve_s"] = round(took.get(timeout=60), 2)
            stop.set()
            thread.join(60)
            # From the first approval's transaction (its rows' created_at) to the last SMS sent.
            approved, deliveries, links, called, started_at, last_sent = conn.execute(  # type: ignore[misc]
                RECORD_SQL, {"ids": ids}
            ).fetchone()
        counts = _stub_counts(base)
    finally:
        if approver is not None and approver.is_alive():
            approver.terminate()
        stub.terminate()
        stub.join(10)
        cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)

    _tally(
        figures,
        rate=rate,
        recipients=recipients,
        sent=sent,
        failed=failed,
        stats=dispatcher.stats,
        record=(approved, deliveries, links, called, started_at, last_sent),
        counts=counts,
        cpu=(cpu, stub_cpu),
    )
    _report(figures, console)
    if as_json:
        print(json.dumps(figures))
    return figures


def _settings_values(directory: Path, gateway: str, rate: float) -> dict[str, Any]:
    """The settings of the bench's dispatcher and approver: both gateways are the rate-limited stub."""
    return dict(
        data_dir=directory / "var",
        sms_base_url=gateway,
        sms_account_sid=SID,
        sms_auth_token=SecretStr(TOKEN),
        drill_sms_base_url=gateway,
        drill_sms_account_sid=SID,
        drill_sms_auth_token=SecretStr(TOKEN),
        sms_rate_per_s=rate,
        public_url=NO_CALLBACKS,
    )


def _watch(
    conn: psycopg.Connection, ids: list[int], recipients: int, approver: Any, deadline: float, console: Console
) -> tuple[int, int]:
    """Progress until every delivery is sent or failed and the approver is done: (sent, failed)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        console=console,
    ) as progress:
        task = progress.add_task("sent", total=recipients, rate="")
        t0 = time.monotonic()
        while True:
            sent, failed, open_ = conn.execute(PROGRESS_SQL, (ids,)).fetchone()  # type: ignore[misc]
            progress.update(task, completed=sent + failed, rate=f"{sent / max(time.monotonic() - t0, 1e-9):,.1f} msg/s")
            if not open_ and not approver.is_alive():
                break
            if approver.exitcode:
                raise ServiceUnavailable(f"approving the orders failed (exit code {approver.exitcode})")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"the broadcast did not finish in time ({sent} of {recipients} sent)")
            time.sleep(POLL_S)
    return sent, failed


def _tally(
    figures: dict[str, Any],
    *,
    rate: float,
    recipients: int,
    sent: int,
    failed: int,
    stats: dict[str, int],
    record: tuple[Any, ...],
    counts: Counter[str],
    cpu: tuple[float, float],
) -> None:
    """The figures of a finished broadcast: rate against the limit, the record, the gateway's own count."""
    approved, deliveries, links, called, started_at, last_sent = record
    cpu_s, stub_cpu = cpu
    elapsed = (last_sent - started_at).total_seconds() if last_sent else float("nan")
    expected = {f"+86139{i:08d}" for i in range(recipients)}  # every town's primary, nobody else
    figures["elapsed_s"] = round(elapsed, 2)
    figures["sent"] = sent
    figures["failed"] = failed
    figures["rate_msg_s"] = round(sent / elapsed, 2) if elapsed > 0 else 0.0
    figures["ratio"] = round(figures["rate_msg_s"] / rate, 3)
    figures["rate_limited_429"] = stats["rate_limited"]
    figures["retries"] = stats["retry"]
    figures["in_doubt"] = stats["in_doubt"]
    figures["approved_orders"] = approved
    figures["deliveries"] = deliveries
    figures["ack_links"] = links
    figures["towns_called"] = called
    figures["gateway_messages"] = sum(counts.values())
    figures["duplicates"] = sum(c - 1 for c in counts.values() if c > 1)
    figures["missing"] = len(expected - set(counts))
    figures["unexpected"] = len(set(counts) - expected)
    figures["dispatcher_cpu_pct"] = round(100 * cpu_s / elapsed) if elapsed > 0 else None
    figures["stub_cpu_pct"] = round(100 * stub_cpu / elapsed) if elapsed > 0 else None


def _report(f: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n  recipients  {f['recipients']:,} drill SMS, {f['orders']} orders approved in {f['approve_s']} s "
        f"({f['threads']} dispatcher threads)\n"
        f"  elapsed     {f['elapsed_s']} s from the first approval to the last sent\n"
        f"  rate        {f['rate_msg_s']} msg/s against a gateway limit of {f['limit_msg_s']:g} msg/s: "
        f"ratio {f['ratio']} (target ≥ 0.95)\n"
        f"  gateway     {f['gateway_messages']:,} messages; {f['rate_limited_429']} answered 429, "
        f"{f['retries']} retries, {f['in_doubt']} in doubt\n"
        f"  CPU         dispatcher process {f['dispatcher_cpu_pct']} % (incl. this bench's polling), "
        f"gateway stub {f['stub_cpu_pct']} % of one core\n"
        f"  record      {f['approved_orders']} orders approved, {f['towns_called']:,} towns called, "
        f"{f['deliveries']:,} deliveries, {f['ack_links']:,} signed links\n"
        f"  check       duplicates {f['duplicates']}, numbers without a message {f['missing']}, "
        f"unexpected numbers {f['unexpected']}, failed {f['failed']}"
    )
