"""TimescaleDB: the hourly rollup is computed from the minute rollup, not from raw readings.

measurements_1h was a continuous aggregate over raw readings, so every hourly policy
run re-read a whole hour of readings: 5.9 s for an hour of 1 million readings, linear in
readings, i.e. minutes of one core every hour at 15,000 readings/s. Built on
measurements_1m (a hierarchical continuous aggregate) the same refresh took 0.27 s and
gave the same rows (bench/timescale_write.py, docs/performance.md "TimescaleDB: what it
changes on the write path"). Plain PostgreSQL's service-kept rollup already builds the
hour from its minute rows (store/rollups.py); the two engines now agree on the method.

The view keeps its name and columns (bucket, device_id, metric, avg, min, max, count):
the mean of an hour is the count-weighted mean of its minutes. It is re-created, its
policy re-added, and its past materialised from the minute rollup, which the minute
policy has kept since the schema was made. Plain PostgreSQL: nothing to do.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "TimescaleDB: measurements_1h from measurements_1m (hierarchical)"
# Continuous aggregates cannot be created or refreshed inside a transaction block.
TRANSACTIONAL = False

HOURLY = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS measurements_1h"
    " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
    " SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, device_id, metric,"
    " sum(avg * count) / sum(count)::double precision AS avg,"
    " min(min) AS min, max(max) AS max, sum(count)::bigint AS count"
    " FROM measurements_1m GROUP BY 1, device_id, metric WITH NO DATA"
)


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    if engine is not Engine.TIMESCALE:
        return
    # Re-runnable: a run that stopped after re-creating the view only finishes the rest.
    if not _built_on_minutes(conn):
        conn.execute("SELECT remove_continuous_aggregate_policy('measurements_1h', true)")
        conn.execute("DROP MATERIALIZED VIEW IF EXISTS measurements_1h")
        conn.execute(HOURLY)
    # Same window as m0002's policy: late readings up to 3 days old are rolled up again.
    conn.execute(
        "SELECT add_continuous_aggregate_policy('measurements_1h',"
        " start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',"
        " schedule_interval => INTERVAL '1 hour', if_not_exists => true)"
    )
    conn.execute(
        "CALL refresh_continuous_aggregate('measurements_1h', NULL,"
        " date_trunc('hour', now()) - INTERVAL '1 hour')"
    )


def _built_on_minutes(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT view_definition FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = 'measurements_1h'"
    ).fetchone()
    return row is not None and "measurements_1m" in row[0]
