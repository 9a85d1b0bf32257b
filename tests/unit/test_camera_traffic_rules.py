"""Traffic rules (processors/environment/rules/traffic.yaml, per-point thresholds in
traffic_points.yaml) and Frigate video loss (rules/cameras.yaml) on the environment
engine, with readings per minute as processors/jobs/line_counts.py and Frigate's stats
write them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from events.alerts import Domain, Signal, SignalState
from events.models import Measurement
from processors.cameras.registry import load_registry
from processors.detector import State
from processors.environment.detector import EnvironmentDetector
from processors.environment.engine import RuleBook

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # 07:00 local, the morning rush
BOOK = RuleBook.load()
GATE = "camranh_port_gate:gate_line"  # congestion_count 20, clear 14
SEGMENT = "ql1-camranh"  # slow_kmh 15, clear 25
LOOP = "kg-rachgia-tf01"


def minutes(
    device: str, metric: str, values: Iterable[float], every: float = 1
) -> list[Measurement]:
    return [
        Measurement(
            time=T0 + timedelta(minutes=i * every), device_id=device, metric=metric, value=v
        )
        for i, v in enumerate(values)
    ]


def run(*batches: Sequence[Measurement]) -> list[Signal]:
    detector = EnvironmentDetector(BOOK)
    states: dict[str, State] = {}
    signals: list[Signal] = []
    for batch in batches:
        keys = detector.keys(batch)
        loaded = {k: json.loads(json.dumps(states[k])) for k in keys if k in states}
        outcome = detector.process(loaded, batch)
        for key, state in outcome.states.items():
            if state is None:
                states.pop(key, None)
            else:
                states[key] = state
        signals += outcome.signals
    return signals


def shown(signals: Sequence[Signal]) -> list[tuple[str, SignalState, int]]:
    return [(s.rule, s.state, int((s.at - T0).total_seconds() // 60)) for s in signals]


def test_a_lines_count_above_its_threshold_for_five_minutes_is_congestion() -> None:
    counts = [8, 12, 22, 25, 24, 23, 26, 27, 21, 16, 13, 12, 10, 9, 8, 8, 7]
    signals = run(minutes(GATE, "vehicle_count", counts))
    # At or above 20 from minute 2; held 5 minutes at minute 7. Below 14 from minute 10;
    # held 5 minutes at minute 15.
    assert shown(signals) == [
        ("traffic.congestion", SignalState.FIRING, 7),
        ("traffic.congestion", SignalState.RESOLVED, 15),
    ]
    firing = signals[0]
    assert firing.domain is Domain.CAMERA
    assert firing.labels == {"device_id": GATE, "metric": "vehicle_count"}
    assert "cổng cảng Cam Ranh" in firing.title_vi and "27 xe/phút" in firing.title_vi


def test_a_short_peak_is_no_congestion_and_a_point_without_numbers_gets_none() -> None:
    assert run(minutes(GATE, "vehicle_count", [25, 25, 25, 25, 10, 25, 25, 25, 25])) == []
    assert run(minutes("somewhere:else", "vehicle_count", [500] * 20)) == []


def test_loop_occupancy_is_congestion_too() -> None:
    signals = run(minutes(LOOP, "occupancy", [10, 35, 36, 38, 40, 41, 42, 39]))
    assert shown(signals) == [("traffic.congestion", SignalState.FIRING, 6)]
    assert signals[0].labels == {"device_id": LOOP, "metric": "occupancy"}


def test_a_segment_slower_than_its_threshold_for_ten_minutes_is_slow() -> None:
    speeds = [42, 30, 14, 12, 10, 9, 11, 13, 12, 10, 11, 12, 14, 30, 35, 38, 40, 41, 44]
    # One batch per minute, as the flush job writes them.
    signals = run(*[[m] for m in minutes(SEGMENT, "speed_kmh", speeds)])
    # At or below 15 from minute 2, for 10 minutes at 12; above 25 from 13, 5 min at 18.
    assert shown(signals) == [
        ("traffic.slow", SignalState.FIRING, 12),
        ("traffic.slow", SignalState.RESOLVED, 18),
    ]
    assert "QL1A đoạn qua Cam Ranh" in signals[0].title_vi


def test_frigate_camera_fps_at_zero_for_two_minutes_is_video_loss() -> None:
    fps = [5.0, 5.1, 0.0, 0.0, 0.0, 0.0, 4.9, 5.0]
    signals = run(minutes("camranh_port_gate", "camera_fps", fps))
    assert shown(signals) == [
        ("camera.video_loss", SignalState.FIRING, 4),
        ("camera.video_loss", SignalState.RESOLVED, 6),
    ]
    assert signals[0].domain is Domain.CAMERA
    # One stats snapshot at 0 (a camera reconnecting) is nothing.
    assert run(minutes("camranh_port_gate", "camera_fps", [5.0, 0.0, 5.0, 0.0, 5.0])) == []


def test_every_counting_point_of_the_registry_has_a_row() -> None:
    rule = BOOK.get("traffic.congestion", "vehicle_count")
    table = rule.table
    assert table is not None
    registry = load_registry()
    for point in registry.counting_points():
        assert "name" in table.row(point), point
    vehicles = [p for p in registry.counting_points() if "turnstile" not in p]
    assert all("congestion_count" in table.row(p) for p in vehicles)
    for segment in registry.segments:
        assert "slow_kmh" in table.row(segment), segment
