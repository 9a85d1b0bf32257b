"""Device telemetry on MQTT topic `ioc/v1/<device_id>/telemetry`.

The topic, not the payload, says which device sent a message: the broker's ACL ties
each device's credentials to its own topic, so a device cannot write readings for
another one by putting a different id in the body.

"ioc_telemetry" accepts both payload shapes devices speak and picks by shape:
SenML (a JSON array of records with SenML keys) or native JSON (an object, or an array
of objects with "ts"). "native_json" and "senml" are registered here too, for routes
whose devices speak only one of them; all three share the topic rule.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from events.models import Measurement
from ingest.formats.base import DecodeError, register
from ingest.formats.native_json import decode_document
from ingest.formats.senml import SENML_KEYS, decode_records
from ingest.message import RawMessage

TOPIC_PREFIX = ("ioc", "v1")
TOPIC_SUFFIX = "telemetry"
# Same rule as events.models.DeviceId (a test keeps the two in step).
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

# Parsing the topic per message is wasted work: a worker sees the same few thousand
# device topics over and over. Bounded so that junk topics cannot grow it forever.
_DEVICE_CACHE: dict[str, str] = {}
_DEVICE_CACHE_LIMIT = 100_000


def device_from_topic(topic: str) -> str:
    try:
        return _DEVICE_CACHE[topic]
    except KeyError:
        pass
    parts = topic.split("/")
    if len(parts) != 4 or (parts[0], parts[1]) != TOPIC_PREFIX or parts[3] != TOPIC_SUFFIX:
        raise DecodeError(f"topic {topic[:200]!r} is not of the form ioc/v1/<device_id>/telemetry")
    device_id = parts[2]
    if not DEVICE_ID.fullmatch(device_id):
        raise DecodeError(
            f"device id {device_id[:200]!r} in the topic is not valid"
            " (a letter or digit, then up to 127 letters, digits or _ . : -)"
        )
    if len(_DEVICE_CACHE) < _DEVICE_CACHE_LIMIT:
        _DEVICE_CACHE[topic] = device_id
    return device_id


def load_json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"invalid JSON: {error}") from None


def is_senml(doc: list[Any]) -> bool:
    """The first record uses SenML keys and has no native "ts"."""
    first = doc[0] if doc else None
    return isinstance(first, dict) and "ts" not in first and not SENML_KEYS.isdisjoint(first)


@register("ioc_telemetry")
def decode_telemetry(msg: RawMessage) -> list[Measurement]:
    device_id = device_from_topic(msg.topic)
    doc = load_json(msg.payload)
    if isinstance(doc, list):
        if is_senml(doc):
            return decode_records(doc, device_id, msg.received_at)
        return decode_document(doc, device_id)  # a native batch; it names a bad record
    if isinstance(doc, dict) and "ts" not in doc and not SENML_KEYS.isdisjoint(doc):
        raise DecodeError("looks like a SenML record, but a SenML pack must be a JSON array")
    return decode_document(doc, device_id)


@register("native_json")
def decode_native_json(msg: RawMessage) -> list[Measurement]:
    return decode_document(load_json(msg.payload), device_from_topic(msg.topic))


@register("senml")
def decode_senml(msg: RawMessage) -> list[Measurement]:
    return decode_records(load_json(msg.payload), device_from_topic(msg.topic), msg.received_at)
