"""ONVIF rule events as a VMS relays them: one JSON object per NotificationMessage on
Kafka topic `camera.onvif` (the shape ingest/formats/onvif.py reads, ONVIF's own names),
keyed by camera so one camera's events stay in order on one partition."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from simulators.fleet import Camera
from simulators.messages import KAFKA_ONVIF_TOPIC, Outgoing

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
FIELD = "tns1:RuleEngine/FieldDetector/ObjectsInside"
LINE = "tns1:RuleEngine/LineDetector/Crossed"
TAMPER = "tns1:RuleEngine/TamperDetector/Tamper"
# ONVIF's analytics class names (tt:ClassType) by the rules' classes.
CLASS_TYPES = {"person": "Human", "car": "Vehicle", "truck": "Vehicle", "motorcycle": "Vehicle"}


@dataclass(frozen=True)
class OnvifEvent:
    camera: Camera
    when: datetime
    topic: str
    rule: str | None = None  # source Rule: the zone or line rule's name
    data: dict[str, Any] = field(default_factory=dict)
    operation: str = "Changed"


def onvif_json(event: OnvifEvent) -> bytes:
    source: dict[str, str] = {
        "VideoSourceConfigurationToken": f"vsc_{event.camera.channel}",
        "VideoAnalyticsConfigurationToken": f"vac_{event.camera.channel}",
    }
    if event.rule:
        source["Rule"] = event.rule
    body = {
        "camera": event.camera.name,
        "topic": event.topic,
        "utc_time": event.when.astimezone(UTC).isoformat(timespec="milliseconds"),
        "property_operation": event.operation,
        "source": source,
        "data": event.data,
    }
    return orjson.dumps(body)


def message(event: OnvifEvent) -> Outgoing:
    return Outgoing(
        stream="cameras",  # one progress row for every camera source
        transport="kafka",
        topic=KAFKA_ONVIF_TOPIC,
        payload=onvif_json(event),
        key=event.camera.name.encode(),
    )


class OnvifStream:
    """The fleet's ONVIF cameras: line crossings on their lines (in and out), field
    detector enter/leave pairs in their zones, motion; seeded."""

    stream = "cameras"

    def __init__(self, cameras: tuple[Camera, ...], seed: int) -> None:
        self._cameras = tuple(c for c in cameras if c.source == "onvif")
        if not self._cameras:
            raise ValueError("the ONVIF stream needs at least one ONVIF camera")
        self._rng = random.Random(f"onvif:{seed}")
        self._inside: list[tuple[Camera, str, str]] = []  # objects that must leave again
        self._object = 0

    def next(self, t: float) -> Outgoing:
        rng = self._rng
        when = datetime.fromtimestamp(round(t, 3), UTC)
        if self._inside and rng.random() < 0.5:
            camera, zone, object_id = self._inside.pop(0)
            data = {"IsInside": False, "ObjectId": object_id}
            return message(OnvifEvent(camera, when, FIELD, _rule(camera, "zone", zone), data))
        camera = rng.choice(self._cameras)
        labels, weights = zip(*camera.labels.items(), strict=True)
        label = rng.choices(labels, weights)[0]
        kind = rng.choices(("line", "field", "motion"), (6, 1, 1))[0]
        self._object += 1
        object_id = str(self._object)
        if kind == "line" and camera.lines:
            line = rng.choice(camera.lines)
            data = {"ObjectId": object_id, "ClassTypes": CLASS_TYPES.get(label, "Other")}
            return message(OnvifEvent(camera, when, LINE, _rule(camera, "line", line.name), data))
        if kind == "field" and camera.zones:
            zone = rng.choice(camera.zones).name
            self._inside.append((camera, zone, object_id))
            data = {"IsInside": True, "ObjectId": object_id, "ClassTypes": CLASS_TYPES[label]}
            return message(OnvifEvent(camera, when, FIELD, _rule(camera, "zone", zone), data))
        return message(OnvifEvent(camera, when, MOTION, "MyMotionDetectorRule", {"IsMotion": True}))


def _rule(camera: Camera, kind: str, name: str) -> str:
    """The VMS's rule name: FieldDetector1, LineDetector1, … in the camera's order."""
    if kind == "line":
        index = [line.name for line in camera.lines].index(name) + 1
        return f"LineDetector{index}"
    index = [zone.name for zone in camera.zones].index(name) + 1
    return f"FieldDetector{index}"
