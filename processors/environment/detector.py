"""EnvironmentDetector: the per-reading rules of a RuleBook behind the Detector contract.

Keys are f"{rule_id}|{device_id}|{metric}": one state row, hence one alert, per rule and
sensor, so workers sharing the load never share a key's state. Within a batch readings
are handled in event-time order (a batch's order is arrival order, not time order).
Levels, threshold, rate_of_change, stuck and out_of_range rules run here; no_data, aqi
and qcvn rules run on the alert service's timers (processors/health/offline.py,
aqi_signals.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from events.metrics import MetricRegistry, get_registry
from events.models import Measurement
from processors.detector import Outcome, State
from processors.environment.engine import RuleBook
from processors.environment.engine.machines import Subject, evaluate, wants
from processors.environment.engine.model import AnyRule


def state_key(rule_id: str, device_id: str, metric: str) -> str:
    return f"{rule_id}|{device_id}|{metric}"


class EnvironmentDetector:
    name = "environment"

    def __init__(self, book: RuleBook, registry: MetricRegistry | None = None) -> None:
        self.book = book
        self.registry = registry or get_registry()

    def keys(self, events: Sequence[Any]) -> set[str]:
        return {key for key, _, _ in self._pairs(events)}

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        groups: dict[str, tuple[AnyRule, list[Measurement]]] = {}
        for key, rule, reading in self._pairs(events):
            groups.setdefault(key, (rule, []))[1].append(reading)
        outcome = Outcome()
        for key in sorted(groups):
            rule, readings = groups[key]
            readings.sort(key=lambda m: m.time)
            first = readings[0]
            subject = Subject(first.device_id, first.metric, self._unit(rule, first.metric))
            result = evaluate(rule, subject, states.get(key), readings, self.registry)
            outcome.states[key] = result.state
            outcome.signals.extend(result.signals)
        outcome.signals.sort(key=lambda s: (s.at, s.rule, sorted(s.labels.items())))
        return outcome

    def _pairs(self, events: Sequence[Any]) -> Iterator[tuple[str, AnyRule, Measurement]]:
        for event in events:
            if not isinstance(event, Measurement):
                continue
            for rule in self.book.for_metric(event.metric):
                if wants(rule, event):
                    yield state_key(rule.id, event.device_id, event.metric), rule, event

    def _unit(self, rule: AnyRule, metric: str) -> str:
        unit = getattr(rule, "unit", None)
        return unit or self.registry.resolve(metric).unit or ""
