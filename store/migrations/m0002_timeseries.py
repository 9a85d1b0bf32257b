"""Time-series storage: hypertables, compression, retention and rollups.

TimescaleDB: hypertables with chunk intervals sized to the write rate (measurements
arrive fastest, so one-day chunks; camera and security events one week), compression
after a week segmented by the columns queries filter on, retention, and continuous
aggregates for 1-minute and 1-hour rollups (migration 7 rebuilds the hourly one on the
minutes, migration 8 widens the minute policy's window: this module stays as shipped).

Plain PostgreSQL: BRIN indexes on time (rows arrive in time order, so a BRIN is tiny
and prunes well) and rollup tables of the same name and shape, kept current by
store.rollups.refresh() which the ingest worker runs periodically.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine
from store.retention import RETENTION

NAME = "time-series storage"
# Continuous aggregates cannot be created inside a transaction block.
TRANSACTIONAL = False

ROLLUPS = {"measurements_1m": "1 minute", "measurements_1h": "1 hour"}
CHUNKS = {"measurements": "1 day", "camera_events": "7 days", "security_events": "7 days"}
COMPRESSION = {
    "measurements": "device_id, metric",
    "camera_events": "camera",
    "security_events": "dataset",
}


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    if engine is Engine.TIMESCALE:
        _timescale(conn)
    else:
        _postgres(conn)


def _timescale(conn: psycopg.Connection) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    for table, chunk in CHUNKS.items():
        conn.execute(
            "SELECT create_hypertable(%s::regclass, 'time',"
            " chunk_time_interval => %s::interval, if_not_exists => true)",
            (table, chunk),
        )
    for table, segment_by in COMPRESSION.items():
        # Identifiers come from the constants above, never from input.
        conn.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress,"
            f" timescaledb.compress_segmentby = '{segment_by}',"
            " timescaledb.compress_orderby = 'time DESC')"
        )
        conn.execute(
            "SELECT add_compression_policy(%s::regclass, INTERVAL '7 days', if_not_exists => true)",
            (table,),
        )
    for table, keep in RETENTION.items():
        conn.execute(
            "SELECT add_retention_policy(%s::regclass, %s::interval, if_not_exists => true)",
            (table, keep),
        )
    for view, width in ROLLUPS.items():
        conn.execute(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view}"
            " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
            f" SELECT time_bucket(INTERVAL '{width}', time) AS bucket, device_id, metric,"
            " avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count"
            " FROM measurements WHERE quality < 2"
            " GROUP BY bucket, device_id, metric WITH NO DATA"
        )
        conn.execute(
            "SELECT add_continuous_aggregate_policy(%s::regclass,"
            " start_offset => %s::interval, end_offset => %s::interval,"
            " schedule_interval => %s::interval, if_not_exists => true)",
            (view, "3 hours" if view.endswith("1m") else "3 days", width, width),
        )


def _postgres(conn: psycopg.Connection) -> None:
    with conn.transaction():
        for table in CHUNKS:
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_time_brin ON {table} USING brin (time)"
            )
        for view in ROLLUPS:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {view} ("
                " bucket timestamptz NOT NULL, device_id text NOT NULL, metric text NOT NULL,"
                " avg double precision, min double precision, max double precision,"
                " count bigint NOT NULL, PRIMARY KEY (device_id, metric, bucket))"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS rollup_watermarks ("
            " rollup text PRIMARY KEY, refreshed_through timestamptz NOT NULL)"
        )
