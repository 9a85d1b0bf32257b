"""Hourly VN_AQI and QCVN 05:2023 signals from a station's hourly means.

Pure functions for the alert service's hourly timer, which reads the means (rollups) and
stores the returned state per station. Input: hourly means per metric, each point
labelled by the START of its hour (averaging.py), covering at least the 24 hours up to
and including hour H. Signals carry `at` = H.

env.aqi is one alert per station: raised when the hourly AQI reaches the first alerting
category ("poor" = Kém, 101), escalated and de-escalated with the category, resolved when
the AQI falls below 101 minus the margin of alarm_levels.yaml `aqi` (10 points, so a hazy
evening hovering at 100-101 does not flap; set it to 0 for a bare "below 101"). While
the alert is open a FIRING signal is sent every hour with the current AQI (the alert
manager dedups by fingerprint and so shows the latest value).

env.qcvn is one alert per station, pollutant and averaging period, on running means
ending at H: 1h (the hour), 8h (>= 6 of 8 hours) and 24h (>= 18 of 24 hours), compared
with the limit in force on H's local day. A mean that cannot be computed (data gap) does
not resolve an open exceedance: missing data is not evidence of compliance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from config.timezone import LOCAL_TZ
from events.alerts import Signal, SignalState
from processors.environment.engine.model import AqiRule, QcvnRule
from processors.environment.engine.text import make_signal

from .aqi import HOURLY_GASES, PM_METRICS, AqiResult, hourly_aqi, tables
from .averaging import hour_start, nowcast_hours, rolling_means
from .hysteresis import LevelState, StaleStateError, Transition, step
from .levels import aqi_spec
from .qcvn import Exceedance, assess

Point = tuple[datetime, float]
Series = Mapping[str, Sequence[Point]]
State = dict[str, Any]
# QCVN 05:2023 limits are µg/Nm³ at the reference conditions of the registry's ug/m3.
UNIT = "µg/m³"


def _at(series: Sequence[Point], hour: datetime) -> float | None:
    return next((v for t, v in series if hour_start(t) == hour), None)


def hourly_aqi_at(hourly: Series, hour: datetime) -> AqiResult:
    """Hourly VN_AQI for hour H: 1h means of the gases, NowCast over 12 hours of PM."""
    h = hour_start(hour)
    gases = {metric: _at(hourly.get(metric, ()), h) for metric in HOURLY_GASES}
    pm = {m: nowcast_hours(hourly[m], h) for m in PM_METRICS if m in hourly}
    return hourly_aqi(gases, pm)


@dataclass(frozen=True)
class AqiOutcome:
    result: AqiResult
    signal: Signal | None
    state: State  # store per station; pass back next hour


def aqi_signal(
    rule: AqiRule,
    device_id: str,
    hourly: Series,
    hour: datetime,
    state: Mapping[str, Any] | None = None,
) -> AqiOutcome:
    """The hour's AQI and the env.aqi signal (None while air is acceptable)."""
    h = hour_start(hour)
    result = hourly_aqi_at(hourly, h)
    stored = dict(state or {})
    if result.aqi is None:
        return AqiOutcome(result, None, stored)  # no PM this hour: decide nothing
    spec = aqi_spec()
    fresh = LevelState(entity=device_id, detector=rule.id)
    machine = LevelState.from_dict(stored["machine"]) if "machine" in stored else fresh
    try:
        machine, transition = step(spec, machine, float(result.aqi), h)
    except StaleStateError:
        machine, transition = step(spec, fresh, float(result.aqi), h)
    signal = _aqi_signal(rule, device_id, result, machine, transition, h)
    return AqiOutcome(result, signal, {"machine": machine.to_dict()})


def _aqi_signal(
    rule: AqiRule,
    device_id: str,
    result: AqiResult,
    machine: LevelState,
    transition: Transition | None,
    h: datetime,
) -> Signal | None:
    if machine.level is not None:
        key, state = machine.level, SignalState.FIRING
    elif transition is not None and transition.from_level is not None:
        key, state = transition.from_level, SignalState.RESOLVED
    else:
        return None
    level = aqi_spec().level(key)
    aqi = result.aqi
    context = {
        "level": key, "level_vi": level.vi, "level_en": level.en, "action_vi": "",
        "action_en": "", "threshold": level.threshold, "value": aqi, "aqi": aqi,
        "category_vi": result.name_vi, "category_en": result.name_en,
        "dominant": result.dominant,
    }  # fmt: skip
    values = {
        "value": aqi, "level": machine.level, "unit": "VN_AQI", "threshold": level.threshold,
        "category": result.category, "dominant": result.dominant,
        "sub_indices": dict(result.sub_indices), "concentrations": dict(result.concentrations),
    }  # fmt: skip
    return make_signal(
        rule,
        state=state,
        severity=rule.severity[key],
        at=h,
        labels={"device_id": device_id, "metric": "aqi"},
        context=context,
        values=values,
    )


# ---- QCVN 05:2023 ----------------------------------------------------------------------


def qcvn_means(hourly: Series, hour: datetime) -> dict[tuple[str, str], float]:
    """Running means ending at hour H per (metric, period) that could be computed."""
    h = hour_start(hour)
    done = tables()
    out: dict[tuple[str, str], float] = {}
    for metric, series in hourly.items():
        one = _at(series, h)
        eight = _at(rolling_means(series, hours=8, min_count=done.o3_8h_min_hours), h)
        day = _at(rolling_means(series, hours=24, min_count=done.pm_24h_min_hours), h)
        for period, mean in (("1h", one), ("8h", eight), ("24h", day)):
            if mean is not None:
                out[(metric, period)] = mean
    return out


@dataclass(frozen=True)
class QcvnOutcome:
    assessed: list[Exceedance] = field(default_factory=list)  # every mean with a limit
    signals: list[Signal] = field(default_factory=list)
    state: State = field(default_factory=dict)


def qcvn_signals(
    rule: QcvnRule,
    device_id: str,
    hourly: Series,
    hour: datetime,
    state: Mapping[str, Any] | None = None,
) -> QcvnOutcome:
    """env.qcvn: FIRING every hour a mean is above its limit, RESOLVED once it is not."""
    h = hour_start(hour)
    on = h.astimezone(LOCAL_TZ).date()
    still_open = set((state or {}).get("open", ()))
    assessed, signals = [], []
    for (metric, period), mean in sorted(qcvn_means(hourly, h).items()):
        result = assess(metric, period, mean, on) if period in rule.periods else None
        if result is None:
            continue
        assessed.append(result)
        key = f"{metric}|{period}"
        if not result.exceeded and key not in still_open:
            continue
        (still_open.add if result.exceeded else still_open.discard)(key)
        signals.append(_qcvn_signal(rule, device_id, result, h))
    return QcvnOutcome(assessed, signals, {"open": sorted(still_open)})


def _qcvn_signal(rule: QcvnRule, device_id: str, result: Exceedance, h: datetime) -> Signal:
    context = {
        "metric": result.pollutant, "unit": UNIT, "period": result.period,
        "mean": result.mean, "limit": result.limit, "ratio": result.ratio,
    }  # fmt: skip
    values = {**result.to_dict(), "value": result.mean, "threshold": result.limit, "unit": UNIT}
    return make_signal(
        rule,
        state=SignalState.FIRING if result.exceeded else SignalState.RESOLVED,
        severity=rule.severity,
        at=h,
        labels={"device_id": device_id, "metric": result.pollutant, "period": result.period},
        context=context,
        values=values,
    )
