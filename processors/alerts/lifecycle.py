"""What people do to alerts: acknowledge, resolve, annotate. Each step is kept as history
with who, when and a note; resolving notifies the channels that heard the alert fire.

Callers own the transaction (`with conn.transaction():`), as the API does per request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from events.alerts import AlertStatus
from processors.alerts import outbox
from processors.alerts.manager import add_history, publish_change
from processors.alerts.silences import active_silences

MAX_NOTE = 4000


class AlertNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _locked(cur: psycopg.Cursor[dict[str, Any]], alert_id: str) -> dict[str, Any]:
    cur.execute("SELECT * FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
    alert = cur.fetchone()
    if alert is None:
        raise AlertNotFound(f"no alert with id {alert_id}")
    return alert


def _note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise ValueError(f"a note is at most {MAX_NOTE} characters (got {len(note)})")
    return note


def acknowledge(
    conn: psycopg.Connection, alert_id: str, actor: str, note: str = ""
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        alert = _locked(cur, alert_id)
        if alert["status"] != AlertStatus.FIRING:
            raise InvalidTransition(
                f"alert is {alert['status']}; only a firing alert is acknowledged"
            )
        cur.execute(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(),"
            " acknowledged_by = %s WHERE id = %s RETURNING *",
            (actor, alert_id),
        )
        alert = cur.fetchone()
        assert alert is not None
        add_history(cur, alert, actor, "acknowledged", note=_note(note))
        publish_change(cur, alert, "acknowledged")
        return alert


def resolve(
    conn: psycopg.Connection,
    alert_id: str,
    actor: str,
    note: str = "",
    *,
    routing: outbox.Routing | None = None,
    clock: Callable[[], datetime] = _now,
) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        alert = _locked(cur, alert_id)
        if alert["status"] == AlertStatus.RESOLVED:
            raise InvalidTransition("alert is already resolved")
        cur.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = %s"
            " WHERE id = %s RETURNING *",
            (actor, alert_id),
        )
        alert = cur.fetchone()
        assert alert is not None
        add_history(cur, alert, actor, "resolved", note=_note(note))
        if routing is not None:
            outbox.enqueue(conn, alert, "resolved", routing, active_silences(conn), clock())
        publish_change(cur, alert, "resolved")
        return alert


def add_note(conn: psycopg.Connection, alert_id: str, actor: str, note: str) -> dict[str, Any]:
    if not note.strip():
        raise ValueError("a note needs some text")
    with conn.cursor(row_factory=dict_row) as cur:
        alert = _locked(cur, alert_id)
        add_history(cur, alert, actor, "note", note=_note(note))
        return alert
