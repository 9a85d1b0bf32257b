"""The rule generation: `ioc rules reload` bumps it after validating every pack, and the
processes that run rules (workers, the API's HTTP ingest, alert services, the tick job)
poll it and reload when it moves."""

from __future__ import annotations

import logging

import psycopg

log = logging.getLogger(__name__)

# A process reads the generation as it starts; an unreachable server must not hold it long.
CONNECT_TIMEOUT_SECONDS = 5


def read(dsn: str) -> int | None:
    """The generation now, over a connection of its own (a process reads it before it
    loads its rules, when it may hold none yet); None when the database cannot say."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            return current(conn)
    except psycopg.Error as error:
        log.warning("rule generation unknown, rules reload at the first check: %s", error)
        return None


def current(conn: psycopg.Connection) -> int:
    """0 before the first reload."""
    row = conn.execute("SELECT generation FROM rule_generation WHERE id = 1").fetchone()
    return row[0] if row else 0


def announce(conn: psycopg.Connection, reloaded_by: str) -> int:
    """The next generation, recorded with who asked for it."""
    row = conn.execute(
        "INSERT INTO rule_generation (id, generation, reloaded_by) VALUES (1, 1, %s)"
        " ON CONFLICT (id) DO UPDATE SET generation = rule_generation.generation + 1,"
        " reloaded_at = now(), reloaded_by = excluded.reloaded_by RETURNING generation",
        (reloaded_by,),
    ).fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    return int(row[0])
