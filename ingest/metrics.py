"""Prometheus metrics of the ingest worker.

Labels are the transport and the format, never the topic: MQTT topics carry device ids,
and a label per device would grow without bound.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter(
    "ioc_ingest_messages_received",
    "Messages taken from a source (counted as their batch commits)",
    ["transport", "format"],
)
WRITTEN = Counter(
    "ioc_ingest_messages_written",
    "Messages whose events are committed to the database",
    ["transport", "format"],
)
DEAD_LETTERED = Counter(
    "ioc_ingest_messages_dead_lettered",
    "Messages stored as dead letters instead of events",
    ["transport", "format"],
)
ROWS = Counter("ioc_ingest_rows_inserted", "New rows committed per table", ["table"])
BATCH_SIZE = Histogram(
    "ioc_ingest_batch_messages",
    "Messages per committed batch",
    ["transport"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
COMMIT_SECONDS = Histogram(
    "ioc_ingest_commit_seconds",
    "Time to write and commit one batch",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WRITE_ERRORS = Counter(
    "ioc_ingest_write_errors", "Failed batch writes (retried)", ["transport", "kind"]
)
CONSUMER_LAG = Gauge(
    "ioc_ingest_consumer_lag", "Kafka messages not yet consumed", ["topic", "partition"]
)
QUEUE_DEPTH = Gauge(
    "ioc_ingest_queue_depth", "Messages received but not yet in a committed batch", ["transport"]
)
READY = Gauge("ioc_ingest_ready", "1 when every source is connected and the database reachable")
