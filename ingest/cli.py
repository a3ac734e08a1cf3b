"""``floodctl ingest``: the MQTT → database worker(s)."""

from __future__ import annotations

import click

from floodctl.core.errors import FloodError
from floodctl.core.settings import get_settings


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="worker processes sharing the subscription",
)
@click.option("--index", type=click.IntRange(0, 999), default=None, hidden=True)
@click.option("--no-shared", is_flag=True, hidden=True)
@click.option(
    "--retire",
    "retire",
    type=click.IntRange(0, 999),
    default=None,
    metavar="INDEX",
    help="leave the share group as worker INDEX: drain its queued messages, then end its session",
)
def ingest(workers: int, index: int | None, no_shared: bool, retire: int | None) -> None:
    """MQTT -> database worker(s).

    Lowering --workers leaves the higher indexes' sessions in the share group, where the broker
    keeps queueing their share: retire each of them once with --retire INDEX.
    """
    from floodctl.core.embedded import database_url, mqtt_target
    from ingest.service import run_ingest, run_worker

    settings = get_settings()
    target = mqtt_target(settings)
    db_url = database_url(settings)
    shared = target.shared_subscriptions and not no_shared
    protocol = "3.1.1" if target.protocol == "3.1.1" else settings.ingest_mqtt_protocol
    if retire is not None:
        run_worker(
            settings, retire, database_url=db_url, mqtt_url=target.url, shared=shared, protocol=protocol, retire=True
        )
        return
    if index is not None:
        run_worker(settings, index, database_url=db_url, mqtt_url=target.url, shared=shared, protocol=protocol)
        return
    if workers > 1 and not shared:
        raise FloodError("this broker has no shared subscriptions: run one worker (--workers 1)")
    run_ingest(settings, workers=workers, database_url=db_url, mqtt_url=target.url, shared=shared, protocol=protocol)
