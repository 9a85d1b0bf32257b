"""Signals in, alerts out: identity, dedup, escalation and automatic resolution.

Runs inside the caller's transaction (the one that wrote the events behind the signals),
so an alert, its history and its outbox rows commit with the data or not at all. Open
alerts are unique per fingerprint (a partial unique index), and every change locks the
alert's row, so two workers raising the same condition at once still make one alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from events.alerts import AlertStatus, Signal, SignalState
from processors.alerts import outbox
from processors.alerts.notes import signal_note
from processors.alerts.silences import active_silences
from store import alerts as store

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
        for signal in ordered:
            change = self._apply_one(conn, signal, silences)
            if change is not None:
                changes.append(change)
        return changes

    def _apply_one(
        self, conn: psycopg.Connection, signal: Signal, silences: Sequence[Any]
    ) -> Change | None:
        alert = store.lock_open_alert(conn, signal.fingerprint)
        if alert is None:
            if signal.state is SignalState.RESOLVED:
                return None  # nothing open: a clear with nothing to clear
            events = signal.event_ids[-MAX_EVENT_IDS:]
            alert = store.insert_alert(conn, signal, events) or store.lock_open_alert(
                conn, signal.fingerprint
            )
            if alert is None:  # pragma: no cover - the row we lost to was resolved at once
                return None
            if alert["_new"]:
                return self._record(conn, alert, "fired", signal, silences)
        if signal.state is SignalState.RESOLVED:
            alert = store.resolve_by_signal(conn, alert["id"], signal, SYSTEM)
            return self._record(conn, alert, "resolved", signal, silences)
        kind = _kind(int(alert["severity"]), int(signal.severity))
        alert = _update(conn, alert, signal)
        if kind == "updated":
            return Change(str(alert["id"]), alert["fingerprint"], kind, 0)
        return self._record(conn, alert, kind, signal, silences)

    def _record(
        self,
        conn: psycopg.Connection,
        alert: Mapping[str, Any],
        kind: str,
        signal: Signal,
        silences: Sequence[Any],
    ) -> Change:
        vi, en = signal_note(signal)
        store.add_history(conn, alert, SYSTEM, kind, note=vi, note_en=en, event_time=signal.at)
        notified = outbox.enqueue(conn, alert, kind, self.routing, silences, self.clock())
        store.publish_change(conn, alert, kind)
        return Change(str(alert["id"]), alert["fingerprint"], kind, notified)


def _kind(current: int, new: int) -> str:
    if new > current:
        return "escalated"
    if new < current:
        return "deescalated"
    return "updated"


def _update(conn: psycopg.Connection, alert: Mapping[str, Any], signal: Signal) -> store.AlertRow:
    escalated = int(signal.severity) > int(alert["severity"])
    # A worse condition needs attention again even if someone acknowledged the milder one.
    status = AlertStatus.FIRING.value if escalated else alert["status"]
    return store.update_alert(
        conn,
        alert["id"],
        signal,
        status=status,
        technique_ids=sorted(set(alert["technique_ids"]) | set(signal.technique_ids)),
        event_ids=[*alert["event_ids"], *signal.event_ids][-MAX_EVENT_IDS:],
    )
