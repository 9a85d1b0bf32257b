"""Hourly VN_AQI (NowCast) and QCVN 05:2023 signals from hourly means."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from events.alerts import Domain, Severity, SignalState
from processors.environment.aqi_signals import (
    aqi_signal,
    hourly_aqi_at,
    qcvn_means,
    qcvn_signals,
)
from processors.environment.engine import RuleBook

BOOK = RuleBook.load()
AQI_RULE = BOOK.get("env.aqi")
QCVN_RULE = BOOK.get("env.qcvn")
STATION = "kg-rachgia-aq01"
T0 = datetime(2024, 12, 1, 0, 0, tzinfo=UTC)


def hour(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def hourly(values: list[float | None], start: int = 0) -> list[tuple[datetime, float]]:
    return [(hour(start + i), v) for i, v in enumerate(values) if v is not None]


# ---- the decision's formulas, written out by hand (Decision 1459/QĐ-TCMT) --------------

PM25_BP = [0, 25, 50, 80, 150, 250, 350, 500]
INDEX = [0, 50, 100, 150, 200, 300, 400, 500]


def hand_nowcast(c: list[float | None]) -> float | None:
    """c[0] = c1 = the current hour. w* = Cmin/Cmax; w = 0.5 if w* <= 0.5 else w*;
    NowCast = Σ w^(i-1)·c_i / Σ w^(i-1) over the hours present; needs 2 of c1..c3."""
    if sum(x is not None for x in c[:3]) < 2:
        return None
    present = [x for x in c if x is not None]
    w_star = min(present) / max(present)
    w = 0.5 if w_star <= 0.5 else w_star
    num = sum(w**i * x for i, x in enumerate(c) if x is not None)
    den = sum(w**i for i, x in enumerate(c) if x is not None)
    return num / den


def hand_pm25_aqi(x: float) -> int:
    """AQI_x = (I_i+1 − I_i) / (BP_i+1 − BP_i) × (C_x − BP_i) + I_i, rounded half up."""
    i = max(j for j in range(len(PM25_BP) - 1) if PM25_BP[j] <= x)
    value = (INDEX[i + 1] - INDEX[i]) / (PM25_BP[i + 1] - PM25_BP[i]) * (x - PM25_BP[i]) + INDEX[i]
    return math.floor(value + 0.5)


# 12 clean hours at 20 µg/m³, then a smoky evening that clears.
EPISODE = [20.0] * 12 + [80.0, 100.0, 120.0, 30.0, 20.0, 20.0]


def test_hourly_aqi_of_a_pm25_episode_matches_the_hand_computation() -> None:
    series = {"pm25": hourly(EPISODE)}
    for h in range(1, len(EPISODE)):
        c = [EPISODE[h - i] if h - i >= 0 else None for i in range(12)]
        expected = hand_pm25_aqi(hand_nowcast(c))
        assert hourly_aqi_at(series, hour(h)).aqi == expected, h
    # The same numbers worked on paper for the smoky hours, e.g. hour 13:
    # c = 100, 80, 20×10; w* = 0.2 -> w = 0.5;
    # NowCast = (100 + 40 + 20·(0.5² + … + 0.5¹¹)) / (1 + 0.5 + … + 0.5¹¹) = 74.995
    # AQI = 100 + (150 − 100)/(80 − 50)·(74.995 − 50) = 141.66 -> 142.
    assert [hourly_aqi_at(series, hour(h)).aqi for h in range(11, 18)] == [
        40,
        100,
        142,
        163,
        123,
        84,
        62,
    ]


def test_first_hour_is_not_computed_without_two_of_the_last_three_hours() -> None:
    result = hourly_aqi_at({"pm25": hourly(EPISODE)}, hour(0))
    assert result.aqi is None and "pm25" in result.skipped


def test_aqi_signal_fires_at_the_first_poor_hour_and_follows_the_category() -> None:
    series = {"pm25": hourly(EPISODE)}
    state: dict = {}
    seen = []
    for h in range(len(EPISODE)):
        outcome = aqi_signal(AQI_RULE, STATION, series, hour(h), state)
        state = outcome.state
        if outcome.signal is not None:
            s = outcome.signal
            seen.append((h, outcome.result.aqi, s.state, s.severity, s.values["level"]))
    assert seen == [
        (13, 142, SignalState.FIRING, Severity.MEDIUM, "poor"),  # first hour ≥ 101
        (14, 163, SignalState.FIRING, Severity.HIGH, "bad"),
        (15, 123, SignalState.FIRING, Severity.MEDIUM, "poor"),  # 123 < 151 − 10
        (16, 84, SignalState.RESOLVED, Severity.MEDIUM, None),  # 84 < 101 − 10
    ]


def test_aqi_signal_identity_and_wording() -> None:
    series = {"pm25": hourly(EPISODE)}
    state: dict = {}
    for h in range(14):
        outcome = aqi_signal(AQI_RULE, STATION, series, hour(h), state)
        state = outcome.state
    signal = outcome.signal
    assert signal is not None
    assert signal.rule == "env.aqi" and signal.domain is Domain.ENVIRONMENT
    assert signal.labels == {"device_id": STATION, "metric": "aqi"}
    assert signal.at == hour(13)
    assert signal.title_vi == "Chất lượng không khí Kém (VN_AQI 142) tại trạm Rạch Giá"
    assert signal.title_en == "Air quality poor (VN_AQI 142) at Rạch Giá"
    assert signal.values["dominant"] == "pm25"


def test_hovering_at_101_does_not_flap() -> None:
    # NowCast of a flat series is the series: 50.5 µg/m³ -> AQI 101, 47 -> 94.
    values = [50.5] * 12 + [47.0, 50.5, 47.0, 50.5, 47.0]
    series = {"pm25": hourly(values)}
    state: dict = {}
    states = []
    for h in range(1, len(values)):
        outcome = aqi_signal(AQI_RULE, STATION, series, hour(h), state)
        state = outcome.state
        if outcome.signal is not None:
            states.append(outcome.signal.state)
    assert SignalState.RESOLVED not in states
    assert states[0] is SignalState.FIRING


def test_severity_mapping_is_rule_data() -> None:
    assert AQI_RULE.severity == {
        "poor": Severity.MEDIUM,
        "bad": Severity.HIGH,
        "very_bad": Severity.HIGH,
        "hazardous": Severity.CRITICAL,
    }


def test_an_hour_without_pm_keeps_the_state() -> None:
    outcome = aqi_signal(AQI_RULE, STATION, {"no2": hourly([300.0])}, hour(0), {"x": 1})
    assert outcome.result.aqi is None and outcome.signal is None and outcome.state == {"x": 1}


# ---- QCVN 05:2023 ----------------------------------------------------------------------


def test_running_means_need_enough_hours() -> None:
    series = {"pm25": hourly([60.0] * 17), "o3": hourly([130.0] * 5, start=12)}
    means = qcvn_means(series, hour(16))
    assert ("pm25", "24h") not in means  # 17 of 24 hours
    assert ("o3", "8h") not in means  # 5 of 8 hours
    assert means[("o3", "1h")] == 130.0
    full = qcvn_means({"pm25": hourly([60.0] * 18)}, hour(17))
    assert full[("pm25", "24h")] == 60.0


def test_pm25_24h_exceedance_fires_and_resolves() -> None:
    values = [60.0] * 24 + [10.0] * 12
    series = {"pm25": hourly(values)}
    state: dict = {}
    seen = []
    for h in range(len(values)):
        outcome = qcvn_signals(QCVN_RULE, STATION, series, hour(h), state)
        state = outcome.state
        seen += [
            (h, s.state, s.labels["period"], round(s.values["mean"], 2)) for s in outcome.signals
        ]
    firing = [x for x in seen if x[1] is SignalState.FIRING]
    resolved = [x for x in seen if x[1] is SignalState.RESOLVED]
    # First 24h mean at hour 17 (18 hours present), every hour while above 50 µg/m³.
    assert firing[0] == (17, SignalState.FIRING, "24h", 60.0)
    # Hours 4..27 hold 20×60 + 4×10: 51.67 > 50; hours 5..28 hold 19×60 + 5×10: 49.58.
    assert firing[-1] == (27, SignalState.FIRING, "24h", 51.67)
    assert resolved == [(28, SignalState.RESOLVED, "24h", 49.58)]
    assert outcome.signals == [] and outcome.state == {"open": []}  # nothing once resolved


def test_limit_in_force_on_the_day_decides() -> None:
    series = {"pm25": hourly([48.0] * 24)}
    before = qcvn_signals(QCVN_RULE, STATION, series, hour(23))
    assert before.signals == [] and before.assessed[0].limit == 50
    late = datetime(2026, 1, 2, tzinfo=UTC)
    shifted = {"pm25": [(late + (t - T0), v) for t, v in series["pm25"]]}
    after = qcvn_signals(QCVN_RULE, STATION, shifted, late + timedelta(hours=23))
    assert [s.values["limit"] for s in after.signals] == [45]
    assert after.signals[0].title_en == "QCVN 05:2023 exceeded: 24h mean pm25 at Rạch Giá"


def test_no2_1h_exceedance_and_data_gap_keeps_it_open() -> None:
    series = {"no2": hourly([250.0, None, 120.0])}  # hour 1 missing
    first = qcvn_signals(QCVN_RULE, STATION, series, hour(0))
    assert [(s.state, s.labels) for s in first.signals] == [
        (SignalState.FIRING, {"device_id": STATION, "metric": "no2", "period": "1h"})
    ]
    gap = qcvn_signals(QCVN_RULE, STATION, series, hour(1), first.state)
    assert gap.signals == [] and gap.state == {"open": ["no2|1h"]}
    back = qcvn_signals(QCVN_RULE, STATION, series, hour(2), gap.state)
    assert [s.state for s in back.signals] == [SignalState.RESOLVED]
    assert back.state == {"open": []}
