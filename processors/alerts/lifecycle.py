"""What people do to alerts: acknowledge, resolve, annotate. Each step is kept as history
with who, when and a note; resolving notifies the channels that heard the alert fire.

Callers own the transaction (`with conn.transaction():`), as the API does per request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from events.alerts import AlertStatus
from processors.alerts import outbox
from processors.alerts.silences import active_silences
from store import alerts as store

MAX_NOTE = 4000


class AlertNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """`code` names the problem the API answers with (api/messages.yaml has its texts in
    both languages, so an operator reads why in the console's language)."""

    CODES = ("already_acknowledged", "already_resolved")

    def __init__(self, code: str) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown transition problem {code!r}")
        super().__init__(code.replace("_", " "))
        self.code = code


def _now() -> datetime:
    return datetime.now(UTC)


def _locked(conn: psycopg.Connection, alert_id: str) -> store.AlertRow:
    alert = store.lock_alert(conn, alert_id)
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
    alert = _locked(conn, alert_id)
    if alert["status"] != AlertStatus.FIRING:
        resolved = alert["status"] == AlertStatus.RESOLVED
        raise InvalidTransition("already_resolved" if resolved else "already_acknowledged")
    alert = store.acknowledge_alert(conn, alert["id"], actor)
    store.add_history(conn, alert, actor, "acknowledged", note=_note(note))
    store.publish_change(conn, alert, "acknowledged")
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
    alert = _locked(conn, alert_id)
    if alert["status"] == AlertStatus.RESOLVED:
        raise InvalidTransition("already_resolved")
    alert = store.resolve_alert(conn, alert["id"], actor)
    store.add_history(conn, alert, actor, "resolved", note=_note(note))
    if routing is not None:
        outbox.enqueue(conn, alert, "resolved", routing, active_silences(conn), clock())
    store.publish_change(conn, alert, "resolved")
    return alert


def add_note(conn: psycopg.Connection, alert_id: str, actor: str, note: str) -> dict[str, Any]:
    if not note.strip():
        raise ValueError("a note needs some text")
    alert = _locked(conn, alert_id)
    store.add_history(conn, alert, actor, "note", note=_note(note))
    return alert
