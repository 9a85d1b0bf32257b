"""Alarm levels with hysteresis (flood, salinity, AQI) and the sensor checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import cycle, islice

import pytest

from processors.environment.checks import (
    StuckState,
    check_range,
    is_stuck,
    rate_of_change,
    stuck_value,
    trim_window,
    update_stuck,
)
from processors.environment.hysteresis import LevelState, StaleStateError, run, step
from processors.environment.levels import (
    Level,
    LevelConfigError,
    LevelSpec,
    RateRule,
    StuckRule,
    aqi_spec,
    parse_duration,
    rate_rule,
    salinity_spec,
    stuck_rule,
    water_level_spec,
)
from simulators.fleet import load_fleet

T0 = datetime(2024, 11, 20, 0, 0, tzinfo=UTC)
TAN_CHAU = {"alarm_levels": {"bd1": 3.5, "bd2": 4.0, "bd3": 4.5}}
CHAU_DOC = {"alarm_levels": {"bd1": 3.0, "bd2": 3.5, "bd3": 4.0}}
XEO_RO = {"alarm_levels": {"bd1": 0.7, "bd2": 0.9, "bd3": 1.1}}


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def series(values: list[float], every: float = 5) -> list[tuple[datetime, float]]:
    return [(minutes(i * every), v) for i, v in enumerate(values)]


def fresh(entity: str = "ag-tanchau-wl01", detector: str = "water_level") -> LevelState:
    return LevelState(entity=entity, detector=detector)


def moves(transitions: list) -> list[tuple[str, str | None, str | None]]:
    return [(t.kind, t.from_level, t.to_level) for t in transitions]


# ---- water level: no flapping, escalation, de-escalation ------------------------------


def test_noise_around_bd1_raises_once_and_does_not_flap() -> None:
    spec = water_level_spec(TAN_CHAU)
    assert spec.margin == 0.05
    noise = list(islice(cycle([3.48, 3.50, 3.52, 3.51, 3.49, 3.50]), 300))  # 25 hours
    state, transitions = run(spec, fresh(), series([3.40, 3.45, *noise]))
    assert moves(transitions) == [("raise", None, "bd1")]
    assert state.level == "bd1"


def test_escalates_and_deescalates_in_one_alert_identity() -> None:
    spec = water_level_spec(TAN_CHAU)
    values = [3.2, 3.5, 3.7, 4.0, 4.2, 4.5, 4.6, 4.47, 4.44, 4.1, 3.96, 3.94, 3.6, 3.46, 3.44]
    state, transitions = run(spec, fresh(), series(values))
    assert moves(transitions) == [
        ("raise", None, "bd1"),
        ("escalate", "bd1", "bd2"),
        ("escalate", "bd2", "bd3"),
        ("deescalate", "bd3", "bd2"),  # 4.44 < 4.5 - 0.05
        ("deescalate", "bd2", "bd1"),  # 3.94 < 4.0 - 0.05
        ("resolve", "bd1", None),  # 3.44 < 3.5 - 0.05
    ]
    assert {t.alert_key for t in transitions} == {"water_level:ag-tanchau-wl01"}
    assert {t.episode_start for t in transitions} == {minutes(5)}
    assert [t.to_rank for t in transitions] == [1, 2, 3, 2, 1, 0]
    assert state.level is None and state.episode_start is None


def test_a_new_episode_after_resolution_has_a_new_start() -> None:
    spec = water_level_spec(TAN_CHAU)
    _, transitions = run(spec, fresh(), series([3.6, 3.3, 3.6]))
    assert moves(transitions) == [
        ("raise", None, "bd1"),
        ("resolve", "bd1", None),
        ("raise", None, "bd1"),
    ]
    assert transitions[0].alert_key == transitions[2].alert_key
    assert transitions[2].episode_start == minutes(10)


def test_jumps_skip_levels_in_one_transition() -> None:
    spec = water_level_spec(TAN_CHAU)
    _, transitions = run(spec, fresh(), series([3.0, 4.6, 4.2, 3.0]))
    assert moves(transitions) == [
        ("raise", None, "bd3"),
        ("deescalate", "bd3", "bd2"),
        ("resolve", "bd2", None),
    ]
    assert transitions[0].threshold == 4.5
    assert transitions[1].threshold == pytest.approx(4.45)  # the exit line crossed


def test_fall_lands_on_a_level_still_within_margin() -> None:
    spec = water_level_spec(TAN_CHAU)
    # From III straight to 3.97: below III's exit line, but within margin of II.
    _, transitions = run(spec, fresh(), series([4.6, 3.97]))
    assert transitions[-1].to_level == "bd2"


def test_out_of_order_and_repeated_readings_are_ignored() -> None:
    spec = water_level_spec(TAN_CHAU)
    state, _ = step(spec, fresh(), 4.1, minutes(10))
    same, transition = step(spec, state, 3.0, minutes(5))
    assert transition is None and same == state
    same, transition = step(spec, state, 3.0, minutes(10))
    assert transition is None and same == state


# ---- for: and clear_for: --------------------------------------------------------------


def _held(hold: str = "15m", clear: str = "0") -> LevelSpec:
    return LevelSpec(
        detector="water_level",
        levels=(Level("bd1", 3.5), Level("bd2", 4.0)),
        margin=0.05,
        hold=parse_duration(hold),
        clear_hold=parse_duration(clear),
    )


def test_for_duration_delays_the_raise() -> None:
    state, transitions = run(_held(), fresh(), series([3.6, 3.6, 3.6]))  # 0, 5, 10 min
    assert transitions == []
    state, transition = step(_held(), state, 3.6, minutes(15))
    assert transition.kind == "raise" and transition.time == minutes(15)


def test_for_duration_restarts_after_a_dip() -> None:
    values = [3.6, 3.4, 3.6, 3.6, 3.6, 3.6]  # dip at 5 min; above again from 10 min
    _, transitions = run(_held(), fresh(), series(values))
    assert [t.time for t in transitions] == [minutes(25)]


def test_for_duration_applies_per_level() -> None:
    # II is reached later than I, so I is raised first and II follows after its own hold.
    values = [3.6, 3.6, 4.1, 4.1, 4.1, 4.1, 4.1]
    _, transitions = run(_held(), fresh(), series(values))
    assert moves(transitions) == [("raise", None, "bd1"), ("escalate", "bd1", "bd2")]
    assert [t.time for t in transitions] == [minutes(15), minutes(25)]


def test_clear_for_delays_the_resolution() -> None:
    spec = _held(hold="0", clear="10m")
    _, transitions = run(spec, fresh(), series([3.6, 3.3, 3.3, 3.6, 3.3, 3.3, 3.3]))
    assert moves(transitions) == [("raise", None, "bd1"), ("resolve", "bd1", None)]
    assert transitions[-1].time == minutes(30)


# ---- per-station thresholds -----------------------------------------------------------


def test_each_station_uses_its_own_levels() -> None:
    levels = {
        name: step(water_level_spec(meta), fresh(name), 3.6, T0)[0].level
        for name, meta in {"tan_chau": TAN_CHAU, "chau_doc": CHAU_DOC, "xeo_ro": XEO_RO}.items()
    }
    assert levels == {"tan_chau": "bd1", "chau_doc": "bd2", "xeo_ro": "bd3"}


def test_levels_read_from_the_simulator_fleet_metadata() -> None:
    fleet = {d.id: d for d in load_fleet().devices if d.type == "water_level"}
    spec = water_level_spec(fleet["kg-xeoro-wl01"].metadata)
    assert [lvl.threshold for lvl in spec.levels] == [0.7, 0.9, 1.1]
    assert spec.level("bd2").vi == "Báo động II"


def test_station_with_only_some_levels() -> None:
    spec = water_level_spec({"alarm_levels": {"bd2": 0.9}})
    assert [lvl.key for lvl in spec.levels] == ["bd2"]
    _, transitions = run(spec, fresh(), series([0.5, 0.95, 0.8]))
    assert moves(transitions) == [("raise", None, "bd2"), ("resolve", "bd2", None)]


def test_station_margin_override() -> None:
    assert water_level_spec({**TAN_CHAU, "alarm_margin": 0.1}).margin == 0.1


@pytest.mark.parametrize("meta", [{}, {"alarm_levels": {}}, {"alarm_levels": {"x": 1}}])
def test_station_without_levels_is_a_config_error(meta: dict) -> None:
    with pytest.raises(LevelConfigError):
        water_level_spec(meta)


def test_levels_must_ascend() -> None:
    with pytest.raises(LevelConfigError, match="ascend"):
        water_level_spec({"alarm_levels": {"bd1": 4.0, "bd2": 3.5, "bd3": 4.5}})
    with pytest.raises(LevelConfigError):
        LevelSpec("x", (Level("a", 1.0),), margin=-0.1)


# ---- salinity and AQI levels ----------------------------------------------------------


def test_salinity_watch_then_warning_without_flapping() -> None:
    spec = salinity_spec()
    ripple = list(islice(cycle([3.9, 4.05, 4.1, 3.95]), 40))
    values = [0.5, 1.0, 2.5, *ripple, 3.7, 0.9, 0.7]
    state, transitions = run(spec, fresh("kg-xeoro-sal01", "salinity"), series(values))
    assert moves(transitions) == [
        ("raise", None, "watch"),
        ("escalate", "watch", "warning"),
        ("deescalate", "warning", "watch"),  # 3.7 < 4.0 - 0.2
        ("resolve", "watch", None),  # 0.7 < 1.0 - 0.2; 0.9 was within margin
    ]
    assert state.level is None


def test_salinity_station_override() -> None:
    spec = salinity_spec({"salinity_levels": {"warning": 3.0}})
    assert [lvl.threshold for lvl in spec.levels] == [1.0, 3.0]


def test_aqi_alerts_from_poor_and_escalates_by_category() -> None:
    spec = aqi_spec()
    assert [(lvl.key, lvl.threshold) for lvl in spec.levels] == [
        ("poor", 101),
        ("bad", 151),
        ("very_bad", 201),
        ("hazardous", 301),
    ]
    assert spec.level("bad").colour == (255, 0, 0)
    values = [100, 101, 151, 145, 140, 95, 90]
    _, transitions = run(spec, fresh("kh-nhatrang-aq01", "aqi"), series(values, every=60))
    assert moves(transitions) == [
        ("raise", None, "poor"),
        ("escalate", "poor", "bad"),
        ("deescalate", "bad", "poor"),  # 140 < 151 - 10; 145 stayed
        ("resolve", "poor", None),  # 90 < 101 - 10; 95 stayed
    ]


# ---- persistence ----------------------------------------------------------------------


def test_state_survives_a_restart_through_json() -> None:
    spec = _held(hold="15m")
    values = [3.6, 3.6, 4.1, 4.1, 4.1, 4.1, 4.1, 3.9, 3.2]
    points = series(values)
    _, uninterrupted = run(spec, fresh(), points)

    state, first = run(spec, fresh(), points[:3])
    assert state.arming  # mid-`for:` timers are part of the state
    restored = LevelState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    _, rest = run(spec, restored, points[3:])
    assert first + rest == uninterrupted
    assert json.loads(json.dumps(uninterrupted[0].to_dict()))["to_level"] == "bd1"


# ---- rate of change -------------------------------------------------------------------


def test_rate_rule_from_data() -> None:
    assert rate_rule("waterLevel") == RateRule(0.5, timedelta(hours=1))
    assert rate_rule("temperature") is None


def test_steady_climb_within_the_window_triggers() -> None:
    rule = RateRule(0.5, timedelta(hours=1))
    climb = series([3.0 + 0.1 * i for i in range(7)], every=10)  # +0.6 m in 60 min
    hit = rate_of_change(climb, rule)
    assert hit.change == pytest.approx(0.6)
    assert hit.start_time == minutes(0)
    assert rate_of_change(climb[:5], rule) is None  # +0.4 m so far


def test_rise_older_than_the_window_does_not_count() -> None:
    rule = RateRule(0.5, timedelta(hours=1))
    slow = series([3.0 + 0.1 * i for i in range(7)], every=20)  # +0.6 m over 2 h
    assert rate_of_change(slow, rule) is None


def test_fall_rule() -> None:
    rule = RateRule(-1.0, timedelta(hours=1))
    assert rate_of_change(series([5.0, 4.5, 3.9]), rule).change == pytest.approx(-1.1)
    assert rate_of_change(series([5.0, 4.5, 4.2]), rule) is None


def test_trim_window_keeps_what_a_worker_needs() -> None:
    points = series([1, 2, 3, 4, 5], every=30)
    assert trim_window(points, timedelta(hours=1)) == points[2:]
    assert trim_window([], timedelta(hours=1)) == []


# ---- stuck value ----------------------------------------------------------------------


def test_stuck_rule_from_data() -> None:
    assert stuck_rule("waterLevel") == StuckRule(timedelta(hours=6), 0.0)
    assert stuck_rule("rainfall") is None  # a flat zero is normal for rain


def test_flat_value_for_the_configured_time_is_stuck() -> None:
    rule = StuckRule(timedelta(hours=6))
    flat = series([3.21] * 73)  # 0..360 min
    found = stuck_value(flat, rule)
    assert found.since == minutes(0) and found.duration == timedelta(hours=6)
    assert stuck_value(flat[:-1], rule) is None


def test_a_change_restarts_the_stuck_clock() -> None:
    rule = StuckRule(timedelta(hours=1))
    values = [3.21] * 10 + [3.22] + [3.22] * 11  # changes at 50 min, flat to 105 min
    assert stuck_value(series(values), rule) is None
    assert stuck_value(series([*values, 3.22]), rule).since == minutes(50)


def test_tolerance_and_slow_drift() -> None:
    rule = StuckRule(timedelta(minutes=30), tolerance=0.02)
    jitter = series([1.00, 1.01, 0.99, 1.02, 1.00, 0.98, 1.01])
    assert stuck_value(jitter, rule) is not None
    drift = series([1.00 + 0.01 * i for i in range(7)])  # 1.06 leaves the band at 15 min
    assert stuck_value(drift, rule) is None


def test_stuck_state_streams_and_persists() -> None:
    rule = StuckRule(timedelta(minutes=20))
    state = StuckState()
    for t, v in series([7.0] * 4):
        state = update_stuck(state, v, t, rule)
    restored = StuckState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state and not is_stuck(restored, rule)
    assert is_stuck(update_stuck(restored, 7.0, minutes(20), rule), rule)
    assert update_stuck(restored, 7.0, minutes(5), rule) == restored  # late point ignored


# ---- physical range -------------------------------------------------------------------


def test_physical_range_uses_the_metric_registry() -> None:
    assert check_range("waterLevel", 3.5) is None
    bad = check_range("water_level", 600.0)  # alias resolved
    assert (bad.metric, bad.maximum) == ("waterLevel", 500)
    assert check_range("pm25", -3.0).minimum == 0
    assert check_range("pm25", float("nan")) is not None
    assert check_range("myOddSensor", 1e9) is None  # unknown metric: no range to check


# ---- edges ----------------------------------------------------------------------------


def test_reading_exactly_on_the_exit_line_stays() -> None:
    spec = water_level_spec(TAN_CHAU)
    state, transitions = run(spec, fresh(), series([3.6, 3.45]))
    assert state.level == "bd1" and len(transitions) == 1


def test_state_naming_a_removed_level_is_reported() -> None:
    state, _ = step(water_level_spec(TAN_CHAU), fresh(), 4.6, T0)
    reduced = water_level_spec({"alarm_levels": {"bd1": 3.5, "bd2": 4.0}})
    with pytest.raises(StaleStateError, match="bd3"):
        step(reduced, state, 4.6, minutes(5))
