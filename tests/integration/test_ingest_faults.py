"""Acceptance 3: no loss and no duplicates across a SIGKILLed worker and a broker restart."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import (
    count,
    create_topics,
    mosquitto_pub,
    produce,
    restart_mosquitto,
    wait_for,
)

pytestmark = pytest.mark.integration


def _telemetry(n: int, offset: int) -> list[bytes]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    return [
        json.dumps(
            {"ts": (base + timedelta(seconds=offset + i)).isoformat(), "pm25": i % 90, "pm10": 20}
        ).encode()
        for i in range(n)
    ]


def _publish_all(settings, creds, per_device: int, offset: int = 0) -> None:
    threads = [
        threading.Thread(
            target=mosquitto_pub,
            args=(settings, c.username, c.password, c.topic, _telemetry(per_device, offset)),
        )
        for c in creds
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _syslog(topic: str, n: int) -> list[tuple[str, bytes, bytes]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    return [
        (
            topic,
            f"203.0.113.{i % 200}".encode(),
            f"<86>1 {(now - timedelta(milliseconds=i)).isoformat()} web-{i % 9} sshd {i} - - "
            f"Failed password for root from 203.0.113.{i % 200} port {20000 + i} ssh2".encode(),
        )
        for i in range(n)
    ]


def test_sigkill_mid_stream_loses_and_duplicates_nothing(settings, db, routes, devices, workers):
    creds = devices(10)
    per_device = 3000  # 30,000 messages, 60,000 rows
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    kafka_messages = _syslog(routes.syslog_topic, 20_000)
    worker_id = f"kill-{uuid.uuid4().hex[:6]}"
    worker = workers(routes, worker_id)

    publisher = threading.Thread(target=_publish_all, args=(settings, creds, per_device))
    publisher.start()
    produce(settings, kafka_messages)
    assert wait_for(lambda: count(db, "measurements") > 5_000, timeout=120)
    worker.kill()  # SIGKILL: no flush, no goodbye
    killed_at = count(db, "measurements")
    publisher.join()
    assert killed_at < 60_000, "the kill landed after the stream ended; the test proved nothing"

    workers(routes, worker_id)  # same id: resumes the same MQTT session and Kafka group
    assert wait_for(
        lambda: count(db, "measurements") >= 60_000 and count(db, "security_events") >= 20_000,
        timeout=240,
    ), (count(db, "measurements"), count(db, "security_events"))
    wait_for(lambda: False, timeout=2)
    assert count(db, "measurements") == 60_000
    assert count(db, "security_events") == 20_000
    assert count(db, "dead_letters") == 0


def test_broker_restart_mid_stream_loses_nothing(settings, db, routes, devices, workers):
    creds = devices(10)
    workers(routes, f"mq-{uuid.uuid4().hex[:6]}", "mqtt")
    _publish_all(settings, creds, per_device=2000)  # 20,000 messages queued or in flight
    assert wait_for(lambda: count(db, "measurements") > 2_000, timeout=120)
    restart_mosquitto(settings)
    before_end = count(db, "measurements")
    _publish_all(settings, creds, per_device=1000, offset=2000)  # the stream goes on
    assert before_end < 40_000, "the restart landed after the first half was drained"
    assert wait_for(lambda: count(db, "measurements") >= 60_000, timeout=240), count(
        db, "measurements"
    )
    wait_for(lambda: False, timeout=2)
    assert count(db, "measurements") == 60_000
    assert count(db, "dead_letters") == 0
