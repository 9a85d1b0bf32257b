"""TimescaleDB's policy jobs, run by the service when TimescaleDB's own scheduler cannot.

On Debian 12's PostgreSQL 15.20 every job TimescaleDB 2.28.3's background scheduler
starts (continuous-aggregate refreshes, compression, retention) ends in `cannot drop
portal "" while it is being set up`: the job runner creates an unnamed portal of its own
and PostgreSQL's later minor releases refuse to drop a portal in that state
(tsl/src/bgw_policy/job.c, PortalDrop). The job is marked Failed and retried with
back-off, so minute rollups fall minutes behind and chunks are never compressed nor
dropped. The same job run with `CALL run_job(id)` from an ordinary session has the
session's portal and succeeds. So: a policy job of ours whose last scheduled run failed
is run here, at most once per its schedule interval; where the scheduler works (its last
run succeeded) this does nothing at all.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import datetime

import psycopg

from store.engine import Engine, recorded

log = logging.getLogger(__name__)
# Two-key advisory lock (this key, the job id): one runner per job across workers.
_JOB_LOCK = 730_211

FAILED_POLICIES = """
SELECT j.job_id, j.proc_name, j.hypertable_name, j.schedule_interval
FROM timescaledb_information.jobs j
JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
WHERE j.scheduled AND j.hypertable_name IS NOT NULL AND s.last_run_status = 'Failed'
ORDER BY j.job_id
"""


def run_failed_jobs(
    conn: psycopg.Connection, last_runs: MutableMapping[int, datetime], now: datetime
) -> list[int]:
    """Runs the failed policy jobs that are due; `last_runs` (job id -> when this process
    last ran it) is the caller's memory between calls. Returns the job ids run.
    `conn` must be in autocommit mode: run_job commits as it goes."""
    if recorded(conn) is not Engine.TIMESCALE:
        return []
    ran = []
    for job_id, proc, table, interval in conn.execute(FAILED_POLICIES).fetchall():
        previous = last_runs.get(job_id)
        if previous is not None and now - previous < interval:
            continue
        if previous is None:
            log.warning(
                "TimescaleDB's scheduler failed job %s (%s on %s); the service runs it", job_id,
                proc, table,
            )  # fmt: skip
        # Counted as run even if it fails or another worker holds it: one try an interval.
        last_runs[job_id] = now
        if _run_locked(conn, (job_id, proc, table)):
            ran.append(job_id)
    return ran


def _run_locked(conn: psycopg.Connection, job: tuple[int, str, str]) -> bool:
    job_id = job[0]
    locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_JOB_LOCK, job_id)).fetchone()
    if not locked[0]:
        return False  # another worker is running it now
    try:
        conn.execute("CALL run_job(%s)", (job_id,))
    except psycopg.Error as error:
        _record(conn, job, error=str(error).strip())
        raise
    else:
        _record(conn, job, error=None)
        return True
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_JOB_LOCK, job_id))


def _record(conn: psycopg.Connection, job: tuple[int, str, str], error: str | None) -> None:
    """What the Platform dashboard's rollup freshness reads beside TimescaleDB's own job
    statistics, which run_job() does not update."""
    conn.execute(
        "INSERT INTO policy_runs (job_id, proc_name, target, last_run, last_success, last_error)"
        " VALUES (%s, %s, %s, now(), CASE WHEN %s::text IS NULL THEN now() END, %s)"
        " ON CONFLICT (job_id) DO UPDATE SET last_run = excluded.last_run,"
        " last_success = coalesce(excluded.last_success, policy_runs.last_success),"
        " last_error = excluded.last_error",
        (*job, error, error),
    )
