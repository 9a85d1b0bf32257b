"""The access record of plate data (migration 16): one row per request that searched a
plate, read or changed the watch list, or downloaded a camera picture.

Callers write the row in the transaction of what it records, so a read that answered
has its row and a change that rolled back has none. The table is append-only (a trigger);
only `prune` deletes, rows past KEEP.

KEEP is an operational choice: Decree 13/2023/NĐ-CP asks that processing be logged but
fixes no period. Two years covers an inquiry into a year's events with room to spare,
and is far longer than the plate reads themselves are kept (plate_retention_days), so a
search can still be accounted for long after what it found is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

KEEP = timedelta(days=730)
BATCH_ROWS = 5_000
MAX_BATCHES_PER_RUN = 20

Action = Literal["search", "watchlist_add", "watchlist_remove", "watchlist_read", "snapshot"]
# The shell on the server, with the database's own access: no API role.
CLI_ROLE = "cli"
# The trigger of migration 16 lets DELETE through only for rows older than this setting.
_PRUNE_SETTING = "ioc.plate_access_prune_before"
_COLUMNS = "id, at, actor, role, action, plate_norm, detail"


@dataclass(frozen=True)
class Access:
    actor: str  # api:<user> or cli:<os user>
    role: str  # the API role, or CLI_ROLE
    action: Action
    plate_norm: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def record(conn: psycopg.Connection, access: Access) -> None:
    """Append the row; `detail` values are JSON values or times (kept as ISO 8601)."""
    detail = {key: _json(value) for key, value in access.detail.items()}
    conn.execute(
        "INSERT INTO plate_access_log (actor, role, action, plate_norm, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        (access.actor, access.role, access.action, access.plate_norm, Jsonb(detail)),
    )


def removal(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """The detail of a watch-list removal: the entry as it was (why, by whom), which the
    list no longer holds afterwards."""
    if entry is None:
        return {"removed": False}
    return {"removed": True, "reason": entry["reason"], "added_by": entry["added_by"]}


def snapshot_plate(conn: psycopg.Connection, name: str) -> str | None:
    """The plate a stored picture (`<sha256>.<ext>`) was read from, if a read kept one.
    One picture is one push, so one plate; a picture of an intrusion has none."""
    row = conn.execute(
        "SELECT plate_norm FROM plate_reads WHERE snapshot = %s LIMIT 1", (f"isapi:{name}",)
    ).fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True)
class LogFilter:
    """Rows in [since, until); optionally one actor, one normalised plate, one action."""

    since: datetime
    until: datetime
    actor: str | None = None
    plate_norm: str | None = None
    action: Action | None = None


def page(
    conn: psycopg.Connection, where: LogFilter, after: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first (at, then id); `after` is the previous page's last key. With a plate
    the index (plate_norm, at) serves the page, otherwise the one on (at)."""
    clauses = ["at >= %(since)s", "at < %(until)s"]
    params: dict[str, Any] = {"since": where.since, "until": where.until, "limit": limit}
    for column in ("actor", "plate_norm", "action"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = %({column})s")  # column names are the constants above
            params[column] = value
    if after is not None:
        clauses.append("(at, id) < (%(after_at)s, %(after_id)s)")
        params.update(after_at=after[0], after_id=after[1])
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM plate_access_log WHERE {' AND '.join(clauses)}"
            " ORDER BY at DESC, id DESC LIMIT %(limit)s",
            params,
        )
        return cur.fetchall()


def prune(
    conn: psycopg.Connection,
    now: datetime,
    keep: timedelta = KEEP,
    batch_rows: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> int:
    """Delete rows older than `keep` in bounded batches (a backlog goes over runs). Its
    own transaction (a savepoint inside the job's), so the trigger's permission ends
    with it. Rows deleted."""
    cutoff = now - keep
    deleted = 0
    with conn.transaction():
        conn.execute("SELECT set_config(%s, %s, true)", (_PRUNE_SETTING, cutoff.isoformat()))
        for _ in range(max_batches):
            count = conn.execute(
                "DELETE FROM plate_access_log WHERE id IN (SELECT id FROM plate_access_log"
                " WHERE at < %s ORDER BY at LIMIT %s)",
                (cutoff, batch_rows),
            ).rowcount
            deleted += count
            if count < batch_rows:
                break
        conn.execute("SELECT set_config(%s, '', true)", (_PRUNE_SETTING,))
    return deleted
