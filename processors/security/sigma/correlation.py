"""Sliding-window state of Sigma correlations (event_count, value_count, temporal,
temporal_ordered), as pure functions.

A group (one correlation rule, one group-by key) is a plain dict of floats, strings and
lists, so the whole state can be JSON-encoded and kept outside this process (Kafka
compacted topic, Redis, a table) and handed to another worker. Functions here never
modify a group they are given; they return a new one. That is what lets
engine.process(state, events) leave its input state untouched.

Window semantics, per group:
- the window is (newest - timespan, newest], newest being the latest event time seen in
  the group; an event older than that is too late to count and is ignored;
- the correlation fires when the condition first holds, then stays quiet for one
  timespan: a continuing attack gives one match per timespan, not one per event, and a
  new match needs the condition to hold again once the window that fired has passed;
- memory is bounded: "at least N" only needs the newest N events (or N distinct values,
  each with its newest time), so that is all a group keeps; a group whose newest event
  has left the window is dropped (evict), and a correlation keeps at most max_groups;
- temporal: the newest sighting of each referenced rule; it fires when `threshold`
  rules (all of them unless the condition asks for fewer) have one in the window;
- temporal_ordered: for each position i of the rule list, the chain rule 1 -> ... ->
  rule i (each event no earlier than the one before, in event time) with the latest
  start, so at most one chain per rule; it fires when a chain reaches the last rule
  inside the window. An event matching several rules of the list extends the chains
  from the last position down, so it never follows itself;
- time is event time: windows and eviction follow the newest event time seen (the
  watermark), never the wall clock, so replaying the same events from the same state
  gives the same matches.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from typing import Any

from processors.security.sigma.model import CompiledCorrelation

STATE_VERSION = 1
Group = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fired:
    count: int
    event_ids: tuple[str, ...]
    values: tuple[str, ...] = ()


def new_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "watermark": None, "groups": {}}


def check_state(state: Any) -> dict[str, Any]:
    """Refuse a state written by an incompatible version rather than misread it."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"correlation state version {found!r} is not {STATE_VERSION}")
    if not isinstance(state.get("groups"), dict):
        raise ValueError("correlation state has no 'groups' map")
    return state


def observe(
    group: Group | None,
    correlation: CompiledCorrelation,
    time: float,
    event_id: str,
    value: str | None = None,
    rules: tuple[str, ...] = (),
) -> tuple[Group | None, Fired | None]:
    """Add one event to a group; the new group, and what fired if the condition now holds.
    `value`: the counted value (value_count); `rules`: the keys of the correlation's
    rules the event matched (the temporal kinds)."""
    newest = time if group is None else max(group["last"], time)
    horizon = newest - correlation.timespan
    if time <= horizon:  # older than the window the group is already in
        return group, None
    fired_at = None if group is None else group["fired"]
    if fired_at is not None and newest - fired_at >= correlation.timespan:
        fired_at = None  # the window that fired has passed: the group may fire again
    if correlation.kind == "value_count":
        updated, fired = _count_values(group, correlation, time, event_id, value, horizon)
    elif correlation.kind == "temporal":
        updated, fired = _temporal(group, correlation, time, event_id, rules, horizon)
    elif correlation.kind == "temporal_ordered":
        updated, fired = _ordered(group, correlation, time, event_id, rules, horizon)
    else:
        updated, fired = _count_events(group, correlation, time, event_id, horizon)
    updated["last"] = newest
    updated["fired"] = fired_at
    if fired is not None and fired_at is None:
        updated["fired"] = newest
        return updated, fired
    return updated, None


def _count_events(
    group: Group | None,
    correlation: CompiledCorrelation,
    time: float,
    event_id: str,
    horizon: float,
) -> tuple[Group, Fired | None]:
    # .get: a group written while this rule had another type starts afresh.
    events = [e for e in group.get("events", ()) if e[0] > horizon] if group else []
    # At-least-once delivery replays events after a restart: count each id once.
    if not (event_id and any(e[1] == event_id for e in events)):
        insort(events, [time, event_id], key=lambda e: e[0])
        del events[: -correlation.threshold]
    updated: Group = {"events": events}
    if len(events) < correlation.threshold:
        return updated, None
    return updated, Fired(len(events), tuple(e[1] for e in events if e[1]))


def _count_values(
    group: Group | None,
    correlation: CompiledCorrelation,
    time: float,
    event_id: str,
    value: str | None,
    horizon: float,
) -> tuple[Group, Fired | None]:
    old = group.get("values", {}) if group else {}
    values = {v: e for v, e in old.items() if e[0] > horizon}
    if value is not None and (value not in values or time > values[value][0]):
        values[value] = [time, event_id]  # a value's newest sighting keeps it in the window
    if len(values) > correlation.threshold:
        newest_first = sorted(values.items(), key=lambda item: item[1][0], reverse=True)
        values = dict(newest_first[: correlation.threshold])
    updated: Group = {"values": values}
    if len(values) < correlation.threshold:
        return updated, None
    ordered = sorted(values.items(), key=lambda item: item[1][0])
    return updated, Fired(
        len(values),
        tuple(entry[1] for _, entry in ordered if entry[1]),
        tuple(v for v, _ in ordered),
    )


def _temporal(
    group: Group | None,
    correlation: CompiledCorrelation,
    time: float,
    event_id: str,
    rules: tuple[str, ...],
    horizon: float,
) -> tuple[Group, Fired | None]:
    old = group.get("rules", {}) if group else {}
    seen = {rule: e for rule, e in old.items() if e[0] > horizon and rule in correlation.rules}
    for rule in rules:
        if rule not in seen or time >= seen[rule][0]:
            seen[rule] = [time, event_id]
    updated: Group = {"rules": seen}
    if len(seen) < correlation.threshold:
        return updated, None
    ordered = sorted(seen.items(), key=lambda item: item[1][0])
    return updated, Fired(
        len(seen),
        tuple(dict.fromkeys(entry[1] for _, entry in ordered if entry[1])),
        tuple(rule for rule, _ in ordered),
    )


def _ordered(
    group: Group | None,
    correlation: CompiledCorrelation,
    time: float,
    event_id: str,
    rules: tuple[str, ...],
    horizon: float,
) -> tuple[Group, Fired | None]:
    # chains[i]: [start, end, [event ids]] of rule 1 -> ... -> rule i+1, or None.
    size = len(correlation.rules)
    old = group.get("chains") if group else None
    chains: list[Any] = [
        chain if chain is not None and chain[0] > horizon else None
        for chain in (old if isinstance(old, list) and len(old) == size else [None] * size)
    ]
    for position in range(size - 1, -1, -1):  # last first: an event never follows itself
        if correlation.rules[position] not in rules:
            continue
        if position == 0:
            candidate = [time, time, [event_id]]
        else:
            before = chains[position - 1]
            if before is None or before[1] > time or event_id in before[2]:
                continue
            candidate = [before[0], time, [*before[2], event_id]]
        current = chains[position]
        if current is None or candidate[0] >= current[0]:
            chains[position] = candidate
    updated: Group = {"chains": chains}
    done = chains[-1]
    if done is None:
        return updated, None
    return updated, Fired(size, tuple(i for i in done[2] if i), correlation.rules)


def evict(
    groups: dict[str, Group], correlation: CompiledCorrelation, watermark: float, max_groups: int
) -> dict[str, Group]:
    """Groups still inside the window at the watermark; beyond max_groups the most
    recently active are kept (an attacker rotating source addresses cannot grow this)."""
    horizon = watermark - correlation.timespan
    kept = {key: group for key, group in groups.items() if group["last"] > horizon}
    if len(kept) > max_groups:
        newest = sorted(kept.items(), key=lambda item: item[1]["last"], reverse=True)
        kept = dict(newest[:max_groups])
    return kept
