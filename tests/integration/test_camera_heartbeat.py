"""A camera is a device whose heartbeat is Frigate's stats snapshot.

On the real services: the simulator's `frigate/stats` message, published as the Frigate
account through mosquitto, stored by an `ioc ingest` worker, moves the camera's
last_seen, so device_overview calls it 'ok'; the offline job (the alert service's, run
here with a fixed clock) calls it offline after three silent stats intervals, not before,
and a new snapshot brings it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import yaml

from config.secrets import MQTT_FRIGATE_USER, load_secrets
from config.settings import Settings
from events.alerts import Domain, Severity
from processors.alerts.manager import AlertManager
from processors.environment.engine import RuleBook
from processors.jobs.offline import OfflineJob
from simulators.camera_stats import STATS_INTERVAL_S, CameraHeartbeat
from simulators.fleet import Camera, Zone
from store.devices import DeviceSpec, upsert_device
from tests.integration.harness import TestRoutes, WorkerProcess, mosquitto_pub, wait_for


class _NoChannels:
    """The test watches the device's state, not notifications: no outbox rows."""

    def for_alert(self, domain: Domain, severity: Severity) -> list[Any]:
        return []


def _with_stats_route(routes: TestRoutes) -> TestRoutes:
    config = yaml.safe_load(routes.path.read_text())
    config["mqtt"]["routes"].append({"filter": "frigate/stats", "format": "frigate_stats"})
    routes.path.write_text(yaml.safe_dump(config))
    return routes


def _state(conn: psycopg.Connection, device_id: str) -> str:
    row = conn.execute(
        "SELECT state FROM device_overview WHERE device_id = %s", (device_id,)
    ).fetchone()
    return row[0] if row else ""


def _last_seen(conn: psycopg.Connection, device_id: str) -> datetime:
    return conn.execute(
        "SELECT last_seen FROM device_last_seen WHERE device_id = %s", (device_id,)
    ).fetchone()[0]


def _send(settings: Settings, heartbeat: CameraHeartbeat, at: float) -> None:
    message = heartbeat.next(at)
    password = load_secrets(settings).mqtt_frigate_password
    mosquitto_pub(settings, MQTT_FRIGATE_USER, password, message.topic, [message.payload])


def test_a_stats_snapshot_makes_a_camera_ok_and_its_silence_makes_it_offline(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers: Callable[..., WorkerProcess],
) -> None:
    name = f"test_cam_{uuid.uuid4().hex[:8]}"
    camera = Camera(
        name=name, title="Cổng thử nghiệm", province="Kiên Giang", lat=10.3831, lon=104.4880,
        frame=(1280, 720), labels={"person": 1.0},
        zones=(Zone("restricted_area", (0.7, 1.0), (0.0, 1.0)),),
    )  # fmt: skip
    with db.transaction():
        upsert_device(db, DeviceSpec(**camera.spec_fields(STATS_INTERVAL_S)))
    assert _state(db, name) == "unknown"  # registered, never heard from

    workers(_with_stats_route(routes), "camstats", "mqtt")
    heartbeat = CameraHeartbeat((camera,), seed=11)
    sent_at = float(int(datetime.now(UTC).timestamp()))
    _send(settings, heartbeat, sent_at)
    assert wait_for(lambda: _state(db, name) == "ok", timeout=30), _state(db, name)
    metrics = db.execute(
        "SELECT metric FROM measurements WHERE device_id = %s ORDER BY metric", (name,)
    ).fetchall()
    assert [m for (m,) in metrics] == ["camera_fps", "detection_fps", "process_fps", "skipped_fps"]
    last_seen = _last_seen(db, name)
    assert last_seen == datetime.fromtimestamp(sent_at, UTC)

    job = OfflineJob(AlertManager(_NoChannels()), RuleBook.load())
    limit = timedelta(seconds=3 * STATS_INTERVAL_S)  # health.offline: 3 silent intervals
    with db.transaction():
        job(db, last_seen + limit)  # a snapshot due exactly now is not late yet
    assert _state(db, name) == "ok"
    with db.transaction():
        job(db, last_seen + limit + timedelta(seconds=1))
    assert _state(db, name) == "offline"

    _send(settings, heartbeat, sent_at + STATS_INTERVAL_S)
    assert wait_for(lambda: _last_seen(db, name) > last_seen, timeout=30)
    with db.transaction():
        job(db, _last_seen(db, name) + timedelta(seconds=1))
    assert _state(db, name) == "ok"
    db.execute("DELETE FROM devices WHERE id = %s", (name,))
