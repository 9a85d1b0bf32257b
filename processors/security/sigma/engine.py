"""Run compiled Sigma rules over a stream of ECS events.

    engine = SigmaEngine.load()                  # shipped rules, fieldmap.yaml
    state = engine.initial_state()
    state, matches = engine.process(state, events)

A caller that needs an event's correlation groups before processing it (to load only
those groups' state) matches once with `hits = engine.match(event)`, reads
`engine.group_keys(hits)`, then runs `engine.process_hits(state, hits_list)`.

`process` is pure: the state it returns is new (groups are copied on write) and the one
passed in is left as it was, so a caller may persist the state between batches, retry a
batch from the previous state, or move it to another worker (it is plain JSON data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events.models import SecurityEvent
from processors.security.sigma import correlation as windows
from processors.security.sigma.document import MISSING, EventView
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.loader import RULES_DIR, RuleSet, load_rules
from processors.security.sigma.matcher import Predicate, as_text
from processors.security.sigma.model import (
    CompiledCorrelation,
    CompiledRule,
    Rejection,
    SigmaMatch,
)
from processors.security.sigma.prefilter import RuleIndex
from processors.security.sigma.site import Site

Event = SecurityEvent | Mapping[str, Any]
_MAX_KEY_CHARS = 512


@dataclass(frozen=True, slots=True)
class Hits:
    """One event with its field view and the event rules it matched: matching done once,
    so a caller can look at an event's groups (group_keys) and then process it."""

    event: Event
    view: EventView
    rules: tuple[CompiledRule, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    # Window entries one correlation may hold across all its groups. A group keeps at most
    # `threshold` entries of ~170 bytes, so the group cap is max_entries // threshold:
    # 25k source addresses for the 10-event brute force, ~40 MB at worst per correlation.
    max_entries: int = 250_000

    def max_groups(self, correlation: CompiledCorrelation) -> int:
        return max(1, self.max_entries // correlation.threshold)


# (the product's filter or None, its logsources: (filter or None, indexed rules))
_ProductBuckets = tuple[Predicate | None, list[tuple[Predicate | None, RuleIndex]]]


class SigmaEngine:
    def __init__(self, ruleset: RuleSet, fieldmap: FieldMap, limits: Limits = Limits()):
        self.ruleset = ruleset
        self.fieldmap = fieldmap
        self.limits = limits
        self._buckets = _by_logsource(ruleset.rules, fieldmap)
        self._correlations: dict[str, list[CompiledCorrelation]] = {}
        for correlation in ruleset.correlations:
            for key in correlation.rules:
                self._correlations.setdefault(key, []).append(correlation)

    @classmethod
    def load(
        cls,
        paths: Path | Iterable[Path] = RULES_DIR,
        fieldmap: FieldMap | None = None,
        limits: Limits = Limits(),
        site: Site | None = None,
    ) -> SigmaEngine:
        fieldmap = fieldmap or FieldMap.load()
        return cls(load_rules(paths, fieldmap, site), fieldmap, limits)

    @property
    def rejected(self) -> list[Rejection]:
        return self.ruleset.rejected

    def initial_state(self) -> dict[str, Any]:
        return windows.new_state()

    def matching_rules(self, event: Event) -> list[CompiledRule]:
        """The event rules an event matches, whether or not they emit on their own."""
        return self._hits(self.fieldmap.view(event))

    def match(self, event: Event) -> Hits:
        view = self.fieldmap.view(event)
        return Hits(event, view, tuple(self._hits(view)))

    def group_keys(self, hits: Hits) -> list[tuple[str, str]]:
        """(correlation key, group key) of every correlation group this event would be
        counted in by process: the same rule order, skips and keys as _correlate."""
        if not hits.rules or not self._correlations or hits.view.timestamp() is None:
            return []
        found = []
        for rule, correlation in self._counting(hits.rules):
            group = _group(correlation, rule.info.key, hits.view)
            if group is not None:
                found.append((correlation.info.key, group[0]))
        return found

    def process(
        self, state: Mapping[str, Any], events: Iterable[Event]
    ) -> tuple[dict[str, Any], list[SigmaMatch]]:
        return self.process_hits(state, (self.match(event) for event in events))

    def process_hits(
        self, state: Mapping[str, Any], items: Iterable[Hits]
    ) -> tuple[dict[str, Any], list[SigmaMatch]]:
        """process() for events already matched with match()."""
        state = self._begin(windows.check_state(state))
        matches: list[SigmaMatch] = []
        for item in items:
            if not item.rules:
                continue
            view, hits = item.view, list(item.rules)
            moment = view.timestamp()
            time = _time(item.event, moment)
            matches.extend(_event_match(rule, view, time) for rule in hits if rule.emits)
            if moment is not None and self._correlations:
                self._correlate(state, view, hits, moment, time, matches)
        return self._end(state), matches

    # ---- internals ------------------------------------------------------------------

    def _hits(self, view: EventView) -> list[CompiledRule]:
        hits = []
        for gate, buckets in self._buckets:
            if gate is not None and not gate(view):
                continue
            for admits, index in buckets:
                if admits is None or admits(view):
                    hits.extend(rule for rule in index.candidates(view) if rule.predicate(view))
        return hits

    def _begin(self, state: Mapping[str, Any]) -> dict[str, Any]:
        # One shallow copy per batch: groups are replaced, never edited, so the caller's
        # state stays intact. Groups of rules no longer loaded are dropped here.
        old = state["groups"]
        return {
            "version": state["version"],
            "watermark": state.get("watermark"),
            "groups": {
                c.info.key: dict(old.get(c.info.key, {})) for c in self.ruleset.correlations
            },
        }

    def _end(self, state: dict[str, Any]) -> dict[str, Any]:
        watermark = state["watermark"]
        if watermark is not None:
            for correlation in self.ruleset.correlations:
                key = correlation.info.key
                state["groups"][key] = windows.evict(
                    state["groups"][key],
                    correlation,
                    watermark,
                    self.limits.max_groups(correlation),
                )
        return state

    def _correlate(
        self,
        state: dict[str, Any],
        view: EventView,
        hits: list[CompiledRule],
        moment: float,
        time: datetime | None,
        matches: list[SigmaMatch],
    ) -> None:
        watermark = state["watermark"]
        state["watermark"] = moment if watermark is None else max(watermark, moment)
        keys = {rule.info.key for rule in hits}
        for rule, correlation in self._counting(hits):
            matched = tuple(key for key in correlation.rules if key in keys)
            match = _observe(
                state["groups"], correlation, rule.info.key, view, moment, time, matched
            )
            if match is not None:
                matches.append(match)

    def _counting(
        self, hits: Iterable[CompiledRule]
    ) -> Iterator[tuple[CompiledRule, CompiledCorrelation]]:
        """Each correlation an event's rule hits count in, once, with the first of its
        rules the event matched: an event matching two of its rules still counts once."""
        done: set[str] = set()
        for rule in hits:
            for correlation in self._correlations.get(rule.info.key, ()):
                if correlation.info.key not in done:
                    done.add(correlation.info.key)
                    yield rule, correlation


def _observe(
    groups: dict[str, dict[str, Any]],
    correlation: CompiledCorrelation,
    rule_key: str,
    view: EventView,
    moment: float,
    time: datetime | None,
    matched: tuple[str, ...] = (),
) -> SigmaMatch | None:
    """Count one event in its group. `matched`: every rule of the correlation the event
    matched (the temporal kinds count rules, not events); the group comes from the
    first, `rule_key`."""
    grouped = _group(correlation, rule_key, view)
    if grouped is None:
        return None
    group_key, found, value = grouped
    table = groups[correlation.info.key]
    group, fired = windows.observe(
        table.get(group_key), correlation, moment, view.event_id(), value, matched
    )
    if group is not None:
        table[group_key] = group
    if fired is None:
        return None
    info = correlation.info
    return SigmaMatch(
        rule_id=info.key,
        title=info.title,
        level=info.level,
        tags=info.tags,
        techniques=info.techniques,
        event_ids=fired.event_ids,
        time=time,
        kind="correlation",
        group={name: _plain(v) for name, v in zip(correlation.group_by, found, strict=True)},
        count=fired.count,
        values=fired.values,
    )


def _group(
    correlation: CompiledCorrelation, rule_key: str, view: EventView
) -> tuple[str, list[Any], str | None] | None:
    """(group key, group-by values, counted value) of an event, or None if not counted."""
    # An event lacking a group-by field is not counted: lumping every such event into
    # one "null" group would add up unrelated sources into a false brute force.
    found = [view.first(paths) for paths in correlation.group_paths[rule_key]]
    if any(value is MISSING for value in found):
        return None
    value = None
    if correlation.kind == "value_count":
        raw = view.first(correlation.value_paths[rule_key])
        if raw is MISSING:
            return None
        value = _key_text(raw)
    return json.dumps([_key_text(v) for v in found], ensure_ascii=False), found, value


def _event_match(rule: CompiledRule, view: EventView, time: datetime | None) -> SigmaMatch:
    info = rule.info
    event_id = view.event_id()
    return SigmaMatch(
        rule_id=info.key,
        title=info.title,
        level=info.level,
        tags=info.tags,
        techniques=info.techniques,
        event_ids=(event_id,) if event_id else (),
        time=time,
    )


def _by_logsource(rules: list[CompiledRule], fieldmap: FieldMap) -> list[_ProductBuckets]:
    """Rules grouped by product, then by logsource, so an event not of a product skips
    all its logsources at once (a syslog line meets one test for SigmaHQ's seventy-odd
    Windows logsources, not seventy), each logsource filter runs once per event, and the
    rules of a logsource are indexed by the literals they need, so an event meets only
    the rules its text can match (a Sysmon process creation: ~25 of SigmaHQ's ~1,200,
    prefilter.py)."""
    grouped: dict[str | None, dict[tuple[str | None, ...], list[CompiledRule]]] = {}
    for rule in rules:
        product = rule.logsource[0]
        grouped.setdefault(product, {}).setdefault(rule.logsource, []).append(rule)
    return [
        (
            None if product is None else fieldmap.logsource_filter((product, None, None)),
            [
                (fieldmap.logsource_filter(key), RuleIndex(group, [r.needs for r in group]))
                for key, group in by_key.items()
            ],
        )
        for product, by_key in grouped.items()
    ]


def _time(event: Event, moment: float | None) -> datetime | None:
    if isinstance(event, SecurityEvent):
        return event.time
    return None if moment is None else datetime.fromtimestamp(moment, UTC)


def _key_text(value: Any) -> str:
    # Group keys and counted values live in the state: cut to a bounded size so a huge
    # field value (a whole message) cannot inflate it.
    text = as_text(value)
    if text is None:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text[:_MAX_KEY_CHARS]


def _plain(value: Any) -> Any:
    return value if type(value) in (str, int, float, bool) else _key_text(value)
