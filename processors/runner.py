"""Run the stream detectors on each committed batch, inside its transaction.

The ingest worker's BatchWriter calls `process(conn, fresh)` after inserting a batch,
with only the events that were new to the database. Here each detector gets its keys'
state (locked), the new events, and returns new state and signals; the alert manager
records the signals. All of it commits with the batch, or none of it does and the
source re-delivers — so detection is exactly once per event even though delivery is
at least once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from events.alerts import Signal
from processors import state as state_store
from processors.alerts.manager import AlertManager
from processors.detector import Detector, State
from store.writer import Batch

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 5.0


@dataclass
class DetectorSet:
    measurements: list[Detector] = field(default_factory=list)
    security: list[Detector] = field(default_factory=list)


class DetectorRunner:
    def __init__(
        self,
        manager: AlertManager,
        load: Callable[[], DetectorSet],
    ) -> None:
        self.manager = manager
        self._load = load
        self.detectors = load()
        self._generation: int | None = None
        self._checked = 0.0

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None:
        self._maybe_reload(conn)
        if fresh.measurements:
            _touch_last_seen(conn, fresh)
        signals: list[Signal] = []
        for detector in self.detectors.measurements:
            signals += run_detector(conn, detector, fresh.measurements)
        for detector in self.detectors.security:
            signals += run_detector(conn, detector, fresh.security_events)
        if signals:
            self.manager.apply(conn, signals)

    def _maybe_reload(self, conn: psycopg.Connection) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        row = conn.execute("SELECT generation FROM rule_generation WHERE id = 1").fetchone()
        generation = row[0] if row else 0
        if self._generation is None:
            self._generation = generation
            return
        if generation == self._generation:
            return
        self._generation = generation
        try:
            self.detectors = self._load()
            log.info("rules reloaded (generation %d)", generation)
        except Exception as error:  # a bad file must never stop ingest: keep what runs
            log.error("rule reload %d failed, running rules stay in force: %s", generation, error)


def run_detector(
    conn: psycopg.Connection, detector: Detector, events: Sequence[object]
) -> list[Signal]:
    if not events:
        return []
    keys = detector.keys(events)
    if not keys:
        return []
    states = state_store.lock_states(conn, detector.name, keys)
    outcome = detector.process(states, events)
    state_store.save_states(conn, detector.name, changed_states(states, outcome.states))
    return outcome.signals


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
    newest: dict[str, object] = {}
    for m in fresh.measurements:
        seen = newest.get(m.device_id)
        if seen is None or m.time > seen:  # type: ignore[operator]
            newest[m.device_id] = m.time
    devices = sorted(newest)
    conn.execute(
        "INSERT INTO device_last_seen (device_id, last_seen)"
        " SELECT d, t FROM unnest(%s::text[], %s::timestamptz[]) AS u(d, t) ORDER BY d"
        " ON CONFLICT (device_id) DO UPDATE SET"
        " last_seen = greatest(device_last_seen.last_seen, excluded.last_seen),"
        " updated_at = now()",
        (devices, [newest[d] for d in devices]),
    )
