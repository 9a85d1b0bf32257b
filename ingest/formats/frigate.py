"""Frigate NVR `frigate/events` messages -> one CameraEvent each.

Frigate re-publishes the same event id on every change (new, many updates, end). Each
message becomes the CameraEvent for the `after` state; the store upserts on
(event_id, start time), so an event is one row that is updated, never counted twice.
`frame_time` (the frame this message describes) orders the messages of one event, `box`
(pixels of the detect frame) lets line crossing follow the object, and Frigate 0.16's
licence plate reader gives `recognized_license_plate` and its score. The plate goes to
`plate` only, never into the attributes: plates are personal data and are kept in
plate_reads, which has a retention period (camera events are kept longer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from events.models import CameraEvent, check_event_time
from events.text import clean_json, clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.camera_common import MAX_ZONES, normalise_label
from ingest.message import RawMessage

STATES = frozenset({"new", "update", "end"})
SOURCE = "frigate"
EVENT_TYPE = "object"

# Fields that became columns, fields that are big and only useful to Frigate's own UI
# (path_data grows with every update; thumbnail is a base64 JPEG in older versions), the
# plate (personal data: it lives only in plate_reads) and the sub label (Frigate puts a
# recognised face's name or a known plate's name there: personal data nobody asked for).
_NOT_ATTRIBUTES = frozenset(
    {
        "id", "camera", "label", "score", "top_score", "start_time", "end_time",
        "has_snapshot", "false_positive", "thumbnail", "path_data", "frame_time", "box",
        "stationary", "recognized_license_plate", "recognized_license_plate_score", "sub_label",
    }
)  # fmt: skip
_MAX_LABEL = 128
_FLOAT32_TINY = 1.2e-38
# Pixel coordinates of a detect frame; anything beyond is not a box Frigate made.
_MAX_PIXEL = 100_000


@register("frigate")
def decode_frigate(msg: RawMessage) -> list[CameraEvent]:
    try:
        doc = orjson.loads(msg.payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"invalid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DecodeError("payload must be a JSON object")
    state = doc.get("type")
    if type(state) is not str or state not in STATES:  # a list or object is unhashable
        raise DecodeError(f"field 'type': {show(state)} is not one of new, update, end")
    after = doc.get("after")
    if not isinstance(after, dict):
        raise DecodeError("field 'after' missing or not an object")
    try:
        return [_event(after, state)]
    except ValidationError as error:
        raise DecodeError(f"after: {validation_reason(error)}") from None


def _event(after: dict[str, Any], state: str) -> CameraEvent:
    event_id = clean_text(_required_str(after, "id"))
    start = _time(after, "start_time")
    has_snapshot = _optional(after, "has_snapshot", bool) or False
    plate = after.get("recognized_license_plate")  # Frigate 0.16+ LPR
    return CameraEvent(
        time=start,
        event_id=event_id,
        source=SOURCE,
        camera=clean_text(_required_str(after, "camera")),
        event_type=EVENT_TYPE,
        state=state,
        label=normalise_label(_optional(after, "label", str)),
        score=_score(after, "score"),
        top_score=_score(after, "top_score"),
        zones=_zones(after),
        end_time=_time(after, "end_time") if after.get("end_time") is not None else None,
        plate=clean_text(plate, _MAX_LABEL) if isinstance(plate, str) and plate else None,
        plate_score=_score(after, "recognized_license_plate_score") if plate else None,
        has_snapshot=has_snapshot,
        false_positive=_optional(after, "false_positive", bool) or False,
        frame_time=_time(after, "frame_time") if after.get("frame_time") is not None else start,
        snapshot=f"frigate:{event_id}" if has_snapshot else None,
        box=_box(after),
        stationary=_optional(after, "stationary", bool) or False,
        attributes=clean_json({k: v for k, v in after.items() if k not in _NOT_ATTRIBUTES}),
    )


def _required_str(after: dict[str, Any], key: str) -> str:
    value = after.get(key)
    if type(value) is not str or not value:
        raise DecodeError(f"field 'after.{key}' missing or not a non-empty string")
    return value


def _optional(after: dict[str, Any], key: str, kind: type) -> Any:
    value = after.get(key)
    if value is not None and type(value) is not kind:
        raise DecodeError(f"field 'after.{key}': {show(value)} is not a {kind.__name__}")
    return value


def _score(after: dict[str, Any], key: str) -> float | None:
    value = after.get(key)
    if value is None:
        return None
    if type(value) is not float and type(value) is not int:
        raise DecodeError(f"field 'after.{key}': {show(value)} is not a number")
    # The column is PostgreSQL real: a score below float32's smallest normal (5e-324 was
    # sent) is refused there and costs the whole batch a retry; as a probability it is 0.
    return 0.0 if abs(value) < _FLOAT32_TINY else float(value)


def _time(after: dict[str, Any], key: str) -> datetime:
    value = after.get(key)
    if type(value) is not float and type(value) is not int:
        raise DecodeError(f"field 'after.{key}' missing or not epoch seconds")
    try:
        return check_event_time(datetime.fromtimestamp(value, UTC))
    except (ValueError, OverflowError, OSError) as error:
        raise DecodeError(f"field 'after.{key}': {error}") from None


def _zones(after: dict[str, Any]) -> tuple[str, ...]:
    # entered_zones is every zone the object has been in during the event, which is what
    # a search by zone wants; current_zones only the latest frame's.
    key = "entered_zones" if after.get("entered_zones") else "current_zones"
    zones = after.get(key) or []
    if not isinstance(zones, list) or not all(type(z) is str for z in zones):
        raise DecodeError(f"field 'after.{key}' is not a list of strings")
    return tuple(clean_text(z, _MAX_LABEL) for z in zones[:MAX_ZONES])


def _box(after: dict[str, Any]) -> tuple[float, float, float, float] | None:
    value = after.get("box")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(type(v) in (int, float) and 0 <= v <= _MAX_PIXEL for v in value)
    ):
        raise DecodeError(f"field 'after.box': {show(value)} is not [x1, y1, x2, y2] in pixels")
    x1, y1, x2, y2 = (float(v) for v in value)
    return (x1, y1, x2, y2)
