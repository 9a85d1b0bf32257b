"""Points and lines in a camera's frame, as fractions of its width and height.

Hand-written: two orientation tests per line and frame; a geometry library (shapely)
would build objects for each of thousands of box updates a second for the same answer.
"""

from __future__ import annotations

import math

Point = tuple[float, float]


def foot(box: tuple[float, float, float, float], width: int, height: int) -> Point:
    """Bottom centre of a box in pixels (x1, y1, x2, y2): where the object stands."""
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2 / width, y2 / height)


def cross(a: Point, b: Point, p: Point) -> float:
    """> 0 when p is right of a→b in picture coordinates (y down), < 0 left, 0 on it."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def side(a: Point, b: Point, p: Point, band: float) -> int:
    """+1 right of the line a→b, -1 left, 0 within `band` (distance) of it."""
    distance = cross(a, b, p) / math.dist(a, b)
    if abs(distance) <= band:
        return 0
    return 1 if distance > 0 else -1


def segments_cross(p: Point, q: Point, a: Point, b: Point) -> bool:
    """Whether the path p→q passes through the segment a→b (ends included)."""
    d1, d2 = cross(a, b, p), cross(a, b, q)
    d3, d4 = cross(p, q, a), cross(p, q, b)
    if (d1 > 0) == (d2 > 0) and d1 != 0 and d2 != 0:
        return False
    if d3 == 0 or d4 == 0:
        return True
    return (d3 > 0) != (d4 > 0)
