"""Apply pending migrations once, even when several processes start together."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from store.engine import EngineInfo, detect
from store.migrations import MIGRATIONS

# Any constant works; it only has to be the same for every process of this service.
_MIGRATION_LOCK = 7_302_114_001


@dataclass(frozen=True)
class MigrationReport:
    engine: EngineInfo
    applied: list[int]
    version: int


def migrate(conn: psycopg.Connection) -> MigrationReport:
    """Bring the schema to the newest version. Needs an autocommit connection because
    some TimescaleDB statements refuse to run inside a transaction block."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, engine text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        info = detect(conn)
        applied = [v for v, module in MIGRATIONS if v not in done and _apply(conn, info, v, module)]
        return MigrationReport(info, applied, current_version(conn))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _apply(conn: psycopg.Connection, info: EngineInfo, version: int, module: object) -> bool:
    record = "INSERT INTO schema_migrations (version, name, engine) VALUES (%s, %s, %s)"
    args = (version, module.NAME, info.engine.value)  # type: ignore[attr-defined]
    if module.TRANSACTIONAL:  # type: ignore[attr-defined]
        with conn.transaction():
            module.upgrade(conn, info.engine)  # type: ignore[attr-defined]
            conn.execute(record, args)
    else:
        # Each statement commits on its own; every statement is written to be re-runnable
        # (IF NOT EXISTS / if_not_exists), so a crash half-way is repaired by running again.
        module.upgrade(conn, info.engine)  # type: ignore[attr-defined]
        conn.execute(record, args)
    return True


def current_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
