"""Run a job once, in a transaction, if no other alert service is running it."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import psycopg

T = TypeVar("T")


def lock_id(name: str) -> int:
    # Stable across processes and runs (Python's hash() is salted per process).
    return 7_302_200_000 + zlib.crc32(name.encode()) % 1_000_000


def run_exclusive(
    conn: psycopg.Connection,
    name: str,
    job: Callable[[psycopg.Connection, datetime], T],
    now: datetime,
) -> T | None:
    """None when another process holds the job; the lock ends with the transaction."""
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (lock_id(name),)).fetchone()
        if not got or not got[0]:
            return None
        return job(conn, now)
