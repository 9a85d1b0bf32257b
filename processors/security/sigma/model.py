"""What the loader produces and the engine emits."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from processors.security.sigma.document import FieldRef
from processors.security.sigma.matcher import Predicate
from processors.security.sigma.prefilter import Needs

LEVELS = ("informational", "low", "medium", "high", "critical")
# attack.t1110.001 -> T1110.001; tactic tags (attack.credential_access) are not techniques.
_TECHNIQUE_TAG = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)", re.IGNORECASE)


def techniques(tags: Iterable[str]) -> tuple[str, ...]:
    found = (m.group(1).upper() for tag in tags if (m := _TECHNIQUE_TAG.fullmatch(tag)))
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """The descriptive part of a rule, shared by event rules and correlations."""

    key: str  # the rule id (UUID) when it has one, else its name, else its title
    title: str
    level: str
    tags: tuple[str, ...]
    source: str  # the file it came from

    @property
    def techniques(self) -> tuple[str, ...]:
        return techniques(self.tags)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    info: RuleInfo
    logsource: tuple[str | None, str | None, str | None]
    predicate: Predicate
    # False when a correlation references it without `generate: true` (Sigma spec): the
    # rule still feeds the correlation but raises nothing on its own.
    emits: bool = True
    # The literals it cannot match without (prefilter.py); None: always evaluated.
    needs: Needs = None


CorrelationKind = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
TEMPORAL_KINDS = ("temporal", "temporal_ordered")


@dataclass(frozen=True, slots=True)
class CompiledCorrelation:
    info: RuleInfo
    kind: CorrelationKind
    rules: tuple[str, ...]  # keys of the event rules it counts (temporal_ordered: in order)
    timespan: float  # seconds
    # The smallest count that satisfies the condition: events, distinct values, or (the
    # temporal kinds) distinct rules.
    threshold: int
    group_by: tuple[str, ...]  # names as written in the rule (reported with the match)
    # Per referenced rule: ECS paths of each group-by field (aliases resolved), and of the
    # counted field for value_count.
    group_paths: dict[str, tuple[FieldRef, ...]]
    value_paths: dict[str, FieldRef] = field(default_factory=dict)
    value_field: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rule (or a whole file) the engine will not run, and why."""

    file: str
    rule: str  # id or title; "-" when the file itself could not be read
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.rule}: {self.reason}"


@dataclass(frozen=True, slots=True)
class SigmaMatch:
    """One detection: a single event that matched a rule, or a correlation that fired."""

    rule_id: str
    title: str
    level: str
    tags: tuple[str, ...]
    techniques: tuple[str, ...]
    event_ids: tuple[str, ...]
    time: datetime | None  # of the event that made the rule match
    kind: Literal["event", "correlation"] = "event"
    group: dict[str, Any] | None = None  # correlation: group-by field -> value
    count: int | None = None  # correlation: events, distinct values or rules in the window
    # value_count: the distinct values counted; temporal kinds: the rules, in event order
    values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "tags": list(self.tags),
            "techniques": list(self.techniques),
            "event_ids": list(self.event_ids),
            "time": self.time.astimezone(UTC).isoformat() if self.time else None,
            "kind": self.kind,
            "group": self.group,
            "count": self.count,
            "values": list(self.values),
        }
