"""Bring the local stack up in dependency order, down in reverse, and report its state.

Order: PostgreSQL → migrations → MQTT password file → mosquitto → Tansu →
ingest worker → API. The password file is written from the device registry *before*
mosquitto starts, so the broker never runs, even briefly, without the devices' accounts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psycopg

from config.secrets import load_secrets
from config.settings import Settings
from stack import apps, kafka, layout, mosquitto, postgres
from stack.mosquitto_auth import sync_accounts
from stack.processes import StackError
from store.devices import mqtt_password_hashes
from store.migrate import migrate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    name: str
    port: Callable[[Settings], int]
    pid: Callable[[Settings], int | None]
    healthy: Callable[[Settings], bool]
    stop: Callable[[Settings], bool]


PARTS = (
    Part("postgres", lambda s: s.pg_port, postgres.pid, postgres.healthy, postgres.stop),
    Part("mosquitto", lambda s: s.mqtt_port, mosquitto.pid, mosquitto.healthy, mosquitto.stop),
    Part("tansu", lambda s: s.kafka_port, kafka.pid, kafka.healthy, kafka.stop),
    Part("ingest", lambda s: s.metrics_port, apps.ingest_pid, apps.ingest_healthy,
         apps.stop_ingest),
    Part("alerts", lambda s: s.alerts_metrics_port, apps.alerts_pid, apps.alerts_healthy,
         apps.stop_alerts),
    Part("api", lambda s: s.api_port, apps.api_pid, apps.api_healthy, apps.stop_api),
)  # fmt: skip


class Reporter(Protocol):
    def begin(self, step: str) -> None: ...
    def end(self, step: str, detail: str) -> None: ...


class _Quiet:
    def begin(self, step: str) -> None:
        log.info("%s…", step)

    def end(self, step: str, detail: str) -> None:
        log.info("%s: %s", step, detail)


def up(
    settings: Settings,
    services_only: bool = False,
    reporter: Reporter | None = None,
) -> None:
    """Start what is not running and return once every part started is healthy; raise
    StackError naming the part (with the tail of its log) otherwise. Safe to repeat."""
    settings = layout.absolute(settings)
    report = reporter or _Quiet()
    layout.prepare_run_dir(settings.run_dir)
    load_secrets(settings)  # generated now, on first start, so every part sees the same
    _step(report, "postgres", _server(settings, postgres.start, settings.pg_port))
    _step(report, "migrations", lambda: run_migrations(settings))
    _step(report, "mqtt accounts", lambda: sync_mqtt_accounts(settings))
    _step(report, "mosquitto", _server(settings, mosquitto.start, settings.mqtt_port))
    _step(report, "tansu", _server(settings, kafka.start, settings.kafka_port))
    if not services_only:
        _step(report, "ingest", _server(settings, apps.start_ingest, settings.metrics_port))
        _step(report, "alerts", _server(settings, apps.start_alerts, settings.alerts_metrics_port))
        _step(report, "api", _server(settings, apps.start_api, settings.api_port))


def _server(settings: Settings, start: Callable[[Settings], None], port: int) -> Callable[[], str]:
    def run() -> str:
        start(settings)
        return f"{settings.bind_host}:{port}" if port else "running"

    return run


def _step(report: Reporter, name: str, action: Callable[[], str]) -> None:
    report.begin(name)
    began = time.monotonic()
    try:
        detail = action()
    except StackError:
        raise
    except Exception as error:  # a driver error while starting is this step's failure
        raise StackError(name, f"{type(error).__name__}: {error}") from error
    report.end(name, f"{detail} ({time.monotonic() - began:.1f}s)")


def run_migrations(settings: Settings) -> str:
    """Migrate, and say loudly which engine the schema is on: a deployment that meant
    TimescaleDB and got plain PostgreSQL must not find out from a slow dashboard."""
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        result = migrate(conn, settings.db_engine)
    decided = ", decided now" if result.decided_now else ""
    applied = result.applied or "nothing new"
    return (
        f"ENGINE: {result.engine.describe()}{decided}; schema version {result.version},"
        f" applied {applied}"
    )


def device_hashes(settings: Settings) -> dict[str, str]:
    """The registry's device accounts; the database is their source of truth."""
    with psycopg.connect(settings.dsn()) as conn:
        try:
            return mqtt_password_hashes(conn)
        except psycopg.errors.UndefinedTable:
            return {}  # schema not migrated (yet): no devices can exist


def sync_mqtt_accounts(settings: Settings) -> str:
    settings = layout.absolute(settings)
    hashes = device_hashes(settings)
    sync_accounts(settings, hashes)
    return f"{len(hashes)} device account(s) + service accounts"


def init(settings: Settings, reporter: Reporter | None = None) -> None:
    """Production's one-shot setup (docker-compose `init`): schema, broker password
    file, Kafka topics. The broker there is another container: reload it afterwards."""
    settings = layout.absolute(settings)
    report = reporter or _Quiet()
    _step(report, "migrations", lambda: run_migrations(settings))
    _step(report, "mqtt accounts", lambda: sync_mqtt_accounts(settings))
    _step(report, "kafka topics", lambda: f"created {kafka.ensure_topics(settings) or 'none'}")


def down(settings: Settings, reporter: Reporter | None = None) -> None:
    """Stop every part that runs, in reverse order; one failing stop does not keep the
    others running."""
    settings = layout.absolute(settings)
    report = reporter or _Quiet()
    failures = []
    for part in reversed(PARTS):
        report.begin(part.name)
        try:
            stopped = part.stop(settings)
        except Exception as error:  # keep going: the rest must still stop
            failures.append(f"{part.name}: {error}")
            report.end(part.name, f"FAILED: {error}")
            continue
        report.end(part.name, "stopped" if stopped else "was not running")
    if failures:
        raise StackError("down", "; ".join(failures))


@dataclass(frozen=True)
class PartStatus:
    name: str
    pid: int | None
    port: int
    healthy: bool | None  # None: not running, so not asked


def status(settings: Settings) -> list[PartStatus]:
    settings = layout.absolute(settings)
    rows = []
    for part in PARTS:
        pid = part.pid(settings)
        healthy = part.healthy(settings) if pid is not None else None
        rows.append(PartStatus(part.name, pid, part.port(settings), healthy))
    return rows
