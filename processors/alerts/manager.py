"""Signals in, alerts out: identity, dedup, escalation and automatic resolution.

Runs inside the caller's transaction (the one that wrote the events behind the signals),
so an alert, its history and its outbox rows commit with the data or not at all. Open
alerts are unique per fingerprint (a partial unique index), and every change locks the
alert's row, so two workers raising the same condition at once still make one alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from events.alerts import LIVE_CHANNEL, AlertStatus, Signal, SignalState
from processors.alerts import outbox
from processors.alerts.silences import active_silences

SYSTEM = "system"
# An alert lists the newest events behind it, not every one of a long episode.
MAX_EVENT_IDS = 50


@dataclass(frozen=True)
class Change:
    alert_id: str
    fingerprint: str
    kind: str  # fired | escalated | deescalated | updated | resolved
    notified: int


def _now() -> datetime:
    return datetime.now(UTC)


class AlertManager:
    def __init__(self, routing: outbox.Routing, clock: Callable[[], datetime] = _now) -> None:
        self.routing = routing
        self.clock = clock

    def apply(self, conn: psycopg.Connection, signals: Iterable[Signal]) -> list[Change]:
        # Sorted by fingerprint so concurrent workers lock alert rows in the same order
        # (no deadlock), then by time so one batch can step I → II → III in order.
        ordered = sorted(signals, key=lambda s: (s.fingerprint, s.at))
        if not ordered:
            return []
        silences = active_silences(conn)
        changes = []
        with conn.cursor(row_factory=dict_row) as cur:
            for signal in ordered:
                change = self._apply_one(cur, signal, silences)
                if change is not None:
                    changes.append(change)
        return changes

    def _apply_one(
        self, cur: psycopg.Cursor[dict[str, Any]], signal: Signal, silences: Sequence[Any]
    ) -> Change | None:
        alert = _open_alert(cur, signal.fingerprint)
        if alert is None:
            if signal.state is SignalState.RESOLVED:
                return None  # nothing open: a clear with nothing to clear
            alert = _insert(cur, signal) or _open_alert(cur, signal.fingerprint)
            if alert is None:  # pragma: no cover - the row we lost to was resolved at once
                return None
            if alert["_new"]:
                return self._record(cur, alert, "fired", signal, silences)
        if signal.state is SignalState.RESOLVED:
            alert = _resolve(cur, alert["id"], signal)
            return self._record(cur, alert, "resolved", signal, silences)
        kind = _kind(int(alert["severity"]), int(signal.severity))
        alert = _update(cur, alert, signal)
        if kind == "updated":
            return Change(str(alert["id"]), alert["fingerprint"], kind, 0)
        return self._record(cur, alert, kind, signal, silences)

    def _record(
        self,
        cur: psycopg.Cursor[dict[str, Any]],
        alert: Mapping[str, Any],
        kind: str,
        signal: Signal,
        silences: Sequence[Any],
    ) -> Change:
        add_history(cur, alert, SYSTEM, kind, note=signal.summary_en, event_time=signal.at)
        notified = outbox.enqueue(cur.connection, alert, kind, self.routing, silences, self.clock())
        publish_change(cur, alert, kind)
        return Change(str(alert["id"]), alert["fingerprint"], kind, notified)


def _kind(current: int, new: int) -> str:
    if new > current:
        return "escalated"
    if new < current:
        return "deescalated"
    return "updated"


def _open_alert(cur: psycopg.Cursor[dict[str, Any]], fingerprint: str) -> dict[str, Any] | None:
    cur.execute(
        "SELECT *, false AS _new FROM alerts WHERE fingerprint = %s AND status <> 'resolved'"
        " FOR UPDATE",
        (fingerprint,),
    )
    return cur.fetchone()


def _insert(cur: psycopg.Cursor[dict[str, Any]], signal: Signal) -> dict[str, Any] | None:
    cur.execute(
        "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
        " labels, title_vi, title_en, summary_vi, summary_en, alert_values, technique_ids,"
        " event_ids, started_at, updated_at)"
        " VALUES (%s, %s, %s, %s, 'firing', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO NOTHING"
        " RETURNING *, true AS _new",
        (
            uuid.uuid4(),
            signal.fingerprint,
            signal.rule,
            signal.domain.value,
            int(signal.severity),
            int(signal.severity),
            Jsonb(dict(signal.labels)),
            signal.title_vi,
            signal.title_en,
            signal.summary_vi,
            signal.summary_en,
            _jsonb(signal.values),
            list(signal.technique_ids),
            list(signal.event_ids[-MAX_EVENT_IDS:]),
            signal.at,
            signal.at,
        ),
    )
    return cur.fetchone()


def _update(
    cur: psycopg.Cursor[dict[str, Any]], alert: Mapping[str, Any], signal: Signal
) -> dict[str, Any]:
    escalated = int(signal.severity) > int(alert["severity"])
    # A worse condition needs attention again even if someone acknowledged the milder one.
    status = AlertStatus.FIRING.value if escalated else alert["status"]
    techniques = sorted(set(alert["technique_ids"]) | set(signal.technique_ids))
    events = [*alert["event_ids"], *signal.event_ids][-MAX_EVENT_IDS:]
    cur.execute(
        "UPDATE alerts SET severity = %s, peak_severity = greatest(peak_severity, %s),"
        " status = %s, title_vi = %s, title_en = %s, summary_vi = %s, summary_en = %s,"
        " alert_values = %s, technique_ids = %s, event_ids = %s,"
        " updated_at = greatest(updated_at, %s) WHERE id = %s RETURNING *",
        (
            int(signal.severity),
            int(signal.severity),
            status,
            signal.title_vi,
            signal.title_en,
            signal.summary_vi,
            signal.summary_en,
            _jsonb(signal.values),
            techniques,
            events,
            signal.at,
            alert["id"],
        ),
    )
    row = cur.fetchone()
    assert row is not None  # the row is locked by this transaction
    return row


def _resolve(
    cur: psycopg.Cursor[dict[str, Any]], alert_id: object, signal: Signal
) -> dict[str, Any]:
    cur.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s,"
        " alert_values = alert_values || %s, updated_at = greatest(updated_at, %s)"
        " WHERE id = %s RETURNING *",
        (signal.at, SYSTEM, _jsonb(signal.values), signal.at, alert_id),
    )
    row = cur.fetchone()
    assert row is not None
    return row


def add_history(
    cur: psycopg.Cursor[Any],
    alert: Mapping[str, Any],
    actor: str,
    action: str,
    *,
    note: str = "",
    event_time: datetime | None = None,
) -> None:
    cur.execute(
        "INSERT INTO alert_history (alert_id, actor, action, status, severity, note, event_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (alert["id"], actor, action, alert["status"], int(alert["severity"]), note, event_time),
    )


def publish_change(cur: psycopg.Cursor[Any], alert: Mapping[str, Any], kind: str) -> None:
    """Tell live listeners (the API's event stream) after commit; NOTIFY is transactional."""
    message = orjson.dumps(
        {"id": str(alert["id"]), "domain": alert["domain"], "kind": kind, "status": alert["status"]}
    ).decode()
    cur.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, message))


def _jsonb(values: Mapping[str, Any]) -> Jsonb:
    return Jsonb(dict(values), dumps=lambda v: orjson.dumps(v, default=str).decode())
