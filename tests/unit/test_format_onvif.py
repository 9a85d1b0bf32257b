"""ONVIF RuleEngine events as JSON on camera.onvif -> CameraEvent (ingest/formats/onvif.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.models import CameraEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"


def message(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((DATA / "onvif_field_detector.json").read_bytes())
    doc.update(changes)
    return doc


def decode(doc: Any, offset: int = 7) -> CameraEvent:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    msg = RawMessage("kafka", "camera.onvif", raw, partition=0, offset=offset)
    (event,) = get_decoder("onvif")(msg)
    assert isinstance(event, CameraEvent)
    return event


def test_field_detector_sample() -> None:
    event = decode(message())
    assert (event.source, event.camera, event.event_type, event.state) == (
        "onvif", "kh-camranh-cam04", "intrusion", "active",
    )  # fmt: skip
    assert (event.zones, event.label) == (("cong_cang",), "person")
    when = datetime(2026, 11, 24, 15, 2, 11, 250000, tzinfo=UTC)
    assert event.time == event.frame_time == when
    assert event.attributes["topic"] == "tns1:RuleEngine/FieldDetector/ObjectsInside"
    assert event.attributes["data"]["ObjectId"] == "17"


@pytest.mark.parametrize(
    ("topic", "data", "expected"),
    [
        ("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": True}, ("motion", "active")),
        (
            "tns1:RuleEngine/CellMotionDetector/Motion",
            {"IsMotion": "false"},
            ("motion", "inactive"),
        ),
        ("tns1:VideoSource/MotionAlarm", {"State": "true"}, ("motion", "active")),
        (
            "tns1:RuleEngine/FieldDetector/ObjectsInside",
            {"IsInside": False},
            ("intrusion", "inactive"),
        ),
        ("tns1:RuleEngine/LineDetector/Crossed", {"ObjectId": "4"}, ("line_crossing", "active")),
        ("tns1:RuleEngine/TamperDetector/Tamper", {"IsTamper": True}, ("tamper", "active")),
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            {"State": True},
            ("tamper", "active"),
        ),
        ("tns1:VideoSource/SignalLoss", {"State": True}, ("video_loss", "active")),
        ("RuleEngine/LineDetector/Crossed", {}, ("line_crossing", "active")),
        ("ns2:RuleEngine/LineDetector/Crossed", {}, ("line_crossing", "active")),
    ],
)
def test_topics(topic: str, data: dict[str, Any], expected: tuple[str, str]) -> None:
    event = decode(message(topic=topic, data=data))
    assert (event.event_type, event.state) == expected


def test_identity_vms_id_or_digest_independent_of_kafka_position() -> None:
    assert decode(message(id="vms-7f3a9c")).event_id == "vms-7f3a9c"
    # A VMS that re-publishes the same notification (new Kafka offset) is the same event.
    assert decode(message(), offset=1).event_id == decode(message(), offset=2).event_id
    later = message(utc_time="2026-11-24T15:02:12Z")
    assert decode(later).event_id != decode(message()).event_id


def test_line_crossing_direction_and_vehicle_class() -> None:
    event = decode(
        message(
            topic="tns1:RuleEngine/LineDetector/Crossed",
            source={"Rule": "lan_vao"},
            data={"ObjectId": "9", "ClassTypes": "Vehicle", "Direction": "LeftToRight"},
        )
    )
    assert (event.zones, event.label, event.direction) == (("lan_vao",), "car", "LeftToRight")


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (message(camera=""), "field 'camera' missing"),
        (message(topic=None), "field 'topic' missing"),
        (message(topic="tns1:Device/Trigger/DigitalInput"), "is not one the service reads"),
        (message(utc_time="2026-11-24T15:02:11"), "no UTC offset"),
        (message(utc_time=1795482000), "field 'utc_time' missing or not a string"),
        (message(data=None), "field 'data' missing"),
        (message(data={"IsInside": "maybe"}), "'data.IsInside': 'maybe' is not true or false"),
        (message(data={"IsInside": True, "x": {"y": 1}}), "'data.x' is not a scalar"),
        (message(source=[1]), "field 'source' missing or not an object"),
        (message(property_operation="Gone"), "property_operation"),
        (message(id=5), "field 'id'"),
        (message(camera="x" * 200), "camera"),
        ([1], "must be a JSON object"),
        (b"{", "invalid JSON"),
    ],
)
def test_rejections_name_the_problem(doc: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(doc)
    assert reason in str(caught.value)
