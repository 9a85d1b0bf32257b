"""Authentication detections: brute force, password spraying, and a login that succeeds
after a run of failures (possible compromise).

Each key's state is plain JSON: the window's entries as [epoch seconds, event id, …],
the time it last fired, the newest event time seen and when the state stops mattering
(`expires`, event time), so a runner can drop stale rows without asking the detector.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.alerts import Signal
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.detectors.rules import (
    BruteForceSpec,
    PasswordSpraySpec,
    Rule,
    SuccessAfterFailuresSpec,
)
from processors.security.detectors.rules.windows import (
    advance,
    epoch,
    joined,
    kept,
    listed,
    may_fire,
    ordered,
    security_events,
    settle,
    shown_count,
)

Entry = list[Any]  # [epoch seconds, event id, user name, host name]


def _entry(event: SecurityEvent) -> Entry:
    return [epoch(event.time), event.event_id, event.user_name, event.host_name]


def _grouped(
    events: Iterable[Any], key_of: Callable[[SecurityEvent], Iterable[str]]
) -> dict[str, list[SecurityEvent]]:
    grouped: dict[str, list[SecurityEvent]] = {}
    for event in security_events(events):
        for key in key_of(event):
            grouped.setdefault(key, []).append(event)
    return grouped


def _fresh(moment: float) -> State:
    return {"entries": [], "fired": None, "last": moment, "expires": moment}


def _unless_empty(state: State | None) -> State | None:
    # No failures pending and no quiet period running: nothing a later event could use.
    if state is not None and not state["entries"] and state["fired"] is None:
        return None
    return state


def _window(
    state: State | None, moment: float, window: float
) -> tuple[State, float, float, list[Entry]]:
    """(state in force, newest time, horizon, entries still inside the window) once
    `moment` is seen."""
    current, newest, horizon = advance(state, moment, window, _fresh)
    return current, newest, horizon, [e for e in current["entries"] if e[0] > horizon]


# ---- brute force and password spraying -----------------------------------------------


class _SourceWindow:
    """Failures from one source address in a sliding window, up to a threshold. The
    subclass says which failures count and how one joins the window."""

    value_name = ""

    def __init__(self, rule: Rule[Any], threshold: int):
        self.rule = rule
        self.name = rule.id
        self.threshold = threshold
        self._cap = kept(threshold)

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(_grouped(events, self._key))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for key, batch in _grouped(events, self._key).items():
            state, signals = self._run(key, states.get(key), batch)
            settle(outcome, states, key, state)
            outcome.signals.extend(signals)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _key(self, event: SecurityEvent) -> list[str]:
        return [event.source_ip] if event.source_ip and self.rule.selects(event) else []

    def _add(self, entries: list[Entry], event: SecurityEvent) -> list[Entry] | None:
        """The window's entries with this event, None if it changes nothing."""
        raise NotImplementedError

    def _run(
        self, key: str, state: State | None, events: list[SecurityEvent]
    ) -> tuple[State | None, list[Signal]]:
        signals = []
        window = self.rule.window
        for event in events:
            moment = epoch(event.time)
            current, newest, horizon, entries = _window(state, moment, window)
            added = None if moment <= horizon else self._add(entries, event)
            if added is None:
                continue  # too late for the window, or nothing new
            entries = sorted(added, key=lambda e: e[0])[-self._cap :]
            fired = current["fired"]
            state = {"entries": entries, "fired": fired, "last": newest, "expires": newest + window}
            if len(entries) >= self.threshold and may_fire(fired, newest, window):
                state["fired"] = newest
                signals.append(self._signal(key, event, entries))
        return state, signals

    def _signal(self, source_ip: str, event: SecurityEvent, entries: list[Entry]) -> Signal:
        users, hosts = listed(e[2] for e in entries), listed(e[3] for e in entries)
        count = shown_count(len(entries), self._cap)
        return self.rule.signal(
            labels={"source_ip": source_ip},
            at=event.time,
            fields={
                "source_ip": source_ip,
                "count": count,
                "threshold": self.threshold,
                "users": joined(users),
                "hosts": joined(hosts),
            },
            values={self.value_name: count, "users": users, "hosts": hosts},
            event_ids=[e[1] for e in entries],
        )


class BruteForceDetector(_SourceWindow):
    """At least `threshold` failed logins from one source address within the window."""

    value_name = "failures"

    def __init__(self, rule: Rule[BruteForceSpec]):
        super().__init__(rule, rule.spec.threshold)

    def _add(self, entries: list[Entry], event: SecurityEvent) -> list[Entry] | None:
        if any(e[1] == event.event_id for e in entries):
            return None  # a replay of a counted event
        return [*entries, _entry(event)]


class PasswordSprayDetector(_SourceWindow):
    """One source failing as at least `distinct_users` different accounts in the window.
    A user's entry keeps its newest failure, so a slow spray stays in the window."""

    value_name = "distinct_users"

    def __init__(self, rule: Rule[PasswordSpraySpec]):
        super().__init__(rule, rule.spec.distinct_users)

    def _key(self, event: SecurityEvent) -> list[str]:
        return super()._key(event) if event.user_name else []

    def _add(self, entries: list[Entry], event: SecurityEvent) -> list[Entry] | None:
        by_user = {e[2]: e for e in entries}
        known = by_user.get(event.user_name)
        if known is not None and known[0] >= epoch(event.time):
            return None
        by_user[event.user_name] = _entry(event)
        return list(by_user.values())


# ---- success after failures -----------------------------------------------------------

_BASIS = {
    "source": ("cùng địa chỉ nguồn", "same source address"),
    "user": ("cùng tài khoản trên máy đó", "same account on that host"),
}


@dataclass
class _Success:
    """A login that ended a long enough run, for one or both of its keys."""

    event: SecurityEvent
    basis: list[str] = field(default_factory=list)
    failures: int = 0
    seen: dict[str, float] = field(default_factory=dict)  # failure event id -> time

    def add(self, key: str, failures: list[Entry]) -> None:
        self.basis.append(key.split(":", 1)[0])
        self.failures = max(self.failures, len(failures))
        self.seen.update((e[1], e[0]) for e in failures)

    @property
    def event_ids(self) -> list[str]:
        # In time order, not in the order the keys were visited (that follows the batch).
        return sorted(self.seen, key=lambda event_id: (self.seen[event_id], event_id))


class SuccessAfterFailuresDetector:
    """A login that succeeds after at least `failures` failures within the window from
    the same source address, or for the same account on the same host. Any success ends
    the run (it starts counting again), so a user who mistyped and then logged in once
    is not reported at every later login."""

    def __init__(self, rule: Rule[SuccessAfterFailuresSpec]):
        self.rule = rule
        self.name = rule.id
        self._cap = kept(rule.spec.failures)
        self._success = rule.selections["success"]

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(_grouped(events, self._keys))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        successes: dict[str, _Success] = {}
        for key, batch in _grouped(events, self._keys).items():
            settle(outcome, states, key, self._run(key, states.get(key), batch, successes))
        outcome.signals = ordered(self._signal(found) for found in successes.values())
        return outcome

    def _kind(self, event: SecurityEvent) -> str | None:
        if self.rule.selects(event):
            return "failure"
        if self.rule.matches(event, self._success):
            return "success"
        return None

    def _keys(self, event: SecurityEvent) -> list[str]:
        if self._kind(event) is None:
            return []
        keys = []
        if "source" in self.rule.spec.by and event.source_ip:
            keys.append("source:" + event.source_ip)
        if "user" in self.rule.spec.by and event.user_name:
            keys.append("user:" + json.dumps([event.host_name or "", event.user_name]))
        return keys

    def _run(
        self,
        key: str,
        state: State | None,
        events: list[SecurityEvent],
        successes: dict[str, _Success],
    ) -> State | None:
        window, needed = self.rule.window, self.rule.spec.failures
        for event in events:
            moment = epoch(event.time)
            current, newest, horizon, entries = _window(state, moment, window)
            if moment <= horizon or any(e[1] == event.event_id for e in entries):
                continue
            fired = current["fired"]
            if self._kind(event) == "failure":
                entries = sorted([*entries, _entry(event)], key=lambda e: e[0])[-self._cap :]
            else:
                before = [e for e in entries if e[0] <= moment]
                if len(before) >= needed and may_fire(fired, newest, window):
                    fired = newest
                    successes.setdefault(event.event_id, _Success(event)).add(key, before)
                entries = [e for e in entries if e[0] > moment]  # the run ended here
            state = {"entries": entries, "fired": fired, "last": newest, "expires": newest + window}
        return _unless_empty(state)

    def _signal(self, found: _Success) -> Signal:
        event = found.event
        basis = sorted(found.basis)
        labels = {
            name: value
            for name, value in (
                ("user_name", event.user_name),
                ("host_name", event.host_name),
                ("source_ip", event.source_ip),
            )
            if value
        }
        count = shown_count(found.failures, self._cap)
        return self.rule.signal(
            labels=labels,
            at=event.time,
            fields={
                "source_ip": event.source_ip or "-",
                "user_name": event.user_name or "-",
                "host_name": event.host_name or "-",
                "count": count,
                "basis_vi": "; ".join(_BASIS[b][0] for b in basis),
                "basis_en": "; ".join(_BASIS[b][1] for b in basis),
            },
            values={"failures": count, "basis": basis, "success_event_id": event.event_id},
            event_ids=[*found.event_ids, event.event_id],
        )
