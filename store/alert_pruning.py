"""How long alert records are kept, and pruning them (the alert service's job).

Periods are data (PRUNE_AFTER): an ended silence is kept for the record this long after
it ended, a resolved alert this long after it was resolved (its history and outbox rows
go with it), and any history row this long after it was written (an alert that stays
open for years, re-notified every half hour, would otherwise grow without end). Deletes
run in bounded batches so one run stays short; a backlog is worked off over runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

PRUNE_AFTER = {
    "silences": timedelta(days=90),
    "alerts": timedelta(days=400),
    "alert_history": timedelta(days=400),
}
BATCH_ROWS = 5_000
MAX_BATCHES_PER_RUN = 20

# Each: the table, and the query choosing a batch of its expired rows by an index.
_EXPIRED = {
    "silences": "SELECT id FROM silences WHERE ends_at < %s ORDER BY ends_at LIMIT %s",
    "alerts": "SELECT id FROM alerts WHERE status = 'resolved' AND resolved_at < %s"
    " ORDER BY resolved_at LIMIT %s",
    "alert_history": "SELECT id FROM alert_history WHERE at < %s ORDER BY at LIMIT %s",
}


def prune(
    conn: psycopg.Connection,
    now: datetime,
    periods: dict[str, timedelta] | None = None,
    batch_rows: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> dict[str, int]:
    """Delete records past their period; rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, keep in (periods or PRUNE_AFTER).items():
        choose = _EXPIRED[table]  # KeyError for an unknown table: never from input
        deleted[table] = 0
        for _ in range(max_batches):
            count = conn.execute(
                f"DELETE FROM {table} WHERE id IN ({choose})", (now - keep, batch_rows)
            ).rowcount
            deleted[table] += count
            if count < batch_rows:
                break
    return deleted
