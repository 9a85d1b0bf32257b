"""Plates: the watch list people keep, and the plate reads cameras made (personal data,
kept `plate_retention_days`, then deleted by the alert service's job).

Everything is keyed by the normalised plate (processors/cameras/plates.py), so a list
entry typed `51F-123.45` is the same entry as `51F12345`, and a search finds what any
camera read, one-row or two-row, whatever its spelling. Pages are keyset pages: the
caller passes the sort key of the previous page's last row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from processors.cameras.plates import normalise

_ENTRY = (
    "plate_norm, plate, reason, added_by, added_at, expires_at,"
    " (expires_at IS NULL OR expires_at > now()) AS active"
)
_READ = (
    "time, camera, plate, plate_norm, score, direction, vehicle_type, event_id, snapshot, source"
)


class UnreadablePlate(ValueError):
    """The text holds no plate characters (nothing is left once normalised)."""


def plate_key(plate: str) -> str:
    """The normalised plate, or UnreadablePlate when nothing of it is left."""
    try:
        norm = normalise(plate)
    except ValueError as error:
        raise UnreadablePlate(str(error)) from error
    if not norm:
        raise UnreadablePlate(f"{plate!r} holds no plate characters")
    return norm


def _rows(conn: psycopg.Connection, sql: str, params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# -- the watch list --------------------------------------------------------------------------


def watch(
    conn: psycopg.Connection,
    plate: str,
    reason: str,
    added_by: str,
    expires_at: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Add the plate, or replace the entry its normalised form already has (reason,
    who, when, expiry: the list says why a plate is watched now). Returns the entry and
    whether it is new."""
    rows = _rows(
        conn,
        "INSERT INTO plate_watchlist (plate_norm, plate, reason, added_by, added_at, expires_at)"
        " VALUES (%s, %s, %s, %s, now(), %s)"
        " ON CONFLICT (plate_norm) DO UPDATE SET plate = excluded.plate,"
        " reason = excluded.reason, added_by = excluded.added_by,"
        " added_at = excluded.added_at, expires_at = excluded.expires_at"
        # xmax is 0 on a row this statement inserted, the updating transaction otherwise.
        f" RETURNING {_ENTRY}, (xmax = 0) AS created",
        (plate_key(plate), plate.strip(), reason, added_by, expires_at),
    )
    row = rows[0]
    return row, bool(row.pop("created"))


def unwatch(conn: psycopg.Connection, plate: str) -> dict[str, Any] | None:
    """Remove the entry of the plate in any spelling; the removed entry, or None."""
    rows = _rows(
        conn,
        f"DELETE FROM plate_watchlist WHERE plate_norm = %s RETURNING {_ENTRY}",
        (plate_key(plate),),
    )
    return rows[0] if rows else None


def watched(conn: psycopg.Connection, plate: str) -> dict[str, Any] | None:
    rows = _rows(
        conn, f"SELECT {_ENTRY} FROM plate_watchlist WHERE plate_norm = %s", (plate_key(plate),)
    )
    return rows[0] if rows else None


def watch_page(
    conn: psycopg.Connection, active: bool | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """By normalised plate; `active` True: unexpired entries only, False: expired only."""
    clauses = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if active is not None:
        clauses.append(f"{'' if active else 'NOT '}(expires_at IS NULL OR expires_at > now())")
    if after is not None:
        clauses.append("plate_norm > %(after)s")
        params["after"] = after
    return _rows(
        conn,
        f"SELECT {_ENTRY} FROM plate_watchlist WHERE {' AND '.join(clauses)}"
        " ORDER BY plate_norm LIMIT %(limit)s",
        params,
    )


# -- plate reads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadFilter:
    """Reads of one plate (any spelling); optionally one camera and [since, until)."""

    plate: str
    camera: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def reads_page(
    conn: psycopg.Connection,
    where: ReadFilter,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first (time, then event id); `after` is the previous page's last key. The
    index (plate_norm, time DESC) serves every page."""
    clauses = ["plate_norm = %(norm)s"]
    params: dict[str, Any] = {"norm": plate_key(where.plate), "limit": limit}
    if where.camera is not None:
        clauses.append("camera = %(camera)s")
        params["camera"] = where.camera
    if where.since is not None:
        clauses.append("time >= %(since)s")
        params["since"] = where.since
    if where.until is not None:
        clauses.append("time < %(until)s")
        params["until"] = where.until
    if after is not None:
        clauses.append("(time, event_id) < (%(after_time)s, %(after_id)s)")
        params.update(after_time=after[0], after_id=after[1])
    return _rows(
        conn,
        f"SELECT {_READ} FROM plate_reads WHERE {' AND '.join(clauses)}"
        " ORDER BY time DESC, event_id DESC LIMIT %(limit)s",
        params,
    )


def delete_reads_before(
    conn: psycopg.Connection, cutoff: datetime, batch_rows: int = 20_000, max_batches: int = 100
) -> int:
    """Delete plate reads older than `cutoff` in bounded batches (a run stays short; a
    backlog goes over several runs). Rows deleted."""
    deleted = 0
    for _ in range(max_batches):
        # By the row identity, not ctid: on a hypertable a ctid names a row per chunk.
        count = conn.execute(
            "DELETE FROM plate_reads WHERE (event_id, time) IN ("
            "SELECT event_id, time FROM plate_reads WHERE time < %s LIMIT %s)",
            (cutoff, batch_rows),
        ).rowcount
        deleted += count
        if count < batch_rows:
            break
    return deleted
