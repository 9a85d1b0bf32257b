"""The night_count machine: a device's nightly counts of one species (light traps).

Pure, like machines.py: (rule, stored state, time-sorted readings) -> (state, signals).
Each reading is one night's count. The level is the worst step whose night line the
count reaches or whose mean line the mean of the last `nights` nights reaches; a change
of level is a signal (fire, escalate, de-escalate, resolve), and so is each further night
at the same level (an update of the alert's numbers). Nights a trap did not report
are left out of the mean rather than counted as zero: an empty night and a broken trap
look the same, and a zero would pull a surge's mean down. The mean line needs at least
two nights in the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from events.alerts import Severity, SignalState
from events.models import Measurement

from .model import NightCountRule, NightStep
from .params import value_of
from .text import make_signal

# A night's reading may come a few hours early or late (the trap is emptied at dawn by
# hand); half a day of slack keeps "the last 3 nights" from taking a 4th or losing the 3rd.
_SLACK = timedelta(hours=12)


def area_row(rule: NightCountRule, device_id: str, species: str) -> dict[str, Any]:
    """The thresholds in force for this trap and species: the province's row, then the
    district's on top."""
    trap = rule.table.row(device_id) if rule.table else {}
    table = rule.threshold_table
    if table is None:
        return {}
    province, district = str(trap.get("province", "")), str(trap.get("district", ""))
    merged: dict[str, Any] = {}
    for key in (province, f"{province}/{district}"):
        block = table.row(key).get(species)
        if isinstance(block, Mapping):
            merged.update(block)
    return merged


def lines(
    rule: NightCountRule, row: Mapping[str, Any]
) -> list[tuple[NightStep, float | None, float | None]]:
    """Each step with its night and mean lines (None: not set for this area)."""
    return [
        (step, value_of(step.night, row, rule.defaults), value_of(step.mean, row, rule.defaults))
        for step in rule.steps
    ]


def judge(
    steps: list[tuple[NightStep, float | None, float | None]], count: float, mean: float | None
) -> tuple[NightStep | None, float | None, str]:
    """(worst step that holds, the line it crossed, "night" | "mean")."""
    found: tuple[NightStep | None, float | None, str] = (None, None, "")
    for step, night, mean_line in steps:
        if night is not None and count >= night:
            found = (step, night, "night")
        elif mean_line is not None and mean is not None and mean >= mean_line:
            found = (step, mean_line, "mean")
    return found


def window_mean(points: Sequence[tuple[datetime, float]]) -> float:
    return sum(v for _, v in points) / len(points) if points else 0.0


def evaluate_nights(
    rule: NightCountRule,
    device_id: str,
    metric: str,
    unit: str,
    stored: Mapping[str, Any],
    readings: Sequence[Measurement],
) -> tuple[dict[str, Any] | None, list[Any]]:
    species = rule.species.get(metric)
    if species is None:
        return None, []
    trap = rule.table.row(device_id) if rule.table else {}
    steps = lines(rule, area_row(rule, device_id, species.key))
    span = timedelta(days=rule.nights) - _SLACK
    points = [(datetime.fromisoformat(t), float(v)) for t, v in stored.get("nights", [])]
    level = stored.get("level")
    last_line = stored.get("line")
    last_severity = Severity(stored.get("severity", Severity.MEDIUM))
    signals = []
    for reading in readings:
        if points and reading.time <= points[-1][0]:
            continue  # a late or repeated night must not undo a newer decision
        points = [p for p in points if p[0] > reading.time - span] + [(reading.time, reading.value)]
        mean = window_mean(points)
        # One night's "mean" is the night itself, which has its own line.
        step, line, measure = judge(steps, reading.value, mean if len(points) > 1 else None)
        key = step.key if step else None
        if key is None and level is None:
            continue
        # Same level another night: the alert is updated with the night's numbers (the
        # manager records no change and notifies no one), so it shows the newest count.
        shown = step or next((s for s, _, _ in steps if s.key == level), None)
        line = line if line is not None else last_line
        context = {
            "metric": metric,
            "unit": unit,
            "value": reading.value,
            "count": reading.value,
            "mean": mean,
            "nights": rule.nights,
            "threshold": line if line is not None else 0.0,
            "measure_vi": f"trung bình {rule.nights} đêm"
            if measure == "mean"
            else "số đếm trong đêm",
            "measure_en": f"{rule.nights}-night mean" if measure == "mean" else "night count",
            "level": key,
            "level_vi": shown.vi if shown else "",
            "level_en": shown.en if shown else "",
            "action_vi": shown.action_vi if shown else "",
            "action_en": shown.action_en if shown else "",
            "species_vi": species.vi,
            "species_en": species.en,
            "province": str(trap.get("province", "")),
            "district": str(trap.get("district", "")),
        }
        values = {
            "count": reading.value,
            "mean_3n": round(mean, 2),
            "nights": len(points),
            "threshold": line,
            "measure": measure or None,
            "level": key,
            "species": species.key,
            "species_vi": species.vi,
            "species_en": species.en,
            "action_vi": context["action_vi"],
            "action_en": context["action_en"],
            "unit": unit,
        }
        labels = {
            "device_id": device_id,
            "species": species.key,
            "province": context["province"],
            "district": context["district"],
        }
        severity = step.severity if step else last_severity
        signals.append(
            make_signal(
                rule,
                state=SignalState.FIRING if step else SignalState.RESOLVED,
                severity=severity,
                at=reading.time,
                labels=labels,
                context=context,
                values=values,
            )
        )
        level, last_line, last_severity = key, line, severity
    state = {
        "nights": [[t.isoformat(), v] for t, v in points],
        "level": level,
        "line": last_line,
        "severity": int(last_severity),
    }
    return state, signals
