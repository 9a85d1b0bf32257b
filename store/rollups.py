"""Rollups on plain PostgreSQL, where there are no continuous aggregates.

measurements_1m and measurements_1h are tables here, shaped like TimescaleDB's
continuous aggregates, so readers query one name on either engine. refresh() recomputes
every bucket touched by rows ingested since the last run; recomputing whole buckets
(not adding deltas) keeps it idempotent, so concurrent or repeated runs are harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from store.engine import Engine, detect

ROLLUP_WIDTHS = {"measurements_1m": "1 minute", "measurements_1h": "1 hour"}
# Rows commit a little after their ingested_at (the transaction's start), so each run
# looks back this far past its watermark to catch late committers.
LOOKBACK = timedelta(minutes=2)
_REFRESH_LOCK = 7_302_114_002


def refresh(conn: psycopg.Connection) -> dict[str, int]:
    """Bring the rollup tables up to date; returns buckets rewritten per rollup."""
    if detect(conn).engine is Engine.TIMESCALE:
        return {}  # continuous aggregate policies do this job there
    rewritten: dict[str, int] = {}
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_REFRESH_LOCK,)).fetchone()[0]
        if not got:
            return rewritten  # another worker is refreshing right now
        now = conn.execute("SELECT now()").fetchone()[0]
        for rollup, width in ROLLUP_WIDTHS.items():
            since = _watermark(conn, rollup) - LOOKBACK
            rewritten[rollup] = _rebuild(conn, rollup, width, since)
            conn.execute(
                "INSERT INTO rollup_watermarks (rollup, refreshed_through) VALUES (%s, %s)"
                " ON CONFLICT (rollup) DO UPDATE"
                " SET refreshed_through = excluded.refreshed_through",
                (rollup, now),
            )
    return rewritten


def _watermark(conn: psycopg.Connection, rollup: str) -> datetime:
    row = conn.execute(
        "SELECT refreshed_through FROM rollup_watermarks WHERE rollup = %s", (rollup,)
    ).fetchone()
    return row[0] if row else datetime(1970, 1, 1).astimezone()


def _rebuild(conn: psycopg.Connection, rollup: str, width: str, since: datetime) -> int:
    # rollup and width come from ROLLUP_WIDTHS, never from input.
    cur = conn.execute(
        f"""
        WITH touched AS (
            SELECT DISTINCT device_id, metric,
                   date_bin(INTERVAL '{width}', time, TIMESTAMPTZ 'epoch') AS bucket
            FROM measurements WHERE ingested_at >= %s
        )
        INSERT INTO {rollup} (bucket, device_id, metric, avg, min, max, count)
        SELECT t.bucket, t.device_id, t.metric, avg(m.value), min(m.value), max(m.value), count(*)
        FROM touched t
        JOIN measurements m ON m.device_id = t.device_id AND m.metric = t.metric
             AND m.time >= t.bucket AND m.time < t.bucket + INTERVAL '{width}'
             AND m.quality < 2
        GROUP BY t.bucket, t.device_id, t.metric
        ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
            avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count
        """,
        (since,),
    )
    return cur.rowcount
