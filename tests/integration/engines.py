"""Databases made on a chosen engine, beside the test stack's own.

The test cluster preloads TimescaleDB whenever the library is installed, so its main
database is made on TimescaleDB; a database made with IOC_DB_ENGINE=postgresql in the
same cluster never gets the extension and is plain PostgreSQL, which is how one run
tests the store on both engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from config.settings import Settings
from stack import postgres
from store.migrate import migrate

TIMESCALE = "timescaledb"
PLAIN = "postgresql"


@contextmanager
def scratch_database(settings: Settings, name: str) -> Iterator[str]:
    """An empty database owned by the app's role; dropped afterwards. Yields its DSN."""
    with postgres.admin_connect(settings) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(settings.pg_user)
            )
        )
    try:
        yield make_conninfo(settings.dsn(), dbname=name)
    finally:
        with postgres.admin_connect(settings) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def plain_database(settings: Settings, name: str) -> Iterator[str]:
    """A database whose schema is made on plain PostgreSQL on purpose."""
    with scratch_database(settings, name) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, PLAIN)
        yield dsn
