"""Re-notify firing alerts nobody acknowledged (escalation by repetition)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from processors.alerts import outbox
from processors.alerts.manager import SYSTEM
from processors.alerts.notes import system_note
from processors.alerts.silences import active_silences
from store import alerts as store

BATCH = 200


def renotify_due(
    conn: psycopg.Connection, now: datetime, routing: outbox.Routing, interval: timedelta
) -> int:
    due = store.lock_unacknowledged(conn, now - interval, BATCH)
    if not due:
        return 0
    silences = active_silences(conn, now)
    sent = 0
    for alert in due:
        queued = outbox.enqueue(conn, alert, "renotify", routing, silences, now)
        # Marked even when muted, so a silenced alert is not re-examined every tick.
        store.mark_notified(conn, alert["id"], now)
        if queued:
            vi, en = system_note("renotified", count=queued)
            store.add_history(conn, alert, SYSTEM, "renotified", note=vi, note_en=en)
            sent += 1
    return sent
