"""The security rule pack (detections.yaml): its model, its loader, and what every
detector shares (event selection, batch order, firing windows, signals).

Rule content is data: thresholds, windows, severities, ATT&CK ids, titles and which
events count. Which events count is a Sigma detection (`select`, `exclude`) compiled by
the Sigma matcher against the same fieldmap.yaml, so a selection reads ECS paths with
the column fallbacks and modifiers (|cidr, |exists …) the Sigma rules use.

The pack is validated whole at load (pydantic, then compiling every selection and
checking every template); an error names the file and the field, so a bad edit stops the
service at startup instead of silently disabling a detection.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sigma.exceptions import SigmaError

from events.alerts import Domain, Severity, Signal, SignalState
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.sigma.document import MISSING, EventView
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.matcher import Predicate, Unsupported, compile_definition

RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "detections.yaml"
SeverityName = Literal["info", "low", "medium", "high", "critical"]
Technique = Annotated[str, Field(pattern=r"^T\d{4}(\.\d{3})?$")]
Seconds = Annotated[float, Field(gt=0, le=30 * 86400)]
Count = Annotated[int, Field(ge=1, le=1000)]  # also what a key keeps: bounds its state
# Placeholders every template may use; each detection type adds its own.
COMMON_FIELDS = frozenset({"window_minutes"})
MAX_LISTED = 10  # names listed in a signal's values and summary (users, hosts …)
# A key keeps at least this many window entries even when its threshold is lower, so a
# signal can say how many there were; past it the count reads "50+".
MIN_KEPT = 50


class RulePackError(ValueError):
    """detections.yaml is malformed; the message names the file and the field."""


# ---- the pack as data -----------------------------------------------------------------


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class DetectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    FIELDS: ClassVar[frozenset[str]] = frozenset()
    # Further Sigma selections a type reads besides select/exclude, compiled at load.
    SELECTIONS: ClassVar[tuple[str, ...]] = ()

    id: str = Field(pattern=r"^sec\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
    enabled: bool = True
    severity: SeverityName
    techniques: tuple[Technique, ...] = ()
    window_seconds: Seconds
    # Sigma detections (a map = AND of fields, a list of maps = OR); None selects all.
    select: dict[str, Any] | list[dict[str, Any]] | None = None
    exclude: dict[str, Any] | list[dict[str, Any]] | None = None
    title: Text
    summary: Text

    @field_validator("title", "summary")
    @classmethod
    def _known_placeholders(cls, text: Text) -> Text:
        allowed = cls.FIELDS | COMMON_FIELDS
        for language in ("vi", "en"):
            for name in _placeholders(getattr(text, language)):
                if name not in allowed:
                    known = ", ".join(sorted(allowed))
                    raise ValueError(f"{language}: unknown placeholder {{{name}}}; known: {known}")
        return text


class BruteForceSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "count", "threshold", "users", "hosts"}
    )
    type: Literal["bruteforce"]
    threshold: Count


class PasswordSpraySpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "count", "threshold", "users", "hosts"}
    )
    type: Literal["password_spray"]
    distinct_users: Count


class SuccessAfterFailuresSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "user_name", "host_name", "count", "basis_vi", "basis_en"}
    )
    SELECTIONS: ClassVar[tuple[str, ...]] = ("success",)
    type: Literal["success_after_failures"]
    failures: Count
    # select picks the failures; success picks the logins that end a run of them.
    success: dict[str, Any] | list[dict[str, Any]]
    by: tuple[Literal["source", "user"], ...] = Field(min_length=1)


class PortScanSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "ports", "hosts", "target", "kind_vi", "kind_en"}
    )
    type: Literal["portscan"]
    distinct_ports: Count
    distinct_hosts: Count
    # Sources that legitimately touch many hosts or ports: vulnerability scanners,
    # monitoring, proxies, resolvers. Matching is by address or network.
    ignore_sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


class IdsAlertSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"signature", "signature_id", "source_ip", "targets", "count", "level"}
    )
    type: Literal["ids_alert"]
    # The sensor's own severity number -> ours; `severity` is for numbers not listed.
    severity_by_level: dict[int, SeverityName] = Field(default_factory=dict)


class MalwareSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"threat", "host_name", "file", "file_hash", "action", "count"}
    )
    type: Literal["malware"]
    # What the product did that means the file was stopped; anything else (detected
    # only, remediation failed) raises severity_not_stopped.
    stopped_actions: tuple[str, ...] = Field(min_length=1)
    severity_not_stopped: SeverityName


class IndicatorFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ip: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()


class IndicatorMatchSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"indicator", "indicator_type", "listed_as", "field", "hosts", "count", "source"}
    )
    type: Literal["indicator_match"]
    # ECS paths read for each kind of indicator, in order.
    fields: IndicatorFields


Detection = Annotated[
    BruteForceSpec
    | PasswordSpraySpec
    | SuccessAfterFailuresSpec
    | PortScanSpec
    | IdsAlertSpec
    | MalwareSpec
    | IndicatorMatchSpec,
    Field(discriminator="type"),
]


class SigmaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # A single-event Sigma rule speaks once per entity per this long, not per event.
    event_window_seconds: Seconds = 3600
    # Vietnamese titles by Sigma rule id; a rule without one gets a generic prefix.
    titles_vi: dict[str, str] = Field(default_factory=dict)
    # Rule ids that still match and feed correlations but raise no alert of their own:
    # building blocks, and rules a native detection already covers (one attack, one alert).
    muted: frozenset[str] = frozenset()
    # Matches of rules below this Sigma level feed correlations and stay countable but
    # raise no alert: low and informational rules are for hunting, and one alert per
    # internet scanner per hour would bury the CSIRT's queue.
    min_alert_level: Literal["informational", "low", "medium", "high", "critical"] = "low"


class RulePack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    detections: list[Detection]
    sigma: SigmaSettings = SigmaSettings()

    @field_validator("detections")
    @classmethod
    def _unique_ids(cls, detections: list[DetectionSpec]) -> list[DetectionSpec]:
        seen: set[str] = set()
        for spec in detections:
            if spec.id in seen:
                raise ValueError(f"detection id {spec.id!r} is used twice")
            seen.add(spec.id)
        return detections


def _placeholders(template: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"template {template!r}: {error}") from None
    for name in names:
        # Plain names only: "{a.b}" or "{a[0]}" would reach into the values' attributes.
        if not name.isidentifier():
            raise ValueError(f"template {template!r}: placeholder {{{name}}} is not a name")
    return names


# ---- loading --------------------------------------------------------------------------


def load_rule_pack(path: Path = RULES_FILE) -> RulePack:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RulePackError(f"{path}: {error}") from None
    return parse_rule_pack(data, str(path))


def parse_rule_pack(data: Any, source: str = "<rule pack>") -> RulePack:
    try:
        return RulePack.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{_where(data, item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise RulePackError(f"{source}: {problems}") from None


def _where(data: Any, loc: Sequence[int | str]) -> str:
    """('detections', 2, 'portscan', 'window_seconds') -> 'detections[2] (sec.portscan)
    .window_seconds': the id makes the entry findable, the type tag is noise."""
    parts: list[str] = []
    items = list(loc)
    if len(items) >= 2 and items[0] == "detections" and isinstance(items[1], int):
        index = items[1]
        entry = data["detections"][index] if _indexable(data, index) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        parts.append(f"detections[{index}]" + (f" ({ident})" if ident else ""))
        items = items[2:]
        if items and isinstance(entry, dict) and items[0] == entry.get("type"):
            items = items[1:]
    parts.extend(f"[{item}]" if isinstance(item, int) else f".{item}" for item in items)
    return "".join(parts).lstrip(".") or "(top level)"


def _indexable(data: Any, index: int) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("detections"), list)
        and 0 <= index < len(data["detections"])
    )


# ---- a detection ready to run ---------------------------------------------------------


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


def compile_rule(spec: Spec, fieldmap: FieldMap, source: str = "<rule pack>") -> Rule[Spec]:
    return Rule(
        spec=spec,
        admits=compile_selection(spec, "select", spec.select, fieldmap, source),
        excludes=compile_selection(spec, "exclude", spec.exclude, fieldmap, source),
        fieldmap=fieldmap,
        selections={
            name: compile_selection(spec, name, getattr(spec, name), fieldmap, source)
            for name in spec.SELECTIONS
        },
    )


def compile_selection(
    spec: DetectionSpec, name: str, definition: Any, fieldmap: FieldMap, source: str
) -> Predicate | None:
    if definition is None:
        return None
    try:
        return compile_definition(definition, fieldmap)
    except (SigmaError, Unsupported) as error:
        raise RulePackError(f"{source}: {spec.id}.{name}: {error}") from None


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:.1f}"


# ---- what every detector does with a batch and a key's state --------------------------


def security_events(events: Iterable[Any]) -> list[SecurityEvent]:
    """The batch's security events in event-time order, each event id once. Ties break
    on the id so any split of a time-ordered stream is processed in the same order."""
    seen: set[str] = set()
    unique = []
    for event in events:
        if isinstance(event, SecurityEvent) and event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return sorted(unique, key=lambda e: (e.time, e.event_id))


def epoch(time: datetime) -> float:
    return time.timestamp()


def live(state: State | None, moment: float) -> State | None:
    """A stored state still in force at `moment`, else None: a state past its expiry
    holds nothing an event at `moment` could count with, so it starts afresh."""
    if state is None or moment >= state.get("expires", float("-inf")):
        return None
    return state


def advance(
    state: State | None, moment: float, window: float, fresh: Callable[[float], State]
) -> tuple[State, float, float]:
    """Where a key's sliding window stands once `moment` is seen: the state in force (a
    fresh one if none is), the newest event time, and the horizon (newest - window);
    an event at or before the horizon is too late to count."""
    current = live(state, moment) or fresh(moment)
    newest = max(current["last"], moment)
    return current, newest, newest - window


def may_fire(fired: float | None, moment: float, window: float) -> bool:
    """Fire when the condition starts holding, then at most once per window."""
    return fired is None or moment - fired >= window


def listed(values: Iterable[str | None]) -> list[str]:
    """Distinct non-empty values, first seen first, at most MAX_LISTED."""
    return [v for v in dict.fromkeys(v for v in values if v)][:MAX_LISTED]


def joined(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "-"


def kept(threshold: int) -> int:
    return max(threshold, MIN_KEPT)


def shown_count(count: int, cap: int) -> str:
    return f"{count}+" if count >= cap else str(count)


def ordered(signals: Iterable[Signal]) -> list[Signal]:
    """Signals in event-time order; ties by rule and entity, never by dict order."""
    return sorted(signals, key=lambda s: (s.at, s.rule, s.fingerprint))


def settle(outcome: Outcome, stored: Mapping[str, State], key: str, state: State | None) -> None:
    """Record a key's new state; None deletes a stored row and is not sent for a key
    that never had one (every login would otherwise cost a delete)."""
    if state is not None or key in stored:
        outcome.states[key] = state


def remember(ids: Sequence[str], event_id: str, limit: int = 32) -> list[str]:
    """The newest event ids a key keeps so a replayed event is not counted twice."""
    return [*ids, event_id][-limit:]


def tally(
    state: State | None, event: SecurityEvent, window: float, notes: Mapping[str, str | None]
) -> tuple[State, bool] | None:
    """One more sighting of a key's entity (an IDS signature from a source, a malware
    file on a host, an indicator): the new state and whether the quiet period lets it
    fire; None for a replayed event or one older than the window. `notes` are values
    listed in the state (targets, hosts …), each list at most MAX_LISTED long."""
    moment = epoch(event.time)
    current, newest, horizon = advance(state, moment, window, _first_sighting)
    if event.event_id in current["ids"] or moment <= horizon:
        return None
    old_notes = current["notes"]
    new: State = {
        **current,
        "count": current["count"] + 1,
        "ids": remember(current["ids"], event.event_id),
        "notes": {k: listed([*old_notes.get(k, ()), v]) for k, v in notes.items()},
        "last": newest,
        "expires": newest + window,
    }
    return new, may_fire(current["fired"], newest, window)


def _first_sighting(moment: float) -> State:
    return {"count": 0, "ids": [], "notes": {}, "fired": None, "last": moment, "expires": moment}
