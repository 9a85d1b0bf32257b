"""EnvironmentDetector over the shipped rule packs: levels, thresholds, rates, health."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from random import Random
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from events.alerts import Domain, Severity, Signal, SignalState
from events.models import Measurement, Quality
from processors.detector import State
from processors.environment.detector import EnvironmentDetector, state_key
from processors.environment.engine import RuleBook
from processors.environment.levels import LEVELS_FILE
from simulators.fleet import load_fleet

T0 = datetime(2024, 11, 20, 0, 0, tzinfo=UTC)
TAN_CHAU = "ag-tanchau-wl01"  # BĐ I/II/III 3.5 / 4.0 / 4.5 m
SAL = "kg-xeoro-sal01"
AIR = "kg-rachgia-aq01"
BOOK = RuleBook.load()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def readings(
    device: str, metric: str, values: Iterable[float], every: float = 5, start: float = 0
) -> list[Measurement]:
    return [
        Measurement(time=at(start + i * every), device_id=device, metric=metric, value=v)
        for i, v in enumerate(values)
    ]


def run(
    batches: Sequence[Sequence[Measurement]], states: dict[str, State] | None = None
) -> tuple[dict[str, State], list[Signal]]:
    """Feed batches the way the runner does: load the batch's keys' states (through JSON,
    as the database stores them), process, save or delete."""
    detector = EnvironmentDetector(BOOK)
    states = dict(states or {})
    signals: list[Signal] = []
    for batch in batches:
        keys = detector.keys(batch)
        loaded = {k: json.loads(json.dumps(states[k])) for k in keys if k in states}
        outcome = detector.process(loaded, batch)
        assert set(outcome.states) <= keys
        for key, state in outcome.states.items():
            if state is None:
                states.pop(key, None)
            else:
                states[key] = state
        signals += outcome.signals
    return states, signals


def of(signals: list[Signal], rule: str) -> list[Signal]:
    return [s for s in signals if s.rule == rule]


def steps(signals: list[Signal]) -> list[tuple[str, str, Any]]:
    return [(s.state.value, s.severity.label, s.values.get("level")) for s in signals]


def hover(line: float, count: int = 12) -> list[float]:
    """±2 cm of noise around a line."""
    return [round(line + (0.02 if i % 2 else -0.02), 2) for i in range(count)]


# ---- water level: BĐ I → II → III and back, one alert -----------------------------------


def flood_episode() -> list[float]:
    rising = [3.3, 3.4, *hover(3.5), 3.7, *hover(4.0), 4.2, *hover(4.5), 4.6]
    falling = [*hover(4.5), 4.4, *hover(4.0), 3.9, *hover(3.5), 3.4, 3.3]
    return rising + falling


def test_level_rises_through_bd_levels_and_recedes_without_flapping() -> None:
    _, signals = run([readings(TAN_CHAU, "waterLevel", flood_episode())])
    flood = of(signals, "env.water_level")
    assert steps(flood) == [
        ("firing", "medium", "bd1"),
        ("firing", "high", "bd2"),
        ("firing", "critical", "bd3"),
        ("firing", "high", "bd2"),
        ("firing", "medium", "bd1"),
        ("resolved", "medium", None),
    ]
    assert [s.values["transition"] for s in flood] == [
        "raise",
        "escalate",
        "escalate",
        "deescalate",
        "deescalate",
        "resolve",
    ]
    assert {s.fingerprint for s in flood} == {flood[0].fingerprint}
    assert flood[0].labels == {"device_id": TAN_CHAU, "metric": "waterLevel"}
    assert flood[0].domain is Domain.ENVIRONMENT
    assert flood[1].title_vi == "Mực nước vượt báo động II tại trạm Tân Châu"
    assert flood[1].title_en == "Water level above alarm level II at Tân Châu"
    assert flood[1].values == {
        "unit": "m",
        "value": 4.02,
        "level": "bd2",
        "threshold": 4.0,
        "transition": "escalate",
    }
    # The resolve happens on the first reading below BĐ I minus the 5 cm margin.
    assert flood[-1].values["value"] == 3.4
    assert flood[-1].values["threshold"] == 3.45
    assert flood[-1].at == at(5 * (len(flood_episode()) - 2))


def test_signals_use_event_time_and_batches_are_sorted() -> None:
    batch = readings(TAN_CHAU, "waterLevel", [3.3, 3.6, 3.3])
    _, signals = run([list(reversed(batch))])
    assert [(s.state, s.at) for s in of(signals, "env.water_level")] == [
        (SignalState.FIRING, at(5)),
        (SignalState.RESOLVED, at(10)),
    ]


def test_a_station_without_alarm_levels_gets_no_flood_alert() -> None:
    states, signals = run([readings("hg-unknown-wl01", "waterLevel", [9.0, 9.5])])
    assert of(signals, "env.water_level") == []
    assert state_key("env.water_level", "hg-unknown-wl01", "waterLevel") not in states


def test_station_table_matches_the_fleet_metadata() -> None:
    table = yaml.safe_load(LEVELS_FILE.read_text(encoding="utf-8"))["stations"]
    for device in load_fleet().devices:
        if device.type == "water_level":
            row = table[device.id]
            assert {k: row[k] for k in ("bd1", "bd2", "bd3")} == device.metadata["alarm_levels"]


def test_bad_readings_never_reach_the_levels() -> None:
    broken = Measurement(
        time=at(5), device_id=TAN_CHAU, metric="waterLevel", value=50.0, quality=Quality.BAD
    )
    _, signals = run([[*readings(TAN_CHAU, "waterLevel", [3.3]), broken]])
    assert of(signals, "env.water_level") == []
    assert [s.state for s in of(signals, "health.out_of_range")] == [SignalState.FIRING]


# ---- threshold: salinity steps, clear lines, for: -----------------------------------------


def test_salinity_watch_then_warning_then_back_in_one_alert() -> None:
    values = [0.5, 1.2, 2.5, 4.1, 3.9, 3.7, 1.5, 0.9, 0.7]
    _, signals = run([readings(SAL, "salinity", values)])
    sal = of(signals, "env.salinity")
    assert steps(sal) == [
        ("firing", "medium", "watch"),  # ≥ 1‰
        ("firing", "high", "warning"),  # ≥ 4‰
        ("firing", "medium", "watch"),  # 3.7 < 4 - 0.2
        ("resolved", "medium", None),  # 0.7 < 1 - 0.2
    ]
    assert [s.at for s in sal] == [at(5), at(15), at(25), at(40)]
    assert sal[1].title_vi == "Độ mặn vượt mức cảnh báo mặn (4‰) tại trạm Xẻo Rô"
    assert sal[1].summary_en.endswith("stop irrigation intake.")


def test_clear_level_is_separate_from_the_firing_level() -> None:
    values = [0.5, 1.05, 0.95, 0.85, 0.81, 0.99, 0.8, 0.79, 0.95, 1.0]
    _, signals = run([readings(SAL, "salinity", values)])
    sal = of(signals, "env.salinity")
    # Held down to the 0.8‰ clear line (0.8 itself included), resolved below it, and
    # raised again only at the 1‰ line, not at 0.95.
    assert [(s.state.value, s.at) for s in sal] == [
        ("firing", at(5)),
        ("resolved", at(35)),
        ("firing", at(45)),
    ]


def test_for_delays_firing_and_a_dip_restarts_the_clock() -> None:
    values = [300, 300, 200, 300, 300, 300, 300, 100]  # every 5 minutes
    _, signals = run([readings(AIR, "pm25", values)])
    spike = of(signals, "env.pm25_spike")
    # Above 250 from 0 min, dip at 10 min; above again from 15 min, held 15 min at 30.
    assert [(s.state.value, s.severity, s.at) for s in spike] == [
        ("firing", Severity.HIGH, at(30)),
        ("resolved", Severity.HIGH, at(35)),
    ]


# ---- rate of change ---------------------------------------------------------------------


def test_fast_rise_fires_and_resolves_when_the_rise_slows() -> None:
    # 5 cm every 10 min: +0.30 m within the hour at 60 min. Then flat.
    rising = [round(2.0 + 0.05 * i, 2) for i in range(7)]
    values = rising + [2.3] * 8
    _, signals = run([readings(TAN_CHAU, "waterLevel", values, every=10)])
    rate = of(signals, "env.water_rise_rate")
    assert [(s.state.value, s.at) for s in rate] == [("firing", at(60)), ("resolved", at(100))]
    assert rate[0].values["change"] == 0.3
    assert rate[0].title_en == "Water rising fast at Tân Châu: +0.30 m within 1h"
    # At 90 min the window [30, 90] still starts at 2.15 (+0.15: held at the clear line);
    # at 100 min it starts at 2.2: +0.10 < 0.15.
    assert rate[1].values["change"] == 0.1


# ---- sensor health ----------------------------------------------------------------------


def test_stuck_value_fires_after_its_duration_and_resolves_on_change() -> None:
    values = [0.42] * 74 + [0.45]  # every 5 minutes: 6 h of 0.42 at 360 min
    _, signals = run([readings("kg-xeoro-wl01", "waterLevel", values)])
    stuck = of(signals, "health.stuck")
    assert [(s.state.value, s.at) for s in stuck] == [("firing", at(360)), ("resolved", at(370))]
    assert stuck[0].domain is Domain.HEALTH
    assert stuck[0].title_en == "waterLevel sensor at Xẻo Rô stuck for 6h"


def test_stuck_duration_is_per_metric() -> None:
    _, signals = run([readings(SAL, "salinity", [2.0] * 80)])  # 6h35m: salinity needs 12 h
    assert of(signals, "health.stuck") == []


def test_out_of_range_fires_on_bad_quality_and_resolves_after_good_readings() -> None:
    good = readings(AIR, "pm25", [20, 21, 22, 23, 24], every=1)
    bad = [Measurement(time=at(0.5), device_id=AIR, metric="pm25", value=5000, quality=Quality.BAD)]
    _, signals = run([good[:1] + bad, good[1:]])
    oor = of(signals, "health.out_of_range")
    assert [(s.state.value, s.at) for s in oor] == [("firing", at(0.5)), ("resolved", at(3))]
    assert oor[0].values == {"unit": "ug/m3", "value": 5000, "minimum": 0, "maximum": 1000}
    assert oor[0].labels == {"device_id": AIR, "metric": "pm25"}


def test_keys_name_rule_device_and_metric() -> None:
    detector = EnvironmentDetector(BOOK)
    keys = detector.keys(readings(SAL, "salinity", [1.0]))
    assert keys == {
        "env.salinity|kg-xeoro-sal01|salinity",
        "health.stuck|kg-xeoro-sal01|salinity",
        "health.out_of_range|kg-xeoro-sal01|salinity",
    }


# ---- state between batches ----------------------------------------------------------------


def mixed_series() -> list[Measurement]:
    flood = readings(TAN_CHAU, "waterLevel", flood_episode(), every=10)
    sal = readings(SAL, "salinity", [0.5, 1.2, 4.1, 3.9, 3.7, 0.9, 0.7, 1.1], every=7)
    stuck = readings("kg-xeoro-wl01", "waterLevel", [0.4] * 80 + [0.5], every=5)
    pm = readings(AIR, "pm25", [300, 300, 200, 300, 300, 300, 300, 100], every=5)
    broken = [
        Measurement(time=at(t), device_id=SAL, metric="salinity", value=99, quality=Quality.BAD)
        for t in (8, 9, 22)
    ]
    return sorted(flood + sal + stuck + pm + broken, key=lambda m: m.time)


def canonical(signals: list[Signal]) -> list[tuple[Any, ...]]:
    return sorted(
        (s.at, s.rule, sorted(s.labels.items()), s.state, s.severity, s.title_vi, s.values)
        for s in signals
    )


EVERYTHING = mixed_series()
_, ONE_BATCH = run([EVERYTHING])


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, len(EVERYTHING)), max_size=12),
    shuffle=st.randoms(use_true_random=False),
)
def test_splitting_into_batches_anywhere_gives_the_same_signals(
    cuts: list[int], shuffle: Random
) -> None:
    bounds = [0, *sorted(cuts), len(EVERYTHING)]
    batches = [list(EVERYTHING[a:b]) for a, b in pairwise(bounds)]
    for batch in batches:
        shuffle.shuffle(batch)  # arrival order within a batch is not time order
    _, signals = run(batches)
    assert canonical(signals) == canonical(ONE_BATCH)


def test_the_mixed_series_exercises_every_stream_kind() -> None:
    assert {s.rule for s in ONE_BATCH} == {
        "env.water_level",
        "env.water_rise_rate",
        "env.salinity",
        "env.pm25_spike",
        "health.stuck",
        "health.out_of_range",
    }
