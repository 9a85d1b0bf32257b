"""Fault 1: the ingest worker SIGKILLed while it holds received, uncommitted messages."""

from __future__ import annotations

import uuid

import psutil
import pytest

from tests.integration.chaos.conftest import Chaos
from tests.integration.chaos.harness import assert_answered_once, commits_held, written
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_worker_sigkill_mid_stream_stores_and_notifies_everything_once(chaos: Chaos) -> None:
    """Rows, alerts and notifications exactly once. Nothing the worker held was
    acknowledged, so the broker re-sends it to the worker's next session (same client id)
    and Kafka restarts from the committed offsets; what had committed comes back as
    re-deliveries the unique identities absorb. The alert service is untouched by this
    fault, so each notification is delivered exactly once, not merely at least once."""
    chaos.alert_service()
    worker_id = f"kill-{uuid.uuid4().hex[:6]}"
    worker = chaos.worker(worker_id)
    stream = chaos.stream().start()
    assert wait_for(lambda: stream.progress() >= 0.3, timeout=120, interval=0.05)
    assert worker.proc is not None
    receivers = psutil.Process(worker.proc.pid).children(recursive=True)
    assert receivers, "the worker runs MQTT in a receiving process of its own"
    assert wait_for(lambda: written(worker, "mqtt") > 0 and written(worker, "kafka") > 0, 60)
    with commits_held(chaos.settings, worker, stream):
        mid_stream = stream.unfinished()
        worker.kill()  # SIGKILL: no flush, no goodbye
    assert mid_stream, "the kill landed after the stream ended; the test proved nothing"
    stream.release()  # no worker runs: the broker queues for its session, Kafka keeps all
    # Orphaned, the receiver must go too: alive, it would hold the session's
    # unacknowledged messages that nobody will ever commit.
    _, alive = psutil.wait_procs(receivers, timeout=10)
    assert not alive, f"receiving processes outlived their worker: {alive}"
    chaos.worker(worker_id)  # same id: resumes the same MQTT session and Kafka group
    assert_answered_once(chaos.check(stream))
