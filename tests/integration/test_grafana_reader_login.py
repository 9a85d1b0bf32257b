"""Grafana's database login (`ioc db grant-reader`, store/db_roles.py) on the real
cluster: made by an administrator, a member of ioc_dashboard_reader and nothing more, so
over TCP with its password it reads device_overview and is refused api_users and the
devices' password hashes. Re-running it re-sets the password (a rotated secret)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from config.settings import Settings
from stack import postgres
from store.db_roles import RoleError, ensure_reader_login
from store.migrate import migrate
from tests.integration.engines import PLAIN, TIMESCALE, scratch_database

pytestmark = pytest.mark.integration
IOC = Path(sys.executable).with_name("ioc")


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def database(request, settings: Settings) -> Iterator[str]:
    if request.param == TIMESCALE and not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    with scratch_database(settings, f"ioc_grafana_login_{request.param}") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, "auto" if request.param == TIMESCALE else "postgresql")
            conn.execute(
                "INSERT INTO devices (id, type, province, name, lat, lon)"
                " VALUES ('st-1', 'air_quality', 'An Giang', 'Trạm 1', 10.7, 105.1)"
            )
            conn.execute(
                "INSERT INTO device_credentials (device_id, kind, username, secret_hash,"
                " created_by) VALUES ('st-1', 'mqtt', 'st-1', 'secret', 'test')"
            )
        yield dsn


@pytest.fixture
def login_name(settings: Settings) -> Iterator[str]:
    name = f"grafana_reader_{secrets.token_hex(4)}"
    yield name
    with postgres.admin_connect(settings) as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _login(dsn: str, user: str, password: str) -> psycopg.Connection:
    """Over TCP with a password, as Grafana connects (the socket would trust anyone)."""
    parts = conninfo_to_dict(dsn)
    return psycopg.connect(
        make_conninfo(
            host=parts["host"], port=parts["port"], dbname=parts["dbname"], user=user,
            password=password, connect_timeout=5,
        ),
        autocommit=True,
    )  # fmt: skip


def test_reader_login_reads_the_overview_and_no_secret(
    settings: Settings, database: str, login_name: str
) -> None:
    password = secrets.token_urlsafe(24)
    with postgres.admin_connect(settings) as admin:
        assert ensure_reader_login(admin, password, login_name).created
    with _login(database, login_name, password) as conn:
        rows = conn.execute("SELECT device_id, state FROM device_overview").fetchall()
        assert rows == [("st-1", "unknown")]
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        for forbidden in (
            "SELECT * FROM api_users",
            "SELECT secret_hash FROM device_credentials",
            "DELETE FROM devices",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)


def test_running_again_rotates_the_password(
    settings: Settings, database: str, login_name: str
) -> None:
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with postgres.admin_connect(settings) as admin:
        assert ensure_reader_login(admin, old, login_name).created
        assert not ensure_reader_login(admin, new, login_name).created
    with _login(database, login_name, new) as conn:
        assert conn.execute("SELECT count(*) FROM device_overview").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(database, login_name, old)


def test_refusals_are_clear(settings: Settings, database: str, login_name: str) -> None:
    password = secrets.token_urlsafe(24)
    with postgres.admin_connect(settings) as admin:
        with pytest.raises(RoleError, match="superuser"):
            ensure_reader_login(admin, password, "postgres")
        with pytest.raises(RoleError, match="at least 16"):
            ensure_reader_login(admin, "short", login_name)
        with pytest.raises(RoleError, match="lower-case"):
            ensure_reader_login(admin, password, 'x"; DROP ROLE postgres; --')
    # The app's own login has no CREATEROLE: it is told, and nothing is half-made.
    with (
        psycopg.connect(database, autocommit=True) as app,
        pytest.raises(RoleError, match="CREATEROLE"),
    ):
        ensure_reader_login(app, password, login_name)
    with postgres.admin_connect(settings) as admin:
        found = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login_name,))
        assert found.fetchone() is None


def test_cli_grant_reader(settings: Settings, database: str, login_name: str) -> None:
    """`ioc db grant-reader` as docker-compose's init runs it: password from the
    environment, administrator's DSN; twice is an update, not an error."""
    admin_dsn = make_conninfo(
        host=str(postgres.socket_dir(settings)), port=settings.pg_port, user="postgres",
        dbname=conninfo_to_dict(database)["dbname"],
    )  # fmt: skip
    password = secrets.token_urlsafe(24)
    env = {**os.environ, "IOC_DATABASE_URL": admin_dsn, "GRAFANA_PG_PASSWORD": password}
    argv = [str(IOC), "db", "grant-reader", "--name", login_name]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"login {login_name}: created" in first.stdout
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout
    assert password not in first.stdout + first.stderr + again.stdout + again.stderr
    with _login(database, login_name, password) as conn:
        assert conn.execute("SELECT count(*) FROM device_overview").fetchone() == (1,)
    env.pop("GRAFANA_PG_PASSWORD")
    missing = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "set GRAFANA_PG_PASSWORD" in missing.stderr
