"""How long events are kept, and pruning on plain PostgreSQL.

TimescaleDB drops whole expired chunks by policy (migration m0002 adds the policies from
RETENTION). Plain PostgreSQL has no chunks, so the alert service's retention job deletes
expired rows in bounded batches: a run stays short, and a backlog (a database that was
off the job for a while) is worked off over several runs. Changing RETENTION changes
the plain-PostgreSQL job at once; an existing TimescaleDB database keeps the policy it
was migrated with until a migration replaces it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from store.engine import Engine, recorded

RETENTION = {
    "measurements": timedelta(days=400),
    "camera_events": timedelta(days=180),
    "security_events": timedelta(days=365),
}
# Tables made after m0002 (which adds TimescaleDB policies from RETENTION as shipped):
# their migration adds their policies. Line crossings are kept as long as the camera
# events they come from.
DERIVED_RETENTION = {"line_crossings": RETENTION["camera_events"]}
BATCH_ROWS = 20_000
MAX_BATCHES_PER_RUN = 100


def prune(
    conn: psycopg.Connection,
    now: datetime,
    batch_rows: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> dict[str, int]:
    """Delete rows older than their table's retention; rows deleted per table."""
    if recorded(conn) is Engine.TIMESCALE:
        return {}  # retention policies drop whole chunks there
    deleted: dict[str, int] = {}
    for table, keep in (RETENTION | DERIVED_RETENTION).items():
        deleted[table] = 0
        for _ in range(max_batches):
            # table comes from RETENTION, never from input. The BRIN index on time finds
            # the oldest rows; ctid addresses them without a key of their own.
            count = conn.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE time < %s LIMIT %s))",
                (now - keep, batch_rows),
            ).rowcount
            deleted[table] += count
            if count < batch_rows:
                break
    return deleted
