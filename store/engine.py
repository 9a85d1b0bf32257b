"""Which engine the store runs on, decided once.

The engine is chosen when the schema is created and recorded in the database
(`schema_engine`); every component reads it from there and checks at start-up that the
server still offers it. It is never re-guessed from what happens to be installed: a
TimescaleDB package appearing on a running plain-PostgreSQL machine used to flip the
store to "TimescaleDB" and silently stop the plain-PostgreSQL rollups and retention.

Code above the store never asks; migrations and maintenance do, because TimescaleDB and
plain PostgreSQL get the same surface by different means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import psycopg

WantedEngine = Literal["auto", "timescaledb", "postgresql"]

PRELOAD_HINT = (
    "add shared_preload_libraries = 'timescaledb' (and timescaledb.telemetry_level = off)"
    " to postgresql.conf and restart PostgreSQL"
)


class Engine(StrEnum):
    TIMESCALE = "timescaledb"
    POSTGRES = "postgresql"

    @property
    def label(self) -> str:
        return "TimescaleDB" if self is Engine.TIMESCALE else "plain PostgreSQL"


class EngineError(RuntimeError):
    """The server cannot serve the engine the schema was made on (or is to be made on).
    The message says what to do; start-up stops on it."""


@dataclass(frozen=True)
class ServerOffer:
    """What this server and database offer, read fresh."""

    server_version: str
    library_version: str | None  # TimescaleDB installed on the server (default_version)
    preloaded: bool  # in shared_preload_libraries, so it can actually load
    extension_version: str | None  # CREATE EXTENSION done in this database

    @property
    def timescale_usable(self) -> bool:
        return self.library_version is not None and self.preloaded


@dataclass(frozen=True)
class EngineInfo:
    engine: Engine
    server_version: str
    timescale_version: str | None  # the extension in this database, when on TimescaleDB
    decided_at: datetime | None = None

    def describe(self) -> str:
        server = self.server_version.split(" ")[0]  # "15.20 (Debian …)" → "15.20"
        if self.engine is Engine.TIMESCALE:
            return f"TimescaleDB {self.timescale_version} on PostgreSQL {server}"
        return f"PLAIN PostgreSQL {server} (no TimescaleDB)"


def probe(conn: psycopg.Connection) -> ServerOffer:
    server_version = conn.execute("SHOW server_version").fetchone()[0]
    available = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    # shared_preload_libraries is readable by superusers only. A setting the preloaded
    # loader defines (timescaledb.disable_load) is in pg_settings for any role exactly
    # when it was preloaded: pg_settings leaves out placeholders of unloaded libraries.
    loaded = conn.execute(
        "SELECT count(*) FROM pg_settings WHERE name = 'timescaledb.disable_load'"
    ).fetchone()[0]
    created = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return ServerOffer(
        server_version=server_version,
        library_version=available[0] if available else None,
        preloaded=loaded > 0,
        extension_version=created[0] if created else None,
    )


def choose(offer: ServerOffer, wanted: WantedEngine) -> Engine:
    """The engine a new schema is made on. Pure: decided from the offer and the setting."""
    if wanted == Engine.POSTGRES:
        return Engine.POSTGRES
    if offer.timescale_usable:
        return Engine.TIMESCALE
    if offer.library_version is not None:
        raise EngineError(
            f"TimescaleDB {offer.library_version} is installed on this server but not"
            f" preloaded, so it cannot be used: {PRELOAD_HINT}; or set IOC_DB_ENGINE=postgresql"
            " to create the schema on plain PostgreSQL on purpose."
        )
    if wanted == Engine.TIMESCALE:
        raise EngineError(
            "IOC_DB_ENGINE=timescaledb but this server has no TimescaleDB: install it"
            " (IOC_TIMESCALEDB_SOURCE for the local stack) or set IOC_DB_ENGINE=auto."
        )
    return Engine.POSTGRES


def check(engine: Engine, offer: ServerOffer, wanted: WantedEngine, schema_made: bool) -> None:
    """Raise EngineError when the server cannot serve the schema's recorded engine.
    Pure, so each mismatch is tested without a second server."""
    if engine is Engine.TIMESCALE:
        _check_timescale(offer, schema_made)
    else:
        _check_postgres(offer, wanted)


def _check_timescale(offer: ServerOffer, schema_made: bool) -> None:
    made = "This database's schema was made on TimescaleDB"
    if offer.library_version is None:
        raise EngineError(
            f"{made}, but this server has no TimescaleDB installed: install TimescaleDB"
            f" {offer.extension_version or ''} (IOC_TIMESCALEDB_SOURCE for the local stack)"
            f" and {PRELOAD_HINT}. Hypertables, rollups and retention cannot work without it."
        )
    if not offer.preloaded:
        raise EngineError(f"{made}, but TimescaleDB is installed, not preloaded: {PRELOAD_HINT}.")
    if schema_made and offer.extension_version is None:
        raise EngineError(
            f"{made}, but the timescaledb extension is missing from the database:"
            " restore it from a TimescaleDB backup (pg_dump of a plain database cannot"
            " hold hypertables), or run `CREATE EXTENSION timescaledb` if it was dropped"
            " by hand before any data was lost."
        )


def _check_postgres(offer: ServerOffer, wanted: WantedEngine) -> None:
    made = "This database's schema was made on plain PostgreSQL"
    if offer.extension_version is not None:
        raise EngineError(
            f"{made}, but the timescaledb extension has since been created in it: the"
            " schema has no hypertables or continuous aggregates, and the service-kept"
            " rollups and retention would run beside TimescaleDB's. Run"
            " `DROP EXTENSION timescaledb` in this database, or move to TimescaleDB by"
            " creating a new database (IOC_DB_ENGINE=timescaledb) and copying the data."
        )
    if wanted == Engine.TIMESCALE:
        raise EngineError(
            f"{made}, but IOC_DB_ENGINE=timescaledb: an existing schema does not change"
            " engine. Create a new database for TimescaleDB and copy the data, or set"
            " IOC_DB_ENGINE=auto to keep this one."
        )


def recorded(conn: psycopg.Connection) -> Engine | None:
    """The engine the schema was made on; None before the schema exists."""
    exists = conn.execute("SELECT to_regclass('schema_engine') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT engine FROM schema_engine").fetchone()
    return Engine(row[0]) if row else None


def current(conn: psycopg.Connection, wanted: WantedEngine = "auto") -> EngineInfo:
    """The recorded engine, checked against the server: what every component calls at
    start-up. Raises EngineError on a mismatch or before the schema exists."""
    engine = recorded(conn)
    if engine is None:
        raise EngineError("No schema in this database yet: run `ioc db migrate` first.")
    offer = probe(conn)
    check(engine, offer, wanted, schema_made=True)
    decided_at = conn.execute("SELECT decided_at FROM schema_engine").fetchone()[0]
    version = offer.extension_version if engine is Engine.TIMESCALE else None
    return EngineInfo(engine, offer.server_version, version, decided_at)
