"""Hikvision ISAPI EventNotificationAlert XML -> CameraEvent (ingest/formats/isapi.py).

Samples in tests/data/cameras/ follow Hikvision's documented push shape: both XML
namespaces and none, smart events with DetectionRegionList, and ANPR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from events.ids import stable_id
from events.models import CameraEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"
CAMERA = "kh-camranh-cam01"
ICT = timezone(timedelta(hours=7))


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def decode(payload: bytes, topic: str = f"http/isapi/{CAMERA}") -> CameraEvent:
    (event,) = get_decoder("isapi")(RawMessage("http", topic, payload))
    assert isinstance(event, CameraEvent)
    return event


def alert(event_type: str, extra: str = "", namespace: str = "", state: str = "active") -> bytes:
    ns = f' xmlns="{namespace}"' if namespace else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><EventNotificationAlert version="2.0"{ns}>'
        "<channelID>1</channelID><dateTime>2026-11-24T22:00:00+07:00</dateTime>"
        f"<activePostCount>1</activePostCount><eventType>{event_type}</eventType>"
        f"<eventState>{state}</eventState>{extra}</EventNotificationAlert>"
    ).encode()


def test_line_crossing_old_namespace() -> None:
    event = decode(sample("isapi_linedetection_hikvision.xml"))
    assert (event.source, event.camera, event.event_type, event.state) == (
        "hikvision", CAMERA, "line_crossing", "active",
    )  # fmt: skip
    assert event.time == event.frame_time == datetime(2026, 11, 24, 22, 41, 7, tzinfo=ICT)
    assert (event.zones, event.label) == (("1",), "person")
    assert event.event_id == stable_id(
        "isapi", CAMERA, "linedetection", "2026-11-24T22:41:07+07:00", "1", "1"
    )
    assert event.attributes["channel_name"] == "Cong cang Cam Ranh"
    assert event.attributes["ip_address"] == "10.20.1.64"


def test_intrusion_new_namespace_vehicle_is_a_car() -> None:
    event = decode(sample("isapi_fielddetection_isapi_ns.xml"))
    assert (event.event_type, event.zones, event.label) == ("intrusion", ("2",), "car")


def test_motion_without_namespace_and_local_time() -> None:
    event = decode(sample("isapi_vmd_no_ns.xml"))
    assert (event.event_type, event.state, event.zones) == ("motion", "inactive", ())
    # No offset in the stamp: the camera's clock is Vietnamese local time.
    assert event.time == datetime(2026, 11, 24, 3, 0, 1, tzinfo=UTC)


def test_anpr_plate_direction_confidence_vehicle() -> None:
    event = decode(sample("isapi_anpr.xml"))
    assert (event.event_type, event.plate, event.direction) == ("anpr", "79A12345", "forward")
    assert event.plate_score == event.score == pytest.approx(0.98)
    assert event.label == "car"  # SUVMPV
    attrs = event.attributes
    assert (attrs["plate_color"], attrs["vehicle_color"], attrs["lane"]) == ("white", "white", "1")
    assert attrs["vehicle_type"] == "SUVMPV"
    # The plate is personal data: only in `plate` (-> plate_reads), never in attributes.
    assert "79A12345" not in str(attrs)


def test_a_two_row_plate_read_on_two_lines_is_one_spaced_plate() -> None:
    anpr = "<licensePlate>59-F1\r\n 234.56 </licensePlate><confidenceLevel>91</confidenceLevel>"
    event = decode(alert("ANPR", f"<ANPR>{anpr}<vehicleType>motorVehicle</vehicleType></ANPR>"))
    assert event.plate == "59-F1 234.56"


def test_anpr_without_a_read_plate() -> None:
    anpr = "<licensePlate>unknown</licensePlate><confidenceLevel>0</confidenceLevel>"
    xml = alert("ANPR", f"<ANPR>{anpr}<vehicleType>truck</vehicleType></ANPR>")
    event = decode(xml)
    assert (event.plate, event.plate_score, event.label, event.score) == (None, None, "truck", 0.0)


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("VMD", "motion"),
        ("linedetection", "line_crossing"),
        ("fielddetection", "intrusion"),
        ("regionEntrance", "region_entrance"),
        ("regionExiting", "region_exit"),
        ("shelteralarm", "tamper"),
        ("tamperdetection", "tamper"),
        ("videoloss", "video_loss"),
        ("ANPR", "anpr"),
    ],
)
@pytest.mark.parametrize(
    "namespace",
    ["", "http://www.hikvision.com/ver20/XMLSchema", "http://www.isapi.org/ver20/XMLSchema"],
)
def test_event_types(event_type: str, expected: str, namespace: str) -> None:
    assert decode(alert(event_type, namespace=namespace)).event_type == expected


def test_a_repeated_push_is_the_same_event_another_count_is_not() -> None:
    first = decode(alert("VMD"))
    assert decode(alert("VMD")).event_id == first.event_id
    other = alert("VMD").replace(b">1</activePostCount>", b">2</activePostCount>")
    assert decode(other).event_id != first.event_id


def test_the_camera_is_the_authenticated_one_never_the_body() -> None:
    xml = alert("VMD", "<deviceID>kh-other-cam</deviceID><channelName>spoof</channelName>")
    event = decode(xml, "http/isapi/kh-real-cam")
    assert event.camera == "kh-real-cam"
    assert event.attributes["device_id"] == "kh-other-cam"


def test_entity_expansion_is_refused_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<EventNotificationAlert><eventType>&lol2;</eventType></EventNotificationAlert>"
    )
    with pytest.raises(DecodeError, match="malformed XML: refused DTDForbidden"):
        decode(bomb)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (alert("VMD")[:-30], "malformed XML"),
        (b"not xml at all", "malformed XML"),
        (b"<Other/>", "root element is 'Other'"),
        (b'<EventNotificationAlert xmlns="urn:x"/>', "unknown XML namespace 'urn:x'"),
        (alert("faceSnap"), "eventType 'faceSnap' is not one the service reads"),
        (alert("vehicleDetection"), "eventType 'vehicleDetection' is not one"),
        (
            b"<EventNotificationAlert><dateTime>2026-11-24T22:00:00Z</dateTime>"
            b"</EventNotificationAlert>",
            "eventType missing",
        ),
        (
            b"<EventNotificationAlert><eventType>VMD</eventType></EventNotificationAlert>",
            "dateTime missing",
        ),
        (alert("VMD").replace(b"2026-11-24T22:00:00+07:00", b"yesterday"), "not ISO 8601"),
        (alert("VMD").replace(b"2026-11-24", b"1999-11-24"), "dateTime"),
        (alert("VMD", state="on"), "eventState 'on'"),
        (alert("ANPR", "<ANPR><confidenceLevel>180</confidenceLevel></ANPR>"), "percentage"),
        (alert("ANPR", "<ANPR><confidenceLevel>high</confidenceLevel></ANPR>"), "not a number"),
    ],
)
def test_rejections_name_the_problem(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert reason in str(caught.value)


@pytest.mark.parametrize("topic", ["http/isapi", "http/isapi/", "frigate/events", "http/isapi/a/b"])
def test_only_the_http_topic_names_a_camera(topic: str) -> None:
    with pytest.raises(DecodeError, match="ISAPI pushes are taken on http/isapi/<camera>"):
        decode(alert("VMD"), topic)
