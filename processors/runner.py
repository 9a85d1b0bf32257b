"""Run the stream detectors on each committed batch, inside its transaction.

The ingest worker's BatchWriter calls `process(conn, fresh)` after inserting a batch,
with only the events that were new to the database. Here each detector gets its keys'
state (locked), the new events, and returns new state and signals; the alert manager
records the signals. All of it commits with the batch, or none of it does and the
source re-delivers — so detection is exactly once per event even though delivery is
at least once.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from prometheus_client import Counter

from events.alerts import Signal
from events.buglog import BugLog
from processors import state as state_store
from processors.alerts.manager import AlertManager
from processors.detector import Detector, Outcome, State
from store import rule_generation
from store.writer import Batch, frame_of

log = logging.getLogger(__name__)
_bug_log = BugLog(log, "detector bug in", "its part of the batch skipped, the events stored")
DETECTOR_ERRORS = Counter(
    "ioc_detector_errors",
    "Batches a detector raised on (a bug): its detection skipped, the events stored",
    ["detector"],
)

RELOAD_CHECK_SECONDS = 5.0


# Stores what detectors derived (events/camera_records.py) in the batch's transaction and
# returns the signals storing them raised (a watch-listed plate): processors/cameras/records.py.
RecordSink = Callable[[psycopg.Connection, Sequence[Any]], list[Signal]]


@dataclass
class DetectorSet:
    measurements: list[Detector] = field(default_factory=list)
    security: list[Detector] = field(default_factory=list)
    # Run on the camera messages new to the database, in frame order (store/writer.py).
    cameras: list[Detector] = field(default_factory=list)
    record_sink: RecordSink | None = None


def _unknown_generation() -> int | None:
    return None


class DetectorRunner:
    """`generation` says which rule generation is current (None: the database cannot
    say); `clock` is monotonic seconds, for the reload checks' spacing."""

    def __init__(
        self,
        manager: AlertManager,
        load: Callable[[], DetectorSet],
        *,
        generation: Callable[[], int | None] = _unknown_generation,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manager = manager
        self._load = load
        self._clock = clock
        # Read before loading, never after: a reload announced while the packs load is
        # then newer than what the runner holds, and its first check loads it. Unknown
        # (None) is older than any generation: rules of unknown age are reloaded.
        self._generation = generation()
        self.detectors = load()
        self._checked = -math.inf

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None:
        self._maybe_reload(conn)
        if fresh.measurements or fresh.camera_events:
            _touch_last_seen(conn, fresh)
        detectors = self.detectors
        outcome = run_outcomes(
            conn,
            [
                *((d, fresh.measurements) for d in detectors.measurements),
                *((d, fresh.security_events) for d in detectors.security),
                *((d, fresh.camera_events) for d in detectors.cameras),
            ],
        )
        signals = outcome.signals
        if outcome.records:
            signals += _store_records(conn, detectors.record_sink, outcome.records)
        if signals:
            self.manager.apply(conn, signals)

    def _maybe_reload(self, conn: psycopg.Connection) -> None:
        now = self._clock()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        generation = rule_generation.current(conn)
        if generation == self._generation:
            return
        self._generation = generation
        try:
            self.detectors = self._load()
            log.info("rules reloaded (generation %d)", generation)
        except Exception as error:  # a bad file must never stop ingest: keep what runs
            log.error("rule reload %d failed, running rules stay in force: %s", generation, error)


def run_outcomes(
    conn: psycopg.Connection, work: Sequence[tuple[Detector, Sequence[object]]]
) -> Outcome:
    """Each detector's outcome on its events, every changed state saved: all the
    detectors' keys locked in one round trip and saved in one statement.

    A detector that raises has a bug (or met a state row it cannot read): its part of
    this batch is skipped and its state left as it was, while the events are stored and
    the other detectors run. Failing the batch instead would have the source re-deliver
    it to the same bug forever, and ingest would stop for every device."""
    planned = []
    for detector, events in work:
        keys = _guarded(detector, detector.keys, events) if events else None
        if keys:
            planned.append((detector, events, keys))
    if not planned:
        return Outcome()
    locked = state_store.lock_many(conn, {d.name: keys for d, _, keys in planned})
    total = Outcome()
    changed: dict[str, dict[str, State | None]] = {}
    for detector, events, _ in planned:
        states = locked[detector.name]
        outcome = _guarded(detector, detector.process, states, events)
        if outcome is None:
            continue
        changed[detector.name] = changed_states(states, outcome.states)
        total.signals += outcome.signals
        total.records += outcome.records
    state_store.save_many(conn, changed)
    return total


def _guarded(detector: Detector, step: Callable[..., Any], *args: Any) -> Any:
    """`step(*args)`, or None when it raises (a bug: counted and logged)."""
    try:
        return step(*args)
    except psycopg.Error:
        raise  # the database's trouble is the batch's (retried or split by the writer)
    except Exception as error:
        DETECTOR_ERRORS.labels(detector.name).inc()
        _bug_log.report(detector.name, error)
        return None


def _store_records(
    conn: psycopg.Connection, sink: RecordSink | None, records: list[Any]
) -> list[Signal]:
    if sink is None:
        # A detector set built without the sink is a wiring mistake; losing counts
        # silently would hide it, and failing the batch would dead-letter good events.
        log.error("%d derived records dropped: the detector set has no record sink", len(records))
        return []
    return sink(conn, records)


def changed_states(
    before: Mapping[str, State], after: Mapping[str, State | None]
) -> dict[str, State | None]:
    """Only what changed is written: most readings leave most keys as they were (a
    healthy sensor's out-of-range key has no state before or after), and an UPDATE per
    key per batch would be most of the runner's cost."""
    changed: dict[str, State | None] = {}
    for key, state in after.items():
        if (state or None) != (before.get(key) or None):
            changed[key] = state
    return changed


def _touch_last_seen(conn: psycopg.Connection, fresh: Batch) -> None:
    """A device's newest reading moves its heartbeat; so does a camera's newest event
    (its device id is the camera): a camera that only sends events is alive."""
    newest: dict[str, datetime] = {}
    heard = itertools.chain(
        ((m.device_id, m.time) for m in fresh.measurements),
        ((e.camera, frame_of(e)) for e in fresh.camera_events),
    )
    for device_id, moment in heard:
        seen = newest.get(device_id)
        if seen is None or moment > seen:
            newest[device_id] = moment
    devices = sorted(newest)
    conn.execute(
        "INSERT INTO device_last_seen (device_id, last_seen)"
        " SELECT d, t FROM unnest(%s::text[], %s::timestamptz[]) AS u(d, t) ORDER BY d"
        " ON CONFLICT (device_id) DO UPDATE SET"
        " last_seen = greatest(device_last_seen.last_seen, excluded.last_seen),"
        " updated_at = now()",
        (devices, [newest[d] for d in devices]),
    )
