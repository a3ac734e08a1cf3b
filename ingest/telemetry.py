"""Prometheus metrics of an ingest worker (served by each worker on its own loopback port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter("floodctl_ingest_messages_received_total", "MQTT messages received")
MESSAGES_COMMITTED = Counter(
    "floodctl_ingest_messages_committed_total", "MQTT messages whose content is committed (then acknowledged)"
)
ROWS_INSERTED = Counter("floodctl_ingest_rows_inserted_total", "New observation rows stored")
ROWS_DUPLICATE = Counter("floodctl_ingest_rows_duplicate_total", "Observation rows already stored")
DEAD_LETTERED = Counter("floodctl_ingest_dead_letters_total", "Messages dead-lettered", ["reason"])
BATCH_SECONDS = Histogram(
    "floodctl_ingest_batch_seconds",
    "Time to commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("floodctl_ingest_queue_depth", "Messages received but not yet committed")
DB_RETRIES = Counter("floodctl_ingest_db_retries_total", "Batch writes retried after a database error")
CONNECTED = Gauge("floodctl_ingest_connected", "1 while connected and subscribed to the broker")
