"""Write the notifications an alert change calls for, in the change's own transaction.

That is the whole crash argument: the change and its outbox rows commit together or not
at all, and the dispatcher (dispatch.py) marks a row sent only after its channel took it.
A silenced notification is still written, as 'silenced', so the record shows who would
have been told and which silence kept quiet.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg

from events.alerts import Domain, Severity
from processors.alerts.silences import alert_labels, muting_silence
from store import alerts as alert_store
from store import outbox as store


class Channel(Protocol):
    name: str
    group_wait_seconds: float

    def group_key(self, rule: str, labels: Mapping[str, str]) -> str: ...


class Routing(Protocol):
    def for_alert(self, domain: Domain, severity: Severity) -> Sequence[Channel]: ...


def alert_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert as notifiers see it (JSON-ready; a snapshot at the time of the change)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(alert["id"]),
        "fingerprint": alert["fingerprint"],
        "rule": alert["rule"],
        "domain": alert["domain"],
        "status": alert["status"],
        "severity": int(alert["severity"]),
        "severity_label": Severity(alert["severity"]).label,
        "labels": dict(alert["labels"]),
        "title_vi": alert["title_vi"],
        "title_en": alert["title_en"],
        "summary_vi": alert["summary_vi"],
        "summary_en": alert["summary_en"],
        "values": dict(alert["alert_values"]),
        "technique_ids": list(alert["technique_ids"]),
        "started_at": iso(alert["started_at"]),
        "updated_at": iso(alert["updated_at"]),
        "resolved_at": iso(alert["resolved_at"]),
    }


def enqueue(
    conn: psycopg.Connection,
    alert: Mapping[str, Any],
    kind: str,
    routing: Routing,
    silences: Sequence[Mapping[str, Any]],
    now: datetime,
) -> int:
    """Queue one notification per routed channel; returns how many will be sent."""
    domain = Domain(alert["domain"])
    # Routed by the peak severity: a channel told of the escalation hears the way down.
    channels = routing.for_alert(domain, Severity(alert["peak_severity"]))
    if not channels:
        return 0
    labels = alert_labels(
        alert["rule"], alert["domain"], Severity(alert["severity"]).label, alert["labels"]
    )
    silence_id = muting_silence(silences, labels, now)
    rows = [_row(alert, kind, channel, silence_id, now) for channel in channels]
    store.insert_notifications(conn, rows)
    if silence_id is not None:
        return 0
    alert_store.mark_notified(conn, alert["id"], now)
    return len(rows)


def _row(
    alert: Mapping[str, Any], kind: str, channel: Channel, silence_id: str | None, now: datetime
) -> store.NewNotification:
    notification_id = str(uuid.uuid4())
    payload = {"notification_id": notification_id, "kind": kind, "alert": alert_payload(alert)}
    return store.NewNotification(
        notification_id=notification_id,
        alert_id=alert["id"],
        channel=channel.name,
        group_key=channel.group_key(alert["rule"], alert["labels"]),
        kind=kind,
        payload=payload,
        due_at=now + timedelta(seconds=channel.group_wait_seconds),
        status="silenced" if silence_id else "pending",
        silence_id=silence_id,
    )
