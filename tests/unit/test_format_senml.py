"""SenML (RFC 8428): base fields, relative time, units, value kinds, rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from events.models import Measurement, Quality
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

TOPIC = "ioc/v1/wl-kg-xeoro-01/telemetry"
RECEIVED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
BT = 1763600000.0  # 2025-11-20T00:53:20Z


def decode(pack: object, fmt: str = "senml") -> list[Measurement]:
    raw = pack if isinstance(pack, bytes) else orjson.dumps(pack)
    msg = RawMessage("mqtt", TOPIC, raw, received_at=RECEIVED)
    return list(get_decoder(fmt)(msg))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["senml", "ioc_telemetry"])
def test_reference_example_with_base_name_and_time(fmt: str) -> None:
    pack = [
        {"bn": "urn:dev:mac:0024befffe804ff1:", "bt": BT, "n": "pm25", "u": "ug/m3", "v": 18.4},
        {"n": "temp", "u": "Cel", "v": 29.1},
    ]
    pm25, temp = decode(pack, fmt)
    assert (pm25.device_id, pm25.metric, pm25.value, pm25.unit) == (
        "wl-kg-xeoro-01",
        "pm25",
        18.4,
        "ug/m3",
    )
    assert (temp.metric, temp.unit) == ("temperature", "Cel")
    assert pm25.time == temp.time == datetime.fromtimestamp(BT, UTC)


def test_base_fields_carry_over_until_changed() -> None:
    pack = [
        {"bn": "dev/", "bt": BT, "bu": "m", "n": "waterLevel", "v": 0.91, "t": 0},
        {"n": "waterLevel", "v": 0.95, "t": 60},
        {"bu": "cm", "n": "waterLevel", "v": 99, "t": 120},
        {"bn": "other:", "n": "salinity", "u": "/1000", "v": 2.5, "t": 120},
    ]
    events = decode(pack)
    assert [e.value for e in events[:3]] == pytest.approx([0.91, 0.95, 0.99])
    assert [e.time - events[0].time for e in events[:3]] == [
        timedelta(0),
        timedelta(seconds=60),
        timedelta(seconds=120),
    ]
    assert (events[3].metric, events[3].value, events[3].unit) == ("salinity", 2.5, "/1000")


def test_relative_times_count_from_reception() -> None:
    pack = [{"n": "rainfall", "u": "mm/h", "v": 12.5, "t": -300}, {"n": "rainfall", "v": 14.0}]
    first, second = decode(pack)
    assert first.time == RECEIVED - timedelta(seconds=300)
    assert second.time == RECEIVED


def test_base_time_relative_plus_offset() -> None:
    (event,) = decode([{"bt": -60, "n": "pH", "v": 7.2, "t": 30}])
    assert event.time == RECEIVED - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("name", "unit", "value", "metric", "expected", "canonical"),
    [
        ("water_level", "cm", 120, "waterLevel", 1.2, "m"),
        ("salinity", "/1000", 4.1, "salinity", 4.1, "/1000"),
        ("temperature", "K", 303.15, "temperature", 30.0, "Cel"),
        ("no2", "ppb", 50, "no2", 94.081, "ug/m3"),
        ("humidity", "%RH", 81, "relativeHumidity", 81.0, "%RH"),
        ("ec", "mS/cm", 2.2, "conductivity", 2200.0, "uS/cm"),
        ("rainfall", "mm/h", 30, "rainfall", 30.0, "mm/h"),
    ],
)
def test_units_convert_to_canonical(name, unit, value, metric, expected, canonical) -> None:
    (event,) = decode([{"bt": BT, "n": name, "u": unit, "v": value}])
    assert (event.metric, event.unit) == (metric, canonical)
    assert event.value == pytest.approx(expected)


def test_range_check_happens_after_conversion() -> None:
    (event,) = decode([{"bt": BT, "n": "waterLevel", "u": "cm", "v": 90000}])
    assert event.value == pytest.approx(900.0)
    assert event.quality is Quality.BAD


def test_boolean_values_and_base_value() -> None:
    door, level = decode(
        [
            {"bt": BT, "n": "doorOpen", "vb": True},
            {"bv": 100, "n": "counter", "v": 5},
        ]
    )
    assert (door.metric, door.value, door.unit) == ("doorOpen", 1.0, None)
    assert level.value == 105.0


def test_unknown_metric_keeps_its_unit() -> None:
    (event,) = decode([{"bt": BT, "n": "leafWetness", "u": "%", "v": 33}])
    assert (event.metric, event.unit, event.value) == ("leafWetness", "%", 33.0)


def test_name_without_n_takes_last_segment_of_base_name() -> None:
    (event,) = decode([{"bn": "urn:dev:ow:10e2073a01080063:temp", "bt": BT, "v": 23.1}])
    assert event.metric == "temperature"


def test_future_version_and_unknown_fields_are_ignored_only_when_allowed() -> None:
    (event,) = decode([{"bver": 10, "bt": BT, "n": "pH", "v": 7.0, "extra": "ignored"}])
    assert event.metric == "pH"


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ([{"bt": BT, "n": "pH", "v": 7}, {"n": "status", "vs": "ok"}], "record 2: string values"),
        ([{"bt": BT, "n": "blob", "vd": "aGVsbG8="}], "record 1: data values"),
        ([{"bt": BT, "n": "waterLevel", "u": "furlong", "v": 1}], "record 1: unit 'furlong'"),
        ([{"bt": BT, "n": "pm25", "u": "Cel", "v": 1}], "cannot be converted to 'ug/m3'"),
        ([{"bt": BT, "n": "pH", "v": "7"}], "record 1: field 'v': '7' is not a number"),
        ([{"bt": BT, "n": "pH", "v": True}], "field 'v': true is not a number"),
        ([{"bt": BT, "n": "pH"}], "record 1: no value"),
        ([{"bt": BT, "n": "pH", "s": 3}], "sum-only records"),
        ([{"bt": BT, "n": "pH", "v": 7, "vb": True}], "more than one value field"),
        ([{"bt": BT, "n": "door", "vb": 1}], "field 'vb': 1 is not true or false"),
        ([{"bver": 99, "n": "pH", "v": 7}], "version 99 is not supported"),
        ([{"n": "pH", "v": 7, "crit_": 1}], "field 'crit_' must be understood"),
        ([{"n": "inside/temp", "v": 7}], "'inside/temp' is not a valid metric name"),
        ([{"n": "bad name", "v": 7}], "'bad name' is not a valid SenML name"),
        ([{"v": 7}], "no name"),
        ([{"bn": "urn:dev:x:", "v": 7}], "ends in a separator"),
        ([{"bt": "now", "n": "pH", "v": 7}], "field 'bt'"),
        ([{"bt": 1e30, "n": "pH", "v": 7}], "record 1: time:"),
        ([{"bt": 946684700, "n": "pH", "v": 7}], "before 2000"),
        ([{"n": "pH", "v": 7}, 3], "record 2: not a JSON object"),
        ([{"n": "pH", "u": 5, "v": 7}], "field 'u': 5 is not a string"),
        ([], "empty SenML pack"),
        ({"n": "pH", "v": 7}, "must be a JSON array"),
    ],
)
def test_rejections_name_the_record_and_problem(pack: object, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(pack)
    assert reason in str(caught.value)


def test_future_time_is_rejected() -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).timestamp()
    with pytest.raises(DecodeError, match=r"record 1: time: .*future"):
        decode([{"bt": future, "n": "pH", "v": 7}])
