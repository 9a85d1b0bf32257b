"""Frigate frigate/events: new/update/end of one event become one CameraEvent each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.models import CameraEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

START = 1795482000.412  # 2026-11-24T01:00:00.412Z
DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def after(**changes: Any) -> dict[str, Any]:
    base = {
        "id": "1795482000.412-k3v9qa",
        "camera": "nga_tu_hang_bai",
        "frame_time": START + 1.2,
        "snapshot": {"frame_time": START + 0.9, "box": [412, 188, 530, 470], "score": 0.84},
        "label": "person",
        "sub_label": None,
        "top_score": 0.84,
        "false_positive": False,
        "start_time": START,
        "end_time": None,
        "score": 0.79,
        "box": [415, 190, 528, 468],
        "area": 31414,
        "ratio": 0.4,
        "region": [300, 100, 620, 420],
        "active": True,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 2,
        "current_zones": ["via_he"],
        "entered_zones": ["via_he", "long_duong"],
        "has_clip": True,
        "has_snapshot": True,
        "attributes": {},
        "current_attributes": [],
        "path_data": [[[0.51, 0.72], START + 0.2]] * 200,
        "thumbnail": "/9j/4AAQSkZJRgABAQAAAQABAAD" * 100,
    }
    base.update(changes)
    return base


def decode(doc: Any) -> CameraEvent:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    (event,) = get_decoder("frigate")(RawMessage("mqtt", "frigate/events", raw))
    assert isinstance(event, CameraEvent)
    return event


def test_new_event() -> None:
    event = decode({"type": "new", "before": after(), "after": after()})
    assert (event.event_id, event.source, event.camera, event.event_type, event.state) == (
        "1795482000.412-k3v9qa",
        "frigate",
        "nga_tu_hang_bai",
        "object",
        "new",
    )
    assert (event.label, event.score, event.top_score) == ("person", 0.79, 0.84)
    assert event.time == datetime.fromtimestamp(START, UTC)
    assert event.zones == ("via_he", "long_duong")
    assert event.end_time is None
    assert event.has_snapshot is True and event.false_positive is False


def test_update_keeps_identity_and_start_time() -> None:
    first = decode({"type": "new", "before": {}, "after": after()})
    update = decode({"type": "update", "before": after(), "after": after(score=0.9, top_score=0.9)})
    assert (update.event_id, update.time) == (first.event_id, first.time)
    assert (update.state, update.top_score) == ("update", 0.9)


def test_end_event_has_end_time() -> None:
    event = decode({"type": "end", "before": after(), "after": after(end_time=START + 14.5)})
    assert event.state == "end"
    assert event.end_time == datetime.fromtimestamp(START + 14.5, UTC)


def test_attributes_keep_detail_but_not_huge_or_column_fields() -> None:
    event = decode(
        {"type": "update", "after": after(sub_label=["Nguyen Van A", 0.92], stationary=True)}
    )
    attrs = event.attributes
    assert event.box == (415.0, 190.0, 528.0, 468.0) and event.stationary is True
    assert "box" not in attrs and "stationary" not in attrs and "frame_time" not in attrs
    assert attrs["region"] == [300, 100, 620, 420]
    assert "sub_label" not in attrs  # a recognised face's name: personal data
    assert attrs["current_zones"] == ["via_he"]
    assert "path_data" not in attrs and "thumbnail" not in attrs
    assert "id" not in attrs and "camera" not in attrs


def test_zones_fall_back_to_current_zones() -> None:
    event = decode({"type": "update", "after": after(entered_zones=[], current_zones=["cong"])})
    assert event.zones == ("cong",)


def test_vehicle_with_plate_and_null_scores() -> None:
    event = decode(
        {
            "type": "update",
            "after": after(label="car", score=None, recognized_license_plate="30A-123.45"),
        }
    )
    assert (event.label, event.score, event.plate) == ("car", None, "30A-123.45")


def test_frigate_016_plate_fields_are_columns_never_attributes() -> None:
    # Frigate 0.16 LPR: the plate as read and its score on the tracked object.
    doc = load("frigate_event_lpr_016.json")
    event = decode(doc)
    assert (event.plate, event.plate_score) == ("51F-123.45", 0.933451)
    assert (event.label, event.state) == ("car", "update")
    # Personal data lives only in plate_reads (retention): not in the event's attributes.
    text = orjson.dumps(event.attributes).decode()
    assert "51F" not in text and "recognized_license_plate" not in text
    assert "sub_label" not in event.attributes


def test_new_fields_frame_time_snapshot_box() -> None:
    event = decode({"type": "update", "after": after()})
    assert event.frame_time == datetime.fromtimestamp(START + 1.2, UTC)
    assert event.snapshot == "frigate:1795482000.412-k3v9qa"
    assert event.box == (415.0, 190.0, 528.0, 468.0)
    assert event.stationary is False and event.plate is None and event.plate_score is None


def test_frame_time_falls_back_to_start_and_no_snapshot_reference() -> None:
    event = decode({"type": "new", "after": after(frame_time=None, has_snapshot=False, box=None)})
    assert event.frame_time == event.time
    assert event.snapshot is None and event.box is None


@pytest.mark.parametrize(
    ("label", "expected"),
    [("person", "person"), ("school_bus", "bus"), ("Motorbike", "motorcycle"), ("dog", "dog")],
)
def test_labels_are_normalised(label: str, expected: str) -> None:
    assert decode({"type": "new", "after": after(label=label)}).label == expected


def test_documented_sample_decodes() -> None:
    # The frigate/events example of Frigate's MQTT documentation (0.14+ shape).
    event = decode(load("frigate_event_docs.json"))
    assert (event.camera, event.state, event.label) == ("front_door", "update", "person")
    assert event.box == (432.0, 496.0, 544.0, 854.0)
    assert event.zones == ("yard", "driveway")


def test_control_characters_are_made_safe() -> None:
    event = decode({"type": "new", "after": after(label="per\x00son", region="\x1b[2J")})
    assert event.label == "per␀son"
    assert event.attributes["region"] == "␛[2J"


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"type": "bogus", "after": after()}, "field 'type': 'bogus' is not one of new, update"),
        ({"after": after()}, "field 'type': null is not one of"),
        ({"type": "new"}, "field 'after' missing or not an object"),
        ({"type": "new", "after": [1]}, "field 'after' missing or not an object"),
        ({"type": "new", "after": after(id=None)}, "field 'after.id' missing"),
        ({"type": "new", "after": after(id="")}, "field 'after.id' missing"),
        ({"type": "new", "after": after(camera=3)}, "field 'after.camera' missing"),
        ({"type": "new", "after": after(start_time=None)}, "field 'after.start_time' missing"),
        ({"type": "new", "after": after(start_time="now")}, "'after.start_time' missing or not"),
        ({"type": "new", "after": after(start_time=100.0)}, "before 2000"),
        ({"type": "new", "after": after(start_time=1e300)}, "field 'after.start_time'"),
        ({"type": "new", "after": after(score=1.5)}, "field 'score'"),
        ({"type": "new", "after": after(score="high")}, "field 'after.score': 'high' is not"),
        ({"type": "new", "after": after(entered_zones="gate")}, "'after.entered_zones' is not"),
        ({"type": "new", "after": after(has_snapshot="yes")}, "'after.has_snapshot': 'yes'"),
        ({"type": "new", "after": after(id="x" * 200)}, "event_id"),
        ({"type": "new", "after": after(box=[1, 2, 3])}, "field 'after.box'"),
        ({"type": "new", "after": after(box=[1, 2, 3, "4"])}, "field 'after.box'"),
        ({"type": "new", "after": after(box=[-1, 2, 3, 4])}, "field 'after.box'"),
        ({"type": "new", "after": after(frame_time="x")}, "field 'after.frame_time'"),
        ({"type": "new", "after": after(stationary="no")}, "field 'after.stationary'"),
        ([1, 2], "payload must be a JSON object"),
        (b"{nope", "invalid JSON"),
    ],
)
def test_rejections_name_the_problem(doc: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(doc)
    assert reason in str(caught.value)


def test_scores_below_float32_range_are_zero() -> None:
    # The score columns are PostgreSQL real, which refuses 5e-324 (found by fuzzing).
    event = decode({"type": "new", "after": after(score=5e-324, top_score=1e-39)})
    assert (event.score, event.top_score) == (0.0, 0.0)
    assert decode({"type": "new", "after": after(score=1.5e-38)}).score == 1.5e-38


def test_unhashable_type_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="field 'type'"):
        decode({"type": ["new"], "after": after()})
