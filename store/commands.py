"""Device commands and their audit history (migration 13).

States: queued → sent (the broker took it) → acknowledged / failed (the device answered),
or → expired (past expires_at while queued or sent). Every change is a row in
`device_command_history` with who made it (a user, `ioc-commands`, or the device).
A device's answer to a command already finished (a late or repeated ack) is recorded
in the history and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

OPEN_STATES = ("queued", "sent")
_COLUMNS = (
    "id, device_id, command, params, state, requested_by, requested_at, expires_at,"
    " sent_at, finished_at, result"
)


def device_for_command(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    """The device's type, or None when it is unknown or disabled."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, type FROM devices WHERE id = %s AND disabled_at IS NULL", (device_id,)
        )
        return cur.fetchone()


def _history(
    conn: psycopg.Connection,
    command_id: uuid.UUID,
    at: datetime,
    state: str,
    actor: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO device_command_history (command_id, at, state, actor, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        (command_id, at, state, actor, Jsonb(dict(detail or {}))),
    )


def create_command(
    conn: psycopg.Connection,
    device_id: str,
    command: str,
    params: Mapping[str, Any],
    requested_by: str,
    now: datetime,
    expires_at: datetime,
) -> dict[str, Any]:
    command_id = uuid.uuid4()
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO device_commands (id, device_id, command, params, state, requested_by,"
            " requested_at, expires_at) VALUES (%s, %s, %s, %s, 'queued', %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (command_id, device_id, command, Jsonb(dict(params)), requested_by, now, expires_at),
        )
        row = cur.fetchone()
    assert row is not None
    _history(conn, command_id, now, "queued", requested_by, {"expires_at": expires_at.isoformat()})
    return row


def get_command(conn: psycopg.Connection, command_id: uuid.UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM device_commands WHERE id = %s", (command_id,))
        return cur.fetchone()


def command_history(
    conn: psycopg.Connection, command_id: uuid.UUID, limit: int = 100
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT at, state, actor, detail FROM device_command_history"
            " WHERE command_id = %s ORDER BY at, id LIMIT %s",
            (command_id, limit),
        )
        return cur.fetchall()


def commands_page(
    conn: psycopg.Connection,
    device_id: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first, keyset on (requested_at, id)."""
    where, args = "device_id = %s", [device_id]
    if after is not None:
        where += " AND (requested_at, id) < (%s, %s)"
        args += [after[0], after[1]]
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM device_commands WHERE {where}"
            " ORDER BY requested_at DESC, id DESC LIMIT %s",
            (*args, limit),
        )
        return cur.fetchall()


# --- the command service ---------------------------------------------------------------


def claim_queued(
    conn: psycopg.Connection, expiring_after: datetime, limit: int
) -> list[dict[str, Any]]:
    """Queued commands expiring after `expiring_after`, oldest first, locked until the
    caller's transaction ends (a second service skips them rather than send them twice)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM device_commands c"
            " WHERE state = 'queued' AND expires_at > %s"
            " AND EXISTS (SELECT 1 FROM devices d WHERE d.id = c.device_id"
            " AND d.disabled_at IS NULL)"
            " ORDER BY requested_at LIMIT %s FOR UPDATE OF c SKIP LOCKED",
            (expiring_after, limit),
        )
        return cur.fetchall()


def fail_for_gone_devices(conn: psycopg.Connection, now: datetime, actor: str) -> list[uuid.UUID]:
    """Queued or sent commands whose device was disabled or deleted since → `failed`:
    nobody may act on them any more, and a device enabled again later must not find an
    old order waiting (its acknowledgement would only be recorded, not applied)."""
    rows = conn.execute(
        "UPDATE device_commands c SET state = 'failed', finished_at = %s"
        " WHERE c.state IN ('queued', 'sent') AND NOT EXISTS (SELECT 1 FROM devices d"
        " WHERE d.id = c.device_id AND d.disabled_at IS NULL) RETURNING c.id",
        (now,),
    ).fetchall()
    for (command_id,) in rows:
        _history(conn, command_id, now, "failed", actor, {"reason": "device disabled or deleted"})
    return [r[0] for r in rows]


def mark_sent(
    conn: psycopg.Connection,
    sent: Mapping[uuid.UUID, Mapping[str, Any]],
    now: datetime,
    actor: str,
) -> int:
    """`sent`: command id -> what the broker said (kept in the history)."""
    rows = conn.execute(
        "UPDATE device_commands SET state = 'sent', sent_at = %s"
        " WHERE id = ANY(%s) AND state = 'queued' RETURNING id",
        (now, list(sent)),
    ).fetchall()
    for (command_id,) in rows:
        _history(conn, command_id, now, "sent", actor, sent[command_id])
    return len(rows)


def expire_due(conn: psycopg.Connection, now: datetime, actor: str) -> list[uuid.UUID]:
    rows = conn.execute(
        "UPDATE device_commands SET state = 'expired', finished_at = %s"
        " WHERE state IN ('queued', 'sent') AND expires_at <= %s RETURNING id, expires_at",
        (now, now),
    ).fetchall()
    for command_id, expires_at in rows:
        _history(conn, command_id, now, "expired", actor, {"expires_at": expires_at.isoformat()})
    return [r[0] for r in rows]


def record_ack(
    conn: psycopg.Connection,
    command_id: uuid.UUID,
    device_id: str,
    ok: bool,
    result: Mapping[str, Any] | None,
    error: str | None,
    now: datetime,
) -> str | None:
    """Apply a device's answer; returns the command's state afterwards, None when there
    is no such command for this device. An answer to a finished command (acknowledged,
    failed, expired) is kept in the history only."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT state FROM device_commands WHERE id = %s AND device_id = %s FOR UPDATE",
            (command_id, device_id),
        )
        row = cur.fetchone()
    if row is None:
        return None
    detail: dict[str, Any] = {"ok": ok}
    if result is not None:
        detail["result"] = dict(result)
    if error:
        detail["error"] = error
    if row["state"] not in OPEN_STATES:
        _history(conn, command_id, now, row["state"], device_id, {**detail, "late": True})
        return str(row["state"])
    state = "acknowledged" if ok else "failed"
    stored = dict(result or {}) | ({"error": error} if error else {})
    conn.execute(
        "UPDATE device_commands SET state = %s, finished_at = %s, result = %s WHERE id = %s",
        (state, now, Jsonb(stored), command_id),
    )
    _history(conn, command_id, now, state, device_id, detail)
    return state
