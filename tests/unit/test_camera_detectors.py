"""Camera detectors (processors/cameras/) under the runner contract: keys -> stored state
(JSON) -> process -> new state, batch after batch. Fixed clocks (local night and day);
batches split anywhere give the same signals and records."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from config.timezone import LOCAL_TZ
from events.alerts import Domain, Signal, SignalState
from events.camera_records import LineCrossing, PlateRead
from events.models import CameraEvent
from processors.cameras import build_camera_detectors
from processors.cameras.registry import Registry
from processors.cameras.rules import RULES_FILE, CameraRules
from processors.detector import Detector

# 23:00 and 10:00 local time (UTC+7) on the same day.
NIGHT = datetime(2026, 12, 3, 23, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
DAY = datetime(2026, 12, 3, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
W, H = 1280, 720

REGISTRY = Registry.model_validate(
    yaml.safe_load(
        """
timezone: Asia/Ho_Chi_Minh
cameras:
  gate:
    name: Cổng cảng
    site: Cảng Cam Ranh
    frame: {width: 1280, height: 720}
    zones:
      lane:
        name: làn cổng
        aliases: ["1"]
        restricted: {labels: [person, car, truck], closed: ["22:00-05:00"]}
        loitering_seconds: 120
        crowding_people: 4
      yard:
        restricted: {labels: [person], closed: ["22:00-05:00"]}
    lines:
      gate_line:
        points: [[0.2, 0.7], [0.8, 0.7]]
        in: left_to_right
  road:
    site: Rạch Giá
    frame: {width: 1280, height: 720}
    lines:
      north:
        points: [[0.0, 0.45], [0.5, 0.45]]
        in: right_to_left
  hik:
    site: Rạch Giá
    source: hikvision
    zones:
      ben_xe: {aliases: ["1"], restricted: {labels: [person], closed: ["23:00-04:30"]}}
    lines:
      duong: {aliases: ["1"]}
  vms:
    site: Vị Thanh
    source: onvif
    lines:
      cau: {aliases: [LineDetector1], directions: {default: in}}
"""
    )
)
RULES = CameraRules.model_validate(yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")))
DETECTORS = {d.name: d for d in build_camera_detectors(REGISTRY, RULES)}


# ---- the runner, as processors/runner.py drives a detector -----------------------------


def run(
    detector: Detector, *batches: Sequence[Any], store: dict[str, str] | None = None
) -> tuple[list[Signal], list[Any]]:
    """Feed batches through keys/process with state kept as JSON text between them."""
    store = {} if store is None else store
    signals: list[Signal] = []
    records: list[Any] = []
    for batch in batches:
        keys = detector.keys(batch)
        if not keys:
            continue  # as the runner: no keys, no call
        states = {key: json.loads(store[key]) for key in keys if key in store}
        before = copy.deepcopy(states)
        outcome = detector.process(states, batch)
        assert states == before, "process modified the states it was given"
        assert set(outcome.states) <= keys, "a state for a key keys() did not name"
        for key, state in outcome.states.items():
            if state is None:
                store.pop(key, None)
            else:
                store[key] = json.dumps(state)
        signals.extend(outcome.signals)
        records.extend(outcome.records)
    return signals, records


def signals_of(name: str, *batches: Sequence[Any]) -> list[Signal]:
    return run(DETECTORS[name], *batches)[0]


def records_of(name: str, *batches: Sequence[Any]) -> list[Any]:
    return run(DETECTORS[name], *batches)[1]


_ids = iter(range(10**9))


def obj(
    at: datetime,
    seconds: float,
    event_id: str,
    *,
    camera: str = "gate",
    state: str = "update",
    label: str = "person",
    zones: Sequence[str] = (),
    foot: tuple[float, float] | None = None,
    stationary: bool = False,
    snapshot: bool = True,
    start: float = 0.0,
    **fields: Any,
) -> CameraEvent:
    """One Frigate message of tracked object `event_id`, `seconds` after `at`; `foot` is
    the box's bottom centre as fractions of the frame."""
    box = None
    if foot is not None:
        x, y = foot[0] * W, foot[1] * H
        box = (x - 30, y - 120, x + 30, y)
    return CameraEvent(
        time=at + timedelta(seconds=start),
        frame_time=at + timedelta(seconds=seconds),
        event_id=event_id,
        source="frigate",
        camera=camera,
        event_type="object",
        state=state,
        label=label,
        zones=tuple(zones),
        attributes={"current_zones": list(zones)},
        box=box,
        stationary=stationary,
        has_snapshot=snapshot,
        snapshot=f"frigate:{event_id}" if snapshot else None,
        **fields,
    )


def pushed(
    at: datetime,
    seconds: float,
    event_type: str,
    *,
    camera: str = "hik",
    state: str = "active",
    zones: Sequence[str] = (),
    label: str | None = None,
    source: str = "hikvision",
    **fields: Any,
) -> CameraEvent:
    """A camera's own event (ISAPI push, ONVIF message): each push its own id."""
    moment = at + timedelta(seconds=seconds)
    return CameraEvent(
        time=moment,
        frame_time=moment,
        event_id=f"{source}-{next(_ids)}",
        source=source,
        camera=camera,
        event_type=event_type,
        state=state,
        label=label,
        zones=tuple(zones),
        **fields,
    )


def walk(
    at: datetime,
    event_id: str,
    path: Sequence[tuple[float, float]],
    *,
    step: float = 2.0,
    t0: float = 0.0,
    **fields: Any,
) -> list[CameraEvent]:
    """An object's messages along `path`: new, updates, end."""
    last = len(path) - 1
    return [
        obj(
            at,
            t0 + i * step,
            event_id,
            start=t0,
            state="new" if i == 0 else ("end" if i == last else "update"),
            foot=point,
            **fields,
        )
        for i, point in enumerate(path)
    ]


def firing(signals: Sequence[Signal]) -> list[Signal]:
    return [s for s in signals if s.state is SignalState.FIRING]


# ---- intrusion -------------------------------------------------------------------------


def test_a_person_in_a_closed_zone_at_night_is_one_alert() -> None:
    events = [
        obj(NIGHT, s, "p1", state="new" if s == 0 else "update", zones=["lane"])
        for s in range(0, 60, 5)
    ]
    signals = signals_of("camera.intrusion", events)
    assert len(signals) == 1
    (signal,) = signals
    assert signal.rule == "camera.intrusion" and signal.domain is Domain.CAMERA
    assert signal.state is SignalState.FIRING
    assert dict(signal.labels) == {"camera": "gate", "zone": "lane"}
    assert signal.at == NIGHT
    assert signal.values["event_ids"] == ["p1"] and signal.event_ids == ("p1",)
    assert signal.values["snapshot"] == "frigate:p1"
    assert "làn cổng" in signal.title_vi and "Cổng cảng" in signal.title_vi
    assert "người" in signal.summary_vi and "23:00 03/12/2026" in signal.summary_vi
    assert "22:00-05:00" in signal.summary_en


def test_a_review_arriving_now_does_not_split_a_replayed_night_visit() -> None:
    """A review item's frame time is its arrival (Frigate sends none): a visit of the
    past replayed today must stay one episode however reviews interleave."""
    review = CameraEvent(
        time=NIGHT, frame_time=NIGHT + timedelta(hours=1), event_id="r1", source="frigate",
        camera="gate", event_type="review", state="new", label="alert", zones=("lane",),
    )  # fmt: skip
    first = [obj(NIGHT, s, "p1", zones=["lane"]) for s in range(0, 30, 5)]
    later = [obj(NIGHT, s, "p1", zones=["lane"]) for s in range(30, 60, 5)]
    signals = signals_of("camera.intrusion", first, [review], later)
    assert [s.state for s in signals] == [SignalState.FIRING]


def test_the_same_by_day_is_no_alert() -> None:
    events = [obj(DAY, s, "p1", zones=["lane"]) for s in range(0, 60, 5)]
    assert signals_of("camera.intrusion", events) == []


def test_only_the_zones_restricted_classes_intrude() -> None:
    # The yard is closed to people only; the lane to people, cars and trucks.
    events = [
        obj(NIGHT, 0, "c1", label="car", zones=["yard"]),
        obj(NIGHT, 1, "m1", label="motorcycle", zones=["lane"]),
        obj(NIGHT, 2, "x1", zones=["nowhere"]),
        obj(NIGHT, 3, "f1", zones=["lane"], false_positive=True),
    ]
    assert signals_of("camera.intrusion", events) == []
    truck = signals_of("camera.intrusion", [obj(NIGHT, 0, "t1", label="truck", zones=["lane"])])
    assert [s.labels["zone"] for s in truck] == ["lane"]


def test_closed_hours_end_at_five_local_time() -> None:
    at = datetime(2026, 12, 4, 4, 59, tzinfo=LOCAL_TZ).astimezone(UTC)
    assert len(signals_of("camera.intrusion", [obj(at, 0, "p1", zones=["lane"])])) == 1
    assert signals_of("camera.intrusion", [obj(at, 60, "p2", zones=["lane"])]) == []


def test_a_new_episode_after_the_gap_resolves_the_old_one_first() -> None:
    gap = RULES.intrusion.episode_gap_seconds
    first = [obj(NIGHT, s, "p1", zones=["lane"]) for s in (0, 30, 60)]
    # Another person 10 minutes later: a new episode, a new alert.
    second = [obj(NIGHT, 60 + gap + 240, "p2", zones=["lane"])]
    signals = signals_of("camera.intrusion", first + second)
    assert [(s.state, s.at) for s in signals] == [
        (SignalState.FIRING, NIGHT),
        (SignalState.RESOLVED, NIGHT + timedelta(seconds=60 + gap)),
        (SignalState.FIRING, NIGHT + timedelta(seconds=60 + gap + 240)),
    ]
    resolved = signals[1]
    assert resolved.values["event_ids"] == ["p1"] and resolved.values["sightings"] == 3
    assert signals[2].values["event_ids"] == ["p2"]
    # Within the gap a second person is the same episode.
    close = [*first, obj(NIGHT, 60 + gap - 1, "p2", zones=["lane"])]
    assert len(signals_of("camera.intrusion", close)) == 1


def test_any_event_of_the_camera_ends_an_episode() -> None:
    gap = RULES.intrusion.episode_gap_seconds
    events = [
        obj(NIGHT, 0, "p1", zones=["lane"]),
        obj(NIGHT, gap + 100, "c9", label="car", zones=[]),  # a car elsewhere in the picture
    ]
    signals = signals_of("camera.intrusion", events)
    assert [s.state for s in signals] == [SignalState.FIRING, SignalState.RESOLVED]


def test_the_episodes_first_snapshot_updates_its_alert() -> None:
    events = [
        obj(NIGHT, 0, "p1", zones=["lane"], snapshot=False),
        obj(NIGHT, 5, "p1", zones=["lane"], snapshot=False),
        obj(NIGHT, 10, "p1", zones=["lane"], snapshot=True),
        obj(NIGHT, 15, "p1", zones=["lane"], snapshot=True),
    ]
    signals = signals_of("camera.intrusion", events)
    assert [(s.state, s.values["snapshot"]) for s in signals] == [
        (SignalState.FIRING, None),
        (SignalState.FIRING, "frigate:p1"),
    ]
    assert len({s.fingerprint for s in signals}) == 1  # one alert, updated


def test_a_cameras_own_intrusion_event_by_region_alias() -> None:
    # The Hikvision camera's zone is closed 23:00-04:30; its region id "1" is the alias.
    late = NIGHT + timedelta(hours=1)
    events = [
        pushed(late, 0, "intrusion", zones=["1"], label="person", snapshot="isapi:ab.jpg"),
        pushed(late, 5, "intrusion", zones=["1"]),  # no target type: still an intrusion
        pushed(late, 9, "intrusion", zones=["1"], state="inactive"),
        pushed(late, 12, "intrusion", zones=["2"]),  # not a registry zone
    ]
    signals = signals_of("camera.intrusion", events)
    assert len(signals) == 1
    assert signals[0].labels == {"camera": "hik", "zone": "ben_xe"}
    assert signals[0].values["snapshot"] == "isapi:ab.jpg"
    before = NIGHT - timedelta(minutes=30)  # 22:30: that zone is still open
    assert signals_of("camera.intrusion", [pushed(before, 0, "intrusion", zones=["1"])]) == []


# ---- loitering -------------------------------------------------------------------------


def test_standing_still_longer_than_the_zones_limit_is_loitering() -> None:
    events = [
        obj(NIGHT, 0, "p1", state="new", zones=["lane"]),
        obj(NIGHT, 10, "p1", zones=["lane"], stationary=True),  # still from here
        obj(NIGHT, 60, "p1", zones=["lane"], stationary=True),
        # Frigate says nothing more of p1; another object's message moves the clock.
        obj(NIGHT, 140, "c2", label="car", zones=[]),
        obj(NIGHT, 200, "p1", zones=["lane"], stationary=False),  # walks off
    ]
    signals = signals_of("camera.loitering", events)
    assert [(s.state, s.at) for s in signals] == [
        (SignalState.FIRING, NIGHT + timedelta(seconds=130)),
        (SignalState.RESOLVED, NIGHT + timedelta(seconds=200)),
    ]
    assert signals[0].values["event_ids"] == ["p1"]
    assert signals[0].values["snapshot"] == "frigate:p1"
    assert "2 phút" in signals[0].summary_vi and "2m" in signals[0].summary_en


def test_a_short_stop_is_not_loitering() -> None:
    events = [
        obj(NIGHT, 0, "p1", zones=["lane"], stationary=True),
        obj(NIGHT, 119, "p1", zones=["lane"], stationary=True),
        obj(NIGHT, 125, "p1", zones=["lane"], stationary=False),
        obj(NIGHT, 300, "p1", zones=["lane"], state="end"),
    ]
    assert signals_of("camera.loitering", events) == []
    parked = [obj(NIGHT, s, "c1", label="car", zones=["lane"], stationary=True) for s in (0, 500)]
    assert signals_of("camera.loitering", parked) == []  # people only


def test_loitering_resolves_when_the_event_ends() -> None:
    events = [
        obj(NIGHT, 0, "p1", zones=["lane"], stationary=True),
        obj(NIGHT, 150, "p1", zones=["lane"], stationary=True),
        obj(NIGHT, 160, "p1", zones=["lane"], stationary=True, state="end"),
    ]
    assert [s.state for s in signals_of("camera.loitering", events)] == [
        SignalState.FIRING,
        SignalState.RESOLVED,
    ]


# ---- crowding --------------------------------------------------------------------------


def crowd(people: int, at: datetime = NIGHT) -> list[CameraEvent]:
    return [obj(at, i, f"p{i}", state="new", zones=["lane"]) for i in range(people)]


def test_a_crowd_at_the_threshold_fires_once_and_resolves_below_the_margin() -> None:
    threshold = 4
    margin = RULES.crowding.clear_margin
    arrive = crowd(threshold + 2)
    leave = [obj(NIGHT, 100 + i, f"p{i}", state="end", zones=["lane"]) for i in range(6)]
    signals = signals_of("camera.crowding", arrive + leave)
    assert [(s.state, s.values["people"]) for s in signals] == [
        (SignalState.FIRING, threshold),
        (SignalState.RESOLVED, threshold - margin),
    ]
    assert signals[0].values["event_ids"] == ["p0", "p1", "p2", "p3"]
    assert signals[0].values["snapshot"] == "frigate:p3"
    assert "4 người" in signals[0].title_vi


def test_a_redelivered_message_of_an_ended_person_is_not_counted_again() -> None:
    arrive = crowd(4)
    leave = [obj(NIGHT, 100 + i, f"p{i}", state="end", zones=["lane"]) for i in range(4)]
    again = crowd(4)  # the first messages once more, in a later batch
    signals = signals_of("camera.crowding", arrive + leave, again)
    assert [s.state for s in signals] == [SignalState.FIRING, SignalState.RESOLVED]
    stood = [obj(NIGHT, s, "p1", zones=["lane"], stationary=True) for s in (0, 150)]
    ended = [obj(NIGHT, 160, "p1", zones=["lane"], stationary=True, state="end")]
    signals = signals_of("camera.loitering", stood + ended, stood)
    assert [s.state for s in signals] == [SignalState.FIRING, SignalState.RESOLVED]


def test_one_short_of_the_threshold_is_no_crowd() -> None:
    assert signals_of("camera.crowding", crowd(3)) == []
    # People moving out of the zone (not ending) leave the count too.
    moved = [*crowd(3), obj(NIGHT, 10, "p0", zones=[]), obj(NIGHT, 11, "p9", zones=["lane"])]
    assert signals_of("camera.crowding", moved) == []


def test_people_whose_end_was_lost_are_forgotten() -> None:
    forget = RULES.objects.forget_after_seconds
    later = obj(NIGHT, forget + 10, "p9", zones=["lane"])  # the next person, much later
    signals = signals_of("camera.crowding", crowd(4), [later])
    assert [(s.state, s.values["people"]) for s in signals] == [
        (SignalState.FIRING, 4),
        (SignalState.RESOLVED, 1),
    ]
    # Split anywhere, the same: forgetting follows the camera's clock, not the batches.
    assert signals_of("camera.crowding", [*crowd(4), later]) == signals


def test_cars_are_no_crowd() -> None:
    cars = [obj(NIGHT, i, f"c{i}", label="car", zones=["lane"]) for i in range(10)]
    assert signals_of("camera.crowding", cars) == []


# ---- line crossing ---------------------------------------------------------------------

DOWN = [(0.5, 0.5), (0.5, 0.6), (0.5, 0.68), (0.5, 0.74), (0.5, 0.8)]


def test_a_box_crossing_the_line_counts_once_in_the_right_direction() -> None:
    records = records_of("camera.crossing", walk(NIGHT, "t1", DOWN, label="truck"))
    assert records == [
        LineCrossing(
            time=NIGHT + timedelta(seconds=6),
            camera="gate",
            line="gate_line",
            direction="in",  # down the picture = left to right of P1→P2
            label="truck",
            event_id="t1",
            source="frigate",
        )
    ]
    up = records_of("camera.crossing", walk(NIGHT, "t2", DOWN[::-1]))
    assert [(r.direction, r.event_id) for r in up] == [("out", "t2")]


def test_a_right_to_left_line_counts_the_other_way() -> None:
    up = [(0.25, 0.6), (0.25, 0.5), (0.25, 0.4), (0.25, 0.3)]
    records = records_of("camera.crossing", walk(NIGHT, "m1", up, camera="road"))
    assert [(r.line, r.direction) for r in records] == [("north", "in")]


def test_resent_frames_never_count_twice() -> None:
    events = walk(NIGHT, "t1", DOWN)
    twice = [e for e in events for _ in (0, 1)]
    assert len(records_of("camera.crossing", twice)) == 1
    # The same messages again in a later batch (a re-delivery that got through).
    assert len(records_of("camera.crossing", events, events)) == 1
    # An older frame after a newer one changes nothing.
    late = [*events[:4], events[1], events[4]]
    assert len(records_of("camera.crossing", late)) == 1


def test_jitter_on_the_line_and_back_and_forth_count_at_most_once_each_way() -> None:
    # Within the band around y=0.7: no side, no crossing.
    jitter = [(0.5, 0.695), (0.5, 0.705), (0.5, 0.697), (0.5, 0.708), (0.5, 0.699)]
    assert records_of("camera.crossing", walk(NIGHT, "p1", jitter)) == []
    flip = [(0.5, 0.6), (0.5, 0.8), (0.5, 0.6), (0.5, 0.8), (0.5, 0.6), (0.5, 0.8)]
    records = records_of("camera.crossing", walk(NIGHT, "p2", flip))
    assert [r.direction for r in records] == ["in", "out"]


def test_passing_beside_the_line_is_no_crossing() -> None:
    # The line spans x 0.2-0.8; this object goes down the picture at x = 0.1.
    beside = [(0.1, 0.5), (0.1, 0.65), (0.1, 0.75), (0.1, 0.85)]
    assert records_of("camera.crossing", walk(NIGHT, "p1", beside)) == []


def test_the_cameras_own_line_events_by_alias_and_direction() -> None:
    events = [
        pushed(NIGHT, 0, "line_crossing", zones=["1"], direction="A->B", label="car"),
        pushed(NIGHT, 1, "line_crossing", zones=["1"], direction="B->A", label="motorcycle"),
        pushed(NIGHT, 2, "line_crossing", zones=["1"]),  # no direction, no default: skipped
        pushed(NIGHT, 3, "line_crossing", zones=["9"], direction="A->B"),  # unknown line
        pushed(NIGHT, 4, "line_crossing", zones=["1"], direction="A->B", state="inactive"),
        pushed(NIGHT, 5, "line_crossing", camera="vms", source="onvif", zones=["LineDetector1"]),
    ]
    records = records_of("camera.crossing", events)
    assert [(r.camera, r.line, r.direction, r.label, r.source) for r in records] == [
        ("hik", "duong", "in", "car", "hikvision"),
        ("hik", "duong", "out", "motorcycle", "hikvision"),
        ("vms", "cau", "in", "unknown", "onvif"),
    ]
    assert records[0].event_id == events[0].event_id
    assert records[0].time == NIGHT


# ---- plates ----------------------------------------------------------------------------


def test_every_event_with_a_plate_is_a_read_with_the_normalised_plate() -> None:
    frigate = obj(NIGHT, 4, "c1", label="car", start=0, plate="51F 123.45", plate_score=0.91)
    anpr = pushed(
        NIGHT, 6, "anpr", plate="51-F1\n234.56", plate_score=0.8, direction="forward",
        label="motorcycle", snapshot="isapi:cd.jpg",
    )  # fmt: skip
    records = records_of("camera.plates", [frigate, anpr, obj(NIGHT, 5, "c2")])
    assert records == [
        PlateRead(
            time=NIGHT,  # the event's start: one pass, one (event_id, time)
            camera="gate",
            plate="51F 123.45",
            plate_norm="51F-12345",
            score=0.91,
            direction=None,
            vehicle_type="car",
            event_id="c1",
            snapshot="frigate:c1",
            source="frigate",
        ),
        PlateRead(
            time=NIGHT + timedelta(seconds=6),
            camera="hik",
            plate="51-F1\n234.56",
            plate_norm="51F1-23456",
            score=0.8,
            direction="forward",
            vehicle_type="motorcycle",
            event_id=anpr.event_id,
            snapshot="isapi:cd.jpg",
            source="hikvision",
        ),
    ]
    # No state, but keys, or the runner would not call it.
    assert DETECTORS["camera.plates"].keys([frigate, anpr]) == {"gate", "hik"}
    assert run(DETECTORS["camera.plates"], [frigate], [anpr])[0] == []


# ---- health ----------------------------------------------------------------------------


@pytest.mark.parametrize("alarm", ["tamper", "video_loss"])
def test_a_camera_alarm_fires_on_active_and_resolves_on_inactive(alarm: str) -> None:
    events = [
        pushed(NIGHT, 0, alarm, snapshot="isapi:ef.jpg"),
        pushed(NIGHT, 10, alarm),  # the camera repeats itself while it lasts
        pushed(NIGHT, 20, alarm),
        pushed(NIGHT, 30, alarm, state="inactive"),
        pushed(NIGHT, 40, alarm, state="inactive"),
    ]
    signals = signals_of("camera.health", events)
    assert [(s.rule, s.state, s.at) for s in signals] == [
        (f"camera.{alarm}", SignalState.FIRING, NIGHT),
        (f"camera.{alarm}", SignalState.RESOLVED, NIGHT + timedelta(seconds=30)),
    ]
    assert signals[0].labels == {"camera": "hik"}
    assert signals[0].values["event_ids"] == [events[0].event_id]
    assert signals[0].values["snapshot"] == "isapi:ef.jpg"
    assert "23:00 03/12/2026" in signals[1].summary_vi  # since when
    again = signals_of("camera.health", [*events, pushed(NIGHT, 50, alarm)])
    assert [s.state for s in again][-1] is SignalState.FIRING


def test_tamper_and_video_loss_are_separate_alerts() -> None:
    events = [pushed(NIGHT, 0, "tamper"), pushed(NIGHT, 1, "video_loss")]
    signals = signals_of("camera.health", events)
    assert sorted(s.rule for s in signals) == ["camera.tamper", "camera.video_loss"]


# ---- batch boundaries and JSON state ---------------------------------------------------


def stream() -> list[CameraEvent]:
    """An hour of night at the gate and the road: intruders, a loiterer, a crowd, objects
    crossing lines, plates, alarms; interleaved in frame-time order."""
    rng = random.Random(12)
    events: list[CameraEvent] = []
    for n in range(12):
        t0 = n * 300 + rng.uniform(0, 60)
        path = DOWN if n % 2 else DOWN[::-1]
        label = rng.choice(["person", "car", "truck"])
        zones = ["lane"] if n % 3 else ["yard"]
        for e in walk(NIGHT, f"o{n}", path, t0=t0, step=3, label=label, zones=zones):
            events.append(e)
    for i in range(5):
        events.append(obj(NIGHT, 1000 + i, f"c{i}", state="new", zones=["lane"]))
        events.append(obj(NIGHT, 1100 + i, f"c{i}", state="end", zones=["lane"]))
    events += [obj(NIGHT, s, "l1", zones=["lane"], stationary=True) for s in (2000, 2050, 2400)]
    events.append(obj(NIGHT, 2500, "l1", zones=["lane"], state="end"))
    events.append(obj(NIGHT, 1500, "v1", label="car", plate="51F-123.45", plate_score=0.7))
    alarm = ("active", "active", "inactive")
    events += [pushed(NIGHT, 1800 + 20 * i, "tamper", state=s) for i, s in enumerate(alarm)]
    events.append(pushed(NIGHT, 1900, "line_crossing", zones=["1"], direction="A->B"))
    events.sort(key=lambda e: (e.frame_time, e.event_id))
    return events


def outcome(name: str, batches: Sequence[Sequence[CameraEvent]]) -> tuple[list[Any], list[Any]]:
    signals, records = run(DETECTORS[name], *batches)
    shown = [
        (s.rule, s.state, dict(s.labels), s.at, s.title_vi, s.summary_en, dict(s.values))
        for s in signals
    ]
    # Records go to a store: their order across batches does not matter, their set does.
    return shown, sorted((asdict(r) for r in records), key=lambda r: sorted(r.items()))


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_batches_split_anywhere_give_the_same_signals_and_records(name: str) -> None:
    events = stream()
    whole = outcome(name, [events])
    if name != "camera.plates":
        assert whole[0] or whole[1], f"{name}: the stream must exercise the detector"
    for cut in range(1, len(events)):
        assert outcome(name, [events[:cut], events[cut:]]) == whole, f"cut at {cut}"
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(events)), 5))
        parts = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
        assert outcome(name, parts) == whole
    one_by_one = [[e] for e in events]
    assert outcome(name, one_by_one) == whole


def test_the_stream_raises_what_it_should() -> None:
    events = stream()
    rules = {s.rule for name in DETECTORS for s in signals_of(name, events)}
    assert rules == {"camera.intrusion", "camera.loitering", "camera.crowding", "camera.tamper"}
    crossings = records_of("camera.crossing", events)
    frigate = [r for r in crossings if r.source == "frigate"]
    assert len(frigate) == 12  # every walk crosses once
    assert sorted(r.direction for r in frigate) == ["in"] * 6 + ["out"] * 6
