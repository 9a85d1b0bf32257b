"""Detector state rows: loaded and locked per key inside the batch's transaction.

Missing keys are inserted empty first, then every key is locked in sorted order: two
workers touching the same key queue on its row instead of both starting from nothing,
and a fixed lock order keeps them from deadlocking each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import orjson
import psycopg
from psycopg.types.json import Jsonb

from processors.detector import State

# Keys are entity names from event data (addresses, device ids): bound what one may cost.
MAX_KEY_CHARS = 512


def lock_states(conn: psycopg.Connection, detector: str, keys: Iterable[str]) -> dict[str, State]:
    ordered = sorted({k[:MAX_KEY_CHARS] for k in keys})
    if not ordered:
        return {}
    conn.execute(
        "INSERT INTO detector_state (detector, key, state)"
        " SELECT %s, k, '{}'::jsonb FROM unnest(%s::text[]) AS k ORDER BY k"
        " ON CONFLICT (detector, key) DO NOTHING",
        (detector, ordered),
    )
    rows = conn.execute(
        "SELECT key, state FROM detector_state WHERE detector = %s AND key = ANY(%s)"
        " ORDER BY key FOR UPDATE",
        (detector, ordered),
    ).fetchall()
    # An empty state is a placeholder row: to the detector the key is new.
    return {key: state for key, state in rows if state}


def stored_states(
    conn: psycopg.Connection, detector: str
) -> tuple[dict[str, State], dict[str, datetime]]:
    """Every key of a detector that holds state, and when each was last written, read
    without locks: a snapshot for the tick job to pick the keys worth locking (it
    decides again on the locked rows)."""
    rows = conn.execute(
        "SELECT key, state, updated_at FROM detector_state"
        " WHERE detector = %s AND state <> '{}'::jsonb ORDER BY key",
        (detector,),
    ).fetchall()
    return {key: state for key, state, _ in rows}, {key: at for key, _, at in rows}


def written_at(conn: psycopg.Connection, detector: str, keys: Iterable[str]) -> dict[str, datetime]:
    """When each key's state was last written (after lock_states: stable until commit)."""
    rows = conn.execute(
        "SELECT key, updated_at FROM detector_state WHERE detector = %s AND key = ANY(%s)",
        (detector, sorted({k[:MAX_KEY_CHARS] for k in keys})),
    ).fetchall()
    return dict(rows)


def save_states(
    conn: psycopg.Connection, detector: str, states: Mapping[str, State | None]
) -> None:
    """Write new states; a forgotten key (None) goes back to the empty placeholder
    rather than being deleted, so a key that comes and goes does not churn rows
    (forget_idle removes placeholders nobody touches)."""
    rows = sorted((k[:MAX_KEY_CHARS], v or {}) for k, v in states.items())
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO detector_state (detector, key, state, updated_at)"
            " VALUES (%s, %s, %s, now()) ON CONFLICT (detector, key)"
            " DO UPDATE SET state = excluded.state, updated_at = now()",
            [(detector, key, Jsonb(value, dumps=_dumps)) for key, value in rows],
        )


def forget_idle(conn: psycopg.Connection, older_than_seconds: float) -> int:
    """Drop state no batch has touched for a long time (its windows long expired)."""
    cur = conn.execute(
        "DELETE FROM detector_state WHERE updated_at < now() - make_interval(secs => %s)",
        (older_than_seconds,),
    )
    return cur.rowcount


def _dumps(value: object) -> str:
    return orjson.dumps(value, default=str).decode()
