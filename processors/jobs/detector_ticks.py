"""Detector ticks: what detectors decide when no event comes.

Detectors run on events (processors/runner.py), so a decision that silence should
trigger waits for the next event: an intrusion episode resolves only when the same camera
sends something after the gap, an object standing still (Frigate sends nothing for it)
becomes loitering only when another message arrives. Detectors that can decide on
time alone (processors.detector.TimedDetector) get `tick(states, quiet)` here, every
TICK_SECONDS, from the alert service.

A tick learns, per key, how long no batch has changed its state (the job's clock against
the row's updated_at): the detector moves its own event-time clock on by that silence
rather than comparing the job's clock with event time, so a backlog worked off after an
outage, events dated in the past (replays, scenarios) or a camera whose clock is off
never close an episode early.

Per detector, in the runner's order (so a worker and this job take row locks in the
same order and never deadlock): its stored keys are read without locks, tick on that
snapshot names the keys it would change, only those are locked as the runner locks
them (processors/state.py, sorted, in this transaction), tick decides again on the
locked rows (a worker may have moved them meanwhile), and what changed is saved. The
signals go through the alert manager, with the same channel routing the runner uses,
and everything commits together (run_exclusive's transaction), so a worker writing
the same key waits for this job or is waited for: no update is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import psycopg

from events.alerts import Signal
from processors import state as state_store
from processors.alerts.manager import AlertManager
from processors.detector import TimedDetector
from processors.runner import DetectorSet, changed_states
from store import rule_generation

log = logging.getLogger(__name__)

JOB = "detector-ticks"
# An intrusion resolves this long after its gap at most; a loiterer fires this late.
TICK_SECONDS = 15.0


class DetectorTicksJob:
    def __init__(self, manager: AlertManager, load: Callable[[], DetectorSet]) -> None:
        self.manager = manager
        self._load = load
        self._detectors: DetectorSet | None = None
        self._generation: int | None = None

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        """Signals applied (the job runs inside run_exclusive's transaction; `now` is
        the job's clock, UTC: tests pass a fixed one)."""
        detectors = self._current(conn)
        signals: list[Signal] = []
        records: list[object] = []
        for detector in timed(detectors):
            states, written = state_store.stored_states(conn, detector.name)
            due = set(changed_states(states, detector.tick(states, _quiet(written, now)).states))
            if not due:
                continue
            locked = state_store.lock_states(conn, detector.name, due)
            written = state_store.written_at(conn, detector.name, locked)
            outcome = detector.tick(locked, _quiet(written, now))
            state_store.save_states(conn, detector.name, changed_states(locked, outcome.states))
            signals += outcome.signals
            records += outcome.records
        if records:
            signals += self._store_records(conn, detectors, records)
        if not signals:
            return 0
        return len(self.manager.apply(conn, signals))

    def _current(self, conn: psycopg.Connection) -> DetectorSet:
        """The detectors as the runner has them: loaded once, reloaded when
        `ioc rules reload` bumps rule_generation; a failed reload keeps the running set."""
        generation = rule_generation.current(conn)
        if self._detectors is None:
            self._detectors = self._load()
        elif generation != self._generation:
            try:
                self._detectors = self._load()
                log.info("detector ticks: rules reloaded (generation %d)", generation)
            except Exception as error:  # keep ticking with what runs
                log.error("detector ticks: reload %d failed, rules stay: %s", generation, error)
        self._generation = generation
        return self._detectors

    @staticmethod
    def _store_records(
        conn: psycopg.Connection, detectors: DetectorSet, records: list[object]
    ) -> list[Signal]:
        if detectors.record_sink is None:
            log.error("%d records from ticks dropped: the detector set has no sink", len(records))
            return []
        return detectors.record_sink(conn, records)


def _quiet(written: Mapping[str, datetime], now: datetime) -> dict[str, timedelta]:
    """How long each key's state has gone unchanged by the job's clock. The database
    stamped the writes (now() of the writing transaction); the two clocks agree to well
    under any detector's windows on one NTP-synchronised site."""
    return {key: max(now - at, timedelta(0)) for key, at in written.items()}


def timed(detectors: DetectorSet) -> list[TimedDetector]:
    """The detectors with a tick, in the order the runner locks their rows (by name,
    then key: state.lock_many), so a tick and a batch never wait on each other in a
    circle."""
    groups = (detectors.measurements, detectors.security, detectors.cameras)
    found = [d for group in groups for d in group if isinstance(d, TimedDetector)]
    return sorted(found, key=lambda d: d.name)
