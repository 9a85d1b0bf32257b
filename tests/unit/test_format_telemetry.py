"""ioc_telemetry: the device comes from the topic; the payload shape picks the parser."""

from __future__ import annotations

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from events.models import DeviceId
from ingest.formats.base import DecodeError, get_decoder, known_formats
from ingest.formats.telemetry import DEVICE_ID, device_from_topic
from ingest.message import RawMessage

TS = "2026-11-24T08:00:00+07:00"
NATIVE = {"ts": TS, "pm25": 41.2}
SENML = [{"bn": "urn:dev:mac:0024befffe804ff1:", "bt": 1763600000, "n": "pm25", "v": 18.4}]


def decode(payload: object, topic: str = "ioc/v1/dev-1/telemetry", fmt: str = "ioc_telemetry"):
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return list(get_decoder(fmt)(RawMessage("mqtt", topic, raw)))


def test_all_three_names_are_registered() -> None:
    assert {"ioc_telemetry", "native_json", "senml"} <= set(known_formats())


@pytest.mark.parametrize(
    ("payload", "value"),
    [(NATIVE, 41.2), ([NATIVE, {"ts": TS, "pm25": 2.0}], 41.2), (SENML, 18.4)],
)
def test_shape_detection(payload: object, value: float) -> None:
    events = decode(payload)
    assert events[0].value == value
    assert events[0].device_id == "dev-1"


@pytest.mark.parametrize(
    "topic",
    [
        "ioc/v1/aqm-hn-001/telemetry",
        "ioc/v1/urn:dev:mac:0024befffe804ff1/telemetry",
        "ioc/v1/WL.KG_01/telemetry",
    ],
)
def test_device_id_is_taken_from_the_topic(topic: str) -> None:
    (event,) = decode(NATIVE, topic)
    assert event.device_id == topic.split("/")[2]


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("ioc/v1/dev-1/status", "is not of the form ioc/v1/<device_id>/telemetry"),
        ("ioc/v2/dev-1/telemetry", "is not of the form"),
        ("ioc/v1/hn/dev-1/telemetry", "is not of the form"),
        ("ioc/v1//telemetry", "device id '' in the topic is not valid"),
        ("ioc/v1/-dev/telemetry", "device id '-dev' in the topic is not valid"),
        ("ioc/v1/dev 1/telemetry", "is not valid"),
    ],
)
@pytest.mark.parametrize("fmt", ["ioc_telemetry", "native_json", "senml"])
def test_bad_topics_are_rejected(topic: str, reason: str, fmt: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(NATIVE, topic, fmt)
    assert reason in str(caught.value)


@pytest.mark.parametrize("device", ["a", "A-1", "x" * 128, "x" * 129, "-a", "a b", "a/b", "é"])
def test_device_id_rule_matches_the_canonical_model(device: str) -> None:
    try:
        TypeAdapter(DeviceId).validate_python(device)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert bool(DEVICE_ID.fullmatch(device)) is model_ok


def test_device_from_topic_is_cached_and_stable() -> None:
    assert device_from_topic("ioc/v1/cached-1/telemetry") == "cached-1"
    assert device_from_topic("ioc/v1/cached-1/telemetry") == "cached-1"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"n": "pm25", "v": 1}, "a SenML pack must be a JSON array"),
        ([1, 2], "record 1: not a JSON object"),
        ([], "empty batch"),
        ("text", "must be a JSON object or an array"),
        (b"\xff\xfe", "invalid JSON"),
    ],
)
def test_unrecognised_shapes_are_rejected(payload: object, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert reason in str(caught.value)


def test_single_format_routes_do_not_guess() -> None:
    with pytest.raises(DecodeError, match="record 1: field 'ts' missing"):
        decode(SENML, fmt="native_json")
    with pytest.raises(DecodeError, match="must be a JSON array"):
        decode(NATIVE, fmt="senml")
