"""Sensor-health and trend checks: physical range, rate of change, stuck value.

Pure functions over (time, value) points, plus small serialisable states for a worker
that sees one reading at a time. Rules are data (alarm_levels.yaml, `checks:`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from events.metrics import MetricRegistry, get_registry

from .levels import RateRule, StuckRule

Point = tuple[datetime, float]


def _rounded(difference: float) -> float:
    # Differences of decimal readings carry float noise (1.02 - 1.00 = 0.020000000000000018);
    # without this a change exactly equal to a configured amount would depend on it.
    return round(difference, 9)


# ---- physical range -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RangeViolation:
    metric: str
    value: float
    minimum: float
    maximum: float


def check_range(
    metric: str, value: float, registry: MetricRegistry | None = None
) -> RangeViolation | None:
    """Outside what the instrument can physically report (events/metrics.yaml ranges).

    Ingest already stores such readings as BAD; this turns them into something an
    operator sees ("sensor broken") instead of a silent gap in the AQI.
    """
    spec = (registry or get_registry()).resolve(metric)
    if math.isfinite(value) and spec.minimum <= value <= spec.maximum:
        return None
    return RangeViolation(spec.name, value, spec.minimum, spec.maximum)


# ---- rate of change -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateOfChange:
    start_time: datetime
    start_value: float
    end_time: datetime
    end_value: float
    change: float
    window: timedelta


def trim_window(points: Iterable[Point], window: timedelta) -> list[Point]:
    """The points within `window` of the newest one, sorted: what a worker keeps."""
    ordered = sorted(points)
    if not ordered:
        return []
    start = ordered[-1][0] - window
    return [p for p in ordered if p[0] >= start]


class WindowExtreme:
    """The lowest (or highest) of the points within `window` before the newest one, kept
    as a monotonic queue: a point is added once and dropped once, so a reading costs O(1)
    amortised instead of a sort and a scan of the whole window, and the state holds only
    the points that can still be the extreme (for a rise: an hour into a falling tide, one
    point; a climb keeps its rising points, at most the window). Points must be pushed in
    time order."""

    def __init__(self, window: timedelta, lowest: bool, points: Iterable[Point] = ()) -> None:
        self.window = window
        self.lowest = lowest
        self._queue: deque[Point] = deque()
        for point in points:
            self.push(point)

    @property
    def newest(self) -> Point | None:
        return self._queue[-1] if self._queue else None

    def points(self) -> list[Point]:
        return list(self._queue)

    def push(self, point: Point) -> Point | None:
        """Adds the newest point; answers the extreme of the earlier points within the
        window of it, or None when none is left."""
        time, value = point
        queue = self._queue
        while queue and queue[0][0] < time - self.window:
            queue.popleft()
        extreme = queue[0] if queue else None
        # An older point no better than this one can never be the extreme again.
        while queue and (queue[-1][1] >= value if self.lowest else queue[-1][1] <= value):
            queue.pop()
        queue.append(point)
        return extreme


def rate_of_change(points: Iterable[Point], rule: RateRule) -> RateOfChange | None:
    """A rise (rule.change > 0) or fall (< 0) of at least |change| ending at the newest
    point and starting within rule.window before it; compared with the extreme in the
    window so a steady climb is caught even if no single step is large."""
    window = trim_window(points, rule.window)
    if len(window) < 2:
        return None
    end_time, end_value = window[-1]
    pick = min if rule.change > 0 else max
    start_time, start_value = pick(window[:-1], key=lambda p: p[1])
    change = _rounded(end_value - start_value)
    if (rule.change > 0 and change >= rule.change) or (rule.change < 0 and change <= rule.change):
        return RateOfChange(start_time, start_value, end_time, end_value, change, rule.window)
    return None


# ---- stuck value ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StuckState:
    """The current run of (nearly) identical values: its first value and time span."""

    value: float | None = None
    since: datetime | None = None
    last_time: datetime | None = None

    @property
    def duration(self) -> timedelta:
        if self.since is None or self.last_time is None:
            return timedelta(0)
        return self.last_time - self.since

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "since": self.since and self.since.isoformat(),
            "last_time": self.last_time and self.last_time.isoformat(),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StuckState:
        def parse(t: str | None) -> datetime | None:
            return None if t is None else datetime.fromisoformat(t)

        return cls(doc.get("value"), parse(doc.get("since")), parse(doc.get("last_time")))


def update_stuck(state: StuckState, value: float, time: datetime, rule: StuckRule) -> StuckState:
    # Compared with the run's FIRST value, not the previous one, so a slow drift smaller
    # than the tolerance per step still ends the run.
    if state.last_time is not None and time <= state.last_time:
        return state
    if state.value is None or _rounded(abs(value - state.value)) > rule.tolerance:
        return StuckState(value, time, time)
    return StuckState(state.value, state.since, time)


def is_stuck(state: StuckState, rule: StuckRule) -> bool:
    return state.since is not None and state.duration >= rule.duration


def stuck_value(points: Sequence[Point], rule: StuckRule) -> StuckState | None:
    """The run the series ends in, if it has lasted rule.duration or longer."""
    state = StuckState()
    for time, value in sorted(points):
        state = update_stuck(state, value, time, rule)
    return state if is_stuck(state, rule) else None
