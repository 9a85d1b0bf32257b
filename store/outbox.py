"""The notification outbox: rows written with an alert change, claimed, sent and
retried by the dispatcher (processors/alerts/outbox.py and dispatch.py decide what;
this module holds the SQL).

Every function runs in the caller's transaction. Claiming and re-locking use
FOR UPDATE SKIP LOCKED, so several dispatchers never hold one row at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

NewStatus = Literal["pending", "silenced"]
RetryStatus = Literal["pending", "failed"]


@dataclass(frozen=True)
class NewNotification:
    notification_id: str
    alert_id: object
    channel: str
    group_key: str
    kind: str
    payload: Mapping[str, Any]
    due_at: datetime
    status: NewStatus
    silence_id: str | None


@dataclass(frozen=True)
class OutboxRow:
    """A claimed row, as the dispatcher sends it."""

    id: int
    notification_id: str
    channel: str
    group_key: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Retry:
    """A failed try: `pending` again at `due_at`, or `failed` for good."""

    id: int
    status: RetryStatus
    due_at: datetime
    error: str


def insert_notifications(
    conn: psycopg.Connection[Any], notifications: Sequence[NewNotification]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO outbox (notification_id, alert_id, channel, group_key, kind, payload,"
            " due_at, status, silence_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    n.notification_id,
                    n.alert_id,
                    n.channel,
                    n.group_key,
                    n.kind,
                    Jsonb(dict(n.payload)),
                    n.due_at,
                    n.status,
                    n.silence_id,
                )
                for n in notifications
            ],
        )


def claim_due(
    conn: psycopg.Connection[Any],
    now: datetime,
    limit: int,
    channels: Collection[str] | None = None,
) -> list[OutboxRow]:
    """Pending rows due by `now`, oldest due first, at most `limit`, locked; `channels`
    restricts them to those channel names."""
    query = (
        "SELECT id, notification_id::text, channel, group_key, payload, attempts FROM outbox"
        " WHERE status = 'pending' AND due_at <= %(now)s"
        + (" AND channel = ANY(%(channels)s)" if channels is not None else "")
        + " ORDER BY due_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
    )
    params = {"now": now, "limit": limit, "channels": list(channels or ())}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return [OutboxRow(**row) for row in cur.fetchall()]


def lock_still_due(conn: psycopg.Connection[Any], ids: Sequence[int], now: datetime) -> set[int]:
    """Those of `ids` still pending and due that no other transaction holds, locked."""
    rows = conn.execute(
        "SELECT id FROM outbox WHERE id = ANY(%s) AND status = 'pending'"
        " AND due_at <= %s FOR UPDATE SKIP LOCKED",
        (list(ids), now),
    )
    return {row_id for (row_id,) in rows}


def mark_sent(conn: psycopg.Connection[Any], ids: Sequence[int]) -> None:
    conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = clock_timestamp(),"
        " attempts = attempts + 1, last_error = NULL WHERE id = ANY(%s)",
        (list(ids),),
    )


def record_failures(conn: psycopg.Connection[Any], retries: Sequence[Retry]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE outbox SET status = %s, due_at = %s, last_error = %s,"
            " attempts = attempts + 1 WHERE id = %s",
            [(r.status, r.due_at, r.error, r.id) for r in retries],
        )
