"""TimescaleDB: the minute rollup's policy looks back 3 days, as far as the hourly one.

Since migration 7 the hourly rollup is built from the minute rollup, so an hour can be
no fresher than its minutes. The minute policy refreshed only its last 3 hours, so
readings that arrived 3 hours to 3 days late (a station uploading what it buffered
through an outage) were never rolled up into minutes, and the hourly refresh re-read the
same stale minutes: they reached neither rollup. A refresh recomputes only the buckets
invalidated by such late rows plus the new ones, so the wider window costs nothing while
no reading is late. Plain PostgreSQL: its service-kept rollup recomputes every minute
touched by late rows whatever their age; nothing to do.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "TimescaleDB: minute rollup policy window 3 days"
# Policies are jobs; continuous-aggregate functions refuse a transaction block.
TRANSACTIONAL = False
LATE_WINDOW = "3 days"


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    if engine is not Engine.TIMESCALE:
        return
    conn.execute("SELECT remove_continuous_aggregate_policy('measurements_1m', true)")
    conn.execute(
        "SELECT add_continuous_aggregate_policy('measurements_1m',"
        " start_offset => %s::interval, end_offset => INTERVAL '1 minute',"
        " schedule_interval => INTERVAL '1 minute', if_not_exists => true)",
        (LATE_WINDOW,),
    )
