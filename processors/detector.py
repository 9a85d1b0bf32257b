"""The contract every stream detector keeps, so one runner can host them all.

A detector is pure: given the stored state of the keys a batch touches and the batch's
events, it returns new state and the signals it raised. The runner (processors/runner.py)
loads and locks those keys' state rows in the same transaction that writes the batch, so
state is exact with any number of workers and survives restarts, and only events new to
the database are fed in, so a re-delivered batch is never counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from events.alerts import Signal

State = dict[str, Any]


@dataclass
class Outcome:
    # None for a key means "forget it" (the window emptied, the entity recovered).
    states: dict[str, State | None] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    # Rows derived from the events (events/camera_records.py: line crossings, plate
    # reads), stored by the runner's record sink in the same transaction.
    records: list[Any] = field(default_factory=list)


class Detector(Protocol):
    # Unique and stable: it names the detector's rows in the detector_state table.
    name: str

    def keys(self, events: Sequence[Any]) -> set[str]:
        """The state keys this batch needs (e.g. one per source address)."""
        ...

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        """states holds every key from keys() that has stored state; missing keys are
        new. Must not modify the mappings it is given."""
        ...


@runtime_checkable
class TimedDetector(Protocol):
    """Optional for a detector: also decides when no event comes (an intrusion episode
    idle past its gap resolves; an object standing still long enough is loitering).

    A separate Protocol rather than an optional method on Detector: a Protocol member
    cannot be optional for type checkers, and `isinstance(d, TimedDetector)` both picks
    the detectors the tick job (processors/jobs/detector_ticks.py) runs and narrows the
    type for it. The job reads the detector's stored keys and when each was last
    written, locks those a tick would change as the runner does (processors/state.py),
    calls tick on the locked states, saves what changed and applies the signals, all in
    one transaction.
    """

    name: str

    def tick(self, states: Mapping[str, State], quiet: Mapping[str, timedelta]) -> Outcome:
        """Pure, like process(). quiet[key]: how long (the job's clock, wall time) no
        batch has changed that key's state. Act as if an event saying nothing had come
        that long after the newest event the state holds: a key's own event time moved
        on by the silence, never the job's clock against event time, so a backlog worked
        off late, events dated in the past or a camera whose clock is off do not end an
        episode early. It makes the decisions due by then, and later events decide as
        they would have. Return a state only for a key whose decisions change (a signal
        always comes with a state change: a detector remembers what it raised), so the
        job locks and writes only those."""
        ...
