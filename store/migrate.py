"""Apply pending migrations once, even when several processes start together.

The first run also decides the engine (store.engine.choose) and records it in
`schema_engine`; later runs check the server still offers it (store.engine.check).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg

from store.engine import Engine, EngineInfo, WantedEngine, check, choose, current, probe, recorded
from store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process of this service.
_MIGRATION_LOCK = 7_302_114_001


@dataclass(frozen=True)
class MigrationReport:
    engine: EngineInfo
    applied: list[int]
    version: int
    decided_now: bool  # this run created the schema and chose the engine


def migrate(conn: psycopg.Connection, wanted: WantedEngine = "auto") -> MigrationReport:
    """Bring the schema to the newest version. Needs an autocommit connection because
    some TimescaleDB statements refuse to run inside a transaction block. Raises
    store.engine.EngineError, changing nothing, when the server cannot serve the engine."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        _bookkeeping_tables(conn)
        engine, decided_now = _engine(conn, wanted)
        if engine is Engine.TIMESCALE:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        pending = [(v, module) for v, module in MIGRATIONS if v not in done]
        applied = [v for v, module in pending if _apply(conn, engine, v, module)]
        return MigrationReport(current(conn, wanted), applied, current_version(conn), decided_now)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _bookkeeping_tables(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, engine text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_engine ("
        " only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
        " engine text NOT NULL CHECK (engine IN ('timescaledb', 'postgresql')),"
        " decided_at timestamptz NOT NULL DEFAULT now())"
    )


def _engine(conn: psycopg.Connection, wanted: WantedEngine) -> tuple[Engine, bool]:
    """The recorded engine, checked; on a new schema, chosen and recorded first."""
    offer = probe(conn)
    engine = recorded(conn)
    decided_now = False
    if engine is None:
        # Schemas made before schema_engine existed recorded the engine per migration.
        first = conn.execute(
            "SELECT engine FROM schema_migrations ORDER BY version LIMIT 1"
        ).fetchone()
        engine = Engine(first[0]) if first else choose(offer, wanted)
        decided_now = first is None
        conn.execute("INSERT INTO schema_engine (engine) VALUES (%s)", (engine.value,))
    # "Made" once a migration applied: a run that crashed between recording the engine
    # and creating the extension is finished by the next run, not refused.
    check(engine, offer, wanted, schema_made=current_version(conn) > 0)
    return engine, decided_now


# TimescaleDB's scheduler starts a fresh database's policy jobs while later migrations
# still alter what those jobs touch (the hourly rollup rebuilt, a policy replaced), and
# PostgreSQL then refuses one side with "tuple concurrently updated/deleted". Every
# migration is re-runnable (a transaction rolled back, or idempotent statements), so
# it is run again.
CONCURRENT_RETRIES = 4


def _apply(conn: psycopg.Connection, engine: Engine, version: int, module: object) -> bool:
    for attempt in range(CONCURRENT_RETRIES):
        try:
            return _apply_once(conn, engine, version, module)
        except psycopg.errors.InternalError_ as error:
            if "concurrently" not in str(error) or attempt == CONCURRENT_RETRIES - 1:
                raise
            log.warning("migration %s met a concurrent change (%s); running it again", version,
                        error)  # fmt: skip
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _apply_once(conn: psycopg.Connection, engine: Engine, version: int, module: object) -> bool:
    record = "INSERT INTO schema_migrations (version, name, engine) VALUES (%s, %s, %s)"
    args = (version, module.NAME, engine.value)  # type: ignore[attr-defined]
    if module.TRANSACTIONAL:  # type: ignore[attr-defined]
        with conn.transaction():
            module.upgrade(conn, engine)  # type: ignore[attr-defined]
            conn.execute(record, args)
    else:
        # Each statement commits on its own; every statement is written to be re-runnable
        # (IF NOT EXISTS / if_not_exists), so a crash half-way is repaired by running again.
        module.upgrade(conn, engine)  # type: ignore[attr-defined]
        conn.execute(record, args)
    return True


def current_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
