"""PostgreSQL, Tansu and PGlite as the stack starts them."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from config.settings import Settings, get_settings
from stack import kafka, pglite, postgres
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


@pytest.mark.timescale
def test_pglite_has_timescaledb_hypertables_and_time_bucket(cfg: Settings) -> None:
    table = f"stacktest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pglite.dsn(cfg), autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(f"CREATE TABLE {table} (ts timestamptz NOT NULL, v double precision)")
        try:
            conn.execute(f"SELECT create_hypertable('{table}', 'ts')")
            conn.execute(
                f"INSERT INTO {table} VALUES ('2026-01-01 00:10Z', 1), ('2026-01-01 00:50Z', 3),"
                " ('2026-01-01 01:20Z', 10)"
            )
            rows = conn.execute(
                f"SELECT time_bucket('1 hour', ts) AS h, avg(v) FROM {table} GROUP BY h ORDER BY h"
            ).fetchall()
            hypertables = conn.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = %s",
                (table,),
            ).fetchone()[0]
        finally:
            conn.execute(f"DROP TABLE {table}")
    assert [avg for _, avg in rows] == [2.0, 10.0]
    assert hypertables == 1


def test_status_reports_the_started_services_healthy(cfg: Settings) -> None:
    rows = {row.name: row for row in status(cfg)}
    for name in ("postgres", "mosquitto", "tansu", "pglite"):
        assert rows[name].pid is not None, name
        assert rows[name].healthy is True, name
    assert rows["postgres"].pid == postgres.pid(cfg)
