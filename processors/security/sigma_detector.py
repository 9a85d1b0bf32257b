"""The Sigma engine (processors/security/sigma/) as a Detector for the stream runner.

Keys, each a unit of state the runner loads and locks:
- "<correlation id>|<group key>": one correlation group (e.g. one source address of the
  SSH brute-force correlation). The group key is the engine's own (a JSON list of the
  group-by values), so the state is exactly the engine's group, stored apart;
- "<rule id>|<[source.ip, host.name]>": a single-event rule's quiet period for one
  entity. A matching event raises a signal when none was raised for that entity within
  `event_window_seconds`, then one more per window with the count: never one per event.

keys() matches every event once and keeps the result (per thread, keyed by the batch's
event ids) for the process() call that follows, so rules are not evaluated twice.
process() builds an engine state holding only the groups of this batch's keys, runs the
engine, and returns those groups again (a group the engine evicted comes back as None).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from events.alerts import Domain, Severity, Signal, SignalState
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.detectors.rules import (
    SigmaSettings,
)
from processors.security.detectors.rules.windows import (
    joined,
    ordered,
    security_events,
    settle,
    tally,
)
from processors.security.sigma.correlation import STATE_VERSION
from processors.security.sigma.engine import Hits, SigmaEngine
from processors.security.sigma.fieldmap import FieldMap
from processors.security.sigma.loader import RULES_DIR
from processors.security.sigma.model import TEMPORAL_KINDS, CompiledCorrelation, SigmaMatch
from processors.security.sigma.site import Site

RULE_PREFIX = "sigma."
LEVELS = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


class SigmaDetector:
    name = "sigma"

    def __init__(self, engine: SigmaEngine, settings: SigmaSettings | None = None):
        self.engine = engine
        self.settings = settings or SigmaSettings()
        self._correlations: dict[str, CompiledCorrelation] = {
            c.info.key: c for c in engine.ruleset.correlations
        }
        # Worker threads share one detector: each keeps its own keys() -> process() hits.
        self._local = threading.local()

    @classmethod
    def load(
        cls,
        paths: Path | Iterable[Path] = RULES_DIR,
        settings: SigmaSettings | None = None,
        fieldmap: FieldMap | None = None,
        site: Site | None = None,
    ) -> SigmaDetector:
        return cls(SigmaEngine.load(paths, fieldmap, site=site), settings)

    # ---- the Detector contract --------------------------------------------------------

    def keys(self, events: Sequence[Any]) -> set[str]:
        hits = self._match(events)
        self._local.cached = (_ids(hits.events), hits.items)
        return set(self._correlation_keys(hits.items)) | set(self._event_keys(hits.items))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        items = self._cached(events)
        outcome = Outcome()
        groups = self._correlation_keys(items)
        engine_state, matches = self.engine.process_hits(_engine_state(states, groups), items)
        for key, (correlation, group_key) in groups.items():
            group = engine_state["groups"].get(correlation, {}).get(group_key)
            settle(outcome, states, key, self._stored(correlation, group))
        by_id = {item.view.event_id(): item.event for item in items}
        event_states: dict[str, State | None] = {}
        for match in matches:
            if match.rule_id in self.settings.muted or _below(
                match.level, self.settings.min_alert_level
            ):
                continue
            if match.kind == "correlation":
                outcome.signals.append(self._correlation_signal(match))
            else:
                self._event_match(match, by_id, states, event_states, outcome)
        for key, state in event_states.items():
            settle(outcome, states, key, state)
        outcome.signals = ordered(outcome.signals)
        return outcome

    # ---- matching once ----------------------------------------------------------------

    def _match(self, events: Sequence[Any]) -> _Batch:
        ordered_events = security_events(events)
        items = [self.engine.match(event) for event in ordered_events]
        return _Batch(ordered_events, [item for item in items if item.rules])

    def _cached(self, events: Sequence[Any]) -> list[Hits]:
        cached = getattr(self._local, "cached", None)
        self._local.cached = None  # for the immediately following call only
        ordered_events = security_events(events)
        if cached is not None and cached[0] == _ids(ordered_events):
            return list(cached[1])
        return self._match(events).items

    # ---- keys -------------------------------------------------------------------------

    def _correlation_keys(self, items: list[Hits]) -> dict[str, tuple[str, str]]:
        keys: dict[str, tuple[str, str]] = {}
        for item in items:
            for correlation, group_key in self.engine.group_keys(item):
                keys[f"{correlation}|{group_key}"] = (correlation, group_key)
        return keys

    def _event_keys(self, items: list[Hits]) -> list[str]:
        return [
            _event_key(rule.info.key, item.event)
            for item in items
            for rule in item.rules
            if rule.emits
        ]

    def _stored(self, correlation: str, group: dict[str, Any] | None) -> State | None:
        if group is None:
            return None
        timespan = self._correlations[correlation].timespan
        return {"group": group, "expires": group["last"] + timespan}

    # ---- signals ----------------------------------------------------------------------

    def _event_match(
        self,
        match: SigmaMatch,
        by_id: Mapping[str, Any],
        stored: Mapping[str, State],
        states: dict[str, State | None],
        outcome: Outcome,
    ) -> None:
        event = by_id.get(match.event_ids[0]) if match.event_ids else None
        if not isinstance(event, SecurityEvent):
            return
        key = _event_key(match.rule_id, event)
        state = states[key] if key in states else stored.get(key)
        counted = tally(state, event, self.settings.event_window_seconds, {})
        if counted is None:
            return
        state, fire = counted
        if fire:
            state["fired"] = state["last"]
            outcome.signals.append(self._event_signal(match, event, state["count"]))
        states[key] = state

    def _event_signal(self, match: SigmaMatch, event: SecurityEvent, count: int) -> Signal:
        labels = {
            name: value
            for name, value in (("source_ip", event.source_ip), ("host_name", event.host_name))
            if value
        }
        entity = joined(list(labels.values()))
        summary_vi = f'Khớp quy tắc Sigma "{match.title}" ({entity}); số sự kiện: {count}.'
        summary_en = f'Sigma rule "{match.title}" matched ({entity}); events so far: {count}.'
        return self._signal(match, labels, event.time, summary_vi, summary_en, count)

    def _correlation_signal(self, match: SigmaMatch) -> Signal:
        # source.ip -> source_ip: the label names the native detectors use.
        group = {k.replace(".", "_"): _text(v) for k, v in (match.group or {}).items()}
        correlation = self._correlations[match.rule_id]
        entity = joined(list(group.values()))
        minutes = f"{correlation.timespan / 60:g}"
        if correlation.kind in TEMPORAL_KINDS:
            shown = joined(list(_titles(self.engine, match.values)))
            order = " theo thứ tự" if correlation.kind == "temporal_ordered" else ""
            order_en = " in order" if correlation.kind == "temporal_ordered" else ""
            summary_vi = (
                f"{match.count} quy tắc khớp{order} trong {minutes} phút từ {entity}: {shown}."
            )
            summary_en = (
                f"{match.count} rules matched{order_en} within {minutes} min from {entity}:"
                f" {shown}."
            )
        elif correlation.kind == "value_count":
            shown = joined(list(match.values[:10]))
            summary_vi = (
                f"{match.count} giá trị {correlation.value_field} khác nhau trong {minutes} phút"
                f" từ {entity}: {shown}."
            )
            summary_en = (
                f"{match.count} distinct {correlation.value_field} values within {minutes} min"
                f" from {entity}: {shown}."
            )
        else:
            summary_vi = f"{match.count} sự kiện trong {minutes} phút từ {entity}."
            summary_en = f"{match.count} events within {minutes} min from {entity}."
        return self._signal(match, group, match.time, summary_vi, summary_en, match.count)

    def _signal(
        self,
        match: SigmaMatch,
        labels: Mapping[str, str],
        at: datetime | None,
        summary_vi: str,
        summary_en: str,
        count: int | None,
    ) -> Signal:
        entity = joined(list(labels.values()))
        title_vi = self.settings.titles_vi.get(match.rule_id, f"Quy tắc Sigma: {match.title}")
        if at is None:  # only for events without a time, which SecurityEvents never are
            raise ValueError(f"Sigma match of {match.rule_id} has no event time")
        return Signal(
            rule=RULE_PREFIX + match.rule_id,
            domain=Domain.SECURITY,
            labels=dict(labels),
            state=SignalState.FIRING,
            severity=LEVELS.get(match.level, Severity.MEDIUM),
            at=at,
            title_vi=f"{title_vi} — {entity}",
            title_en=f"{match.title} — {entity}",
            summary_vi=summary_vi,
            summary_en=summary_en,
            values={
                "sigma_rule": match.rule_id,
                "kind": match.kind,
                "level": match.level,
                "count": count,
                "group": dict(match.group or {}),
                "values": list(match.values),
                "tags": list(match.tags),
            },
            technique_ids=match.techniques,
            event_ids=match.event_ids,
        )


class _Batch:
    __slots__ = ("events", "items")

    def __init__(self, events: list[SecurityEvent], items: list[Hits]):
        self.events, self.items = events, items


def _ids(events: Sequence[SecurityEvent]) -> tuple[str, ...]:
    return tuple(event.event_id for event in events)


def _engine_state(
    states: Mapping[str, State], groups: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    """An engine state with only this batch's groups. No watermark: eviction then
    follows this batch's newest event, and a group left stale in storage is as good as
    absent (its entries are older than any new event's window)."""
    tables: dict[str, dict[str, Any]] = {}
    for key, (correlation, group_key) in groups.items():
        stored = states.get(key)
        if stored is not None:
            tables.setdefault(correlation, {})[group_key] = stored["group"]
    return {"version": STATE_VERSION, "watermark": None, "groups": tables}


def _event_key(rule_key: str, event: Any) -> str:
    source = getattr(event, "source_ip", None) or ""
    host = getattr(event, "host_name", None) or ""
    return f"{rule_key}|{json.dumps([source, host], ensure_ascii=False)}"


def _titles(engine: SigmaEngine, keys: Sequence[str]) -> list[str]:
    titles = {rule.info.key: rule.info.title for rule in engine.ruleset.rules}
    return [titles.get(key, key) for key in keys]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_LEVEL_ORDER = ("informational", "low", "medium", "high", "critical")


def _below(level: str | None, minimum: str) -> bool:
    rank = _LEVEL_ORDER.index(level) if level in _LEVEL_ORDER else 2  # unknown: medium
    return rank < _LEVEL_ORDER.index(minimum)
