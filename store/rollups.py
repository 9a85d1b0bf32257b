"""Rollups on plain PostgreSQL, where there are no continuous aggregates.

measurements_1m and measurements_1h are tables here, shaped like TimescaleDB's
continuous aggregates, so readers query one name on either engine. refresh() recomputes
every minute touched by rows ingested since the last run from its readings, then every
hour holding such a minute from its minute rows (the way TimescaleDB stacks hierarchical
aggregates). Recomputing whole buckets (not adding deltas) keeps it idempotent, so
concurrent or repeated runs are harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from store.engine import Engine, recorded

ROLLUPS = ("measurements_1m", "measurements_1h")
# Rows commit a little after their ingested_at (the transaction's start), so each run
# looks back this far past its watermark to catch late committers.
LOOKBACK = timedelta(minutes=2)
_REFRESH_LOCK = 7_302_114_002


def refresh(conn: psycopg.Connection) -> dict[str, int]:
    """Bring the rollup tables up to date; returns buckets rewritten per rollup."""
    if recorded(conn) is Engine.TIMESCALE:
        return {}  # continuous aggregate policies do this job there
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_REFRESH_LOCK,)).fetchone()[0]
        if not got:
            return {}  # another worker is refreshing right now
        now = conn.execute("SELECT now()").fetchone()[0]
        since = _watermark(conn) - LOOKBACK
        _collect_touched_minutes(conn, since)
        rewritten = {
            "measurements_1m": _rebuild_minutes(conn),
            "measurements_1h": _rebuild_hours(conn),
        }
        for rollup in ROLLUPS:
            conn.execute(
                "INSERT INTO rollup_watermarks (rollup, refreshed_through) VALUES (%s, %s)"
                " ON CONFLICT (rollup) DO UPDATE"
                " SET refreshed_through = excluded.refreshed_through",
                (rollup, now),
            )
    return rewritten


def _watermark(conn: psycopg.Connection) -> datetime:
    """How far both rollups are known to be refreshed (the older of the two)."""
    row = conn.execute(
        "SELECT count(*), min(refreshed_through) FROM rollup_watermarks WHERE rollup = ANY(%s)",
        (list(ROLLUPS),),
    ).fetchone()
    return row[1] if row[0] == len(ROLLUPS) else datetime(1970, 1, 1).astimezone()


def _collect_touched_minutes(conn: psycopg.Connection, since: datetime) -> None:
    # Dropped first as well: called inside a caller's transaction, ON COMMIT has not
    # come yet when the next refresh runs.
    conn.execute("DROP TABLE IF EXISTS touched_minutes")
    conn.execute(
        "CREATE TEMP TABLE touched_minutes ON COMMIT DROP AS"
        " SELECT DISTINCT device_id, metric,"
        "        date_bin(INTERVAL '1 minute', time, TIMESTAMPTZ 'epoch') AS bucket"
        " FROM measurements WHERE ingested_at >= %s",
        (since,),
    )
    # A temp table has no statistics until analysed: guessing its size, the planner
    # merge-joined whole series and filtered the minutes afterwards, quadratic in the
    # readings per series (a 50 h backfill with 3,000 per series: 66 s instead of 3 s).
    conn.execute("ANALYZE touched_minutes")


def _rebuild_minutes(conn: psycopg.Connection) -> int:
    """Each touched minute recomputed from its raw readings."""
    return conn.execute(
        """
        INSERT INTO measurements_1m (bucket, device_id, metric, avg, min, max, count)
        SELECT t.bucket, t.device_id, t.metric, avg(m.value), min(m.value), max(m.value), count(*)
        FROM touched_minutes t
        JOIN measurements m ON m.device_id = t.device_id AND m.metric = t.metric
             AND m.time >= t.bucket AND m.time < t.bucket + INTERVAL '1 minute'
             -- the same minute as an equality, which a merge or hash join can key on
             AND date_bin(INTERVAL '1 minute', m.time, TIMESTAMPTZ 'epoch') = t.bucket
             AND m.quality < 2
        GROUP BY t.bucket, t.device_id, t.metric
        ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
            avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count
        """
    ).rowcount


def _rebuild_hours(conn: psycopg.Connection) -> int:
    """Each hour holding a touched minute recomputed from its (at most 60) minute rows,
    not from its raw readings: at thousands of readings a second an hour holds millions,
    and rereading them every refresh starved the ingest workers of the database."""
    return conn.execute(
        """
        WITH touched AS (
            SELECT DISTINCT device_id, metric,
                   date_bin(INTERVAL '1 hour', bucket, TIMESTAMPTZ 'epoch') AS bucket
            FROM touched_minutes
        )
        INSERT INTO measurements_1h (bucket, device_id, metric, avg, min, max, count)
        SELECT t.bucket, t.device_id, t.metric,
               sum(m.avg * m.count) / sum(m.count)::double precision,
               min(m.min), max(m.max), sum(m.count)
        FROM touched t
        JOIN measurements_1m m ON m.device_id = t.device_id AND m.metric = t.metric
             AND m.bucket >= t.bucket AND m.bucket < t.bucket + INTERVAL '1 hour'
        GROUP BY t.bucket, t.device_id, t.metric
        ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
            avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count
        """
    ).rowcount
