"""Fault 3: PostgreSQL restarted (fast shutdown) mid-stream, with commits in flight."""

from __future__ import annotations

import uuid

import pytest

from stack import postgres
from tests.integration.chaos.conftest import Chaos
from tests.integration.chaos.harness import commits_held, query
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_postgres_fast_restart_mid_stream_workers_reconnect_by_themselves(
    chaos: Chaos,
) -> None:
    """A fast shutdown disconnects every client and aborts open transactions: the
    worker's batches in flight roll back, were never acknowledged, and are written again
    when it reconnects (retrying with backoff, acknowledging nothing meanwhile). Neither
    the worker nor the alert service is restarted: the same processes must carry on.

    Notifications are at-least-once with ids for dedup (the dispatcher marks a group
    sent in the transaction the shutdown may cut after the receiver answered), so every
    notification must be answered, and a repeat is allowed only for the group in flight
    at the shutdown: at most one group (one rule, as groups are keyed by rule), each of
    its ids at most twice."""
    service = chaos.alert_service()
    worker = chaos.worker(f"pg-{uuid.uuid4().hex[:6]}")
    stream = chaos.stream().start()
    assert wait_for(lambda: stream.progress() >= 0.3, timeout=120, interval=0.05)
    assert wait_for(lambda: chaos.sink.delivered.ids(), timeout=60), "nothing notified yet"
    with commits_held(chaos.settings, worker, stream):
        mid_stream = stream.unfinished()
        postgres.restart(chaos.settings)
    assert mid_stream, "the restart landed after the stream ended; the test proved nothing"
    stream.release()
    outcome = chaos.check(stream)
    assert worker.alive() and service.proc is not None and service.proc.poll() is None
    assert wait_for(worker.ready, timeout=30) and wait_for(service.ready, timeout=30)
    repeated = [n for n, c in outcome.answered.items() if c > 1]
    assert all(outcome.answered[n] == 2 for n in repeated)
    if repeated:
        rules = query(
            chaos.settings,
            "SELECT DISTINCT a.rule FROM outbox o JOIN alerts a ON a.id = o.alert_id"
            " WHERE o.notification_id::text = ANY(%s)",
            (repeated,),
        )
        assert len(rules) == 1, f"repeats beyond the group in flight: {rules}"
