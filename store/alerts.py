"""Alerts and their history: the SQL behind the alert manager, the people's actions
(acknowledge, resolve, note) and the timed jobs.

Every function runs in the caller's transaction; none commits. Functions that change an
alert lock it first (FOR UPDATE) or take a row the caller has already locked, so two
workers on one alert serialise on its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, LiteralString

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from events.alerts import LIVE_CHANNEL, Signal
from store.jsonb import jsonb

# A row of `alerts` by column name, as psycopg's dict_row gives it.
AlertRow = dict[str, Any]


def _one(
    conn: psycopg.Connection[Any], query: LiteralString, params: Sequence[object]
) -> AlertRow | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchone()


def _locked_row(
    conn: psycopg.Connection[Any], query: LiteralString, params: Sequence[object]
) -> AlertRow:
    row = _one(conn, query, params)
    # Only called on an alert this transaction holds locked: it cannot have gone.
    assert row is not None
    return row


# ---- the alert manager ------------------------------------------------------------------


def lock_open_alert(conn: psycopg.Connection[Any], fingerprint: str) -> AlertRow | None:
    """The open (not resolved) alert with this fingerprint, locked; `_new` is false."""
    return _one(
        conn,
        "SELECT *, false AS _new FROM alerts WHERE fingerprint = %s AND status <> 'resolved'"
        " FOR UPDATE",
        (fingerprint,),
    )


def insert_alert(
    conn: psycopg.Connection[Any], signal: Signal, event_ids: Sequence[str]
) -> AlertRow | None:
    """A new firing alert for `signal` (`_new` true), or None when another transaction
    holds an open alert with its fingerprint (the partial unique index)."""
    return _one(
        conn,
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
            jsonb(dict(signal.values)),
            list(signal.technique_ids),
            list(event_ids),
            signal.at,
            signal.at,
        ),
    )


def update_alert(
    conn: psycopg.Connection[Any],
    alert_id: object,
    signal: Signal,
    *,
    status: str,
    technique_ids: Sequence[str],
    event_ids: Sequence[str],
) -> AlertRow:
    """A locked open alert takes a new signal's severity, texts and values."""
    return _locked_row(
        conn,
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
            jsonb(dict(signal.values)),
            list(technique_ids),
            list(event_ids),
            signal.at,
            alert_id,
        ),
    )


def resolve_by_signal(
    conn: psycopg.Connection[Any], alert_id: object, signal: Signal, actor: str
) -> AlertRow:
    """A locked alert resolved by a RESOLVED signal, at the signal's event time."""
    return _locked_row(
        conn,
        "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s,"
        " alert_values = alert_values || %s, updated_at = greatest(updated_at, %s)"
        " WHERE id = %s RETURNING *",
        (signal.at, actor, jsonb(dict(signal.values)), signal.at, alert_id),
    )


# ---- people's actions -------------------------------------------------------------------


def lock_alert(conn: psycopg.Connection[Any], alert_id: str) -> AlertRow | None:
    return _one(conn, "SELECT * FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))


def acknowledge_alert(conn: psycopg.Connection[Any], alert_id: object, actor: str) -> AlertRow:
    return _locked_row(
        conn,
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(),"
        " acknowledged_by = %s WHERE id = %s RETURNING *",
        (actor, alert_id),
    )


def resolve_alert(conn: psycopg.Connection[Any], alert_id: object, actor: str) -> AlertRow:
    return _locked_row(
        conn,
        "UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = %s"
        " WHERE id = %s RETURNING *",
        (actor, alert_id),
    )


def add_history(
    conn: psycopg.Connection[Any],
    alert: Mapping[str, Any],
    actor: str,
    action: str,
    *,
    note: str = "",
    note_en: str | None = None,
    event_time: datetime | None = None,
) -> None:
    """One row of alert_history: the alert's status and severity after `action`. `note` is
    Vietnamese-first; `note_en` its English when the system wrote it, else None."""
    conn.execute(
        "INSERT INTO alert_history"
        " (alert_id, actor, action, status, severity, note, note_en, event_time)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            alert["id"], actor, action, alert["status"], int(alert["severity"]), note, note_en,
            event_time,
        ),
    )  # fmt: skip


def publish_change(conn: psycopg.Connection[Any], alert: Mapping[str, Any], kind: str) -> None:
    """Tell live listeners (the API's event stream) after commit; NOTIFY is transactional."""
    message = orjson.dumps(
        {"id": str(alert["id"]), "domain": alert["domain"], "kind": kind, "status": alert["status"]}
    ).decode()
    conn.execute("SELECT pg_notify(%s, %s)", (LIVE_CHANNEL, message))


# ---- timed jobs -------------------------------------------------------------------------


def mark_notified(conn: psycopg.Connection[Any], alert_id: object, at: datetime) -> None:
    conn.execute("UPDATE alerts SET last_notified_at = %s WHERE id = %s", (at, alert_id))


def lock_unacknowledged(
    conn: psycopg.Connection[Any], quiet_since: datetime, limit: int
) -> list[AlertRow]:
    """Firing alerts nobody was told of since `quiet_since`, longest-waiting first (so a
    backlog larger than `limit` is fair), locked; rows another job holds are skipped."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM alerts WHERE status = 'firing'"
            " AND coalesce(last_notified_at, recorded_at) <= %s"
            " ORDER BY coalesce(last_notified_at, recorded_at) LIMIT %s FOR UPDATE SKIP LOCKED",
            (quiet_since, limit),
        )
        return cur.fetchall()


def open_label_values(conn: psycopg.Connection[Any], rule: str, label: str) -> set[str]:
    """The values of one label over a rule's open alerts (e.g. the devices already
    reported offline)."""
    rows = conn.execute(
        "SELECT labels->>%s FROM alerts WHERE rule = %s AND status <> 'resolved'",
        (label, rule),
    )
    return {value for (value,) in rows if value is not None}
