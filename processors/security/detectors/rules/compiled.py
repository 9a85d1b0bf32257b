"""A detection ready to run: its Sigma selections compiled, and the Signal it raises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sigma.exceptions import SigmaError

from events.alerts import Domain, Severity, Signal, SignalState
from events.models import SecurityEvent
from processors.security.sigma.document import MISSING, EventView
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.matcher import Predicate, Unsupported, compile_definition

from .loader import pack_error
from .model import DetectionSpec, RulePack

Spec = TypeVar("Spec", bound=DetectionSpec)


@dataclass(frozen=True)
class Rule(Generic[Spec]):
    """A validated detection with its selections compiled."""

    spec: Spec
    admits: Predicate | None
    excludes: Predicate | None
    fieldmap: FieldMap
    selections: Mapping[str, Predicate | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def window(self) -> float:
        return self.spec.window_seconds

    def selects(self, event: SecurityEvent) -> bool:
        return self.matches(event, self.admits)

    def matches(self, event: SecurityEvent, predicate: Predicate | None) -> bool:
        view = self.fieldmap.view(event)
        if predicate is not None and not predicate(view):
            return False
        return self.excludes is None or not self.excludes(view)

    def read(self, view: EventView, path: str) -> Any:
        """An ECS path of the event (columns behind it), None when absent."""
        found = view.first(self.fieldmap.ref(path))
        return None if found is MISSING else found

    def signal(
        self,
        *,
        labels: Mapping[str, str],
        at: datetime,
        fields: Mapping[str, Any],
        values: Mapping[str, Any],
        event_ids: Iterable[str],
        severity: Severity | None = None,
        techniques: Sequence[str] = (),
    ) -> Signal:
        text = {"window_minutes": _minutes(self.window), **fields}
        return Signal(
            rule=self.id,
            domain=Domain.SECURITY,
            labels=dict(labels),
            state=SignalState.FIRING,
            severity=severity if severity is not None else Severity.parse(self.spec.severity),
            at=at,
            title_vi=self.spec.title.vi.format_map(text),
            title_en=self.spec.title.en.format_map(text),
            summary_vi=self.spec.summary.vi.format_map(text),
            summary_en=self.spec.summary.en.format_map(text),
            values=dict(values),
            technique_ids=tuple(techniques) or self.spec.techniques,
            event_ids=tuple(event_ids),
        )


def compile_rule(
    spec: Spec, fieldmap: FieldMap, pack: RulePack | None = None, index: int = 0
) -> Rule[Spec]:
    """`spec` (the pack's detections[index]) with its selections compiled; a selection
    that does not compile raises RulePackError at its line in the pack."""

    def selection(name: str, definition: Any) -> Predicate | None:
        if definition is None:
            return None
        try:
            return compile_definition(definition, fieldmap)
        except (SigmaError, Unsupported) as error:
            raise pack_error(pack, ("detections", index, name), f"{spec.id}: {error}") from None

    return Rule(
        spec=spec,
        admits=selection("select", spec.select),
        excludes=selection("exclude", spec.exclude),
        fieldmap=fieldmap,
        selections={name: selection(name, getattr(spec, name)) for name in spec.SELECTIONS},
    )


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:.1f}"
