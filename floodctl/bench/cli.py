"""``floodctl bench …``: the performance figures, each measured side by side in one run."""

from __future__ import annotations

import click

from floodctl.core.cli import FloodGroup, console


@click.group(cls=FloodGroup)
def bench() -> None:
    """Benchmarks: print figures and ratios measured side by side in one run."""


@bench.command("ingest")
@click.option("--messages", type=click.IntRange(1000, 10_000_000), default=200_000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--stations", type=click.IntRange(1, 100_000), default=2_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_ingest(messages: int, workers: int, stations: int, as_json: bool) -> None:
    """Publish N single-reading messages through a real broker to the ingest workers."""
    from floodctl.bench.ingest import run_bench

    run_bench(messages=messages, workers=workers, stations=stations, as_json=as_json, console=console)


@bench.command("broadcast")
@click.option("--recipients", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=100.0,
    show_default=True,
    help="the SMS gateway stub's limit (msg/s); the dispatcher is set to the same",
)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_broadcast(recipients: int, rate: float, as_json: bool) -> None:
    """Draft, approve and dispatch drill orders to N recipients (N towns' primaries) through a rate-limited
    gateway stub."""
    from floodctl.bench.broadcast import run_bench_broadcast

    run_bench_broadcast(recipients=recipients, rate=rate, as_json=as_json, console=console)


@bench.command("alert-latency")
@click.option("--trials", type=click.IntRange(10, 10_000), default=200, show_default=True)
@click.option(
    "--load",
    type=click.IntRange(0, 50_000),
    default=2_000,
    show_default=True,
    help="background ingest load, messages per second",
)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_alert_latency(trials: int, load: int, as_json: bool) -> None:
    """Threshold-crossing reading published -> SMS request at the gateway stub, under ingest load."""
    from floodctl.bench.alerts import run_bench_alert_latency

    run_bench_alert_latency(trials=trials, load=load, as_json=as_json, console=console)


@bench.command("drill")
@click.option("--stations", type=click.IntRange(10, 20_000), default=2_000, show_default=True)
@click.option("--hours", type=click.IntRange(1, 120), default=72, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_drill(stations: int, hours: int, as_json: bool) -> None:
    """Generate and publish a drill: HOURS of storm × STATIONS at 5-minute cadence."""
    from floodctl.bench.drill import run_bench_drill

    run_bench_drill(stations=stations, hours=hours, as_json=as_json, console=console)


@bench.command("query")
@click.option("--stations", type=click.IntRange(10, 100_000), default=5_000, show_default=True)
@click.option(
    "--rows",
    type=click.IntRange(1_000, 1_000_000_000),
    default=50_000_000,
    show_default=True,
    help="observation rows in the table (one per station every 5 minutes back from now)",
)
@click.option(
    "--repeat", type=click.IntRange(1, 10_000), default=50, show_default=True, help="timed runs of each query"
)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_query(stations: int, rows: int, repeat: int, as_json: bool) -> None:
    """Latest state of all stations and a 7-day series of one, with ROWS observations in the table."""
    from floodctl.bench.query import run_bench_query

    run_bench_query(stations=stations, rows=rows, repeat=repeat, as_json=as_json, console=console)


@bench.command("wall")
@click.option("--stations", type=click.IntRange(10, 100_000), default=5_000, show_default=True)
@click.option(
    "--runs",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="timed page loads (after one warm-up load), each in a fresh browser context",
)
@click.option("--json", "as_json", is_flag=True, help="last line: one JSON object of the figures")
def bench_wall(stations: int, runs: int, as_json: bool) -> None:
    """Wall dashboard load to interactive in headless Chromium, with STATIONS stations on the map."""
    from floodctl.bench.wall import run_bench_wall

    run_bench_wall(stations=stations, runs=runs, as_json=as_json, console=console)
