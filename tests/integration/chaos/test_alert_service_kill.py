"""Fault 2: the alert service SIGKILLed with a delivery in flight."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.chaos.conftest import Chaos
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_alert_service_sigkill_mid_delivery_resends_only_what_was_in_flight(
    chaos: Chaos,
) -> None:
    """The dispatcher's contract is at-least-once with notification ids for the
    receiver to drop repeats (docs/architecture.md, "Notifications through the outbox"):
    it marks a group sent only after the receiver answered, so a group cut short by a
    crash is sent again; no process can know whether a request it never saw answered
    was acted on. So: every notification is answered exactly once (the receiver here
    leaves the in-flight request unanswered, as a receiver that had not processed it),
    and the only ids seen twice on the wire are those of the request in flight at the
    kill, sent again with the same ids. Alerts raised while no service ran are
    notified by the next one."""
    chaos.sink.hang.set()  # the first delivery will be in flight when the sender dies
    service = chaos.alert_service()
    chaos.worker(f"akill-{uuid.uuid4().hex[:6]}")
    stream = chaos.stream(holds=(0.6,)).start()
    assert chaos.sink.arrived.wait(60), "no alert was notified during the stream"
    in_flight = set(chaos.sink.wire.ids())
    assert in_flight, "the hanging request carried no notification"
    mid_stream = stream.unfinished()
    service.kill()
    chaos.sink.release.set()
    assert mid_stream, "the kill landed after the stream ended; the test proved nothing"
    # The stream goes on with no alert service: its alerts wait in the outbox.
    stream.release()
    assert wait_for(stream.finished, timeout=180)
    chaos.alert_service()
    outcome = chaos.check(stream)
    assert [n for n, c in outcome.answered.items() if c > 1] == []
    repeated = {n for n, c in outcome.on_wire.items() if c > 1}
    assert repeated == in_flight
    assert all(outcome.on_wire[n] == 2 for n in repeated)
