"""Worker lifecycle: SIGTERM commits the open batch; a Kafka rebalance mid-stream neither
loses nor duplicates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import (
    count,
    create_topics,
    make_routes,
    mosquitto_pub,
    produce,
    sshd_failures,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_sigterm_commits_the_open_batch(settings, db, tmp_path, devices, workers):
    # A batch that would wait a minute to fill: only the SIGTERM flush can write it.
    routes = make_routes(tmp_path, max_messages=100_000, max_wait=60)
    (device,) = devices(1)
    worker = workers(routes, f"term-{uuid.uuid4().hex[:6]}", "mqtt")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    lines = [f'{{"ts": "{(base + timedelta(seconds=i)).isoformat()}", "pm25": {i}}}'.encode()
             for i in range(500)]  # fmt: skip
    mosquitto_pub(settings, device.username, device.password, device.topic, lines)
    wait_for(lambda: False, timeout=2)  # let the worker receive them
    assert count(db, "measurements") == 0, "the batch was committed before SIGTERM"
    assert worker.stop() == 0
    assert count(db, "measurements") == 500


def test_kafka_rebalance_mid_stream_loses_and_duplicates_nothing(settings, db, routes, workers):
    create_topics(settings, [routes.syslog_topic, routes.suricata_topic])
    first = workers(routes, f"rb-a-{uuid.uuid4().hex[:6]}", "kafka")
    produce(settings, sshd_failures(routes.syslog_topic, 30_000, "mail-1"))
    assert wait_for(lambda: count(db, "security_events") > 3_000, timeout=120)
    # A second worker joins the group: partitions move while messages are in flight.
    workers(routes, f"rb-b-{uuid.uuid4().hex[:6]}", "kafka")
    produce(settings, sshd_failures(routes.syslog_topic, 10_000, "mail-2"))
    assert first.alive()
    assert wait_for(lambda: count(db, "security_events") >= 40_000, timeout=300), count(
        db, "security_events"
    )
    wait_for(lambda: False, timeout=3)
    assert count(db, "security_events") == 40_000
    assert count(db, "dead_letters") == 0
