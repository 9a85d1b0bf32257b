"""Fixtures for tests on the real local services started by `make test`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from config.secrets import MQTT_INGEST_USER, load_secrets
from config.settings import Settings, get_settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from tests.integration.harness import TestRoutes, WorkerProcess, forget_mqtt_session, make_routes


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute("TRUNCATE measurements, camera_events, security_events, dead_letters")
        yield conn


@pytest.fixture
def routes(tmp_path: Path) -> TestRoutes:
    return make_routes(tmp_path)


@pytest.fixture
def devices(settings: Settings) -> Callable[[int, str], list[DeviceCredentials]]:
    """Register n devices with fresh ids (and their own MQTT accounts)."""

    def register(n: int, kind: str = "air_quality") -> list[DeviceCredentials]:
        tag = uuid.uuid4().hex[:6]
        return [
            register_device(
                settings,
                DeviceSpec(
                    id=f"test-{tag}-{i:03d}",
                    type=kind,
                    province="Kiên Giang",
                    lat=10.0125,
                    lon=105.0809,
                    expected_interval_s=60,
                ),
            )
            for i in range(n)
        ]

    return register


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(routes: TestRoutes, worker_id: str, *sources: str) -> WorkerProcess:
        worker = WorkerProcess(routes, worker_id, sources or ("mqtt", "kafka"), tmp_path / "w.log")
        started.append(worker.start())
        return worker

    yield start
    password = load_secrets(settings).mqtt_ingest_password
    for worker in started:
        if worker.alive():
            worker.stop()
    for worker_id in {w.worker_id for w in started}:
        # Leave no persistent session behind to collect messages of later tests.
        forget_mqtt_session(settings, MQTT_INGEST_USER, password, f"ioc-ingest-{worker_id}")
    log = tmp_path / "w.log"
    if log.exists():
        print(log.read_text(errors="replace")[-4000:])
