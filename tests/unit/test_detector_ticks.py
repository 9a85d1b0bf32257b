"""Detector ticks (processors.detector.TimedDetector) on the camera detectors, with
fixed clocks: what silence decides (an intrusion episode over, an object standing still
long enough, objects long gone), that ticking never changes what later events decide,
only when, and that silence is measured from when the state was written, not from the
events' own times. State goes through JSON between calls, as in the database, with the
time each key was written (detector_state.updated_at)."""

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


class Store:
    """detector_state in memory: JSON text per key and when it was last written."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}
        self.written: dict[str, datetime] = {}

    def mark(self, before: dict[str, str], wall: datetime) -> None:
        for key in set(before) | set(self.text):
            if before.get(key) != self.text.get(key):
                self.written[key] = wall
        self.written = {k: at for k, at in self.written.items() if k in self.text}


def feed(
    detector: Detector, store: Store, *batches: Sequence[CameraEvent], wall: datetime | None = None
) -> list[Signal]:
    """The runner on these batches, written at `wall` (default: as they happen, each
    batch at its newest event's time)."""
    signals: list[Signal] = []
    for batch in batches:
        before = dict(store.text)
        signals += run(detector, batch, store=store.text)[0]
        store.mark(before, wall or max(_moment(e) for e in batch))
    return signals


def tick(detector: Detector, store: Store, now: datetime) -> list[Signal]:
    """What processors/jobs/detector_ticks.py does with one detector: tick on every
    stored key, keep only the keys it changes, tick again on those, write them at now."""
    assert isinstance(detector, TimedDetector)
    states = {key: json.loads(text) for key, text in store.text.items()}
    quiet = {key: now - at for key, at in store.written.items()}
    before = copy.deepcopy(states)
    due = changed_states(states, detector.tick(states, quiet).states)
    assert states == before, "tick modified the states it was given"
    locked = {key: states[key] for key in due}
    outcome = detector.tick(locked, {key: quiet[key] for key in locked})
    assert set(outcome.states) <= set(locked), "a state for a key it was not given"
    assert set(changed_states(locked, outcome.states)) == set(due), "not the same decision"
    assert not outcome.records
    text = dict(store.text)
    for key, state in outcome.states.items():
        if state is None:
            store.text.pop(key, None)
        else:
            store.text[key] = json.dumps(state)
    store.mark(text, now)
    return outcome.signals


def shown(signals: Sequence[Signal]) -> list[tuple[Any, ...]]:
    return [(s.rule, s.state, dict(s.labels), s.at, s.summary_en, dict(s.values)) for s in signals]


def test_the_camera_detectors_with_state_tick() -> None:
    assert TIMED == ["camera.crossing", "camera.crowding", "camera.intrusion", "camera.loitering"]
    assert not isinstance(DETECTORS["camera.health"], TimedDetector)


# ---- intrusion -------------------------------------------------------------------------


def test_an_intrusion_then_silence_resolves_at_the_first_tick_past_the_gap() -> None:
    detector = DETECTORS["camera.intrusion"]
    store = Store()
    at = local(23, 10)
    fired = feed(detector, store, [obj(at, 0, "p1", state="new", zones=["lane"])])
    assert [s.state for s in fired] == [SignalState.FIRING]
    assert tick(detector, store, local(23, 14)) == []
    assert tick(detector, store, local(23, 15)) == []  # exactly the gap: still the episode
    assert "gate" in store.text
    (resolved,) = tick(detector, store, local(23, 16))
    assert resolved.state is SignalState.RESOLVED
    assert resolved.fingerprint == fired[0].fingerprint
    assert resolved.at == at + timedelta(seconds=GAP)  # when the gap passed, not the tick
    assert resolved.values["event_ids"] == ["p1"] and resolved.values["sightings"] == 1
    assert store.text == {}  # the episode is forgotten
    assert tick(detector, store, local(23, 17)) == []


def test_one_zone_resolves_while_another_goes_on() -> None:
    detector = DETECTORS["camera.intrusion"]
    store = Store()
    feed(detector, store, [obj(local(23, 10), 0, "p1", zones=["lane"])])
    feed(detector, store, [obj(local(23, 13), 0, "p2", zones=["yard"])])
    (resolved,) = tick(detector, store, local(23, 16))
    assert resolved.labels == {"camera": "gate", "zone": "lane"}
    assert list(json.loads(store.text["gate"])["zones"]) == ["yard"]
    (later,) = tick(detector, store, local(23, 19))
    assert later.labels["zone"] == "yard" and store.text == {}


def test_the_next_intrusion_after_a_tick_is_a_new_alert_as_without_ticks() -> None:
    detector = DETECTORS["camera.intrusion"]
    first = [obj(local(23, 10), s, "p1", zones=["lane"]) for s in (0, 30)]
    second = [obj(local(23, 30), 0, "p2", zones=["lane"])]
    alone, _ = run(detector, first, second)
    store = Store()
    ticked = feed(detector, store, first)
    resolved = tick(detector, store, local(23, 20))
    ticked += resolved + feed(detector, store, second)
    assert [s.state for s in resolved] == [SignalState.RESOLVED]
    assert shown(ticked) == shown(alone)
    assert len({s.fingerprint for s in ticked}) == 1  # one rule, zone: episodes by history


def test_silence_counts_from_when_the_state_was_written_not_from_event_time() -> None:
    """A backlog worked off a day late (or a scenario dated in the past, or a camera
    whose clock is behind): the episode is not over because its events are old, only
    once nothing has come for the gap."""
    detector = DETECTORS["camera.intrusion"]
    store = Store()
    late = local(23, 10) + timedelta(days=1)  # when the worker catches up
    sightings = [obj(local(23, 10), 60 * m, "p1", zones=["lane"]) for m in range(9)]
    signals: list[Signal] = []
    for m, event in enumerate(sightings):  # a minute of backlog every 10 s of wall time
        wall = late + timedelta(seconds=10 * m)
        signals += feed(detector, store, [event], wall=wall)
        signals += tick(detector, store, wall + timedelta(seconds=5))
    assert [s.state for s in signals] == [SignalState.FIRING]  # one episode, still open
    done = late + timedelta(seconds=80)  # the last sighting (23:18) written then
    assert tick(detector, store, done + timedelta(minutes=4)) == []
    (resolved,) = tick(detector, store, done + timedelta(minutes=6))
    assert resolved.at == local(23, 18) + timedelta(seconds=GAP)  # in the events' time
    assert resolved.values["sightings"] == 9


# ---- loitering -------------------------------------------------------------------------


def test_standing_still_fires_from_a_tick_with_no_event_after_it() -> None:
    detector = DETECTORS["camera.loitering"]
    store = Store()
    still = [
        obj(NIGHT, 0, "p1", state="new", zones=["lane"]),
        obj(NIGHT, 10, "p1", zones=["lane"], stationary=True),  # still from here; then silence
    ]
    assert feed(detector, store, still) == []
    assert tick(detector, store, NIGHT + timedelta(seconds=125)) == []  # 115 s of 120
    (fired,) = tick(detector, store, NIGHT + timedelta(seconds=135))
    assert fired.state is SignalState.FIRING
    assert fired.at == NIGHT + timedelta(seconds=130)  # stood 120 s: when it became loitering
    assert fired.values["event_ids"] == ["p1"] and fired.values["snapshot"] == "frigate:p1"
    assert tick(detector, store, NIGHT + timedelta(seconds=150)) == []  # one alert
    # Walking off resolves it as before.
    off = feed(detector, store, [obj(NIGHT, 200, "p1", zones=["lane"])])
    assert [(s.state, s.at) for s in off] == [
        (SignalState.RESOLVED, NIGHT + timedelta(seconds=200))
    ]
    # Without the tick the alert never came: p1 left before anything else was heard.
    alone, _ = run(detector, still, [obj(NIGHT, 200, "p1", zones=["lane"])])
    assert alone == []


def test_an_object_silent_past_the_forget_time_is_forgotten_and_resolves() -> None:
    detector = DETECTORS["camera.loitering"]
    store = Store()
    feed(detector, store, [obj(NIGHT, s, "p1", zones=["lane"], stationary=True) for s in (0, 150)])
    assert tick(detector, store, NIGHT + timedelta(seconds=150 + FORGET)) == []
    (resolved,) = tick(detector, store, NIGHT + timedelta(seconds=151 + FORGET))
    assert resolved.state is SignalState.RESOLVED
    assert resolved.at == NIGHT + timedelta(seconds=151 + FORGET)
    assert store.text == {}


# ---- crowding and tracked objects ------------------------------------------------------


def test_a_crowd_whose_end_messages_were_lost_resolves_from_a_tick() -> None:
    detector = DETECTORS["camera.crowding"]
    store = Store()
    crowd = [obj(NIGHT, i, f"p{i}", state="new", zones=["lane"]) for i in range(4)]
    assert [s.state for s in feed(detector, store, crowd)] == [SignalState.FIRING]
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET)) == []
    (resolved,) = tick(detector, store, NIGHT + timedelta(seconds=FORGET + 2))
    # p0 and p1 are forgotten, p2 and p3 (a second or two younger) not yet: 2 = 4 - margin.
    assert (resolved.state, resolved.values["people"]) == (SignalState.RESOLVED, 2)
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET + 10)) == []
    assert store.text == {}


def test_tracked_objects_of_a_quiet_camera_are_dropped() -> None:
    detector = DETECTORS["camera.crossing"]
    store = Store()
    path = [(0.5, 0.5), (0.5, 0.6)]
    feed(detector, store, [obj(NIGHT, i, "o1", foot=p) for i, p in enumerate(path)])
    assert list(json.loads(store.text["gate"])["live"]) == ["o1"]
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET)) == []
    assert "gate" in store.text  # not yet: nothing written for a tick that changes nothing
    assert tick(detector, store, NIGHT + timedelta(seconds=FORGET + 2)) == []
    assert store.text == {}


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
    store = Store()
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
        signals = feed(detector, store, [event])
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
        assert records and store.text == {}


def _moment(event: CameraEvent) -> datetime:
    return event.frame_time or event.time
