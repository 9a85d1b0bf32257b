"""Read queries on alerts and their history for the API. Every list takes the domains
the caller may see, so a filter can never widen what a role is shown. Lists are keyset
pages (newest first): a page ends where the caller's cursor says, so no answer grows
with the table and a page is as cheap at the end as at the start."""

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


def _where(
    domains: Collection[str],
    status: str | None,
    min_severity: int | None,
    since: datetime | None,
    device_id: str | None,
) -> tuple[str, tuple[Any, ...]]:
    statuses = list(STATUS_FILTERS[status]) if status else None
    return (
        "domain = ANY(%s)"
        " AND (%s::text[] IS NULL OR status = ANY(%s::text[]))"
        " AND (%s::smallint IS NULL OR severity >= %s::smallint)"
        " AND (%s::timestamptz IS NULL OR updated_at >= %s::timestamptz)"
        " AND (%s::text IS NULL OR labels ->> 'device_id' = %s::text)",
        (
            list(domains), statuses, statuses, min_severity, min_severity, since, since,
            device_id, device_id,
        ),
    )  # fmt: skip


def list_alerts(
    conn: psycopg.Connection,
    domains: Collection[str],
    *,
    status: str | None = None,
    min_severity: int | None = None,
    since: datetime | None = None,
    device_id: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest change first; `after` is the (updated_at, id) of the previous page's last."""
    where, params = _where(domains, status, min_severity, since, device_id)
    after_at, after_id = after if after else (None, None)
    return _rows(
        conn,
        f"SELECT * FROM alerts WHERE {where}"
        " AND (%s::timestamptz IS NULL OR (updated_at, id) < (%s::timestamptz, %s::uuid))"
        " ORDER BY updated_at DESC, id DESC LIMIT %s",
        (*params, after_at, after_at, after_id, limit),
    )


def count_alerts(
    conn: psycopg.Connection,
    domains: Collection[str],
    *,
    status: str | None = None,
    min_severity: int | None = None,
    since: datetime | None = None,
    device_id: str | None = None,
    cap: int,
) -> int:
    """How many alerts match the filters (every page of them), counted up to `cap` + 1:
    a year of resolved alerts must not make each page scan them all."""
    where, params = _where(domains, status, min_severity, since, device_id)
    row = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM alerts WHERE {where} LIMIT %s) AS matching",
        (*params, cap + 1),
    ).fetchone()
    return int(row[0]) if row else 0


def get_alert(conn: psycopg.Connection, alert_id: uuid.UUID) -> dict[str, Any] | None:
    rows = _rows(conn, "SELECT * FROM alerts WHERE id = %s", (alert_id,))
    return rows[0] if rows else None


def recent_history(
    conn: psycopg.Connection, alert_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    """The newest `limit` changes of an alert, oldest first (an alert re-notified for a
    year has thousands; the full record is paged by history_page)."""
    rows = _rows(
        conn,
        "SELECT id, at, actor, action, status, severity, note, note_en, event_time"
        " FROM alert_history"
        " WHERE alert_id = %s ORDER BY id DESC LIMIT %s",
        (alert_id, limit),
    )
    return rows[::-1]


def history_page(
    conn: psycopg.Connection, alert_id: uuid.UUID, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """An alert's changes in order, from after `after_id`."""
    return _rows(
        conn,
        "SELECT id, at, actor, action, status, severity, note, note_en, event_time"
        " FROM alert_history"
        " WHERE alert_id = %s AND id > %s ORDER BY id LIMIT %s",
        (alert_id, after_id or 0, limit),
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


def version_times(conn: psycopg.Connection, alert_id: uuid.UUID) -> list[datetime]:
    """Event times of the changes that made a new version of an alert's public warning
    (fired, escalated, de-escalated), in order."""
    rows = conn.execute(
        "SELECT event_time FROM alert_history WHERE alert_id = %s AND event_time IS NOT NULL"
        " AND action IN ('fired', 'escalated', 'deescalated') ORDER BY id",
        (alert_id,),
    ).fetchall()
    return [row[0] for row in rows]
