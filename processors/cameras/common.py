"""What every camera detector does with a batch: the camera events in order, per camera;
the zones an object is in now; the signal with its evidence (event ids, snapshot)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from events.alerts import Domain, Signal, SignalState
from events.models import CameraEvent
from processors.cameras.registry import Camera, Registry
from processors.cameras.rules import RuleSpec
from processors.detector import Outcome, State
from processors.environment.engine.text import local_time, render, render_vi

MAX_IDS = 20  # event ids an alert lists (the first ones of the episode)
FRIGATE_OBJECT = "object"
FRIGATE_REVIEW = "review"


def moment(event: CameraEvent) -> datetime:
    """The time this message describes (frame time), else the event's start."""
    return event.frame_time or event.time


def epoch(at: datetime) -> float:
    return at.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def by_camera(events: Iterable[Any], wanted: Any = None) -> dict[str, list[CameraEvent]]:
    """The batch's camera events per camera in frame-time order (ties on id and state, so
    any split of a time-ordered stream is processed in the same order); `wanted` picks.
    Frigate review items are left out: they repeat what their objects said, and their
    frame time is when they arrived (Frigate sends none), which would move a camera's
    event-time clock to the wall clock in a backlog or a replay of the past."""
    grouped: dict[str, list[CameraEvent]] = {}
    for event in events:
        if (
            isinstance(event, CameraEvent)
            and event.event_type != FRIGATE_REVIEW
            and (wanted is None or wanted(event))
        ):
            grouped.setdefault(event.camera, []).append(event)
    for batch in grouped.values():
        batch.sort(key=lambda e: (moment(e), e.event_id, e.state))
    return grouped


def current_zones(event: CameraEvent) -> tuple[str, ...]:
    """The zones the object is in at this message. Frigate's `zones` column is every zone
    entered during the event; `current_zones` (kept in the attributes) is this frame's."""
    current = event.attributes.get("current_zones")
    if isinstance(current, list) and all(isinstance(z, str) for z in current):
        return tuple(current)
    return event.zones


def is_object(event: CameraEvent) -> bool:
    return event.event_type == FRIGATE_OBJECT and not event.false_positive


def listed(ids: Sequence[str], new: str | None, limit: int = MAX_IDS) -> list[str]:
    """ids with `new` added once at the end, at most `limit` (the first are kept)."""
    if new is None or new in ids or len(ids) >= limit:
        return list(ids)
    return [*ids, new]


class Tracks:
    """A camera's tracked objects in state: `live` {event id: entry with "last"} and
    `ended` {event id: last}, both in event time.

    An entry silent for `forget` seconds of the camera's clock counts as gone whether or
    not it has been pruned yet, so decisions do not depend on where batches break;
    pruning (and the caps) happens once per batch. Ended objects are kept until
    forgotten (the newest `ended_cap`), so a re-delivered message of one is known as such.
    """

    def __init__(self, stored: State | None, forget: float, cap: int, ended_cap: int) -> None:
        self.clock: float | None = stored["clock"] if stored else None
        self.live: dict[str, dict[str, Any]] = dict(stored["live"]) if stored else {}
        self.ended: dict[str, float] = dict(stored["ended"]) if stored else {}
        self.forget = forget
        self.cap = cap
        self.ended_cap = ended_cap

    def tick(self, t: float) -> float:
        self.clock = t if self.clock is None else max(self.clock, t)
        return self.clock

    def alive(self, entry: Mapping[str, Any]) -> bool:
        return self.clock is None or self.clock - entry["last"] <= self.forget

    def known(self, event_id: str, t: float) -> tuple[bool, dict[str, Any] | None]:
        """(skip this message, the object's live entry): a message not newer than what
        the object showed, or of an ended object, is skipped."""
        ended = self.ended.get(event_id)
        if ended is not None and self.clock is not None and self.clock - ended <= self.forget:
            return True, None
        entry = self.live.get(event_id)
        if entry is None or not self.alive(entry):
            return False, None
        return t <= entry["last"], entry

    def end(self, event_id: str, t: float) -> None:
        self.live.pop(event_id, None)
        self.ended[event_id] = t

    def current(self) -> dict[str, dict[str, Any]]:
        return {k: e for k, e in self.live.items() if self.alive(e)}

    def state(self, **more: Any) -> State | None:
        """The state to store (pruned), None when nothing is left to remember."""
        clock = self.clock or 0.0
        live = _newest({k: e for k, e in self.live.items() if self.alive(e)}, self.cap)
        ended = {k: t for k, t in self.ended.items() if clock - t <= self.forget}
        if len(ended) > self.ended_cap:
            newest = sorted(ended.items(), key=lambda i: (i[1], i[0]))
            ended = dict(newest[len(newest) - self.ended_cap :])
        if not live and not ended and not any(more.values()):
            return None
        return {"clock": self.clock, "live": live, "ended": ended, **more}


def _newest(table: dict[str, dict[str, Any]], cap: int) -> dict[str, dict[str, Any]]:
    if len(table) <= cap:
        return table
    return dict(sorted(table.items(), key=lambda i: (i[1]["last"], i[0]))[-cap:])


def settle(outcome: Outcome, stored: Mapping[str, State], key: str, state: State | None) -> None:
    """Record a key's new state; None forgets it (not sent for a key never stored)."""
    if state is not None or key in stored:
        outcome.states[key] = state


def clock_after(stored: State, quiet: timedelta) -> float:
    """A tick's camera clock: the newest event time the state holds, moved on by the
    silence since (processors.detector.TimedDetector)."""
    return float(stored["clock"]) + max(0.0, quiet.total_seconds())


def unchanged(stored: State, state: State | None) -> bool:
    """A tick moved only the clock: nothing to write (the next event moves it anyway)."""
    if state is None:
        return False
    return {k: v for k, v in stored.items() if k != "clock"} == {
        k: v for k, v in state.items() if k != "clock"
    }


def ordered(signals: Iterable[Signal]) -> list[Signal]:
    return sorted(signals, key=lambda s: (s.at, s.rule, s.fingerprint, s.state))


def camera_fields(registry: Registry, camera_id: str, at: datetime) -> dict[str, Any]:
    camera = registry.camera(camera_id) or Camera(site="-")
    return {
        "camera": camera_id,
        "camera_name": camera.name or camera_id,
        "site": camera.site,
        "at": local_time(at),
    }


def make_signal(
    rule_id: str,
    spec: RuleSpec,
    registry: Registry,
    *,
    camera: str,
    labels: Mapping[str, str],
    firing: bool,
    at: datetime,
    fields: Mapping[str, Any],
    values: Mapping[str, Any],
    event_ids: Sequence[str],
    snapshot: str | None,
) -> Signal:
    """A camera rule's signal; its values carry the evidence: `event_ids`, `snapshot`."""
    text = spec.text.firing if firing else spec.text.resolved
    context = {**camera_fields(registry, camera, at), **fields}
    return Signal(
        rule=rule_id,
        domain=Domain.CAMERA,
        labels=dict(labels),
        state=SignalState.FIRING if firing else SignalState.RESOLVED,
        severity=spec.level,
        at=at,
        title_vi=render_vi(text.title_vi, context),
        title_en=render(text.title_en, context),
        summary_vi=render_vi(text.summary_vi, context),
        summary_en=render(text.summary_en, context),
        values={
            "camera": camera,
            **values,
            "event_ids": list(event_ids),
            "snapshot": snapshot,
        },
        event_ids=tuple(event_ids),
    )


class PerKeyDetector:
    """A camera detector whose batch splits into keys (a camera, a camera's alarm), each
    run on its own events in order: `_grouped` picks and splits, `_run` decides one key."""

    name: str

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(self._grouped(events))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for key, batch in self._grouped(events).items():
            state, signals = self._run(key, states.get(key), batch)
            settle(outcome, states, key, state)
            outcome.signals.extend(signals)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[CameraEvent]]:
        raise NotImplementedError

    def _run(
        self, key: str, stored: State | None, events: list[CameraEvent]
    ) -> tuple[State | None, list[Signal]]:
        raise NotImplementedError
