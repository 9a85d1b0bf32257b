"""Hikvision ISAPI event push (`EventNotificationAlert` XML) -> one CameraEvent.

A Hikvision camera or NVR set to "HTTP listening" (alarm server) POSTs one
EventNotificationAlert per event to POST /api/v1/ingest/isapi (api/routers/isapi.py);
the message reaches this decoder on topic `http/isapi/<device id>`, where the device is
the camera that authenticated. The body's own names (ipAddress, deviceID, channelName)
are kept as attributes but never name the camera: a camera cannot post as another.

Accepted: the namespaces http://www.hikvision.com/ver20/XMLSchema (older firmware) and
http://www.isapi.org/ver20/XMLSchema (newer), or none. Parsed with defusedxml: no DTD,
no entities, no external references (an entity bomb is refused, not expanded); the size
is bounded before parsing (routes.yaml `limits.max_message_bytes`).

eventType -> event_type: VMD -> motion, linedetection -> line_crossing, fielddetection
-> intrusion, regionEntrance / regionExiting -> region_entrance / region_exit,
shelteralarm / tamperdetection -> tamper, videoloss -> video_loss, ANPR (and ITC
cameras' vehicleDetection with an ANPR element) -> anpr. Any other eventType is refused
with a reason naming it (a dead letter): the camera was set to push something no rule
reads (e.g. faceSnap), which its linkage settings should stop rather than the database
keep.

- time, frame_time: `dateTime` (a stamp without an offset is local time, Asia/Ho_Chi_Minh)
- event_id: stable_id("isapi", camera, eventType, dateTime, channelID, activePostCount),
  so a push the camera repeats is the same event
- state: eventState `active` / `inactive` (absent: active)
- zones: DetectionRegionList/DetectionRegionEntry/regionID (line or region rule ids, "1")
- label: detectionTarget (human -> person, vehicle -> car) or ANPR vehicleType, mapped to
  the rule classes (ingest/formats/camera_common.py)
- ANPR: plate (licensePlate; "unknown" or empty -> none), plate_score and score
  (confidenceLevel / 100), direction (forward / reverse as the camera says); plate
  colour and type, vehicle colour, lane in attributes (never the plate: personal data
  lives only in plate_reads)
The snapshot reference of a multipart push's image is set by the HTTP layer
(ingest/http/isapi.py), which saved the image before this decoder ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from events.ids import stable_id
from events.models import CameraEvent
from events.text import clean_json, clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.camera_common import MAX_NAME, MAX_ZONES, normalise_label
from ingest.formats.common import DEFAULT_TIMEZONE, checked_time, zone_info
from ingest.message import RawMessage

SOURCE = "hikvision"
TOPIC_PREFIX = "http/isapi/"
NAMESPACES = frozenset(
    {"", "http://www.hikvision.com/ver20/XMLSchema", "http://www.isapi.org/ver20/XMLSchema"}
)
ROOT = "EventNotificationAlert"
# The start of the reason of a body that is not well-formed XML: the HTTP layer answers
# 400 for it (a broken or cut body) and 422 for well-formed XML it cannot use.
MALFORMED = "malformed XML"
EVENT_TYPES = {
    "vmd": "motion",
    "linedetection": "line_crossing",
    "fielddetection": "intrusion",
    "regionentrance": "region_entrance",
    "regionexiting": "region_exit",
    "shelteralarm": "tamper",
    "tamperdetection": "tamper",
    "videoloss": "video_loss",
    "anpr": "anpr",
    "vehicledetection": "anpr",
}
STATES = frozenset({"active", "inactive"})
_MAX_TEXT = 256
_NO_PLATE = frozenset({"", "unknown", "none", "null", "0"})
# Scalars of the root kept as attributes (who the body says it is, for the operator).
_ROOT_ATTRIBUTES = {
    "channelID": "channel_id",
    "dynChannelID": "dyn_channel_id",
    "channelName": "channel_name",
    "activePostCount": "active_post_count",
    "eventDescription": "event_description",
    "ipAddress": "ip_address",
    "macAddress": "mac_address",
    "deviceID": "device_id",
}
_ANPR_ATTRIBUTES = {
    "plateColor": "plate_color",
    "plateType": "plate_type",
    "line": "lane",
    "country": "country",
    "vehicleListName": "vehicle_list",
}


@register("isapi")
def decode_isapi(msg: RawMessage) -> list[CameraEvent]:
    camera = camera_of(msg.topic)
    root = parse(msg.payload)
    try:
        return [_event(root, camera)]
    except ValidationError as error:
        raise DecodeError(validation_reason(error)) from None


def camera_of(topic: str) -> str:
    device = topic.removeprefix(TOPIC_PREFIX)
    if not topic.startswith(TOPIC_PREFIX) or not device or "/" in device:
        raise DecodeError(
            f"ISAPI pushes are taken on {TOPIC_PREFIX}<camera> (POST /api/v1/ingest/isapi"
            f" with the camera's login), not on {show(topic)}"
        )
    return device


def parse(payload: bytes) -> Element:
    """The EventNotificationAlert element. DecodeError starting with MALFORMED for a body
    that is not well-formed XML (or tries DTDs or entities)."""
    try:
        root = fromstring(payload, forbid_dtd=True)
    except ParseError as error:
        raise DecodeError(f"{MALFORMED}: {error}") from None
    except DefusedXmlException as error:
        refused = type(error).__name__
        raise DecodeError(f"{MALFORMED}: refused {refused} (no DTD or entities)") from None
    namespace, local = _split(root.tag)
    if local != ROOT:
        raise DecodeError(f"the root element is {show(local)}, not {ROOT}")
    if namespace not in NAMESPACES:
        raise DecodeError(f"unknown XML namespace {show(namespace)} for {ROOT}")
    return root


def _split(tag: Any) -> tuple[str, str]:
    if not isinstance(tag, str):  # comments and processing instructions
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _children(element: Element) -> dict[str, Element]:
    """Child elements by local name (the first of each name)."""
    found: dict[str, Element] = {}
    for child in element:
        found.setdefault(_split(child.tag)[1], child)
    return found


def _text(children: dict[str, Element], name: str, one_line: bool = False) -> str | None:
    """The element's text, control characters made visible; with one_line, runs of
    white space (a two-row plate's line break) become one space first."""
    element = children.get(name)
    if element is None or element.text is None:
        return None
    text = " ".join(element.text.split()) if one_line else element.text.strip()
    return clean_text(text, _MAX_TEXT) if text else None


def _event(root: Element, camera: str) -> CameraEvent:
    top = _children(root)
    raw_type = _text(top, "eventType")
    if raw_type is None:
        raise DecodeError("eventType missing")
    anpr = _children(top["ANPR"]) if "ANPR" in top else None
    event_type = EVENT_TYPES.get(raw_type.lower())
    if event_type is None or (raw_type.lower() == "vehicledetection" and anpr is None):
        known = "VMD, linedetection, fielddetection, regionEntrance, regionExiting,"
        raise DecodeError(
            f"eventType {show(raw_type)} is not one the service reads ({known} shelteralarm,"
            " tamperdetection, videoloss, ANPR); stop the camera pushing it in its linkage"
            " settings"
        )
    stamp = _text(top, "dateTime")
    when = _time(stamp)
    state = (_text(top, "eventState") or "active").lower()
    if state not in STATES:
        raise DecodeError(f"eventState {show(state)} is not active or inactive")
    regions = _regions(top)
    attributes: dict[str, Any] = {
        key: value for name, key in _ROOT_ATTRIBUTES.items() if (value := _text(top, name))
    }
    attributes["event_type"] = raw_type
    # Identity: a push the camera repeats (same count and stamp) is the same event.
    event_id = stable_id(
        "isapi", camera, raw_type, stamp, _text(top, "channelID"), _text(top, "activePostCount")
    )
    fields: dict[str, Any] = {"label": _target(top)}
    if anpr is not None and event_type == "anpr":
        fields = _anpr(anpr, attributes)
    return CameraEvent(
        time=when,
        event_id=event_id,
        source=SOURCE,
        camera=camera,
        event_type=event_type,
        state=state,
        zones=regions,
        frame_time=when,
        attributes=clean_json(attributes),
        **fields,
    )


def _time(stamp: str | None) -> datetime:
    if stamp is None:
        raise DecodeError("dateTime missing")
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise DecodeError(f"dateTime {show(stamp)} is not ISO 8601") from None
    if parsed.tzinfo is None:
        # Cameras set to local time without an offset in the stamp.
        parsed = parsed.replace(tzinfo=zone_info(DEFAULT_TIMEZONE))
    return checked_time(parsed, "dateTime")


def _regions(top: dict[str, Element]) -> tuple[str, ...]:
    listing = top.get("DetectionRegionList")
    if listing is None:
        return ()
    ids = []
    for entry in listing:
        if _split(entry.tag)[1] != "DetectionRegionEntry":
            continue
        region = _text(_children(entry), "regionID")
        if region is not None:
            ids.append(clean_text(region, MAX_NAME))
    return tuple(dict.fromkeys(ids))[:MAX_ZONES]


def _target(top: dict[str, Element]) -> str | None:
    """The object class a smart event names (AcuSense detectionTarget: human, vehicle)."""
    for name in ("targetType", "detectionTarget"):
        if (value := _text(top, name)) is not None:
            return normalise_label(value)
    listing = top.get("DetectionRegionList")
    for entry in listing if listing is not None else ():
        value = _text(_children(entry), "detectionTarget")
        if value is not None:
            return normalise_label(value)
    return None


def _anpr(anpr: dict[str, Element], attributes: dict[str, Any]) -> dict[str, Any]:
    plate = _text(anpr, "licensePlate", one_line=True)
    if plate is not None and plate.lower() in _NO_PLATE:
        plate = None
    confidence = _confidence(_text(anpr, "confidenceLevel"))
    direction = _text(anpr, "direction")
    vehicle = _children(anpr["vehicleInfo"]) if "vehicleInfo" in anpr else {}
    vehicle_type = _text(anpr, "vehicleType") or _text(vehicle, "vehicleType")
    for name, key in _ANPR_ATTRIBUTES.items():
        if (value := _text(anpr, name)) is not None:
            attributes[key] = value
    if (colour := _text(vehicle, "color")) is not None:
        attributes["vehicle_color"] = colour
    if vehicle_type is not None:
        attributes["vehicle_type"] = vehicle_type
    return {
        "label": normalise_label(vehicle_type),
        "plate": plate,
        "plate_score": confidence if plate is not None else None,
        "score": confidence,
        "direction": direction.lower()[:32] if direction else None,
    }


def _confidence(text: str | None) -> float | None:
    """confidenceLevel is a percentage (0-100)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DecodeError(f"confidenceLevel {show(text)} is not a number") from None
    if not 0 <= value <= 100:
        raise DecodeError(f"confidenceLevel {show(text)} is not a percentage (0-100)")
    return value / 100
