"""The dashboards' read-only role and the device_overview view (migration 9), on both
engines: what Grafana's login may read, what it may not, and the state a device is
coloured by on the wall and the console map."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from stack import postgres
from store.engine import Engine, recorded
from store.migrate import migrate
from store.migrations.m0009_dashboard_reads import READABLE, READABLE_COLUMNS, READER_ROLE
from store.migrations.m0017_camera_plate_privacy import VIEW as CAMERA_EVENTS_VIEW
from tests.integration.engines import PLAIN, TIMESCALE, scratch_database

pytestmark = pytest.mark.integration

FORBIDDEN = (
    "SELECT * FROM api_users",
    "SELECT secret_hash FROM device_credentials",
    "SELECT * FROM devices",
    "SELECT payload FROM dead_letters",
    "SELECT payload, last_error FROM outbox",
    "SELECT * FROM detector_state",
    "INSERT INTO measurements (time, device_id, metric, value) VALUES (now(), 'x', 'y', 1)",
    "DELETE FROM alerts",
    "UPDATE devices SET name = 'x'",
    # Migration 17: plates and names; the reader has camera_events_public instead.
    "SELECT * FROM camera_events",
    "SELECT plate FROM camera_events",
    "SELECT attributes FROM camera_events",
)
# Taken back by a later migration (17: camera_events, for camera_events_public).
REVOKED = {"camera_events"}


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def engine_db(request, settings) -> Iterator[psycopg.Connection]:
    if request.param == TIMESCALE and not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    name = f"ioc_reader_{request.param}"
    with scratch_database(settings, name) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, "auto" if request.param == TIMESCALE else "postgresql")
        wanted = Engine.TIMESCALE if request.param == TIMESCALE else Engine.POSTGRES
        assert recorded(conn) is wanted
        yield conn


def _as_reader(conn: psycopg.Connection, query: str) -> list[tuple]:
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
        return conn.execute(query).fetchall()


def test_reader_reads_what_dashboards_need(engine_db) -> None:
    for relation in (*(r for r in READABLE if r not in REVOKED), CAMERA_EVENTS_VIEW):
        _as_reader(engine_db, f"SELECT * FROM {relation} LIMIT 1")
    for table, columns in READABLE_COLUMNS.items():
        _as_reader(engine_db, f"SELECT {', '.join(columns)} FROM {table} LIMIT 1")


@pytest.mark.parametrize("query", FORBIDDEN)
def test_reader_is_refused_secrets_and_writes(engine_db, query: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_reader(engine_db, query)


NOW = datetime.now(UTC).replace(microsecond=0)
DEVICES = {
    # device: (last seen ago, open alerts as (rule, severity, status), AQI hours ago)
    "never-seen": (None, (), None),
    "quiet": (timedelta(minutes=1), (), 1),
    "flooding": (timedelta(minutes=1), (("env.water_level", 3, "firing"),), None),
    "gone": (timedelta(hours=2), (("health.offline", 2, "firing"), ("env.x", 4, "firing")), 1),
    "was-bad": (timedelta(minutes=1), (("env.water_level", 4, "resolved"),), 5),
    "noted": (timedelta(minutes=1), (("env.pm25", 1, "acknowledged"),), None),
    "attacked": (timedelta(minutes=1), (("sec.brute_force", 4, "firing"),), None),
}
EXPECTED = {
    "never-seen": ("unknown", 0, None, None),
    "quiet": ("ok", 0, None, "#00e400"),
    "flooding": ("high", 1, 3, None),
    "gone": ("offline", 2, 4, "#00e400"),
    "was-bad": ("ok", 0, None, None),  # its AQI is 5 hours old: not shown
    "noted": ("low", 1, 1, None),
    "attacked": ("ok", 0, None, None),  # security alerts are the SOC desk's, not the map's
}


def _seed(conn: psycopg.Connection) -> None:
    for device_id, (ago, alerts, aqi_ago) in DEVICES.items():
        conn.execute(
            "INSERT INTO devices (id, type, province, name, lat, lon) VALUES"
            " (%s, 'water_level', 'An Giang', %s, 10.7, 105.1) ON CONFLICT DO NOTHING",
            (device_id, device_id),
        )
        if ago is not None:
            conn.execute(
                "INSERT INTO device_last_seen (device_id, last_seen) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen",
                (device_id, NOW - ago),
            )
        if aqi_ago is not None:
            conn.execute(
                "INSERT INTO aqi_hourly (device_id, hour, aqi, category, colour) VALUES"
                " (%s, date_trunc('hour', %s::timestamptz), 42, 'good', '#00e400')"
                " ON CONFLICT DO NOTHING",
                (device_id, NOW - timedelta(hours=aqi_ago)),
            )
        for rule, severity, status in alerts:
            conn.execute(
                "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity,"
                " peak_severity, labels, title_vi, title_en, started_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 't', 't', %s, %s)",
                (
                    uuid.uuid4(), f"{rule}:{device_id}:{uuid.uuid4()}", rule,
                    "security" if rule.startswith("sec.") else "environment", status, severity,
                    severity, psycopg.types.json.Jsonb({"device_id": device_id}), NOW, NOW,
                ),
            )  # fmt: skip


def test_device_overview_state(engine_db) -> None:
    _seed(engine_db)
    rows = _as_reader(
        engine_db,
        "SELECT device_id, state, open_alerts, worst_severity, aqi_colour"
        " FROM device_overview WHERE device_id = ANY(ARRAY["
        + ", ".join(f"'{d}'" for d in DEVICES)
        + "])",
    )
    found = {device_id: tuple(rest) for device_id, *rest in rows}
    assert found == EXPECTED
