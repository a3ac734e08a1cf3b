"""Both time-series storage paths: native day partitions, and TimescaleDB hypertables."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from floodctl.core.db.migrate import migrate, status, storage_mode
from floodctl.core.embedded.postgres import LocalCluster
from floodctl.core.errors import ConfigError
from ingest.batch import Batch
from ingest.store import IngestStore


def rows(station_id: int, *times: datetime) -> Batch:
    batch = Batch(messages=len(times))
    for ts in times:
        batch.obs.append((station_id, 1, ts, 2.5, 0, 0))
        batch.obs_days.add(int(ts.timestamp()) // 86400)
    return batch


@pytest.fixture(scope="module")
def timescale_cluster() -> Iterator[LocalCluster]:
    directory = Path(tempfile.mkdtemp(prefix="floodctl-tsdb-"))
    cluster = LocalCluster(directory, preload_timescaledb=True)
    if not cluster.has_timescaledb():
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(
            f"TimescaleDB is not installed for the PostgreSQL in {cluster.bin_dir}: "
            "the hypertable path is not exercised on this machine"
        )
    with cluster:
        yield cluster


def test_timescaledb_path_creates_a_hypertable_with_compression_and_retention(timescale_cluster) -> None:
    url = timescale_cluster.create_database("tsdb_path")
    with psycopg.connect(url) as conn:
        migrate(conn)
        assert storage_mode(conn) == "timescaledb"
        hypertables = conn.execute(
            "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables"
        ).fetchall()
        assert hypertables == [("observations", True)]
        jobs = {
            r[0]
            for r in conn.execute(
                "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'observations'"
            )
        }
        assert jobs == {"policy_compression", "policy_retention"}
        conn.execute("INSERT INTO stations (code, name, kind, lon, lat) VALUES ('T0000001', 't', 'river', 121.9, 29.4)")
        conn.commit()
    store = IngestStore(url)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        station_id = store.load_registry().stations["T0000001"]
        first = store.write(rows(station_id, now, now - timedelta(days=90)))  # backfill: a chunk on demand
        again = store.write(rows(station_id, now))
        assert (first.inserted, again.inserted) == (2, 0)
    finally:
        store.close()
    with psycopg.connect(url) as conn:
        chunks = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'observations'"
        ).fetchone()[0]
        assert chunks == 2


def test_native_path_partitions_ahead_on_demand_and_by_retention(pg_cluster) -> None:
    url = pg_cluster.create_database("native_path")
    with psycopg.connect(url) as conn:
        migrate(conn, prefer="native")
        st = status(conn)
        assert st.storage == "native" and not st.pending
        today = datetime.now(UTC).date()
        for days in (-7, 0, 7):
            name = f"observations_p{today + timedelta(days=days):%Y%m%d}"
            assert conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None
        conn.execute("INSERT INTO stations (code, name, kind, lon, lat) VALUES ('N0000001', 'n', 'river', 121.9, 29.4)")
        conn.commit()
    store = IngestStore(url)
    try:
        station_id = store.load_registry().stations["N0000001"]
        ancient = datetime.now(UTC) - timedelta(days=4000)
        assert store.write(rows(station_id, ancient)).inserted == 1
        store.maintain(retention_days=3650)
    finally:
        store.close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM observations").fetchone()[0] == 0, "expired day dropped"
        today = datetime.now(UTC).date()
        name = f"observations_p{today:%Y%m%d}"
        assert conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None


def test_asking_for_timescaledb_where_it_is_absent_is_a_clear_error(pg_cluster) -> None:
    url = pg_cluster.create_database("no_tsdb")
    with psycopg.connect(url) as conn, pytest.raises(ConfigError, match="TimescaleDB"):
        migrate(conn, prefer="timescaledb")


def test_migrating_twice_applies_nothing_the_second_time(pg_cluster) -> None:
    url = pg_cluster.create_database("twice")
    with psycopg.connect(url) as conn:
        assert migrate(conn, prefer="native")
        assert migrate(conn) == []
