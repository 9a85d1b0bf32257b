"""Frigate-style object events: each goes new → several updates → end under one id.

Several events are in flight at once, interleaved like a busy NVR, so a consumer that
counts messages instead of events is caught out. Seeded: the same seed and the same
sequence of times give the same messages.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any, Literal

from config.secrets import MQTT_FRIGATE_USER
from simulators.fleet import Camera
from simulators.messages import FRIGATE_TOPIC, Outgoing, frigate_event_id, frigate_message

# Typical box sizes (w, h) at a 1280x720 detect resolution.
_BOX_SIZE = {"person": (55, 140), "motorcycle": (90, 110), "car": (210, 130), "truck": (360, 240)}
_ID_ALPHABET = string.ascii_lowercase + string.digits
_UPDATES = (3, 8)  # updates per event, inclusive
_STATIONARY_AFTER = 3  # Frigate's default: motionless this many updates → stationary
_MIN_REGION = 320  # Frigate crops at least the model's input size around an object
# Vietnamese plates: province code, series (A private car, C truck), 3 + 2 digits.
_PLATE_SERIES = {"car": "A", "truck": "C"}
_PROVINCE_CODES = {"Kiên Giang": 68, "An Giang": 67, "Hậu Giang": 95, "Khánh Hòa": 79}
_LOCAL_PLATES = 0.7  # share of vehicles registered in the camera's own province


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


class CameraStream:
    stream = "cameras"

    def __init__(self, cameras: tuple[Camera, ...], seed: int, max_active: int = 8) -> None:
        if not cameras:
            raise ValueError("the camera stream needs at least one camera")
        self._cameras = cameras
        self._rng = random.Random(f"cameras:{seed}")
        self._max_active = max_active
        self._active: list[_Track] = []

    def next(self, t: float) -> Outgoing:
        t = round(t, 6)  # Frigate's frame times carry microseconds, no more
        if self._should_start():
            track = self._start(t)
            self._active.append(track)
            return self._emit("new", track, t)
        track = self._rng.choice(self._active)
        if track.updates_left == 0:
            self._active.remove(track)
            return self._emit("end", track, t)
        track.updates_left -= 1
        self._move(track, t)
        return self._emit("update", track, t)

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
        suffix = "".join(rng.choices(_ID_ALPHABET, k=6))
        track = _Track(
            camera=camera,
            event_id=frigate_event_id(t, suffix),
            label=label,
            start=t,
            box=[x1, y1, x1 + w, y1 + h],
            velocity=speed,
            updates_left=rng.randint(*_UPDATES),
        )
        self._score(track, t)
        if track.camera.lpr and label in _PLATE_SERIES:
            track.plate = self._plate(track.camera, _PLATE_SERIES[label])
        return track

    def _plate(self, camera: Camera, series: str) -> str:
        rng = self._rng
        # Plates keep the code of the province that registered them, before the merger.
        local = _PROVINCE_CODES.get(camera.former_province or camera.province)
        codes = sorted(_PROVINCE_CODES.values())
        code = local if local and rng.random() < _LOCAL_PLATES else rng.choice(codes)
        return f"{code}{series}-{rng.randint(100, 999)}.{rng.randint(0, 99):02d}"

    def _score(self, track: _Track, t: float) -> None:
        track.score = round(min(0.97, max(0.5, self._rng.gauss(0.78, 0.07))), 3)
        if track.score > track.top_score:
            track.top_score = track.score
            track.snapshot_time = t  # Frigate keeps the best-scoring frame as snapshot

    def _move(self, track: _Track, t: float) -> None:
        dx, dy = track.velocity
        width, height = track.camera.frame
        dx = max(-track.box[0], min(dx, width - track.box[2]))
        dy = max(-track.box[1], min(dy, height - track.box[3]))
        if abs(dx) < 1 and abs(dy) < 1:
            track.motionless += 1
        else:
            track.motionless = 0
            track.position_changes += 1
            track.box = [track.box[0] + dx, track.box[1] + dy, track.box[2] + dx, track.box[3] + dy]
        self._score(track, t)

    def _zones(self, track: _Track) -> list[str]:
        width, height = track.camera.frame
        x1, _, x2, y2 = track.box
        foot_x, foot_y = (x1 + x2) / 2 / width, min(y2 / height, 0.999)
        return [z.name for z in track.camera.zones if z.contains(foot_x, foot_y)]

    def _after(self, track: _Track, t: float, ended: bool) -> dict[str, Any]:
        box = [round(v) for v in track.box]
        w, h = box[2] - box[0], box[3] - box[1]
        current = self._zones(track)
        track.entered.extend(z for z in current if z not in track.entered)
        # LPR reads the plate after the first frames: from the first update on.
        plate = track.plate if track.plate and track.last else None
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
            "recognized_license_plate_score": round(0.85 + track.top_score / 10, 3)
            if plate
            else None,
        }

    def _emit(self, kind: Literal["new", "update", "end"], track: _Track, t: float) -> Outgoing:
        after = self._after(track, t, ended=kind == "end")
        # Frigate's "new" carries the same object state in before and after.
        before = after if kind == "new" else track.last
        track.last = after
        return Outgoing(
            stream=self.stream,
            transport="mqtt",
            topic=FRIGATE_TOPIC,
            payload=frigate_message(kind, before, after),
            sender=MQTT_FRIGATE_USER,
        )


def _region(box: list[int], frame: tuple[int, int]) -> list[int]:
    """The square crop around the box that the detector looked at, kept in the frame."""
    width, height = frame
    side = min(max(_MIN_REGION, int(max(box[2] - box[0], box[3] - box[1]) * 1.2)), height)
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    x1 = min(max(0, cx - side // 2), width - side)
    y1 = min(max(0, cy - side // 2), height - side)
    return [x1, y1, x1 + side, y1 + side]
