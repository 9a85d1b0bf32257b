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
    return lock_many(conn, {detector: keys}).get(detector, {})


def lock_many(
    conn: psycopg.Connection, keys: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, State]]:
    """Every detector's keys in one round trip (two statements), locked in one order
    (detector, key), bytewise as Python sorts names (COLLATE "C"), by every transaction
    that locks more than one detector: the runner's per batch and the tick job's. A
    round trip per detector was most of a small batch's cost (six camera or eight
    security detectors, three statements each)."""
    pairs = sorted({(name, k[:MAX_KEY_CHARS]) for name, ks in keys.items() for k in ks})
    if not pairs:
        return {}
    names = [name for name, _ in pairs]
    ordered = [key for _, key in pairs]
    conn.execute(
        "INSERT INTO detector_state (detector, key, state)"
        " SELECT d, k, '{}'::jsonb FROM unnest(%s::text[], %s::text[]) AS u(d, k)"
        ' ORDER BY d COLLATE "C", k COLLATE "C" ON CONFLICT (detector, key) DO NOTHING',
        (names, ordered),
    )
    rows = conn.execute(
        "SELECT s.detector, s.key, s.state FROM detector_state s"
        " JOIN unnest(%s::text[], %s::text[]) AS u(d, k) ON s.detector = u.d AND s.key = u.k"
        ' ORDER BY s.detector COLLATE "C", s.key COLLATE "C" FOR UPDATE OF s',
        (names, ordered),
    ).fetchall()
    locked: dict[str, dict[str, State]] = {name: {} for name in keys}
    for name, key, state in rows:
        if state:  # an empty state is a placeholder row: to the detector the key is new
            locked[name][key] = state
    return locked


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
    save_many(conn, {detector: states})


def save_many(conn: psycopg.Connection, states: Mapping[str, Mapping[str, State | None]]) -> None:
    """Write new states, every detector's in one statement; a forgotten key (None) goes
    back to the empty placeholder rather than being deleted, so a key that comes and
    goes does not churn rows (forget_idle removes placeholders nobody touches)."""
    # A dict: two keys cut to the same MAX_KEY_CHARS prefix are one row (the last
    # wins), as one statement may not update a row twice.
    rows = {
        (name, key[:MAX_KEY_CHARS]): value or {}
        for name, by_key in states.items()
        for key, value in by_key.items()
    }
    if not rows:
        return
    # One JSON document of [detector, key, state] triples: as a jsonb[] parameter
    # psycopg would quote every state into the array's text form (a regex per element,
    # 3 ms a batch of six camera detectors, measured), where orjson writes it at once.
    triples = [[name, key, rows[name, key]] for name, key in sorted(rows)]
    conn.execute(
        "INSERT INTO detector_state (detector, key, state, updated_at)"
        " SELECT t->>0, t->>1, t->2, now() FROM jsonb_array_elements(%s::jsonb) AS t"
        " ON CONFLICT (detector, key) DO UPDATE SET state = excluded.state, updated_at = now()",
        (Jsonb(triples, dumps=_dumps),),
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
