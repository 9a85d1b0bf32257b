"""The rule generation: `ioc rules reload` bumps it after validating every pack, and the
processes that run rules (workers, the API's HTTP ingest, alert services, the tick job)
poll it and reload when it moves."""

from __future__ import annotations

import psycopg


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
