"""One database per engine in the stack's cluster, so a bench measures TimescaleDB and
plain PostgreSQL side by side in one run.

The local cluster preloads TimescaleDB; a database whose schema is made with
IOC_DB_ENGINE=postgresql never gets the extension and is plain PostgreSQL
(store/engine.py). The bench databases are kept between runs (made once, migrated every
run); each bench's rows belong to devices of its own.

Device accounts: mosquitto's password file is regenerated from the database a device is
registered in (ingest/provisioning.py), so registering a device in a bench database
would drop every account the stack's own database holds from the broker. Bench devices
are therefore written to each engine database directly (same id, same password hash)
and registered through the stack's own database, whose full list the broker gets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from psycopg import sql

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from stack import postgres
from stack.mosquitto_auth import hash_password
from store.device_credentials import add_mqtt_credential, expire_credentials
from store.devices import DeviceSpec, upsert_device
from store.engine import Engine
from store.migrate import migrate

ENGINES = (Engine.POSTGRES, Engine.TIMESCALE)


@dataclass(frozen=True)
class BenchDatabase:
    engine: Engine
    settings: Settings

    @property
    def label(self) -> str:
        return "TimescaleDB" if self.engine is Engine.TIMESCALE else "plain PG"

    @property
    def env(self) -> dict[str, str]:
        """What a worker or alert service started by a bench needs to use this database."""
        return dict(
            os.environ, IOC_PG_DATABASE=self.settings.pg_database, IOC_DB_ENGINE=self.engine.value
        )

    def dsn(self) -> str:
        return self.settings.dsn()


def database_name(engine: Engine) -> str:
    return f"ioc_bench_{engine.value}"


def bench_databases(settings: Settings, fresh: bool = False) -> list[BenchDatabase]:
    """The per-engine databases, created when missing (or re-created with `fresh`) and
    migrated to the newest schema; plain PostgreSQL first."""
    out = []
    for engine in ENGINES:
        name = database_name(engine)
        _ensure(settings, name, fresh)
        engine_settings = settings.model_copy(
            update={"pg_database": name, "db_engine": engine.value, "database_url": None}
        )
        with psycopg.connect(engine_settings.dsn(), autocommit=True) as conn:
            report = migrate(conn, engine.value)
        if report.engine.engine is not engine:
            raise RuntimeError(f"{name} was made on {report.engine.engine}, not {engine}")
        out.append(BenchDatabase(engine, engine_settings))
    return out


def _ensure(settings: Settings, name: str, fresh: bool) -> None:
    with postgres.admin_connect(settings) as admin:
        if fresh:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(settings.pg_user)
                )
            )


def register_everywhere(
    settings: Settings, databases: list[BenchDatabase], spec: DeviceSpec
) -> DeviceCredentials:
    """The device with one password in every engine database, and its broker account
    through the stack's own database (see the module docstring)."""
    creds = register_device(settings, spec)
    hashed = hash_password(creds.password)
    for db in databases:
        with psycopg.connect(db.dsn()) as conn:
            upsert_device(conn, spec)
            expire_credentials(conn, spec.id, "mqtt")
            add_mqtt_credential(conn, spec.id, spec.id, hashed, "bench")
            conn.commit()
    return creds
