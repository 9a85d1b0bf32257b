"""One state machine per rule kind, over one key's readings (rule, device, metric).

Pure: (rule, stored state, time-sorted readings) -> (new state, signals). States are
JSON-ready dicts, so a batch boundary anywhere gives the same signals as one big batch.
Readings not newer than the last one a machine used are ignored: a late reading must not
undo a decision taken on newer data.

Quality: BAD readings never reach levels, thresholds or rates (they are outside the
instrument's physical range); the health kinds (stuck, out_of_range) count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.alerts import Severity, Signal, SignalState
from events.metrics import MetricRegistry
from events.models import Measurement, Quality

from ..checks import StuckState, WindowExtreme, is_stuck, update_stuck
from ..hysteresis import LevelState, StaleStateError, Transition, step
from ..levels import StuckRule as StuckCheck
from .durations import format_duration
from .model import (
    AnyRule,
    LevelsRule,
    NightCountRule,
    OutOfRangeRule,
    RateRule,
    StuckRule,
    ThresholdRule,
)
from .nightly import evaluate_nights
from .params import value_of
from .specs import LevelRule, level_spec, sign
from .text import local_time, make_signal

State = dict[str, Any]
HEALTH_KINDS = frozenset({"stuck", "out_of_range"})
STREAM_KINDS = frozenset({"levels", "threshold", "rate_of_change", "night_count"}) | HEALTH_KINDS


@dataclass
class KeyResult:
    state: State | None  # None: forget the key
    signals: list[Signal] = field(default_factory=list)


@dataclass(frozen=True)
class Subject:
    """Who the readings are about, and how to show their values."""

    device_id: str
    metric: str
    unit: str

    @property
    def labels(self) -> dict[str, str]:
        return {"device_id": self.device_id, "metric": self.metric}


def wants(rule: AnyRule, reading: Measurement) -> bool:
    """Whether this rule looks at this reading at all."""
    if rule.kind not in STREAM_KINDS:
        return False
    return rule.kind in HEALTH_KINDS or reading.quality < Quality.BAD


def evaluate(
    rule: AnyRule,
    subject: Subject,
    state: Mapping[str, Any] | None,
    readings: Sequence[Measurement],
    registry: MetricRegistry,
) -> KeyResult:
    used = [m for m in readings if wants(rule, m)]
    if isinstance(rule, LevelsRule | ThresholdRule):
        return _levels(rule, subject, state or {}, used)
    if isinstance(rule, RateRule):
        return _rate(rule, subject, state or {}, used)
    if isinstance(rule, StuckRule):
        return _stuck(rule, subject, state or {}, used)
    if isinstance(rule, OutOfRangeRule):
        return _out_of_range(rule, subject, state or {}, used, registry)
    if isinstance(rule, NightCountRule):
        found = evaluate_nights(
            rule, subject.device_id, subject.metric, subject.unit, state or {}, used
        )
        return KeyResult(*found)
    raise ValueError(f"{rule.id}: kind {rule.kind} is not evaluated per reading")


def _signal(
    rule: AnyRule,
    subject: Subject,
    firing: bool,
    severity: Severity,
    at: datetime,
    context: Mapping[str, Any],
    values: Mapping[str, Any],
) -> Signal:
    base = {"metric": subject.metric, "unit": subject.unit}
    return make_signal(
        rule,
        state=SignalState.FIRING if firing else SignalState.RESOLVED,
        severity=severity,
        at=at,
        labels=subject.labels,
        context={**base, **context},
        values={"unit": subject.unit, **values},
    )


# ---- levels and threshold (hysteresis.py) ----------------------------------------------


def _item(rule: LevelRule, key: str | None) -> Any:
    items = rule.levels if isinstance(rule, LevelsRule) else rule.steps
    return next((item for item in items if item.key == key), None)


def _level_context(rule: LevelRule, key: str | None) -> dict[str, Any]:
    item = _item(rule, key)
    return {
        "level": key,
        "level_vi": item.vi if item else key,
        "level_en": item.en if item else key,
        "action_vi": item.action_vi if item else "",
        "action_en": item.action_en if item else "",
    }


def _transition_signal(
    rule: LevelRule, subject: Subject, tr: Transition, k: float, stored: Severity
) -> tuple[Signal, Severity]:
    firing = tr.kind != "resolve"
    key = tr.to_level if firing else tr.from_level
    item = _item(rule, key)
    severity = item.severity if item else stored
    value, line = k * tr.value, k * tr.threshold
    context = {**_level_context(rule, key), "value": value, "threshold": line}
    values = {"value": value, "level": tr.to_level, "threshold": line, "transition": tr.kind}
    return _signal(rule, subject, firing, severity, tr.time, context, values), severity


def _forced_resolve(
    rule: LevelRule, subject: Subject, machine: LevelState, stored: Mapping[str, Any], at: datetime
) -> Signal:
    """Close an alert whose level the rule (or the station's row) no longer defines."""
    severity = Severity(stored.get("severity", Severity.MEDIUM))
    value = sign(rule) * (machine.last_value or 0.0)
    line = float(stored.get("line", value))
    context = {**_level_context(rule, machine.level), "value": value, "threshold": line}
    values = {"value": value, "level": None, "threshold": line, "transition": "resolve"}
    return _signal(rule, subject, False, severity, at, context, values)


def _levels(
    rule: LevelRule, subject: Subject, stored: Mapping[str, Any], readings: Sequence[Measurement]
) -> KeyResult:
    k = sign(rule)
    spec = level_spec(rule, subject.device_id)
    fresh = LevelState(entity=f"{subject.device_id}|{subject.metric}", detector=rule.id)
    machine = LevelState.from_dict(stored["machine"]) if "machine" in stored else fresh
    if spec is None:
        # The station lost its numbers: close what is open, then forget the key.
        if machine.level is None or not readings:
            return KeyResult(None if machine.level is None else dict(stored))
        return KeyResult(None, [_forced_resolve(rule, subject, machine, stored, readings[-1].time)])
    signals: list[Signal] = []
    severity = Severity(stored.get("severity", Severity.MEDIUM))
    line = stored.get("line")
    for reading in readings:
        try:
            machine, tr = step(spec, machine, k * reading.value, reading.time)
        except StaleStateError:
            signals.append(_forced_resolve(rule, subject, machine, stored, reading.time))
            machine, tr = step(spec, fresh, k * reading.value, reading.time)
        if tr is not None:
            signal, severity = _transition_signal(rule, subject, tr, k, severity)
            signals.append(signal)
            line = k * tr.threshold
    state = {"machine": machine.to_dict(), "severity": int(severity), "line": line}
    return KeyResult(state, signals)


# ---- rate of change ---------------------------------------------------------------------


def _rate(
    rule: RateRule, subject: Subject, stored: Mapping[str, Any], readings: Sequence[Measurement]
) -> KeyResult:
    row = rule.table.row(subject.device_id) if rule.table else {}
    limit = value_of(rule.change, row, rule.defaults)
    clear = limit if rule.clear is None else value_of(rule.clear, row, rule.defaults)
    if limit is None or clear is None:
        return KeyResult(None)
    rising = rule.direction == "rise"
    stored_points = [(datetime.fromisoformat(t), v) for t, v in stored.get("points", [])]
    # The newest reading against the extreme of the earlier ones in the window, so a
    # steady climb counts even with small steps (the measure of checks.rate_of_change).
    extremes = WindowExtreme(rule.window, lowest=rising, points=stored_points)
    firing = bool(stored.get("firing", False))
    signals = []
    for reading in readings:
        newest = extremes.newest
        if newest and reading.time <= newest[0]:
            continue
        earlier = extremes.push((reading.time, reading.value))
        if earlier is None:
            continue
        change = round(reading.value - earlier[1] if rising else earlier[1] - reading.value, 9)
        # Fires at the limit, resolves only below `clear`: a rate hovering at the limit
        # does not flap.
        holds = change >= (clear if firing else limit)
        if holds == firing:
            continue
        firing = holds
        shown = change if rule.direction == "rise" else -change
        window = format_duration(rule.window)
        context = {"value": reading.value, "change": shown, "threshold": limit, "window": window}
        values = {**context, "window_s": rule.window.total_seconds()}
        signals.append(_signal(rule, subject, firing, rule.severity, reading.time, context, values))
    state = {"points": [[t.isoformat(), v] for t, v in extremes.points()], "firing": firing}
    return KeyResult(state, signals)


# ---- stuck value -----------------------------------------------------------------------


def _stuck(
    rule: StuckRule, subject: Subject, stored: Mapping[str, Any], readings: Sequence[Measurement]
) -> KeyResult:
    check = StuckCheck(rule.for_, rule.tolerance)
    run = StuckState.from_dict(stored["run"]) if "run" in stored else StuckState()
    firing = bool(stored.get("firing", False))
    signals = []
    for reading in readings:
        before, run = run, update_stuck(run, reading.value, reading.time, check)
        if firing and run.since != before.since:
            firing = False
        elif not firing and is_stuck(run, check):
            firing = True
        else:
            continue
        context = {
            "value": reading.value,
            "duration": format_duration(rule.for_),
            "since": local_time(run.since or reading.time),
        }
        values = {"value": reading.value, "since": (run.since or reading.time).isoformat()}
        signals.append(_signal(rule, subject, firing, rule.severity, reading.time, context, values))
    return KeyResult({"run": run.to_dict(), "firing": firing}, signals)


# ---- out of physical range (quality BAD) ------------------------------------------------


def _out_of_range(
    rule: OutOfRangeRule,
    subject: Subject,
    stored: Mapping[str, Any],
    readings: Sequence[Measurement],
    registry: MetricRegistry,
) -> KeyResult:
    spec = registry.resolve(subject.metric)
    firing = bool(stored.get("firing", False))
    good_run = int(stored.get("good_run", 0))
    last = stored.get("last_time")
    last_time = datetime.fromisoformat(last) if last else None
    signals = []
    for reading in readings:
        if last_time is not None and reading.time <= last_time:
            continue
        last_time = reading.time
        bad = reading.quality >= Quality.BAD
        good_run = 0 if bad else good_run + 1
        if bad == firing or (firing and good_run < rule.clear_after):
            continue
        firing = bad
        context = {"value": reading.value, "minimum": spec.minimum, "maximum": spec.maximum}
        signals.append(
            _signal(rule, subject, firing, rule.severity, reading.time, context, context)
        )
    if not firing:
        return KeyResult(None, signals)
    state = {"firing": True, "good_run": good_run, "last_time": last_time and last_time.isoformat()}
    return KeyResult(state, signals)
