"""What every security detector does with a batch and a key's state: event order,
sliding windows in event time, quiet periods, listed values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from events.alerts import Signal
from events.models import SecurityEvent
from processors.detector import Outcome, State

MAX_LISTED = 10  # names listed in a signal's values and summary (users, hosts …)
# A key keeps at least this many window entries even when its threshold is lower, so a
# signal can say how many there were; past it the count reads "50+".
MIN_KEPT = 50


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
