"""Re-notify firing alerts nobody acknowledged (escalation by repetition)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from processors.alerts import outbox
from processors.alerts.manager import SYSTEM, add_history
from processors.alerts.silences import active_silences

BATCH = 200


def renotify_due(
    conn: psycopg.Connection, now: datetime, routing: outbox.Routing, interval: timedelta
) -> int:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM alerts WHERE status = 'firing'"
            " AND coalesce(last_notified_at, recorded_at) <= %s"
            # Longest-waiting first, so a backlog larger than one batch is fair.
            " ORDER BY coalesce(last_notified_at, recorded_at) LIMIT %s FOR UPDATE SKIP LOCKED",
            (now - interval, BATCH),
        )
        due = cur.fetchall()
        if not due:
            return 0
        silences = active_silences(conn, now)
        sent = 0
        for alert in due:
            queued = outbox.enqueue(conn, alert, "renotify", routing, silences, now)
            # Marked even when muted, so a silenced alert is not re-examined every tick.
            cur.execute("UPDATE alerts SET last_notified_at = %s WHERE id = %s", (now, alert["id"]))
            if queued:
                add_history(cur, alert, SYSTEM, "renotified", note=f"{queued} channel(s)")
                sent += 1
        return sent
