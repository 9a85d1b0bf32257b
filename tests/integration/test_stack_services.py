"""PostgreSQL (with TimescaleDB preloaded when installed) and Tansu as the stack starts them."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from config.settings import Settings, get_settings
from stack import kafka, postgres
from stack.supervisor import status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cfg() -> Settings:
    return get_settings()


def test_postgres_runs_with_the_durable_small_box_settings(cfg: Settings) -> None:
    with psycopg.connect(cfg.dsn()) as conn:
        show = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("synchronous_commit", "shared_buffers", "max_connections",
                         "listen_addresses", "fsync", "wal_compression")
        }  # fmt: skip
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
    assert show["synchronous_commit"] == "on"
    assert show["fsync"] == "on"
    assert show["shared_buffers"] == "256MB"
    assert show["max_connections"] == "100"
    assert show["listen_addresses"] == cfg.bind_host
    assert show["wal_compression"] != "off"
    assert owner == cfg.pg_user


def test_postgres_refuses_a_wrong_password(cfg: Settings) -> None:
    dsn = (
        f"host={cfg.pg_host} port={cfg.pg_port} dbname={cfg.pg_database} "
        f"user={cfg.pg_user} password=wrong-{uuid.uuid4().hex}"
    )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5).close()


def test_postgres_schema_is_migrated_at_start(cfg: Settings) -> None:
    with psycopg.connect(cfg.dsn()) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0]


def test_kafka_topics_exist_with_their_partitions(cfg: Settings) -> None:
    assert kafka.ensure_topics(cfg) == []  # already created by `stack up`: idempotent
    found = kafka.partitions(cfg)
    wanted = kafka.wanted_topics(cfg)
    assert {"seclog.syslog", "seclog.suricata", "seclog.cef", "ioc.alerts"} <= set(wanted)
    for topic, partitions in wanted.items():
        assert found.get(topic) == partitions, (topic, found)


@pytest.mark.skipif(
    not postgres.timescale_installed(),
    reason="the TimescaleDB library is not installed here (make test builds it when"
    " IOC_TIMESCALEDB_SOURCE names the vendored source)",
)
def test_cluster_preloads_timescaledb_without_telemetry(cfg: Settings) -> None:
    with postgres.admin_connect(cfg) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        telemetry = conn.execute("SHOW timescaledb.telemetry_level").fetchone()[0]
    assert "timescaledb" in preload
    assert telemetry == "off"


def test_status_reports_the_started_services_healthy(cfg: Settings) -> None:
    rows = {row.name: row for row in status(cfg)}
    for name in ("postgres", "mosquitto", "tansu"):
        assert rows[name].pid is not None, name
        assert rows[name].healthy is True, name
    assert rows["postgres"].pid == postgres.pid(cfg)
