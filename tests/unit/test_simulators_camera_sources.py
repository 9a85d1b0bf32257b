"""The camera simulators of issue 12: Frigate tracks that cross counting lines and open
review items, Hikvision ISAPI pushes (XML and multipart with a JPEG, ANPR with
Vietnamese plates as readers spell them), ONVIF JSON; each read back through the real
decoder of its format."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP

import orjson
import pytest

from config.timezone import LOCAL_TZ
from events.models import CameraEvent
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from simulators.cameras import CameraStream, ScriptedTrack, scripted_messages
from simulators.fleet import load_fleet
from simulators.isapi import Anpr, IsapiEvent, IsapiStream, alert_xml, jpeg, push
from simulators.messages import FRIGATE_REVIEWS_TOPIC, FRIGATE_TOPIC
from simulators.onvif import OnvifStream
from simulators.plates import READING_STYLES, random_plate, reading

FLEET = load_fleet()
CAMERAS = {c.name: c for c in FLEET.cameras}
T0 = 1_796_000_000.0
WHEN = datetime(2026, 12, 3, 23, 30, tzinfo=LOCAL_TZ)


def _decode(fmt: str, topic: str, payload: bytes, transport: str = "mqtt") -> CameraEvent:
    (event,) = get_decoder(fmt)(RawMessage(transport, topic, payload))
    assert isinstance(event, CameraEvent)
    return event


def _side(point: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float]) -> int:
    cross = (p2[0] - p1[0]) * (point[1] - p1[1]) - (p2[1] - p1[1]) * (point[0] - p1[0])
    return (cross > 0) - (cross < 0)


def test_a_scripted_track_is_new_four_updates_end_crossing_the_gate_line_once() -> None:
    gate = CAMERAS["camranh_port_gate"]
    path = ((0.5, 0.50), (0.5, 0.58), (0.5, 0.66), (0.5, 0.74), (0.5, 0.82), (0.5, 0.90))
    spec = ScriptedTrack(gate, "truck", T0, path, every=1.0, suffix="abc123")
    messages = scripted_messages(spec)
    bodies = [orjson.loads(m.payload) for _, m in messages]
    assert [b["type"] for b in bodies] == ["new", "update", "update", "update", "update", "end"]
    assert {m.topic for _, m in messages} == {FRIGATE_TOPIC}
    events = [_decode("frigate", FRIGATE_TOPIC, m.payload) for _, m in messages]
    assert {e.event_id for e in events} == {f"{T0:.6f}-abc123"}
    assert [e.frame_time.timestamp() for e in events] == [T0 + i for i in range(6)]
    assert events[-1].state == "end" and events[-1].end_time is not None
    assert "gate_lane" in events[-1].zones
    line = gate.lines[0]
    width, height = gate.frame
    feet = [((e.box[0] + e.box[2]) / 2 / width, e.box[3] / height) for e in events]
    sides = [_side(f, line.p1, line.p2) for f in feet]
    assert sum(a != b for a, b in itertools.pairwise(sides)) == 1


def test_a_standing_object_becomes_stationary_and_a_plate_is_read_from_the_first_update() -> None:
    gate = CAMERAS["camranh_port_gate"]
    path = ((0.5, 0.8),) * 6
    spec = ScriptedTrack(gate, "car", T0, path, plate="51F1 234.56", plate_score=0.91)
    bodies = [orjson.loads(m.payload)["after"] for _, m in scripted_messages(spec)]
    assert [b["stationary"] for b in bodies] == [False, False, False, True, True, True]
    assert bodies[0]["recognized_license_plate"] is None
    assert {b["recognized_license_plate"] for b in bodies[1:]} == {"51F1 234.56"}
    event = _decode("frigate", FRIGATE_TOPIC, orjson.dumps({"type": "end", "before": bodies[-2],
                                                            "after": bodies[-1]}))  # fmt: skip
    assert (event.plate, event.plate_score, event.stationary) == ("51F1 234.56", 0.91, True)


def test_the_stream_carries_objects_across_counting_lines_and_opens_reviews() -> None:
    stream = CameraStream(FLEET.cameras, seed=11, reviews=True)
    tracks: dict[str, list[dict]] = defaultdict(list)
    reviews = []
    for i in range(3000):
        message = stream.next(T0 + i * 0.5)
        if message.topic == FRIGATE_REVIEWS_TOPIC:
            reviews.append(_decode("frigate_reviews", message.topic, message.payload))
            continue
        tracks[orjson.loads(message.payload)["after"]["id"]].append(
            orjson.loads(message.payload)["after"]
        )
    crossed = 0
    for states in tracks.values():
        camera = CAMERAS[states[0]["camera"]]
        assert camera.source == "frigate"
        width, height = camera.frame
        feet = [((s["box"][0] + s["box"][2]) / 2 / width, s["box"][3] / height) for s in states]
        for line in camera.lines:
            sides = [_side(f, line.p1, line.p2) for f in feet]
            crossed += any(a * b < 0 for a, b in itertools.pairwise(sides))
    assert crossed > 50
    assert len(reviews) > 100 and {r.event_type for r in reviews} == {"review"}
    assert {r.label for r in reviews} == {"alert", "detection"}


@pytest.mark.parametrize("kind", ["car", "car_two_row", "motorbike"])
def test_vietnamese_plates_in_every_reader_spelling(kind: str) -> None:
    plate = random_plate(random.Random(kind), kind, code=79)  # type: ignore[arg-type]
    assert len(plate.rows) == (1 if kind == "car" else 2)
    assert plate.rows[0].startswith("79")
    spellings = {style: reading(plate, style) for style in READING_STYLES}
    if kind != "car":
        assert "\n" in spellings["newline"] and " " in spellings["printed"]
    assert spellings["compact"].isalnum()
    assert "0" not in spellings["o_for_0"] and "1" not in spellings["i_for_1"]


def test_isapi_anpr_xml_is_read_by_the_isapi_decoder() -> None:
    camera = CAMERAS["kh-camranh-anpr01"]
    event = IsapiEvent(camera, WHEN, "ANPR", anpr=Anpr("79-F1 234.56", "reverse", 88, "motorcycle"))
    decoded = _decode("isapi", f"http/isapi/{camera.name}", alert_xml(event), "http")
    assert (decoded.camera, decoded.event_type, decoded.source) == (
        camera.name,
        "anpr",
        "hikvision",
    )
    assert decoded.plate == "79-F1 234.56" and decoded.plate_score == 0.88
    assert (decoded.direction, decoded.label, decoded.time) == ("reverse", "motorcycle", WHEN)


def test_isapi_multipart_push_carries_the_xml_and_a_jpeg() -> None:
    camera = CAMERAS["kg-hatien-anpr01"]
    event = IsapiEvent(camera, WHEN, "ANPR", anpr=Anpr("68C-123.45"))
    picture = jpeg(3, text="68C-123.45")
    assert picture[:3] == b"\xff\xd8\xff" and len(picture) < 20_000
    message = push(event, picture, boundary="xyz")
    assert message.content_type == "multipart/form-data; boundary=xyz"
    assert message == push(event, jpeg(3, text="68C-123.45"), boundary="xyz")  # same bytes
    head = f"Content-Type: {message.content_type}\r\n\r\n".encode()
    parts = list(BytesParser(policy=HTTP).parsebytes(head + message.payload).iter_parts())
    assert [p.get_content_type() for p in parts] == ["application/xml", "image/jpeg"]
    assert parts[0].get_content() == alert_xml(event) or parts[0].get_payload(decode=True) == (
        alert_xml(event)
    )
    assert parts[1].get_payload(decode=True) == picture


def test_isapi_stream_pushes_from_hikvision_cameras_only_and_decodes() -> None:
    stream = IsapiStream(FLEET.cameras, seed=5)
    types = set()
    for i in range(200):
        message = stream.next(T0 + i)
        assert CAMERAS[message.sender].source == "hikvision"
        assert message.transport == "http" and message.topic == "/api/v1/ingest/isapi"
        if message.content_type == "application/xml":
            event = _decode("isapi", f"http/isapi/{message.sender}", message.payload, "http")
            types.add(event.event_type)
    assert {"anpr", "line_crossing"} <= types


def test_onvif_stream_is_read_by_the_onvif_decoder() -> None:
    stream = OnvifStream(FLEET.cameras, seed=2)
    seen = set()
    for i in range(100):
        message = stream.next(T0 + i)
        assert (message.transport, message.topic) == ("kafka", "camera.onvif")
        event = _decode("onvif", message.topic, message.payload, "kafka")
        assert event.camera == "hg-vithanh-cam01"
        seen.add((event.event_type, event.state, event.zones))
    assert ("line_crossing", "active", ("LineDetector1",)) in seen
    assert ("intrusion", "active", ("FieldDetector1",)) in seen
    assert ("intrusion", "inactive", ("FieldDetector1",)) in seen
