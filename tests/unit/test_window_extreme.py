"""The rate-of-change window's running extreme (checks.WindowExtreme) against the plain
definition: sort the window, take the extreme of the earlier points."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from processors.environment.checks import Point, WindowExtreme, trim_window

T0 = datetime(2026, 10, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def _brute(points: list[Point], lowest: bool) -> list[Point | None]:
    answers: list[Point | None] = []
    for i in range(len(points)):
        earlier = trim_window(points[: i + 1], WINDOW)[:-1]
        pick = min if lowest else max
        answers.append(pick(earlier, key=lambda p: p[1]) if earlier else None)
    return answers


series = st.lists(
    st.tuples(st.integers(1, 240), st.floats(-5, 5, allow_nan=False)), min_size=1, max_size=80
)


@given(series, st.booleans(), st.integers(0, 80))
def test_same_extreme_as_sorting_the_window(steps, lowest, cut) -> None:
    points, t = [], T0
    for gap_s, value in steps:
        t += timedelta(seconds=gap_s)
        points.append((t, value))
    # A batch boundary anywhere (the state saved and loaded) changes nothing.
    first = WindowExtreme(WINDOW, lowest)
    got = [first.push(p) for p in points[:cut]]
    second = WindowExtreme(WINDOW, lowest, first.points())
    got += [second.push(p) for p in points[cut:]]
    want = _brute(points, lowest)
    assert [g[1] if g else None for g in got] == [w[1] if w else None for w in want]


def test_state_is_what_can_still_be_the_lowest() -> None:
    """A gauge read every 10 s over a tide: while the water falls the stored state is a
    point or two (the old state held the whole hour, 360 readings); while it climbs
    without a dip it holds the climb, never more than the window."""
    extremes, sizes = WindowExtreme(timedelta(hours=1), lowest=True), []
    for i in range(4_470):  # one 12.4 h tidal cycle
        value = 1.2 + 0.8 * math.sin(i * 10 / 44_700 * 2 * math.pi)
        extremes.push((T0 + timedelta(seconds=10 * i), value))
        sizes.append(len(extremes.points()))
    falling = sizes[1_480:3_350]  # from an hour after high water to low water
    assert max(falling) <= 2
    assert max(sizes) <= 361
