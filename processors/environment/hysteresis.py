"""A level machine with hysteresis: (spec, state, value, time) -> (state, transition).

One state per entity and detector, hence one alert identity (`alert_key`) that is raised,
escalated, de-escalated and resolved; every transition names its from- and to-level so an
alert manager can update one alert instead of opening a new one per level.

Rules (see alarm_levels.yaml):
- escalate to the highest level whose threshold the value has reached, continuously for
  the spec's `hold` if one is set (a dip below the threshold restarts that clock, as a
  Prometheus `for:` does);
- leave the current level only when the value is below its threshold minus `margin`
  (or the level's own margin: a rule pack's separate `clear:` line), for `clear_hold`
  if set, landing on the highest lower level the value is still
  within margin of, or resolving if there is none. Noise smaller than the margin around
  a line therefore cannot flap the alert.

State is a plain dataclass with to_dict()/from_dict() so a worker can persist it (and
later share it through the database) and resume after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal

from .levels import LevelSpec

TransitionKind = Literal["raise", "escalate", "deescalate", "resolve"]


class StaleStateError(ValueError):
    """A restored state names a level its spec no longer has."""


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _parse(t: str | None) -> datetime | None:
    return None if t is None else datetime.fromisoformat(t)


@dataclass(frozen=True, slots=True)
class LevelState:
    entity: str
    detector: str
    level: str | None = None  # None: normal, no alert open
    since: datetime | None = None  # when the current level was entered
    episode_start: datetime | None = None  # when the open alert was raised
    last_time: datetime | None = None
    last_value: float | None = None
    # Levels above the current one the value is at or over, and since when (for `hold`).
    arming: dict[str, datetime] = field(default_factory=dict)
    # Since when the value has been below the current level's exit line (for `clear_hold`).
    clearing_since: datetime | None = None

    @property
    def alert_key(self) -> str:
        return f"{self.detector}:{self.entity}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "detector": self.detector,
            "level": self.level,
            "since": _iso(self.since),
            "episode_start": _iso(self.episode_start),
            "last_time": _iso(self.last_time),
            "last_value": self.last_value,
            "arming": {k: t.isoformat() for k, t in self.arming.items()},
            "clearing_since": _iso(self.clearing_since),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LevelState:
        return cls(
            entity=doc["entity"],
            detector=doc["detector"],
            level=doc.get("level"),
            since=_parse(doc.get("since")),
            episode_start=_parse(doc.get("episode_start")),
            last_time=_parse(doc.get("last_time")),
            last_value=doc.get("last_value"),
            arming={k: datetime.fromisoformat(t) for k, t in (doc.get("arming") or {}).items()},
            clearing_since=_parse(doc.get("clearing_since")),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    alert_key: str
    entity: str
    detector: str
    kind: TransitionKind
    from_level: str | None
    to_level: str | None
    from_rank: int  # 0 = normal; lets an alert manager map levels onto severities
    to_rank: int
    time: datetime
    value: float
    threshold: float  # the line that was crossed (exit line when going down)
    episode_start: datetime | None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["time"] = self.time.isoformat()
        out["episode_start"] = _iso(self.episode_start)
        return out


def _line(value: float) -> float:
    # 3.5 - 0.05 is 3.4499999999999997 in floats; a reading of exactly 3.45 must compare
    # with the line as configured, not with float noise.
    return round(value, 9)


def _arming(
    spec: LevelSpec, state: LevelState, value: float, time: datetime
) -> dict[str, datetime]:
    current = spec.rank(state.level)
    # Built from the spec's levels, so timers of levels removed from the spec drop out.
    return {
        lvl.key: state.arming.get(lvl.key, time)
        for lvl in spec.levels[current:]
        if value >= lvl.threshold
    }


def _escalation_target(spec: LevelSpec, arming: dict[str, datetime], time: datetime) -> str | None:
    held = [key for key, since in arming.items() if time - since >= spec.hold]
    return max(held, key=spec.rank, default=None)


def _landing(spec: LevelSpec, below_rank: int, value: float) -> str | None:
    """Highest level under `below_rank` whose threshold the value is still within margin of."""
    for lvl in reversed(spec.levels[: below_rank - 1]):
        if value >= _line(spec.exit_line(lvl.key)):
            return lvl.key
    return None


def _transition(
    spec: LevelSpec, state: LevelState, to: str | None, value: float, time: datetime, line: float
) -> Transition:
    from_rank, to_rank = spec.rank(state.level), spec.rank(to)
    if from_rank == 0:
        kind: TransitionKind = "raise"
    elif to_rank == 0:
        kind = "resolve"
    else:
        kind = "escalate" if to_rank > from_rank else "deescalate"
    return Transition(
        alert_key=state.alert_key,
        entity=state.entity,
        detector=state.detector,
        kind=kind,
        from_level=state.level,
        to_level=to,
        from_rank=from_rank,
        to_rank=to_rank,
        time=time,
        value=value,
        threshold=line,
        episode_start=time if kind == "raise" else state.episode_start,
    )


def step(
    spec: LevelSpec, state: LevelState, value: float, time: datetime
) -> tuple[LevelState, Transition | None]:
    """Feed one reading; returns the new state and the transition it caused, if any.

    Readings not newer than the last one are ignored (replays, out-of-order delivery) so
    that a late point cannot undo a decision taken on newer data.
    """
    if state.last_time is not None and time <= state.last_time:
        return state, None
    if state.level is not None and state.level not in spec.keys:
        # The station's levels were edited under an open alert; guessing a mapping could
        # leave the alert open forever, so the worker must resolve it and start afresh.
        raise StaleStateError(f"{state.alert_key}: level {state.level!r} is no longer defined")
    arming = _arming(spec, state, value, time)
    target = _escalation_target(spec, arming, time)
    if target is not None:
        seen = _seen(state, value, time, arming, state.clearing_since)
        return _move(spec, seen, target, value, time, spec.level(target).threshold)
    if state.level is None:
        return _seen(state, value, time, arming, state.clearing_since), None
    exit_line = _line(spec.exit_line(state.level))
    if value >= exit_line:
        return _seen(state, value, time, arming, None), None
    clearing = state.clearing_since or time
    if time - clearing < spec.clear_hold:
        return _seen(state, value, time, arming, clearing), None
    landing = _landing(spec, spec.rank(state.level), value)
    seen = _seen(state, value, time, arming, state.clearing_since)
    return _move(spec, seen, landing, value, time, exit_line)


def _seen(
    state: LevelState,
    value: float,
    time: datetime,
    arming: dict[str, datetime],
    clearing_since: datetime | None,
) -> LevelState:
    """`state` with this reading taken in, at the same level. Built directly: this runs
    once per reading per level rule, and dataclasses.replace(), which inspects the fields
    on every call, was a fifth of the environment detector's time."""
    return LevelState(
        entity=state.entity,
        detector=state.detector,
        level=state.level,
        since=state.since,
        episode_start=state.episode_start,
        last_time=time,
        last_value=value,
        arming=arming,
        clearing_since=clearing_since,
    )


def _move(
    spec: LevelSpec, state: LevelState, to: str | None, value: float, time: datetime, line: float
) -> tuple[LevelState, Transition]:
    transition = _transition(spec, state, to, value, time, line)
    rank = spec.rank(to)
    new = replace(
        state,
        level=to,
        since=time if to is not None else None,
        episode_start=transition.episode_start if to is not None else None,
        arming={k: t for k, t in state.arming.items() if spec.rank(k) > rank},
        clearing_since=None,
    )
    return new, transition


def run(
    spec: LevelSpec, state: LevelState, points: list[tuple[datetime, float]]
) -> tuple[LevelState, list[Transition]]:
    """step() over a series; convenient for back-filling and for tests."""
    transitions = []
    for time, value in points:
        state, transition = step(spec, state, value, time)
        if transition is not None:
            transitions.append(transition)
    return state, transitions
