"""Frigate `frigate/reviews` messages -> one CameraEvent (event_type `review`) each.

A review item is what Frigate's UI lists for a person to look at: a stretch of activity
on one camera, graded `alert` or `detection`, with the tracked objects (their Frigate
event ids), object classes, sub labels and zones in it. Like `frigate/events` it comes
as new, updates and end with one id, so it is one stored row updated in place (identity
(review id, start_time)). The severity is the event's `label`, the zones its `zones`;
the rest goes to `attributes` (`detections`, `objects` as rule classes, `audio`). The
sub labels are not kept: Frigate puts recognised faces' names and known plates' names
there, personal data no rule reads.

A review message carries no frame time of its own: `frame_time` is its end_time when it
has ended, else the time it arrived (never before its start), so each later message of
an item is newer than the one before and updates the stored row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from events.models import CameraEvent, check_event_time
from events.text import clean_json, clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.camera_common import MAX_NAME, MAX_ZONES, normalise_label
from ingest.message import RawMessage

STATES = frozenset({"new", "update", "end"})
SEVERITIES = frozenset({"alert", "detection"})
SOURCE = "frigate"
EVENT_TYPE = "review"
_MAX_DETECTIONS = 256
_LISTS = ("detections", "objects", "sub_labels", "zones", "audio")


@register("frigate_reviews")
def decode_frigate_review(msg: RawMessage) -> list[CameraEvent]:
    try:
        doc = orjson.loads(msg.payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"invalid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DecodeError("payload must be a JSON object")
    state = doc.get("type")
    if type(state) is not str or state not in STATES:
        raise DecodeError(f"field 'type': {show(state)} is not one of new, update, end")
    after = doc.get("after")
    if not isinstance(after, dict):
        raise DecodeError("field 'after' missing or not an object")
    try:
        return [_event(after, state, msg.received_at)]
    except ValidationError as error:
        raise DecodeError(f"after: {validation_reason(error)}") from None


def _event(after: dict[str, Any], state: str, received_at: datetime) -> CameraEvent:
    severity = after.get("severity")
    if type(severity) is not str or severity not in SEVERITIES:
        raise DecodeError(f"field 'after.severity': {show(severity)} is not alert or detection")
    start = _time(after, "start_time")
    end = _end(after, start)
    data = after.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DecodeError("field 'after.data' is not an object")
    lists = {key: _strings(data, key) for key in _LISTS}
    objects = [normalise_label(o) for o in lists["objects"]]
    return CameraEvent(
        time=start,
        event_id=clean_text(_required_str(after, "id")),
        source=SOURCE,
        camera=clean_text(_required_str(after, "camera")),
        event_type=EVENT_TYPE,
        state=state,
        label=severity,
        zones=tuple(dict.fromkeys(clean_text(z, MAX_NAME) for z in lists["zones"]))[:MAX_ZONES],
        end_time=end,
        frame_time=end if end is not None else max(start, _received(received_at)),
        attributes=clean_json(
            {
                "detections": lists["detections"][:_MAX_DETECTIONS],
                "objects": list(dict.fromkeys(o for o in objects if o)),
                "audio": lists["audio"],
            }
        ),
    )


def _end(after: dict[str, Any], start: datetime) -> datetime | None:
    """None while the item is open (Frigate sends end_time null until it ends). An end
    before the start is not an open item but a contradiction: its frame time (the end)
    would come before the item's start and the updates already stored."""
    if after.get("end_time") is None:
        return None
    end = _time(after, "end_time")
    if end < start:
        raise DecodeError(
            f"field 'after.end_time': {end.isoformat()} is before start_time {start.isoformat()}"
        )
    return end


def _received(value: datetime) -> datetime:
    try:
        return check_event_time(value)
    except ValueError:
        return datetime.now(UTC)


def _required_str(after: dict[str, Any], key: str) -> str:
    value = after.get(key)
    if type(value) is not str or not value:
        raise DecodeError(f"field 'after.{key}' missing or not a non-empty string")
    return value


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise DecodeError(f"field 'after.data.{key}' is not a list of strings")
    return value


def _time(after: dict[str, Any], key: str) -> datetime:
    value = after.get(key)
    if type(value) is not float and type(value) is not int:
        raise DecodeError(f"field 'after.{key}' missing or not epoch seconds")
    try:
        return check_event_time(datetime.fromtimestamp(value, UTC))
    except (ValueError, OverflowError, OSError) as error:
        raise DecodeError(f"field 'after.{key}': {error}") from None
