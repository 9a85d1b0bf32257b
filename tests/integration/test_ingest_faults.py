"""Acceptance 3: no loss and no duplicates across a SIGKILLed worker and a broker restart."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import psutil
import psycopg
import pytest

from tests.integration.harness import (
    count,
    create_topics,
    mosquitto_pub,
    produce,
    restart_mosquitto,
    sshd_failures,
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


def test_sigkill_mid_stream_loses_and_duplicates_nothing(settings, db, routes, devices, workers):
    creds = devices(10)
    per_device = 3000  # 30,000 messages, 60,000 rows
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    kafka_messages = sshd_failures(routes.syslog_topic, 20_000)
    worker_id = f"kill-{uuid.uuid4().hex[:6]}"
    worker = workers(routes, worker_id)

    publisher = threading.Thread(target=_publish_all, args=(settings, creds, per_device))
    producer = threading.Thread(target=produce, args=(settings, kafka_messages))
    publisher.start()
    producer.start()
    assert wait_for(lambda: count(db, "measurements") > 5_000, timeout=120, interval=0.02)
    assert worker.proc is not None
    receivers = psutil.Process(worker.proc.pid).children(recursive=True)
    assert receivers, "the worker runs MQTT in a receiving process of its own"
    # A worker commits as fast as the stream arrives, so hold its next commit on a table
    # lock: the kill then lands while it holds received, unacknowledged messages and an
    # open transaction, whatever its speed.
    with psycopg.connect(settings.dsn()) as holder:
        holder.execute("LOCK TABLE measurements IN SHARE MODE")
        killed_at = count(db, "measurements")
        worker.kill()  # SIGKILL: no flush, no goodbye
        holder.rollback()
    # Orphaned, the receiver must go too: alive, it would hold the session's
    # unacknowledged messages that nobody will ever commit.
    _, alive = psutil.wait_procs(receivers, timeout=10)
    assert not alive, f"receiving processes outlived their worker: {alive}"
    publisher.join()
    producer.join()
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


def _stream_rows(db) -> int:
    """Rows of the test stream, not of the reconnection probes."""
    return db.execute("SELECT count(*) FROM measurements WHERE metric <> 'probe'").fetchone()[0]


def _probe_arrives(settings, db, device) -> bool:
    """Publish one probe reading and say whether the worker stored it within a second:
    proof that the worker is subscribed again, seen from outside the worker."""
    stamp = datetime.now(UTC) - timedelta(seconds=uuid.uuid4().int % 10_000)
    payload = json.dumps({"ts": stamp.isoformat(), "probe": 1}).encode()
    mosquitto_pub(settings, device.username, device.password, device.topic, [payload])
    query = "SELECT count(*) FROM measurements WHERE metric = 'probe' AND time = %s"
    return wait_for(lambda: db.execute(query, (stamp,)).fetchone()[0] == 1, timeout=1)


def test_broker_restart_mid_stream_loses_nothing(settings, db, routes, devices, workers):
    creds = devices(10)
    worker_id = f"mq-{uuid.uuid4().hex[:6]}"
    # Queue the first half while the worker is offline: a worker drains faster than
    # mosquitto_pub publishes, so a restart after publishing would find nothing queued.
    assert workers(routes, worker_id, "mqtt").stop() == 0  # its session now exists
    _publish_all(settings, creds, per_device=2000)  # 20,000 messages queued
    workers(routes, worker_id, "mqtt")
    assert wait_for(lambda: count(db, "measurements") > 2_000, timeout=120, interval=0.02)
    # A worker drains 20,000 messages faster than mosquitto stops, so hold its next
    # commit on a table lock: the restart then lands while it holds received, unacknowledged
    # messages and the broker holds the rest.
    with psycopg.connect(settings.dsn()) as holder:
        holder.execute("LOCK TABLE measurements IN SHARE MODE")
        before_end = count(db, "measurements")
        restart_mosquitto(settings)
        holder.rollback()
    assert before_end < 40_000, "the restart landed after the first half was drained"
    # mosquitto 2.0.11 restores the worker's session and its queued messages, but not its
    # shared subscription (docs/architecture.md, "Known limits"): the stream goes on once
    # the worker has resubscribed, as it does by itself on reconnect.
    assert wait_for(lambda: _probe_arrives(settings, db, creds[0]), timeout=60, interval=0)
    _publish_all(settings, creds, per_device=1000, offset=2000)
    assert wait_for(lambda: _stream_rows(db) >= 60_000, timeout=240), _stream_rows(db)
    wait_for(lambda: False, timeout=2)
    assert _stream_rows(db) == 60_000
    assert count(db, "dead_letters") == 0
