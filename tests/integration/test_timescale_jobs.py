"""TimescaleDB's policy jobs keep running where its scheduler cannot (store/timescale_jobs.py).

Debian 12's PostgreSQL 15.20 fails every job TimescaleDB 2.28.3's scheduler starts; this
test waits for the scheduler's own first runs on a fresh database and then checks both
outcomes for real: where they failed, the service's runner brings the minute rollup up to
date and compresses the old chunk; where they succeeded, the runner does nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from stack import postgres
from store import timescale_jobs
from store.migrate import migrate
from tests.integration.engines import scratch_database

pytestmark = pytest.mark.integration

SCHEDULER_WAIT_S = 150


@pytest.fixture
def timescale_db(settings) -> Iterator[psycopg.Connection]:
    if not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    with (
        scratch_database(settings, "ioc_ts_jobs") as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        migrate(conn, "auto")
        yield conn


def _seed(conn: psycopg.Connection) -> None:
    # Readings every 10 minutes over 10 days: recent minutes for the rollup, chunks older
    # than the 7-day compression age.
    conn.execute(
        "INSERT INTO measurements (time, device_id, metric, value)"
        " SELECT now() - i * INTERVAL '10 minutes', 'tram-1', 'pm25', i % 50"
        " FROM generate_series(1, 1440) i"
    )


def _scheduler_outcomes(conn: psycopg.Connection) -> dict[str, str]:
    """proc_name/hypertable -> last status, once every policy of ours has run once."""
    deadline = time.monotonic() + SCHEDULER_WAIT_S
    while time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT j.proc_name || '/' || j.hypertable_name, s.last_run_status"
            " FROM timescaledb_information.jobs j"
            " LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id"
            " WHERE j.hypertable_name IS NOT NULL"
        ).fetchall()
        if rows and all(status for _, status in rows):
            return dict(rows)
        time.sleep(3)
    pytest.fail(f"TimescaleDB's scheduler ran none of the policies in {SCHEDULER_WAIT_S} s")


def _counts(conn: psycopg.Connection) -> tuple[int, int]:
    minutes = conn.execute(
        "SELECT count(*) FROM measurements_1m WHERE bucket > now() - INTERVAL '3 hours'"
        " AND device_id = 'tram-1'"
    ).fetchone()[0]
    compressed = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'measurements' AND is_compressed"
    ).fetchone()[0]
    return minutes, compressed


def test_failed_policies_are_run_by_the_service(timescale_db) -> None:
    _seed(timescale_db)
    outcomes = _scheduler_outcomes(timescale_db)
    failed = {name for name, status in outcomes.items() if status == "Failed"}
    last_runs: dict[int, datetime] = {}
    now = datetime.now(UTC)
    ran = timescale_jobs.run_failed_jobs(timescale_db, last_runs, now)
    assert len(ran) == len(failed), (outcomes, ran)
    if not failed:
        return  # the scheduler works on this server: nothing to stand in for
    recorded = timescale_db.execute(
        "SELECT job_id FROM policy_runs WHERE last_success IS NOT NULL AND last_error IS NULL"
    ).fetchall()
    assert sorted(r[0] for r in recorded) == sorted(ran)  # what the freshness panel reads
    # Materialized rows only (the real-time part would answer from raw readings anyway).
    timescale_db.execute("ALTER MATERIALIZED VIEW measurements_1m SET"
                         " (timescaledb.materialized_only = true)")  # fmt: skip
    minutes, compressed = _counts(timescale_db)
    assert minutes >= 17  # one reading every 10 minutes over the last 3 hours
    if any(name.startswith("policy_compression/") for name in failed):
        assert compressed >= 1
    # Within the schedule interval a failed job is not run again.
    assert timescale_jobs.run_failed_jobs(timescale_db, last_runs, now + timedelta(seconds=5)) == []
