"""``floodctl bench ingest``: single-reading messages, publish -> committed, with its limits.

Everything runs on this machine, in one run, on a throw-away PostgreSQL cluster (durable
settings: fsync on) and Mosquitto broker, with synthetic stations:

* **drain** — the ingest workers' persistent sessions are created, the workers stopped, N
  messages queued in the broker, then the workers started: time until the last row commits.
  This is ingest's capacity with the publisher out of the way.
* **live** — workers running, two Python publisher processes sending N messages: throughput from
  the first publish to the last commit, and latency percentiles (publish -> commit, matched in
  order from a 10 ms poll of the workers' committed-row counters); then the same with
  ``mosquitto_pub -l`` publishers, whose C client leaves the two cores to ingest.
* limits from the same run: ``mosquitto_sub -q 1`` draining the same backlog (the broker's
  delivery rate to one C client), and a binary COPY of the same rows into ``observations``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from rich.console import Console

from floodctl.core.db.migrate import migrate
from floodctl.core.embedded.broker import BrokerProcess, start_broker
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import ServiceUnavailable
from floodctl.core.net import free_port_range, scrape_metric
from floodctl.domain.topics import OBS_SUBSCRIPTION, station_topic

PUBLISH_WINDOW = 1_000
POLL_INTERVAL_S = 0.01
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 900.0
LIVE_PUBLISHERS = 2
DRAIN_PUBLISHERS = 3
C_PUBLISHERS = 4
TOPIC_FILTER = OBS_SUBSCRIPTION


def station_code(i: int) -> str:
    return f"B{i:07d}"


def _payload(ts: str, value: float) -> bytes:
    return f'{{"ts":"{ts}","values":{{"water_level":{value:.2f}}}}}'.encode()


def _message(i: int, stations: int, base: datetime) -> tuple[str, bytes]:
    ts = (base + timedelta(minutes=i // stations)).isoformat()
    return station_topic(station_code(i % stations)), _payload(ts, 1.0 + (i % 997) / 100)


def _publish_slice(url: str, first: int, count: int, step: int, stations: int, base_iso: str, out: Any) -> None:
    """Publisher process: messages first, first+step, … (count of them); sends back timestamps."""
    from simulators.publisher import Publisher

    base = datetime.fromisoformat(base_iso)
    messages = [_message(first + k * step, stations, base) for k in range(count)]
    times = np.empty(count)
    with Publisher(url, f"bench-pub-{uuid.uuid4().hex[:8]}", window=PUBLISH_WINDOW) as pub:
        publish, clock = pub.publish, time.time
        for k, (topic, payload) in enumerate(messages):
            publish(topic, payload)
            times[k] = clock()
    out.put(times)


def publish_all(url: str, messages: int, stations: int, base: datetime, processes: int) -> np.ndarray:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = []
    for p in range(processes):
        count = len(range(p, messages, processes))
        proc = ctx.Process(target=_publish_slice, args=(url, p, count, processes, stations, base.isoformat(), out))
        proc.start()
        procs.append(proc)
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return np.sort(np.concatenate(results))


@dataclass
class Workers:
    process: subprocess.Popen[bytes]
    metrics_ports: list[int]

    def scrape(self, client: httpx.Client, name: str) -> float:
        return sum(scrape_metric(port, name, client=client) or 0.0 for port in self.metrics_ports)

    def wait_connected(self, client: httpx.Client, poll_s: float = 0.05) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.scrape(client, "floodctl_ingest_connected") < len(self.metrics_ports):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise ServiceUnavailable("ingest workers did not connect to the broker")
            time.sleep(poll_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class BenchEnv:
    def __init__(self, workers: int, stations: int, console: Console) -> None:
        self.workers = workers
        self.stations = stations
        self.console = console
        self.directory = Path(tempfile.mkdtemp(prefix="floodctl-bench-"))
        self.directory.chmod(0o755)  # the server runs as an unprivileged account when we are root
        self.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        self.started: list[Workers] = []

    def __enter__(self) -> BenchEnv:
        self.cluster = LocalCluster(self.directory / "pg", durable=True, preload_timescaledb=False)
        self.cluster.start()
        self.dsn = self.cluster.create_database("bench")
        self.broker: BrokerProcess = start_broker(self.directory / "mqtt")
        with psycopg.connect(self.dsn) as conn:
            migrate(conn, prefer="native")
            conn.execute("SELECT ensure_observation_partitions(current_date - 10, current_date + 2)")
            with conn.cursor().copy("COPY stations (code, name, kind, lon, lat) FROM STDIN") as copy:
                for i in range(self.stations):
                    copy.write_row((station_code(i), f"基准站{i}", "river", 121.9, 29.4))
        return self

    def __exit__(self, *exc: object) -> None:
        for workers in self.started:
            workers.stop()
        self.broker.stop()
        self.cluster.stop("fast")
        shutil.rmtree(self.directory, ignore_errors=True)

    def start_workers(self) -> Workers:
        base = free_port_range(self.workers)  # worker i serves its metrics on base + i
        env = dict(
            os.environ,
            FLOOD_DATABASE_URL=self.dsn,
            FLOOD_MQTT_URL=self.broker.url,
            FLOOD_MQTT_CLIENT_PREFIX=self.prefix,
            FLOOD_INGEST_METRICS_PORT=str(base),
            FLOOD_DATA_DIR=str(self.directory / "var"),
            FLOOD_LOG_LEVEL="WARNING",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "floodctl", "ingest", "--workers", str(self.workers)],
            env=env,
            start_new_session=True,
        )
        workers = Workers(process, [base + i for i in range(self.workers)])
        self.started.append(workers)
        return workers

    def count_rows(self) -> int:
        with psycopg.connect(self.dsn) as conn:
            return int(conn.execute("SELECT count(*) FROM observations").fetchone()[0])  # type: ignore[index]


def live_with_c_publishers(env: BenchEnv, workers: Workers, http: httpx.Client, messages: int, base: datetime) -> float:
    """Live throughput with ``mosquitto_pub -l -q 1`` publishers (C), so the publisher side costs
    little CPU: one process per station, one reading per line, a second apart."""
    per = messages // C_PUBLISHERS
    files = []
    for p in range(C_PUBLISHERS):
        path = env.directory / f"lines-{p}.txt"
        path.write_text(
            "".join(
                _payload((base + timedelta(seconds=k)).isoformat(), 1.0 + k % 97 / 10).decode() + "\n"
                for k in range(per)
            ),
            encoding="utf-8",
        )
        files.append((station_code(p), path))
    before = workers.scrape(http, "floodctl_ingest_rows_inserted_total")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(env.broker.port),
                "-q",
                "1",
                "-t",
                station_topic(code),
                "-l",
            ],
            stdin=path.open("rb"),
        )
        for code, path in files
    ]
    for proc in procs:
        proc.wait(DRAIN_TIMEOUT_S)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while workers.scrape(http, "floodctl_ingest_rows_inserted_total") - before < per * C_PUBLISHERS:
        if time.monotonic() > deadline:
            raise ServiceUnavailable("ingest did not commit the mosquitto_pub messages in time")
        time.sleep(POLL_INTERVAL_S)
    return per * C_PUBLISHERS / (time.perf_counter() - started)


def measure_copy(dsn: str, messages: int, stations: int, base: datetime) -> float:
    """Binary COPY of the same rows (same shape, same table, fresh timestamps) in one transaction."""
    rows = [
        (1 + i % stations, 1, base + timedelta(minutes=i // stations), 1.0 + (i % 997) / 100, 0, 0)
        for i in range(messages)
    ]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        with cur.copy(
            "COPY observations (station_id, metric_id, ts, value, flags, drill_id) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int4", "int2", "timestamptz", "float8", "int2", "int4"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return messages / (time.perf_counter() - started)


def measure_mosquitto_sub(url_port: int, client_id: str, messages: int) -> float:
    """Drain a queued backlog of ``messages`` with the C client; messages per second."""
    started = time.perf_counter()
    subprocess.run(
        [
            "mosquitto_sub",
            "-p",
            str(url_port),
            "-h",
            "127.0.0.1",
            "-V",
            "mqttv5",
            "-c",
            "-x",
            "3600",
            "-i",
            client_id,
            "-q",
            "1",
            "-t",
            TOPIC_FILTER,
            "-C",
            str(messages),
        ],
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=DRAIN_TIMEOUT_S,
    )
    return messages / (time.perf_counter() - started)


def run_bench(*, messages: int, workers: int, stations: int, as_json: bool, console: Console) -> dict[str, Any]:
    if shutil.which("mosquitto_sub") is None:
        raise ServiceUnavailable("mosquitto_sub not found: install mosquitto-clients (make system-deps)")
    figures: dict[str, Any] = {"messages": messages, "workers": workers, "stations": stations}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = messages // stations + 1
    drain_base, live_base, copy_base, c_base = (now - timedelta(days=d) for d in (3, 2, 4, 6))
    if minutes > 24 * 60:
        raise ServiceUnavailable("too many messages per station: raise --stations")
    with BenchEnv(workers, stations, console) as env, httpx.Client() as http:
        console.print(
            f"bench ingest: {messages:,} single-reading messages, {stations:,} stations, "
            f"{workers} workers, PostgreSQL {env.cluster.bin_dir.parent.name} + {env.broker.kind}"
        )
        # 1. Sessions exist (workers' shared group and mosquitto_sub's), then everybody goes away.
        w = env.start_workers()
        w.wait_connected(http)
        w.stop()
        sub_id = f"{env.prefix}-sub"
        _subscribe(env.broker.port, sub_id, "-V", "mqttv5", "-c", "-x", "3600", "-q", "1")  # a session that queues
        # 2. Queue the backlog.
        with console.status("publishing the backlog…"):
            t0 = time.perf_counter()
            publish_all(env.broker.url, messages, stations, drain_base, DRAIN_PUBLISHERS)
            figures["publish_msgs_per_s"] = round(messages / (time.perf_counter() - t0))
        # 3. The broker's delivery limit: mosquitto_sub drains its copy of the backlog.
        with console.status("mosquitto_sub draining…"):
            figures["mosquitto_sub_msgs_per_s"] = round(measure_mosquitto_sub(env.broker.port, sub_id, messages))
        _subscribe(env.broker.port, sub_id)  # a clean session: drops that subscription
        # 4. Ingest drains its backlog.
        with console.status("ingest draining…"):
            w = env.start_workers()
            w.wait_connected(http, poll_s=0.005)  # timing starts when the sessions resume
            t0 = time.perf_counter()
            done_before = w.scrape(http, "floodctl_ingest_rows_inserted_total")
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while env.count_rows() < messages:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable("ingest did not drain the backlog in time")
                time.sleep(0.02)
            drain_s = time.perf_counter() - t0
            figures["drain_msgs_per_s"] = round((messages - done_before) / drain_s)
        # 5. Live: workers running, publishers sending.
        figures.update(_measure_live(env, w, http, messages, stations, live_base, console))
        with console.status("live: mosquitto_pub publishers while ingest runs…"):
            c_messages = messages // C_PUBLISHERS * C_PUBLISHERS
            figures["live_c_msgs_per_s"] = round(live_with_c_publishers(env, w, http, c_messages, c_base))
        w.stop()
        # 6. Raw COPY of the same rows.
        with console.status("binary COPY of the same rows…"):
            figures["copy_rows_per_s"] = round(measure_copy(env.dsn, messages, stations, copy_base))
        total = env.count_rows()
        figures["rows_stored"] = total
        figures["exactly_once"] = total == 3 * messages + c_messages

    figures["msgs_per_s"] = figures["drain_msgs_per_s"]
    figures["rows_per_s"] = figures["drain_msgs_per_s"]  # one reading per message
    figures["ratio_to_copy"] = round(figures["rows_per_s"] / figures["copy_rows_per_s"], 3)
    figures["ratio_to_mosquitto_sub"] = round(figures["msgs_per_s"] / figures["mosquitto_sub_msgs_per_s"], 3)
    figures["live_ratio_to_mosquitto_sub"] = round(figures["live_msgs_per_s"] / figures["mosquitto_sub_msgs_per_s"], 3)
    _report(figures, console)
    if as_json:
        print(json.dumps(figures))
    return figures


def _subscribe(port: int, client_id: str, *options: str) -> None:
    """``mosquitto_sub`` subscribes as ``client_id`` to every station's readings and leaves at once (-E)."""
    command = ["mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-i", client_id, *options, "-t", TOPIC_FILTER]
    subprocess.run([*command, "-E"], check=True)


def _measure_live(
    env: BenchEnv, w: Any, http: httpx.Client, messages: int, stations: int, base: datetime, console: Console
) -> dict[str, float]:
    """Publishers sending while the workers run: throughput, and latency from publish to commit."""
    w.wait_connected(http)
    committed_before = w.scrape(http, "floodctl_ingest_rows_inserted_total")
    polls: list[tuple[float, float]] = []
    stop_poll = threading.Event()

    def poll() -> None:
        while not stop_poll.is_set():
            polls.append((time.time(), w.scrape(http, "floodctl_ingest_rows_inserted_total") - committed_before))
            time.sleep(POLL_INTERVAL_S)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    with console.status("live: publishing while ingest runs…"):
        publish_times = publish_all(env.broker.url, messages, stations, base, LIVE_PUBLISHERS)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while not polls or polls[-1][1] < messages:
            if time.monotonic() > deadline:
                raise ServiceUnavailable("ingest did not commit the live messages in time")
            time.sleep(0.05)
    stop_poll.set()
    poller.join()
    poll_t = np.array([p[0] for p in polls])
    poll_n = np.array([p[1] for p in polls])
    # The k-th committed row is matched with the k-th published message (FIFO approximation).
    commit_index = np.searchsorted(poll_n, np.arange(1, messages + 1), side="left")
    latency_ms = (poll_t[np.minimum(commit_index, len(poll_t) - 1)] - publish_times) * 1000
    live_s = poll_t[commit_index[-1]] - publish_times[0]
    return {
        "live_msgs_per_s": round(messages / live_s),
        "p50_ms": round(float(np.percentile(latency_ms, 50)), 1),
        "p99_ms": round(float(np.percentile(latency_ms, 99)), 1),
    }


def _report(f: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n  drain   {f['drain_msgs_per_s']:>9,} msg/s  (backlog queued first; ingest's capacity)\n"
        f"  live    {f['live_msgs_per_s']:>9,} msg/s  p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms publish->commit "
        f"(2 Python publishers on the same cores)\n"
        f"  live    {f['live_c_msgs_per_s']:>9,} msg/s  with {C_PUBLISHERS} mosquitto_pub -l publishers\n"
        f"  limits  mosquitto_sub {f['mosquitto_sub_msgs_per_s']:,} msg/s; "
        f"binary COPY {f['copy_rows_per_s']:,} rows/s; Python publishers {f['publish_msgs_per_s']:,} msg/s\n"
        f"  ratios  drain/COPY {f['ratio_to_copy']}; drain/mosquitto_sub {f['ratio_to_mosquitto_sub']}; "
        f"live/mosquitto_sub {f['live_ratio_to_mosquitto_sub']}\n"
        f"  check   {f['rows_stored']:,} rows stored (exactly once: {f['exactly_once']})"
    )
