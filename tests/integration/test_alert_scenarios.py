"""Issue 3's acceptance on the real stack: readings go in over MQTT through `ioc ingest`,
alerts are recorded in the batch's transaction, and `ioc alerts run` delivers them over
webhook, MQTT, Kafka and e-mail to real receivers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from tests.integration.alerting import (
    AlertServiceProcess,
    KafkaSink,
    MqttSink,
    SmtpSink,
    WebhookSink,
    channels_file,
)
from tests.integration.harness import TestRoutes, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration

# Xẻo Rô (Kiên Giang): BĐ I 0.7 m, II 0.9 m, III 1.1 m, 5 cm clear margin
# (processors/environment/alarm_levels.yaml).
STATION = "kg-xeoro-wl01"
# Rises through I, II and III with ±2 cm of noise at each line, then recedes.
FLOOD = [
    0.50, 0.60, 0.68, 0.71, 0.69, 0.72, 0.70, 0.68, 0.71, 0.80,
    0.91, 0.89, 0.92, 0.88, 0.91, 1.00, 1.11, 1.09, 1.12, 1.08,
    1.10, 1.04, 0.95, 0.91, 0.86, 0.84, 0.72, 0.69, 0.66, 0.64,
    0.60, 0.55,
]  # fmt: skip
STEPS = ["fired", "escalated", "escalated", "deescalated", "deescalated", "resolved"]


@dataclass
class Stack:
    webhook: WebhookSink
    smtp: SmtpSink
    mqtt: MqttSink
    kafka: KafkaSink
    env: dict[str, str]
    log: Path

    def alert_service(self) -> AlertServiceProcess:
        return AlertServiceProcess(self.env, self.log)

    def delivered(self, channel: str) -> list[str]:
        sink = {"webhook": self.webhook, "mqtt": self.mqtt, "kafka": self.kafka}.get(channel)
        return sink.delivered.ids() if sink else self.smtp.ids


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    webhook, smtp = WebhookSink(), SmtpSink()
    topic = f"ioc.alerts.{uuid.uuid4().hex[:8]}"
    path = channels_file(tmp_path, webhook.url, smtp.port, topic)
    # Workers and the alert service started by the test inherit this environment.
    monkeypatch.setenv("IOC_CHANNELS_FILE", str(path))
    mqtt, kafka = MqttSink(settings, "ioc/v1/alerts/#"), KafkaSink(settings, topic)
    env = {"IOC_CHANNELS_FILE": str(path), "IOC_OFFLINE_CHECK_SECONDS": "1"}
    yield Stack(webhook, smtp, mqtt, kafka, env, tmp_path / "alerts.log")
    for sink in (mqtt, kafka, smtp, webhook):
        sink.close()
    log = tmp_path / "alerts.log"
    if log.exists():
        print(log.read_text(errors="replace")[-4000:])


@pytest.fixture
def station(settings: Settings, db: psycopg.Connection) -> DeviceCredentials:
    db.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (STATION,))
    db.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{STATION}|%",))
    return register_device(
        settings,
        DeviceSpec(id=STATION, type="water_level", province="Kiên Giang", lat=10.0458,
                   lon=104.8639, name="Xẻo Rô", expected_interval_s=60),
    )  # fmt: skip


def _readings(values: list[float], end: datetime, metric: str = "waterLevel") -> list[bytes]:
    start = end - timedelta(minutes=len(values) - 1)
    return [
        json.dumps({"ts": (start + timedelta(minutes=i)).isoformat(), metric: v}).encode()
        for i, v in enumerate(values)
    ]


def _alert_steps(db: psycopg.Connection, device: str, rule: str) -> list[tuple[str, list[str]]]:
    rows = db.execute(
        "SELECT a.id::text, array_agg(h.action ORDER BY h.id) FROM alerts a"
        " JOIN alert_history h ON h.alert_id = a.id"
        " WHERE a.labels->>'device_id' = %s AND a.rule = %s GROUP BY a.id, a.started_at"
        " ORDER BY a.started_at",
        (device, rule),
    ).fetchall()
    return [(alert_id, actions) for alert_id, actions in rows]


def _outbox_ids(db: psycopg.Connection, alert_id: str, channel: str) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT notification_id::text, kind FROM outbox WHERE alert_id = %s AND channel = %s"
        " ORDER BY id",
        (alert_id, channel),
    ).fetchall()


def test_flood_rises_through_three_levels_and_recedes_one_alert_each_step_notified_once(
    settings: Settings,
    db: psycopg.Connection,
    routes: TestRoutes,
    workers,
    stack: Stack,
    station: DeviceCredentials,
) -> None:
    workers(routes, "flood", "mqtt")
    service = stack.alert_service().start()
    try:
        lines = _readings(FLOOD, datetime.now(UTC))
        mosquitto_pub(settings, station.username, station.password, station.topic, lines)
        assert wait_for(lambda: _resolved(db), timeout=60), _alert_steps(db, STATION, RULE)
        [(alert_id, actions)] = _alert_steps(db, STATION, RULE)
        assert actions == STEPS
        for channel in ("webhook", "mqtt", "kafka", "email"):
            expected = _outbox_ids(db, alert_id, channel)
            assert [kind for _, kind in expected] == STEPS, channel
            ids = {n for n, _ in expected}
            assert wait_for(
                lambda c=channel, want=ids: want <= set(stack.delivered(c)), timeout=60
            ), channel
            mine = [n for n in stack.delivered(channel) if n in ids]
            assert sorted(mine) == sorted(ids), f"{channel} delivered a step twice"
        assert stack.webhook.bad_signatures == 0
    finally:
        service.stop()


RULE = "env.water_level"


def _resolved(db: psycopg.Connection) -> bool:
    steps = _alert_steps(db, STATION, RULE)
    return bool(steps) and steps[-1][1][-1] == "resolved"
