"""Native JSON telemetry: one reading or a batch; atomic; reasons name record and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from events.models import Measurement, Quality
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

TOPIC = "ioc/v1/aqm-hn-hoankiem-01/telemetry"
TS = "2026-11-24T08:00:00+07:00"
TS_UTC = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def decode(payload: object, fmt: str = "native_json", topic: str = TOPIC) -> list[Measurement]:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return list(get_decoder(fmt)(RawMessage("mqtt", topic, raw)))  # type: ignore[arg-type]


def by_metric(events: list[Measurement]) -> dict[str, Measurement]:
    return {e.metric: e for e in events}


@pytest.mark.parametrize("fmt", ["native_json", "ioc_telemetry"])
def test_single_reading_with_aliases(fmt: str) -> None:
    events = by_metric(decode({"ts": TS, "pm25": 41.2, "pm10": 63.0, "temp": 29.4}, fmt))
    assert set(events) == {"pm25", "pm10", "temperature"}
    temp = events["temperature"]
    assert (temp.device_id, temp.value, temp.unit, temp.time) == (
        "aqm-hn-hoankiem-01",
        29.4,
        "Cel",
        TS_UTC,
    )
    assert all(e.quality is Quality.GOOD for e in events.values())


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1795482000, TS_UTC),
        (1795482000.25, TS_UTC + timedelta(milliseconds=250)),
        ("2026-11-24T01:00:00Z", TS_UTC),
        ("2026-11-24T08:00:00.000+0700", TS_UTC),
    ],
)
def test_timestamp_forms(ts: object, expected: datetime) -> None:
    (event,) = decode({"ts": ts, "waterLevel": 1.2})
    assert event.time == expected
    assert event.time.tzinfo is UTC


def test_batch_of_readings() -> None:
    batch = [
        {"ts": "2026-11-24T07:00:00+07:00", "water_level": 1.10, "salinity": 0.8},
        {"ts": "2026-11-24T07:15:00+07:00", "water_level": 1.18, "salinity": 1.2},
        {"ts": "2026-11-24T07:30:00+07:00", "water_level": 1.25, "salinity": 4.3},
    ]
    events = decode(batch)
    assert len(events) == 6
    levels = [e.value for e in events if e.metric == "waterLevel"]
    assert levels == [1.10, 1.18, 1.25]
    assert {e.unit for e in events if e.metric == "salinity"} == {"/1000"}


def test_integer_values_become_floats() -> None:
    (event,) = decode({"ts": TS, "intensity": 42})
    assert event.value == 42.0 and isinstance(event.value, float)


@pytest.mark.parametrize(("metric", "value"), [("pm25", 5000.0), ("relativeHumidity", 130)])
def test_out_of_physical_range_is_stored_as_bad(metric: str, value: float) -> None:
    (event,) = decode({"ts": TS, metric: value})
    assert event.quality is Quality.BAD
    assert event.value == value


def test_unknown_metric_is_kept_under_its_own_name() -> None:
    (event,) = decode({"ts": TS, "soilMoisture": 31.5})
    assert (event.metric, event.unit, event.quality) == ("soilMoisture", None, Quality.GOOD)


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"pm25": 1.0}, "field 'ts' missing"),
        ({"ts": "2026-11-24T08:00:00", "pm25": 1.0}, "field 'ts': timestamp has no UTC offset"),
        ({"ts": "yesterday", "pm25": 1.0}, "field 'ts': 'yesterday' is not an ISO 8601"),
        ({"ts": 1795482000000, "pm25": 1.0}, "milliseconds"),
        ({"ts": 631152000, "pm25": 1.0}, "before 2000"),
        ({"ts": True, "pm25": 1.0}, "field 'ts': true is neither"),
        ({"ts": TS, "pm25": "abc"}, "field 'pm25': value 'abc' is not a number"),
        ({"ts": TS, "pm25": True}, "field 'pm25': value true is not a number"),
        ({"ts": TS, "pm25": None}, "field 'pm25': value null is not a number"),
        ({"ts": TS, "pm25": [1]}, "field 'pm25': value […] is not a number"),
        ({"ts": TS, "pm 25": 1.0}, "field 'pm 25': 'pm 25' is not a valid metric name"),
        ({"ts": TS, "temp": 29.0, "temperature": 29.1}, "metric 'temperature' given twice"),
        ({"ts": TS}, "no metric besides 'ts'"),
        ({}, "field 'ts' missing"),
        ([], "empty batch"),
        ([{"ts": TS, "pm25": 1}, 7], "record 2: not a JSON object"),
        (42, "must be a JSON object or an array"),
    ],
)
def test_rejections_name_the_problem(payload: object, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(payload)
    assert reason in str(caught.value)


def test_future_timestamp_is_rejected() -> None:
    with pytest.raises(DecodeError, match=r"field 'ts': .* more than a day in the future"):
        decode({"ts": _future(), "pm25": 1.0})


def test_batch_is_atomic_and_names_the_record() -> None:
    batch = [{"ts": TS, "pm25": 1.0}, {"ts": TS, "pm25": 2.0}, {"ts": TS, "pm25": "abc"}]
    with pytest.raises(DecodeError) as caught:
        decode(batch)
    assert str(caught.value) == "record 3: field 'pm25': value 'abc' is not a number"


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(DecodeError, match="invalid JSON"):
        decode(b'{"ts": 1,')


def test_huge_key_is_shown_shortened() -> None:
    with pytest.raises(DecodeError) as caught:
        decode({"ts": TS, "k" * 10_000: "x"})
    assert len(str(caught.value)) < 300


def test_decoded_readings_equal_validated_measurements() -> None:
    """The decoder builds Measurements without re-validating (Measurement.trusted); they
    must be indistinguishable from ones the model validated itself."""
    payload = {"ts": "2026-11-20T08:00:00+07:00", "pm25": 41, "PM10": 80.5, "temp": 99999}
    decoded = decode(payload, "native_json")
    validated = [
        Measurement(time=m.time, device_id=m.device_id, metric=m.metric, value=m.value,
                    unit=m.unit, quality=m.quality)
        for m in decoded
    ]  # fmt: skip
    assert decoded == validated
    for ours, theirs in zip(decoded, validated, strict=True):
        assert hash(ours) == hash(theirs)
        assert ours.model_dump() == theirs.model_dump()
        assert ours.model_fields_set == theirs.model_fields_set
        assert type(ours.value) is float and ours.time.tzinfo is UTC
    assert [m.quality for m in decoded] == [Quality.GOOD, Quality.GOOD, Quality.BAD]
    with pytest.raises(ValueError, match="frozen"):
        decoded[0].value = 1.0  # type: ignore[misc]
