"""Frigate-style object events: each goes new → several updates → end under one id.

Several events are in flight at once, interleaved like a busy NVR, so a consumer that
counts messages instead of events is caught out. On cameras with counting lines half of
the moving objects cross one, either way. Each event also opens and closes a review item
(`frigate/reviews`). Seeded: the same seed and the same sequence of times give the same
messages. `scripted_messages` gives one object on a set path, for scenarios and tests.
"""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from config.secrets import MQTT_FRIGATE_USER
from simulators.fleet import Camera, Line
from simulators.messages import (
    FRIGATE_REVIEWS_TOPIC,
    FRIGATE_TOPIC,
    Outgoing,
    frigate_event_id,
    frigate_message,
)

# Typical box sizes (w, h) at a 1280x720 detect resolution.
_BOX_SIZE = {"person": (55, 140), "motorcycle": (90, 110), "car": (210, 130), "truck": (360, 240)}
Kind = Literal["new", "update", "end"]
_ID_ALPHABET = string.ascii_lowercase + string.digits
_UPDATES = (3, 8)  # updates per event, inclusive
_STATIONARY_AFTER = 3  # Frigate's default: motionless this many updates → stationary
_MIN_REGION = 320  # Frigate crops at least the model's input size around an object
# Vietnamese plates: province code, series (A private car, C truck), 3 + 2 digits.
_PLATE_SERIES = {"car": "A", "truck": "C"}
_PROVINCE_CODES = {"Kiên Giang": 68, "An Giang": 67, "Hậu Giang": 95, "Khánh Hòa": 79}
_LOCAL_PLATES = 0.7  # share of vehicles registered in the camera's own province
# Share of moving objects, on a camera with counting lines, that cross one of them.
_CROSSING_SHARE = 0.5
_ALERT_LABELS = frozenset({"person", "car", "motorcycle", "truck", "bus", "bicycle"})


@dataclass
class _Track:
    camera: Camera
    event_id: str
    label: str
    start: float
    box: list[float]
    velocity: tuple[float, float]
    updates_left: int
    score: float = 0.0
    top_score: float = 0.0
    snapshot_time: float = 0.0
    motionless: int = 0
    position_changes: int = 0
    entered: list[str] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    plate: str | None = None  # what LPR will read, once it has seen the plate
    plate_score: float | None = None  # None: from the object's score


class CameraStream:
    stream = "cameras"

    def __init__(
        self, cameras: tuple[Camera, ...], seed: int, max_active: int = 8, reviews: bool = False
    ) -> None:
        cameras = tuple(c for c in cameras if c.source == "frigate")
        if not cameras:
            raise ValueError("the camera stream needs at least one Frigate camera")
        self._cameras = cameras
        self._rng = random.Random(f"cameras:{seed}")
        self._max_active = max_active
        self._active: list[_Track] = []
        # Review items go out beside the events that open and close them.
        self._reviews = reviews
        self._queue: list[Outgoing] = []

    def next(self, t: float) -> Outgoing:
        t = round(t, 6)  # Frigate's frame times carry microseconds, no more
        if self._queue:
            return self._queue.pop(0)
        if self._should_start():
            track = self._start(t)
            self._active.append(track)
            self._review("new", track, t)
            return emit("new", track, t)
        track = self._rng.choice(self._active)
        if track.updates_left == 0:
            self._active.remove(track)
            self._review("end", track, t)
            return emit("end", track, t)
        track.updates_left -= 1
        _move(track)
        self._score(track, t)
        return emit("update", track, t)

    def _review(self, kind: Kind, track: _Track, t: float) -> None:
        if self._reviews:
            self._queue.append(review_message(kind, track, t))

    def _should_start(self) -> bool:
        if not self._active:
            return True
        return len(self._active) < self._max_active and self._rng.random() < 0.25

    def _start(self, t: float) -> _Track:
        rng = self._rng
        camera = rng.choice(self._cameras)
        labels, weights = zip(*camera.labels.items(), strict=True)
        label = rng.choices(labels, weights)[0]
        width, height = camera.frame
        w, h = (size * rng.uniform(0.8, 1.25) for size in _BOX_SIZE.get(label, (100, 100)))
        x1 = rng.uniform(0, width - w)
        y1 = rng.uniform(height * 0.2, height - h)
        parked = rng.random() < 0.2  # a truck waiting at inspection, a person queueing
        speed = (0.0, 0.0) if parked else (rng.uniform(-40, 40), rng.uniform(-15, 25))
        updates = rng.randint(*_UPDATES)
        if camera.lines and not parked and rng.random() < _CROSSING_SHARE:
            x1, y1, speed = self._across(camera, rng.choice(camera.lines), (w, h), updates)
        suffix = "".join(rng.choices(_ID_ALPHABET, k=6))
        track = _Track(
            camera=camera,
            event_id=frigate_event_id(t, suffix),
            label=label,
            start=t,
            box=[x1, y1, x1 + w, y1 + h],
            velocity=speed,
            updates_left=updates,
        )
        self._score(track, t)
        if track.camera.lpr and label in _PLATE_SERIES:
            track.plate = self._plate(track.camera, _PLATE_SERIES[label])
        return track

    def _across(
        self, camera: Camera, line: Line, size: tuple[float, float], updates: int
    ) -> tuple[float, float, tuple[float, float]]:
        """A start and a velocity that carry the box's bottom centre across `line`
        about halfway through the track, in either direction."""
        rng = self._rng
        width, height = camera.frame
        (ax, ay), (bx, by) = line.p1, line.p2
        u = rng.uniform(0.25, 0.75)
        cross = ((ax + (bx - ax) * u) * width, (ay + (by - ay) * u) * height)
        normal = (-(by - ay) * height, (bx - ax) * width)
        length = math.hypot(*normal) or 1.0
        side = rng.choice((-1.0, 1.0))
        step = rng.uniform(18, 35)
        velocity = (-side * normal[0] / length * step, -side * normal[1] / length * step)
        before = updates / 2
        foot = (cross[0] - velocity[0] * before, cross[1] - velocity[1] * before)
        w, h = size
        x1 = min(max(0.0, foot[0] - w / 2), width - w)
        y1 = min(max(0.0, foot[1] - h), height - h)
        return x1, y1, velocity

    def _plate(self, camera: Camera, series: str) -> str:
        rng = self._rng
        # Plates keep the code of the province that registered them, before the merger.
        local = _PROVINCE_CODES.get(camera.former_province or camera.province)
        codes = sorted(_PROVINCE_CODES.values())
        code = local if local and rng.random() < _LOCAL_PLATES else rng.choice(codes)
        return f"{code}{series}-{rng.randint(100, 999)}.{rng.randint(0, 99):02d}"

    def _score(self, track: _Track, t: float) -> None:
        score = round(min(0.97, max(0.5, self._rng.gauss(0.78, 0.07))), 3)
        _rescore(track, score, t)


def _rescore(track: _Track, score: float, t: float) -> None:
    track.score = score
    if score > track.top_score:
        track.top_score = score
        track.snapshot_time = t  # Frigate keeps the best-scoring frame as snapshot


def _move(track: _Track) -> None:
    """One step at the track's velocity; the box stays inside the frame (a leaving
    object stops at the edge, as Frigate clips it)."""
    dx, dy = track.velocity
    width, height = track.camera.frame
    dx = max(-track.box[0], min(dx, width - track.box[2]))
    dy = max(-track.box[1], min(dy, height - track.box[3]))
    _shift(track, dx, dy)


def _shift(track: _Track, dx: float, dy: float) -> None:
    if abs(dx) < 1 and abs(dy) < 1:
        track.motionless += 1
    else:
        track.motionless = 0
        track.position_changes += 1
        track.box = [track.box[0] + dx, track.box[1] + dy, track.box[2] + dx, track.box[3] + dy]


def _zones(track: _Track) -> list[str]:
    width, height = track.camera.frame
    x1, _, x2, y2 = track.box
    foot_x, foot_y = (x1 + x2) / 2 / width, min(y2 / height, 0.999)
    return [z.name for z in track.camera.zones if z.contains(foot_x, foot_y)]


def _after(track: _Track, t: float, ended: bool) -> dict[str, Any]:
    box = [round(v) for v in track.box]
    w, h = box[2] - box[0], box[3] - box[1]
    current = _zones(track)
    track.entered.extend(z for z in current if z not in track.entered)
    # LPR reads the plate after the first frames: from the first update on.
    plate = track.plate if track.plate and track.last else None
    plate_score = track.plate_score or round(0.85 + track.top_score / 10, 3)
    return {
        "id": track.event_id,
        "camera": track.camera.name,
        "frame_time": t,
        "snapshot_time": track.snapshot_time,
        "label": track.label,
        "sub_label": None,
        "top_score": track.top_score,
        "false_positive": False,
        "start_time": track.start,
        "end_time": t if ended else None,
        "score": track.score,
        "box": box,
        "area": w * h,
        "ratio": round(w / h, 3),
        "region": _region(box, track.camera.frame),
        "stationary": track.motionless >= _STATIONARY_AFTER,
        "motionless_count": track.motionless,
        "position_changes": track.position_changes,
        "current_zones": current,
        "entered_zones": list(track.entered),
        "has_clip": True,
        "has_snapshot": True,
        "attributes": {},
        "current_attributes": [],
        "recognized_license_plate": plate,
        "recognized_license_plate_score": plate_score if plate else None,
    }


def emit(kind: Kind, track: _Track, t: float) -> Outgoing:
    after = _after(track, t, ended=kind == "end")
    # Frigate's "new" carries the same object state in before and after.
    before = after if kind == "new" else track.last
    track.last = after
    return Outgoing(
        stream="cameras",
        transport="mqtt",
        topic=FRIGATE_TOPIC,
        payload=frigate_message(kind, before, after),
        sender=MQTT_FRIGATE_USER,
    )


def review_message(kind: Kind, track: _Track, t: float) -> Outgoing:
    """The review item Frigate (0.14+) opens for a tracked object: an `alert` when a
    person or vehicle is in a zone, else a `detection`; one review per event here."""
    zones = list(track.entered) or _zones(track)
    severity = "alert" if zones and track.label in _ALERT_LABELS else "detection"
    review_id = f"{track.start:.6f}-r{track.event_id[-5:]}"
    after = {
        "id": review_id,
        "camera": track.camera.name,
        "start_time": track.start,
        "end_time": t if kind == "end" else None,
        "severity": severity,
        "thumb_path": f"/media/frigate/clips/review/thumb-{track.camera.name}-{review_id}.webp",
        "data": {
            "detections": [track.event_id],
            "objects": [track.label],
            "sub_labels": [],
            "zones": zones,
            "audio": [],
        },
    }
    before = dict(after, end_time=None)
    return Outgoing(
        stream="cameras",
        transport="mqtt",
        topic=FRIGATE_REVIEWS_TOPIC,
        payload=orjson.dumps({"type": kind, "before": before, "after": after}),
        sender=MQTT_FRIGATE_USER,
    )


@dataclass(frozen=True)
class ScriptedTrack:
    """One tracked object on a set path: what a scenario or a test needs to know
    exactly. `path` is the bottom centre of its box, as fractions of the frame, for
    each message in turn: `new`, the updates, `end` (so at least two points). Equal
    points in a row make the object motionless, and stationary after three."""

    camera: Camera
    label: str
    start: float  # epoch seconds of `new`
    path: tuple[tuple[float, float], ...]
    every: float = 1.0  # seconds between messages
    suffix: str = "scn001"
    score: float = 0.82
    plate: str | None = None  # what LPR reads, from the first update on
    plate_score: float | None = None
    review: bool = False  # also open and close a review item


def scripted_messages(spec: ScriptedTrack) -> list[tuple[float, Outgoing]]:
    """The track's messages with their frame times (seconds after the epoch)."""
    if len(spec.path) < 2:
        raise ValueError("a tracked object needs at least a new and an end position")
    width, height = spec.camera.frame
    w, h = _BOX_SIZE.get(spec.label, (100, 100))

    def box(point: tuple[float, float]) -> list[float]:
        foot_x = min(max(point[0] * width, w / 2), width - w / 2)
        foot_y = min(max(point[1] * height, h), height)
        return [foot_x - w / 2, foot_y - h, foot_x + w / 2, foot_y]

    track = _Track(
        camera=spec.camera,
        event_id=frigate_event_id(spec.start, spec.suffix),
        label=spec.label,
        start=round(spec.start, 6),
        box=box(spec.path[0]),
        velocity=(0.0, 0.0),
        updates_left=len(spec.path) - 2,
        plate=spec.plate,
        plate_score=spec.plate_score,
    )
    out: list[tuple[float, Outgoing]] = []
    last = len(spec.path) - 1
    for i, point in enumerate(spec.path):
        t = round(spec.start + i * spec.every, 6)
        if i:
            target = box(point)
            _shift(track, target[0] - track.box[0], target[1] - track.box[1])
        _rescore(track, spec.score, t)
        kind: Kind = "new" if i == 0 else "end" if i == last else "update"
        out.append((t, emit(kind, track, t)))
        if spec.review and kind in ("new", "end"):
            out.append((t, review_message(kind, track, t)))
    return out


def _region(box: list[int], frame: tuple[int, int]) -> list[int]:
    """The square crop around the box that the detector looked at, kept in the frame."""
    width, height = frame
    side = min(max(_MIN_REGION, int(max(box[2] - box[0], box[3] - box[1]) * 1.2)), height)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    x1 = min(max(0, cx - side // 2), width - side)
    y1 = min(max(0, cy - side // 2), height - side)
    return [x1, y1, x1 + side, y1 + side]
