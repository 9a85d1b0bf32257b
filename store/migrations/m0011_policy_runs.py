"""policy_runs: TimescaleDB policy jobs the service ran itself (store/timescale_jobs.py).

`CALL run_job()` does not update TimescaleDB's job statistics, so where its scheduler
fails every job (Debian 12's PostgreSQL 15.20) the statistics say "Failed" for ever while
the rollups are in fact fresh. The service records its own runs here, and the Platform
dashboard's rollup freshness reads the later of the two. Empty on plain PostgreSQL and
wherever the scheduler works.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine
from store.migrations.m0009_dashboard_reads import READER_ROLE

NAME = "policy jobs the service ran itself"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS policy_runs (
    job_id       integer PRIMARY KEY,
    proc_name    text NOT NULL,
    target       text NOT NULL,
    last_run     timestamptz NOT NULL,
    last_success timestamptz,
    last_error   text
)
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
    conn.execute(
        psycopg.sql.SQL("GRANT SELECT ON policy_runs TO {}").format(
            psycopg.sql.Identifier(READER_ROLE)
        )
    )
