"""Frigate frigate/reviews: a review item's new/update/end become one CameraEvent each
(event_type review, label = severity), updating one stored row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.models import CameraEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"
START = 1795482000.5  # 2026-11-24T01:00:00.5Z
RECEIVED = datetime(2026, 11, 24, 1, 0, 9, tzinfo=UTC)


def review(**changes: Any) -> dict[str, Any]:
    base = {
        "id": "1795482000.5-r7kq2m",
        "camera": "kh-camranh-cam01",
        "start_time": START,
        "end_time": None,
        "severity": "alert",
        "thumb_path": "/media/frigate/clips/review/thumb-kh-camranh-cam01-1795482000.5.webp",
        "data": {
            "detections": ["1795482000.412-k3v9qa"],
            "objects": ["person", "motorbike"],
            "sub_labels": [],
            "zones": ["cong_cang"],
            "audio": [],
        },
    }
    base.update(changes)
    return base


def decode(doc: Any, received: datetime = RECEIVED) -> CameraEvent:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    message = RawMessage("mqtt", "frigate/reviews", raw, received_at=received)
    (event,) = get_decoder("frigate_reviews")(message)
    assert isinstance(event, CameraEvent)
    return event


def test_documented_sample() -> None:
    event = decode((DATA / "frigate_review_docs.json").read_bytes())
    assert (event.event_id, event.camera, event.event_type, event.state) == (
        "1718987129.308396-fqk5ka", "front_cam", "review", "update",
    )  # fmt: skip
    assert (event.source, event.label, event.zones) == ("frigate", "alert", ("front_yard",))
    assert event.time == datetime.fromtimestamp(1718987129.308396, UTC)
    assert event.attributes["objects"] == ["person", "car"]
    assert "sub_labels" not in event.attributes  # "Bob": a recognised face
    assert len(event.attributes["detections"]) == 3
    assert "thumb_path" not in event.attributes


def test_objects_are_rule_classes_and_frame_time_moves_on() -> None:
    first = decode({"type": "new", "after": review()})
    later = decode({"type": "update", "after": review()}, RECEIVED + timedelta(seconds=5))
    assert first.attributes["objects"] == ["person", "motorcycle"]
    assert (first.event_id, first.time) == (later.event_id, later.time)
    assert first.frame_time == RECEIVED and later.frame_time == RECEIVED + timedelta(seconds=5)


def test_end_takes_its_end_time_as_frame_time() -> None:
    event = decode({"type": "end", "after": review(end_time=START + 42.0)})
    assert event.state == "end"
    assert event.end_time == event.frame_time == datetime.fromtimestamp(START + 42.0, UTC)


def test_an_end_equal_to_its_start_is_a_review_that_lasted_no_time() -> None:
    event = decode({"type": "end", "after": review(end_time=START)})
    assert event.end_time == event.frame_time == event.time


def test_frame_time_never_before_start() -> None:
    early = datetime.fromtimestamp(START - 30, UTC)  # the receiver's clock is behind
    event = decode({"type": "new", "after": review()}, early)
    assert event.frame_time == datetime.fromtimestamp(START, UTC)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"type": "open", "after": review()}, "field 'type'"),
        ({"type": "new"}, "field 'after' missing"),
        ({"type": "new", "after": review(severity="critical")}, "'after.severity'"),
        ({"type": "new", "after": review(severity=None)}, "'after.severity'"),
        ({"type": "new", "after": review(id="")}, "'after.id'"),
        ({"type": "new", "after": review(camera=None)}, "'after.camera'"),
        ({"type": "new", "after": review(start_time="x")}, "'after.start_time'"),
        (
            {"type": "end", "after": review(end_time=START - 0.5)},
            "'after.end_time': 2026-11-24T01:00:00+00:00 is before start_time",
        ),
        ({"type": "new", "after": review(data=[1])}, "'after.data' is not an object"),
        ({"type": "new", "after": review(data={"zones": "a"})}, "'after.data.zones'"),
        ({"type": "new", "after": review(data={"objects": [1]})}, "'after.data.objects'"),
        ([], "payload must be a JSON object"),
        (b"\xff", "invalid JSON"),
    ],
)
def test_rejections_name_the_problem(doc: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(doc)
    assert reason in str(caught.value)
