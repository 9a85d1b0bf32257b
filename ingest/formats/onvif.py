"""ONVIF RuleEngine / VideoSource events as JSON (Kafka topic `camera.onvif`) -> one
CameraEvent each.

A VMS (or a small bridge beside the cameras) that receives ONVIF notifications
(PullPoint or WS-BaseNotification) publishes each NotificationMessage as one JSON
object; the shape keeps ONVIF's own names, so a bridge copies, not interprets:

    {
      "camera": "kh-camranh-cam04",                            required: the IOC device id
      "topic": "tns1:RuleEngine/FieldDetector/ObjectsInside",  required: the ONVIF topic
      "utc_time": "2026-11-24T15:02:11.250Z",                  required: Message@UtcTime
                                                               (ISO 8601 with an offset)
      "property_operation": "Changed",                         optional: Initialized,
                                                               Changed or Deleted
      "source": {"VideoSourceConfigurationToken": "vsconf",    optional: Source SimpleItems
                 "VideoAnalyticsConfigurationToken": "vaconf",
                 "Rule": "cong_cang"},
      "data": {"IsInside": true, "ObjectId": "17",             required: Data SimpleItems
               "ClassTypes": "Human"},                         (JSON true/false or the
                                                               strings "true"/"false")
      "id": "vms-7f3a9c"                                       optional: the VMS's event id
    }

Topics read (any namespace prefix, e.g. `tns1:`, is ignored) and what they become:

    RuleEngine/CellMotionDetector/Motion   data.IsMotion  -> motion
    VideoSource/MotionAlarm                data.State     -> motion
    RuleEngine/FieldDetector/ObjectsInside data.IsInside  -> intrusion
    RuleEngine/LineDetector/Crossed        (an instant)   -> line_crossing (always active)
    RuleEngine/TamperDetector/Tamper       data.IsTamper  -> tamper
    VideoSource/GlobalSceneChange/...      data.State     -> tamper
    VideoSource/SignalLoss                 data.State     -> video_loss

The boolean gives `state` (true: active, false: inactive). `source.Rule` (the rule's
name) is the zone or line (the camera registry maps it with `aliases`);
`data.ClassTypes` / `data.ObjectType` (Human, Vehicle, …) the label; `data.Direction`
(when a VMS adds it to a line crossing) the direction. `time` and `frame_time` are
utc_time; event_id is `id` when given, else a digest of camera, topic, utc_time and the
source items, so a re-sent message is the same event. Any other topic is refused with a
reason (a dead letter).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from events.ids import stable_id
from events.models import CameraEvent
from events.text import clean_json, clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.camera_common import MAX_NAME, normalise_label
from ingest.formats.common import iso_time, json_object
from ingest.message import RawMessage

SOURCE = "onvif"
# topic (without prefix) -> (event_type, the Data item holding the state; None: instant)
TOPICS: dict[str, tuple[str, str | None]] = {
    "RuleEngine/CellMotionDetector/Motion": ("motion", "IsMotion"),
    "VideoSource/MotionAlarm": ("motion", "State"),
    "RuleEngine/FieldDetector/ObjectsInside": ("intrusion", "IsInside"),
    "RuleEngine/LineDetector/Crossed": ("line_crossing", None),
    "RuleEngine/TamperDetector/Tamper": ("tamper", "IsTamper"),
    "VideoSource/GlobalSceneChange/ImagingService": ("tamper", "State"),
    "VideoSource/GlobalSceneChange/AnalyticsService": ("tamper", "State"),
    "VideoSource/GlobalSceneChange/RecordingService": ("tamper", "State"),
    "VideoSource/SignalLoss": ("video_loss", "State"),
}
OPERATIONS = frozenset({"Initialized", "Changed", "Deleted"})
_MAX_ITEMS = 32
_MAX_TEXT = 256


@register("onvif")
def decode_onvif(msg: RawMessage) -> list[CameraEvent]:
    doc = json_object(msg.payload, "an ONVIF event")
    try:
        return [_event(doc)]
    except ValidationError as error:
        raise DecodeError(validation_reason(error)) from None


def _event(doc: dict[str, Any]) -> CameraEvent:
    camera = _required(doc, "camera")
    topic = _required(doc, "topic")
    local = topic.split(":", 1)[1] if ":" in topic.split("/", 1)[0] else topic
    known = TOPICS.get(local.strip("/"))
    if known is None:
        raise DecodeError(
            f"topic {show(topic)} is not one the service reads (RuleEngine motion, field"
            " detector, line detector, tamper; VideoSource motion alarm, global scene"
            " change, signal loss)"
        )
    event_type, state_item = known
    when = iso_time(doc, "utc_time")
    source = _items(doc, "source", required=False)
    data = _items(doc, "data", required=True)
    operation = doc.get("property_operation")
    if operation is not None and (type(operation) is not str or operation not in OPERATIONS):
        raise DecodeError(f"field 'property_operation': {show(operation)} is not one of"
                          " Initialized, Changed, Deleted")  # fmt: skip
    state = "active" if state_item is None else _state(data, state_item)
    rule = source.get("Rule")
    label = data.get("ClassTypes") or data.get("ObjectType")
    direction = data.get("Direction")
    given_id = doc.get("id")
    if given_id is not None and (type(given_id) is not str or not given_id):
        raise DecodeError("field 'id' is not a non-empty string")
    event_id = given_id or stable_id(
        "onvif", camera, topic, doc["utc_time"], *sorted(f"{k}={v}" for k, v in source.items())
    )
    attributes: dict[str, Any] = {"topic": clean_text(topic, _MAX_TEXT)}
    if operation is not None:
        attributes["property_operation"] = operation
    attributes["source"] = source
    attributes["data"] = data
    return CameraEvent(
        time=when,
        event_id=clean_text(event_id),
        source=SOURCE,
        camera=clean_text(camera),
        event_type=event_type,
        state=state,
        label=normalise_label(label) if isinstance(label, str) else None,
        zones=(clean_text(rule, MAX_NAME),) if isinstance(rule, str) and rule else (),
        direction=clean_text(direction, 32) if isinstance(direction, str) and direction else None,
        frame_time=when,
        attributes=clean_json(attributes),
    )


def _required(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if type(value) is not str or not value.strip():
        raise DecodeError(f"field '{key}' missing or not a non-empty string")
    return value.strip()


def _items(doc: dict[str, Any], key: str, required: bool) -> dict[str, Any]:
    """SimpleItems: names to scalars (string, number, boolean)."""
    value = doc.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"field '{key}' missing or not an object of SimpleItems")
    if len(value) > _MAX_ITEMS:
        raise DecodeError(f"field '{key}': more than {_MAX_ITEMS} items")
    items: dict[str, Any] = {}
    for name, item in value.items():
        if isinstance(item, str):
            items[clean_text(name, MAX_NAME)] = clean_text(item, _MAX_TEXT)
        elif item is None or type(item) in (bool, int, float):
            items[clean_text(name, MAX_NAME)] = item
        else:
            raise DecodeError(f"field '{key}.{clean_text(name, MAX_NAME)}' is not a scalar")
    return items


def _state(data: dict[str, Any], item: str) -> str:
    value = data.get(item)
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.strip().lower(), value)
    if type(value) is not bool:
        raise DecodeError(f"field 'data.{item}': {show(value)} is not true or false")
    return "active" if value else "inactive"
