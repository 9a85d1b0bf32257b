"""Checks across fields of one rule: metrics, parameters, templates, level ordering.

Each check returns errors located at the exact key path (or, for a station's numbers,
at the row of the table file), so every problem of a pack is reported in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from itertools import pairwise

from config.yaml_loader import ConfigError as RuleError
from config.yaml_loader import Path_, Source
from events.metrics import MetricError, MetricRegistry

from ..levels import LevelConfigError, aqi_spec
from .model import (
    AnyRule,
    AqiRule,
    LevelsRule,
    MeasuredRule,
    NightCountRule,
    OutOfRangeRule,
    ParamRef,
    RateRule,
    StuckRule,
    ThresholdRule,
    WeeklyCasesRule,
)
from .params import is_number, value_of
from .specs import level_spec
from .text import check_template

NOTHING = 0.0


def check_rule(
    rule: AnyRule, source: Source, path: Path_, registry: MetricRegistry
) -> list[RuleError]:
    return [
        *_metrics(rule, source, path, registry),
        *_params(rule, source, path),
        *_templates(rule, source, path),
        *_ordering(rule, source, path),
        *_kind_numbers(rule, source, path),
        *_stations(rule),
    ]


def _metrics(
    rule: AnyRule, source: Source, path: Path_, registry: MetricRegistry
) -> Iterator[RuleError]:
    if not isinstance(rule, MeasuredRule | OutOfRangeRule) or rule.metric is None:
        return
    listed = isinstance(source.at((*path, "metric")), list)
    for index, name in enumerate(rule.metric):
        where = (*path, "metric", index) if listed else (*path, "metric")
        problem = _metric_problem(name, registry)
        if problem:
            yield source.error(where, problem)


def _metric_problem(name: str, registry: MetricRegistry) -> str | None:
    try:
        spec = registry.resolve(name)
    except MetricError as error:
        return str(error)
    if not spec.known:
        close = difflib.get_close_matches(name, list(registry.metrics), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown metric {name!r} (not in events/metrics.yaml){hint}"
    if spec.name != name:
        return f"{name!r} is an alias; write the canonical name {spec.name!r}"
    return None


def param_refs(rule: AnyRule) -> list[tuple[Path_, ParamRef]]:
    """Every `{param: NAME}` in the rule, with its path inside the rule."""
    found: list[tuple[Path_, object]] = []
    if isinstance(rule, LevelsRule):
        found += [(("levels", i, "value"), item.value) for i, item in enumerate(rule.levels)]
        found.append((("margin",), rule.margin))
    elif isinstance(rule, ThresholdRule):
        for i, step in enumerate(rule.steps):
            found += [(("steps", i, "value"), step.value), (("steps", i, "clear"), step.clear)]
    elif isinstance(rule, RateRule):
        found += [(("change",), rule.change), (("clear",), rule.clear)]
    elif isinstance(rule, NightCountRule):
        for i, step in enumerate(rule.steps):
            found += [(("steps", i, "night"), step.night), (("steps", i, "mean"), step.mean)]
    return [(p, ref) for p, ref in found if isinstance(ref, ParamRef)]


def _params(rule: AnyRule, source: Source, path: Path_) -> Iterator[RuleError]:
    if isinstance(rule, NightCountRule):
        yield from _night_params(rule, source, path)
        return
    table = rule.table
    for sub, ref in param_refs(rule):
        name = ref.param
        rows = table.rows.values() if table else ()
        if name not in rule.defaults and not any(name in row for row in rows):
            message = (
                f"parameter {name!r} is in no row of {table.name} nor in defaults"
                if table
                else f"parameter {name!r} is not in defaults and the pack has no `stations:`"
            )
            yield source.error((*path, *sub), message)
        if table is not None:
            for device, row in table.rows.items():
                if name in row and not is_number(row[name]):
                    yield table.error(device, name, f"{rule.id}: {name} must be a number")


def _night_params(rule: NightCountRule, source: Source, path: Path_) -> Iterator[RuleError]:
    """A night_count rule's parameters live in its `thresholds:` table, per species."""
    table = rule.threshold_table
    if table is None:
        yield source.error((*path, "thresholds"), "the thresholds table did not load")
        return
    keys = {s.key for s in rule.species.values()}
    blocks = [
        (area, key, block)
        for area, row in table.rows.items()
        for key, block in row.items()
        if isinstance(block, dict)
    ]
    for area, row in table.rows.items():
        for key in row:
            if key not in keys:
                yield table.error(area, key, f"{rule.id}: no species {key!r} in the rule")
    for sub, ref in param_refs(rule):
        if ref.param not in rule.defaults and not any(ref.param in b for _, _, b in blocks):
            yield source.error((*path, *sub), f"parameter {ref.param!r} is set for no area")
    for area, key, block in blocks:
        for name, value in block.items():
            if not is_number(value) or value < 0:
                yield table.error(area, key, f"{name} must be a number of insects, >= 0")


def _templates(rule: AnyRule, source: Source, path: Path_) -> Iterator[RuleError]:
    for state in ("firing", "resolved"):
        text = getattr(rule.text, state)
        for field in ("title_vi", "title_en", "summary_vi", "summary_en"):
            problem = check_template(rule.kind, getattr(text, field))
            if problem:
                yield source.error((*path, "text", state, field), problem)


def _ordering(rule: AnyRule, source: Source, path: Path_) -> Iterator[RuleError]:
    """Keys unique and severities never dropping as the levels get worse."""
    if isinstance(rule, LevelsRule | ThresholdRule):
        name = "levels" if isinstance(rule, LevelsRule) else "steps"
        items = rule.levels if isinstance(rule, LevelsRule) else rule.steps
        keys = [item.key for item in items]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                yield source.error((*path, name, i, "key"), f"key {key!r} is used twice")
        for i, (a, b) in enumerate(pairwise(items), start=1):
            if b.severity < a.severity:
                yield source.error(
                    (*path, name, i, "severity"),
                    f"severity {b.severity.label} is below the previous one ({a.severity.label})",
                )
        literal = list(_literal_clears(rule, source, path))
        yield from literal
        if literal:
            return
        try:
            level_spec(rule, "")  # the numbers every device gets (defaults, literals)
        except LevelConfigError as error:
            yield source.error((*path, name), str(error))


def _literal_clears(rule: AnyRule, source: Source, path: Path_) -> Iterator[RuleError]:
    """A clear line on the wrong side of its step, pointed at the step's own `clear`."""
    if not isinstance(rule, ThresholdRule):
        return
    for i, step in enumerate(rule.steps):
        value = value_of(step.value, {}, rule.defaults)
        clear = value_of(step.clear, {}, rule.defaults)
        if value is None or clear is None:
            continue
        if (clear >= value) if rule.direction == "above" else (clear <= value):
            side = "below" if rule.direction == "above" else "above"
            message = f"must be {side} value {value:g} for direction {rule.direction}"
            yield source.error((*path, "steps", i, "clear"), message)


def _kind_numbers(rule: AnyRule, source: Source, path: Path_) -> Iterator[RuleError]:
    if isinstance(rule, RateRule):
        change = value_of(rule.change, {}, rule.defaults)
        clear = NOTHING if rule.clear is None else value_of(rule.clear, {}, rule.defaults)
        if change is not None and change <= 0:
            yield source.error((*path, "change"), "must be > 0 (set direction: fall for drops)")
        if rule.window.total_seconds() <= 0:
            yield source.error((*path, "window"), "must be longer than 0")
        if change is not None and clear is not None and not 0 <= clear <= change:
            yield source.error((*path, "clear"), f"must be between 0 and change ({change:g})")
    elif isinstance(rule, StuckRule) and rule.for_.total_seconds() <= 0:
        yield source.error((*path, "for"), "must be longer than 0")
    elif isinstance(rule, AqiRule):
        yield from _aqi_severities(rule, source, path)
    elif isinstance(rule, WeeklyCasesRule):
        yield from _weekly_cases(rule, source, path)


def _weekly_cases(rule: WeeklyCasesRule, source: Source, path: Path_) -> Iterator[RuleError]:
    if rule.min_years > rule.years:
        yield source.error((*path, "min_years"), f"must be at most years ({rule.years})")
    keys = [step.key for step in rule.steps]
    for a, b in pairwise(rule.steps):
        if b.k < a.k or b.severity < a.severity:
            yield source.error((*path, "steps"), "k and severity must not drop from step to step")
    for name, item in rule.diseases.items():
        for field in ("cases", "action_vi", "action_en"):
            for key in getattr(item, field):
                if key not in keys:
                    where = (*path, "diseases", name, field, key)
                    yield source.error(where, f"no step {key!r}; steps are {', '.join(keys)}")


def _aqi_severities(rule: AqiRule, source: Source, path: Path_) -> Iterator[RuleError]:
    expected = [lvl.key for lvl in aqi_spec().levels]
    for key in rule.severity:
        if key not in expected:
            yield source.error(
                (*path, "severity", key), f"not an alerting VN_AQI category; use {expected}"
            )
    missing = [key for key in expected if key not in rule.severity]
    if missing:
        yield source.error((*path, "severity"), f"missing categories {missing}")


def _stations(rule: AnyRule) -> Iterator[RuleError]:
    """Each station's own numbers must make a working alarm, reported at its row."""
    if not isinstance(rule, LevelsRule | ThresholdRule) or rule.table is None:
        return
    if not param_refs(rule):
        return
    for device in rule.table.rows:
        try:
            level_spec(rule, device)
        except LevelConfigError as error:
            yield rule.table.error(device, None, f"{rule.id}: {error}")
