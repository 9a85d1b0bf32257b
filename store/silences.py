"""Silences in the database: create, end, read, page and prune.

Matchers are stored as given (a JSON list of {name, op, value}); what they mean and
how they match is processors/alerts/silences.py. A silence's scope is its `domain =`
matchers: no such matcher means every domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

# A silence is visible to a role if it is unscoped or scoped to a domain the role sees.
_VISIBLE = (
    "(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(matchers) m"
    "   WHERE m->>'name' = 'domain' AND coalesce(m->>'op', '=') = '=')"
    " OR EXISTS (SELECT 1 FROM jsonb_array_elements(matchers) m"
    "   WHERE m->>'name' = 'domain' AND coalesce(m->>'op', '=') = '='"
    "   AND m->>'value' = ANY(%s)))"
)


def _one(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _rows(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def create_silence(
    conn: psycopg.Connection,
    matchers: Sequence[dict[str, Any]],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    reason: str,
) -> dict[str, Any]:
    row = _one(
        conn,
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
        (uuid.uuid4(), Jsonb(list(matchers)), starts_at, ends_at, created_by, reason),
    )
    assert row is not None  # INSERT … RETURNING always returns the row
    return row


def expire_silence(conn: psycopg.Connection, silence_id: str, actor: str) -> dict[str, Any] | None:
    """End a silence now (kept, for the record). None if there is no such active silence."""
    return _one(
        conn,
        "UPDATE silences SET ends_at = greatest(starts_at + interval '1 microsecond', now()),"
        " expired_by = %s WHERE id = %s AND ends_at > now() RETURNING *",
        (actor, silence_id),
    )


def get_silence(conn: psycopg.Connection, silence_id: uuid.UUID) -> dict[str, Any] | None:
    return _one(conn, "SELECT * FROM silences WHERE id = %s", (silence_id,))


def active_silences(conn: psycopg.Connection, at: datetime | None = None) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT * FROM silences WHERE ends_at > coalesce(%s, now()) ORDER BY starts_at, id",
        (at,),
    )


def count_active(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM silences WHERE ends_at > now()").fetchone()
    return int(row[0]) if row else 0


def silences_page(
    conn: psycopg.Connection,
    visible_domains: Collection[str],
    *,
    include_expired: bool = False,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Silences the caller may see, latest start first; `after` is the (starts_at, id)
    of the previous page's last."""
    after_at, after_id = after if after else (None, None)
    return _rows(
        conn,
        "SELECT * FROM silences WHERE (%s OR ends_at > now()) AND " + _VISIBLE
        + " AND (%s::timestamptz IS NULL OR (starts_at, id) < (%s::timestamptz, %s::uuid))"
        " ORDER BY starts_at DESC, id DESC LIMIT %s",
        (include_expired, list(visible_domains), after_at, after_at, after_id, limit),
    )  # fmt: skip
