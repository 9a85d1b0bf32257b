"""Fault 5: a second worker joins the Kafka consumer group mid-stream, then leaves."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.chaos.conftest import Chaos
from tests.integration.chaos.harness import assert_answered_once, kafka_assigned, written
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_consumer_joining_and_leaving_mid_stream_keeps_rows_and_counts_exact(
    chaos: Chaos,
) -> None:
    """Two rebalances mid-stream. Before its partitions go, a worker commits and
    acknowledges what it holds (the revocation callback flushes); the new owner starts
    from the committed offsets; brute-force windows live in detector_state, so an
    attacker whose events were split between the two workers is still counted exactly
    (10 of 10 raise the alert; the background's 6 never do). The alert service is
    untouched, so each notification is delivered exactly once.

    The broker (Tansu) takes about 23 s to complete a join, longer than the stream, so
    each part of the stream holds at half way (between chunks, everything sent so far
    acknowledged) until the newcomer has its partitions; the join begins while the
    stream flows, and the newcomer leaves as soon as it has written a share of the rest,
    before the second hold at 80%."""
    chaos.alert_service()
    chaos.worker(f"reb-a-{uuid.uuid4().hex[:6]}")
    stream = chaos.stream(chunks=20, pace=0.3, holds=(0.5, 0.8)).start()
    assert wait_for(lambda: stream.progress() >= 0.2, timeout=120, interval=0.05)
    second = chaos.worker(f"reb-b-{uuid.uuid4().hex[:6]}", "kafka", assigned=False)  # joins
    topic = chaos.routes.syslog_topic
    assert wait_for(lambda: kafka_assigned(second, topic), timeout=120), "B never joined"
    stream.release()  # the stream may have reached its first hold while B was joining
    assert wait_for(lambda: written(second, "kafka") > 0, timeout=60), "B never got a share"
    mid_stream = stream.unfinished()
    assert second.stop() == 0  # leaves: rebalance
    assert mid_stream, "B left after the stream ended; the test proved nothing"
    assert_answered_once(chaos.check(stream))
