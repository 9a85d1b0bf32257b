"""A levels or threshold rule, resolved for one device, as a hysteresis LevelSpec.

Both kinds run on processors/environment/hysteresis.py. A `below` threshold (lower is
worse) is run on negated values, so the machine only ever sees "rising is worse".
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from ..levels import Level, LevelConfigError, LevelSpec
from .model import LevelsRule, ThresholdRule
from .params import value_of

LevelRule = LevelsRule | ThresholdRule


def sign(rule: LevelRule) -> float:
    return -1.0 if isinstance(rule, ThresholdRule) and rule.direction == "below" else 1.0


def row_of(rule: LevelRule, device_id: str) -> Mapping[str, Any]:
    return rule.table.row(device_id) if rule.table else {}


def level_spec(rule: LevelRule, device_id: str) -> LevelSpec | None:
    """The device's spec; None if none of the rule's levels resolve for it.

    Raises LevelConfigError when the resolved numbers cannot drive an alarm.
    """
    row = row_of(rule, device_id)
    if isinstance(rule, LevelsRule):
        levels = _levels(rule, row)
        margin = value_of(rule.margin, row, rule.defaults) or 0.0
    else:
        levels = _steps(rule, row)
        margin = 0.0
    if not levels:
        return None
    return LevelSpec(
        detector=rule.id,
        levels=tuple(levels),
        margin=margin,
        hold=rule.for_,
        clear_hold=rule.clear_for,
    )


def _levels(rule: LevelsRule, row: Mapping[str, Any]) -> list[Level]:
    out = []
    for item in rule.levels:
        value = value_of(item.value, row, rule.defaults)
        if value is not None:
            out.append(Level(item.key, value, item.vi, item.en))
    _check_rising([(lvl.key, lvl.threshold) for lvl in out], "level values must rise")
    return out


def _steps(rule: ThresholdRule, row: Mapping[str, Any]) -> list[Level]:
    k = sign(rule)
    resolved = []
    for step in rule.steps:
        value = value_of(step.value, row, rule.defaults)
        clear = value_of(step.clear, row, rule.defaults)
        if value is None or clear is None:
            continue
        if k * (value - clear) <= 0:
            side = "below" if k > 0 else "above"
            raise LevelConfigError(
                f"step {step.key}: clear {clear:g} must be {side} value {value:g}"
                f" (direction {rule.direction})"
            )
        resolved.append((step, value, clear))
    worse = "rise" if k > 0 else "fall"
    _check_rising([(s.key, k * v) for s, v, _ in resolved], f"step values must {worse}")
    return [Level(s.key, k * v, s.vi, s.en, margin=k * (v - c)) for s, v, c in resolved]


def _check_rising(pairs: list[tuple[str, float]], message: str) -> None:
    for (ka, a), (kb, b) in pairwise(pairs):
        if not a < b:
            raise LevelConfigError(f"{message} from {ka} to {kb}")
