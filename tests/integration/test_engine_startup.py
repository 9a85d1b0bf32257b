"""Start-up stops, and says what to do, when the server cannot serve the engine the
schema was made on (acceptance 2 of issue 10). Real servers in each state: a scratch
cluster with TimescaleDB installed but not preloaded, a TimescaleDB schema whose
cluster lost the preload, and a plain-PostgreSQL schema that got the extension."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stack import postgres
from tests.integration.engines import plain_database
from tests.integration.scratch_cluster import ScratchCluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not postgres.timescale_installed(),
        reason="needs the TimescaleDB library installed (make test builds it when"
        " IOC_TIMESCALEDB_SOURCE names the vendored source in ../shared/vendor/timescaledb)",
    ),
]
IOC = Path(sys.executable).with_name("ioc")


def _ioc(dsn: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, IOC_DATABASE_URL=dsn, IOC_METRICS_PORT="0", IOC_ALERTS_METRICS_PORT="0")
    return subprocess.run(
        [str(IOC), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cluster() -> Iterator[ScratchCluster]:
    scratch = ScratchCluster()
    try:
        yield scratch
    finally:
        scratch.close()


def test_installed_but_not_preloaded_refuses_to_create_the_schema(cluster):
    cluster.start(preload=False)
    result = _ioc(cluster.dsn(), "db", "migrate")
    assert result.returncode == 3, result
    assert "installed on this server but not preloaded" in result.stderr
    assert "shared_preload_libraries" in result.stderr
    with psycopg.connect(cluster.dsn()) as conn:  # nothing was created, nothing half-made
        assert conn.execute("SELECT to_regclass('measurements')").fetchone()[0] is None


def test_timescale_schema_on_a_cluster_that_lost_the_preload_stops_every_component(cluster):
    cluster.start(preload=True)
    made = _ioc(cluster.dsn(), "db", "migrate")
    assert made.returncode == 0, made.stderr
    assert "ENGINE: TimescaleDB 2." in made.stdout
    cluster.stop()
    cluster.start(preload=False)
    info = _ioc(cluster.dsn(), "db", "info")
    assert info.returncode == 3
    assert "made on TimescaleDB" in info.stderr and "not preloaded" in info.stderr
    for component in (["ingest"], ["alerts", "run"], ["api"]):
        started = _ioc(cluster.dsn(), *component)
        assert started.returncode == 3, (component, started.stderr[-2000:])
        assert "not starting" in started.stderr and "made on TimescaleDB" in started.stderr


def test_plain_schema_that_got_the_extension_stops(settings):
    with plain_database(settings, "ioc_engine_reverse") as dsn:
        assert "ENGINE: PLAIN PostgreSQL" in _ioc(dsn, "db", "info").stdout
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION timescaledb")  # trusted: the owner may
        info = _ioc(dsn, "db", "info")
        assert info.returncode == 3
        assert "made on plain PostgreSQL" in info.stderr and "DROP EXTENSION" in info.stderr
        ingest = _ioc(dsn, "ingest")
        assert ingest.returncode == 3 and "not starting" in ingest.stderr


def test_a_new_package_does_not_change_a_plain_schema(settings):
    """The bug this replaced: TimescaleDB installed on a plain machine flipped the store
    and stopped the plain rollups. A plain schema stays plain while the library is there
    (and preloaded), and its service-kept rollups keep running."""
    from store import rollups
    from store.engine import Engine, current

    with (
        plain_database(settings, "ioc_engine_stays") as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        assert current(conn).engine is Engine.POSTGRES
        conn.execute(
            "INSERT INTO measurements (time, device_id, metric, value)"
            " VALUES (now(), 'stay-1', 'pm25', 1)"
        )
        assert rollups.refresh(conn)["measurements_1m"] >= 1
