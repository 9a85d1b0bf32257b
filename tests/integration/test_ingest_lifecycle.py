"""Worker lifecycle: SIGTERM commits the open batch.

Faults mid-stream (SIGKILL, restarts, a Kafka consumer joining and leaving the group) are
in tests/integration/chaos/. An earlier rebalance test here stalled in 1 of 6 clean runs
when the Tansu stand-in broker's group coordinator stopped answering (RequestTimedOutError);
the chaos one waits for the join instead of racing it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import (
    count,
    make_routes,
    mosquitto_pub,
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
