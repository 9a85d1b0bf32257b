"""Plain PostgreSQL: a BRIN index on measurements.ingested_at.

The service-kept rollups (store/rollups.py) find the buckets to recompute by
`ingested_at >= watermark`; without an index that is a scan of every reading ever stored,
every 30 s. Rows arrive in ingested_at order, so BRIN fits and costs almost nothing.
TimescaleDB's continuous aggregates track changes themselves and need no index.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "BRIN on measurements.ingested_at for rollup refresh (plain PostgreSQL)"
TRANSACTIONAL = True


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    if engine is Engine.TIMESCALE:
        return
    conn.execute(
        "CREATE INDEX IF NOT EXISTS measurements_ingested_brin"
        " ON measurements USING brin (ingested_at)"
    )
