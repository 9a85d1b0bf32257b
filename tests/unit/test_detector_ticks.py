"""Detector ticks (processors.detector.TimedDetector) on the camera detectors, with
fixed clocks: what silence decides (an intrusion episode over, an object standing still
long enough, objects long gone), and that ticking never changes what later events
decide, only when. State goes through JSON between calls, as in the database."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.timezone import LOCAL_TZ
from events.alerts import Signal, SignalState
from events.models import CameraEvent
from processors.detector import Detector, TimedDetector
from processors.runner import changed_states
from tests.unit.test_camera_detectors import DETECTORS, NIGHT, RULES, obj, run, stream

GAP = RULES.intrusion.episode_gap_seconds
FORGET = RULES.objects.forget_after_seconds
TIMED = sorted(name for name, d in DETECTORS.items() if isinstance(d, TimedDetector))


def local(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 3, hour, minute, second, tzinfo=LOCAL_TZ).astimezone(UTC)


def tick(detector: Detector, store: dict[str, str], now: datetime) -> list[Signal]:
    """What processors/jobs/detector_ticks.py does with one detector, on a dict store:
    tick on every stored key, keep only the keys it changes, tick again on those."""
    assert isinstance(detector, TimedDetector)
    states = {key: json.loads(text) for key, text in store.items()}
    before = copy.deepcopy(states)
    due = changed_states(states, detector.tick(states, now).states)
    assert states == before, "tick modified the states it was given"
    locked = {key: states[key] for key in due}
    outcome = detector.tick(locked, now)
    assert set(outcome.states) <= set(locked), "a state for a key it was not given"
    assert set(changed_states(locked, outcome.states)) == set(due), "not the same decision"
    assert not outcome.records
    for key, state in outcome.states.items():
        if state is None:
            store.pop(key, None)
        else:
            store[key] = json.dumps(state)
    return outcome.signals


def shown(signals: Sequence[Signal]) -> list[tuple[Any, ...]]:
    return [(s.rule, s.state, dict(s.labels), s.at, s.summary_en, dict(s.values)) for s in signals]


def test_the_camera_detectors_with_state_tick() -> None:
    assert TIMED == ["camera.crossing", "camera.crowding", "camera.intrusion", "camera.loitering"]
    assert not isinstance(DETECTORS["camera.health"], TimedDetector)


# ---- intrusion -------------------------------------------------------------------------


def test_an_intrusion_then_silence_resolves_at_the_first_tick_past_the_gap() -> None:
    detector = DETECTORS["camera.intrusion"]
    store: dict[str, str] = {}
    at = local(23, 10)
    fired, _ = run(detector, [obj(at, 0, "p1", state="new", zones=["lane"])], store=store)
    assert [s.state for s in fired] == [SignalState.FIRING]
    assert tick(detector, store, local(23, 14)) == []
    assert tick(detector, store, local(23, 15)) == []  # exactly the gap: still the episode
    assert "gate" in store
    (resolved,) = tick(detector, store, local(23, 16))
    assert resolved.state is SignalState.RESOLVED
    assert resolved.fingerprint == fired[0].fingerprint
    assert resolved.at == at + timedelta(seconds=GAP)  # when the gap passed, not the tick
    assert resolved.values["event_ids"] == ["p1"] and resolved.values["sightings"] == 1
    assert store == {}  # the episode is forgotten
    assert tick(detector, store, local(23, 17)) == []


def test_one_zone_resolves_while_another_goes_on() -> None:
    detector = DETECTORS["camera.intrusion"]
    store: dict[str, str] = {}
    run(
        detector,
        [obj(local(23, 10), 0, "p1", zones=["lane"]), obj(local(23, 13), 0, "p2", zones=["yard"])],
        store=store,
    )
    (resolved,) = tick(detector, store, local(23, 16))
    assert resolved.labels == {"camera": "gate", "zone": "lane"}
    assert list(json.loads(store["gate"])["zones"]) == ["yard"]
    (later,) = tick(detector, store, local(23, 19))
    assert later.labels["zone"] == "yard" and store == {}


def test_the_next_intrusion_after_a_tick_is_a_new_alert_as_without_ticks() -> None:
    detector = DETECTORS["camera.intrusion"]
    first = [obj(local(23, 10), s, "p1", zones=["lane"]) for s in (0, 30)]
    second = [obj(local(23, 30), 0, "p2", zones=["lane"])]
    alone, _ = run(detector, first, second)
    store: dict[str, str] = {}
    ticked = run(detector, first, store=store)[0]
    resolved = tick(detector, store, local(23, 20))
    ticked += resolved + run(detector, second, store=store)[0]
    assert [s.state for s in resolved] == [SignalState.RESOLVED]
    assert shown(ticked) == shown(alone)
    assert len({s.fingerprint for s in ticked}) == 1  # one rule, zone: episodes by history


# ---- loitering -------------------------------------------------------------------------


def test_standing_still_fires_from_a_tick_with_no_event_after_it() -> None:
    detector = DETECTORS["camera.loitering"]
    store: dict[str, str] = {}
    still = [
        obj(NIGHT, 0, "p1", state="new", zones=["lane"]),
        obj(NIGHT, 10, "p1", zones=["lane"], stationary=True),  # still from here; then silence
    ]
    assert run(detector, still, store=store)[0] == []
    assert tick(detector, store, NIGHT + timedelta(seconds=125)) == []  # 115 s of 120
    (fired,) = tick(detector, store, NIGHT + timedelta(seconds=135))
    assert fired.state is SignalState.FIRING
    assert fired.at == NIGHT + timedelta(seconds=130)  # stood 120 s: when it became loitering
    assert fired.values["event_ids"] == ["p1"] and fired.values["snapshot"] == "frigate:p1"
    assert tick(detector, store, NIGHT + timedelta(seconds=150)) == []  # one alert
    # Walking off resolves it as before.
    off, _ = run(detector, [obj(NIGHT, 200, "p1", zones=["lane"])], store=store)
    assert [(s.state, s.at) for s in off] == [
        (SignalState.RESOLVED, NIGHT + timedelta(seconds=200))
    ]
    # Without the tick the alert never came: p1 left before anything else was heard.
    alone, _ = run(detector, still, [obj(NIGHT, 200, "p1", zones=["lane"])])
    assert alone == []


def test_an_object_silent_past_the_forget_time_is_forgotten_and_resolves() -> None:
    detector = DETECTORS["camera.loitering"]
    store: dict[str, str] = {}
    run(detector, [obj(NIGHT, s, "p1", zones=["lane"], stationary=True) for s in (0, 150)],
        store=store)  # fmt: skip
    assert tick(detector, store, NIGHT + timedelta(seconds=150 + FORGET)) == []
    (resolved,) = tick(detector, store, NIGHT + timedelta(seconds=151 + FORGET))
    assert resolved.state is SignalState.RESOLVED
    assert resolved.at == NIGHT + timedelta(seconds=151 + FORGET)
    assert store == {}


# ---- crowding and tracked objects ------------------------------------------------------


def test_a_crowd_whose_end_messages_were_lost_resolves_from_a_tick() -> None:
    detector = DETECTORS["camera.crowding"]
    store: dict[str, str] = {}
    crowd = [obj(NIGHT, i, f"p{i}", state="new", zones=["lane"]) for i in range(4)]
    assert [s.state for s in run(detector, crowd, store=store)[0]] == [SignalState.FIRING]
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET)) == []
    (resolved,) = tick(detector, store, NIGHT + timedelta(seconds=FORGET + 2))
    # p0 and p1 are forgotten, p2 and p3 (a second or two younger) not yet: 2 = 4 - margin.
    assert (resolved.state, resolved.values["people"]) == (SignalState.RESOLVED, 2)
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET + 10)) == []
    assert store == {}


def test_tracked_objects_of_a_quiet_camera_are_dropped() -> None:
    detector = DETECTORS["camera.crossing"]
    store: dict[str, str] = {}
    path = [(0.5, 0.5), (0.5, 0.6)]
    run(detector, [obj(NIGHT, i, "o1", foot=p) for i, p in enumerate(path)], store=store)
    assert list(json.loads(store["gate"])["live"]) == ["o1"]
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET)) == []
    assert "gate" in store  # not yet: nothing written for a tick that changes nothing
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET + 2)) == []
    assert store == {}


# ---- ticks change when, never what ------------------------------------------------------


@pytest.mark.parametrize("name", TIMED)
def test_ticks_between_events_give_the_same_alerts_as_events_alone(name: str) -> None:
    """Ticks at any moment up to the next event's (between events, and at the next
    event's own time before it arrives): the same signals, at the same times, as the
    events alone gave; only the last episodes, which the events never closed, resolve
    after the stream."""
    detector = DETECTORS[name]
    events = stream()
    alone, records = run(detector, *[[e] for e in events])
    store: dict[str, str] = {}
    ticked: list[Signal] = []
    from_ticks = 0
    previous: datetime | None = None
    for event in events:
        at = _moment(event)
        if previous is not None and at > previous:
            for now in (previous + (at - previous) / 2, at):
                early = tick(detector, store, now)
                from_ticks += len(early)
                ticked += early
        signals, _ = run(detector, [event], store=store)
        ticked += signals
        previous = at
    assert shown(ticked) == shown(alone)
    if name in ("camera.intrusion", "camera.loitering"):
        assert from_ticks, "the ticks must decide something before the events do"
    if name != "camera.crossing":
        assert alone, f"{name}: the stream must exercise the detector"
    assert previous is not None
    after = tick(detector, store, previous + timedelta(hours=1))
    assert all(s.state is SignalState.RESOLVED for s in after)
    if name == "camera.crossing":
        assert records and store == {}


def _moment(event: CameraEvent) -> datetime:
    return event.frame_time or event.time
