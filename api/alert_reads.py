"""Read queries on alerts for the API. Every list takes the domains the caller may see,
so a filter can never widen what a role is shown."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

# 'open' is what the console shows by default: everything not yet resolved.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": ("firing", "acknowledged"),
    "firing": ("firing",),
    "acknowledged": ("acknowledged",),
    "resolved": ("resolved",),
}


def _rows(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def list_alerts(
    conn: psycopg.Connection,
    domains: Collection[str],
    *,
    status: str | None = None,
    min_severity: int | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    statuses = list(STATUS_FILTERS[status]) if status else None
    return _rows(
        conn,
        "SELECT * FROM alerts WHERE domain = ANY(%s)"
        " AND (%s::text[] IS NULL OR status = ANY(%s::text[]))"
        " AND (%s::smallint IS NULL OR severity >= %s::smallint)"
        " AND (%s::timestamptz IS NULL OR updated_at >= %s::timestamptz)"
        " ORDER BY updated_at DESC, id LIMIT %s",
        (list(domains), statuses, statuses, min_severity, min_severity, since, since, limit),
    )


def get_alert(conn: psycopg.Connection, alert_id: uuid.UUID) -> dict[str, Any] | None:
    rows = _rows(conn, "SELECT * FROM alerts WHERE id = %s", (alert_id,))
    return rows[0] if rows else None


def alert_history(conn: psycopg.Connection, alert_id: uuid.UUID) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT at, actor, action, status, severity, note, event_time FROM alert_history"
        " WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    )


def alerts_active_between(
    conn: psycopg.Connection,
    domains: Collection[str],
    start: datetime,
    end: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """Alerts open at some moment of [start, end): started before its end and last
    changed after its start."""
    return _rows(
        conn,
        "SELECT * FROM alerts WHERE domain = ANY(%s) AND started_at < %s AND updated_at >= %s"
        " ORDER BY started_at, id LIMIT %s",
        (list(domains), end, start, limit),
    )


def get_silence(conn: psycopg.Connection, silence_id: uuid.UUID) -> dict[str, Any] | None:
    rows = _rows(conn, "SELECT * FROM silences WHERE id = %s", (silence_id,))
    return rows[0] if rows else None
