"""The pure half of HTTP ingest: splitting bodies into items, decoding them as the
brokers' messages are decoded, and the answer per item."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from events.models import Measurement
from ingest.http import items as h
from ingest.routes import HttpConfig, HttpRoute, load_routes
from store.writer import dead_letter_id

DEVICE = "ag-lx-aq01"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def decode_native(body: bytes) -> list:
    found = h.native_items(body, DEVICE)
    return h.decode_items(
        found, h.telemetry_topic(DEVICE), h.NATIVE, h.telemetry_router(h.NATIVE), 262144, NOW
    )


def decode_senml(body: bytes) -> list:
    found = h.senml_items(body, DEVICE)
    return h.decode_items(
        found, h.telemetry_topic(DEVICE), h.SENML, h.telemetry_router(h.SENML), 262144, NOW
    )


def test_content_type_chooses_the_format() -> None:
    assert h.telemetry_format("application/json") == "native_json"
    assert h.telemetry_format("Application/JSON; charset=utf-8") == "native_json"
    assert h.telemetry_format("application/senml+json") == "senml"
    assert h.telemetry_format("text/plain") is None
    assert h.telemetry_format(None) is None


def test_native_records_are_items_and_one_bad_record_costs_only_itself() -> None:
    body = json.dumps([
        {"ts": "2026-12-03T09:59:00+00:00", "pm25": 10.0, "temperature": 30.0},
        {"ts": "2026-12-03T09:59:00+00:00", "pm25": "x"},
        {"ts": "2026-12-03T09:58:00+00:00", "pm25": 11.0},
    ]).encode()  # fmt: skip
    decoded = decode_native(body)
    assert [d.dead_letter is None for d in decoded] == [True, False, True]
    assert len(decoded[0].events) == 2
    assert all(isinstance(e, Measurement) and e.device_id == DEVICE for e in decoded[0].events)
    letter = decoded[1].dead_letter
    assert letter is not None and letter.transport == "http"
    assert letter.topic == f"ioc/v1/{DEVICE}/telemetry"
    assert "not a number" in letter.reason
    assert orjson.loads(letter.payload) == {"ts": "2026-12-03T09:59:00+00:00", "pm25": "x"}


def test_one_object_is_one_item() -> None:
    decoded = decode_native(b'{"ts": 1764756000, "pm25": 3}')
    assert len(decoded) == 1 and decoded[0].dead_letter is None


def test_a_record_naming_another_device_is_rejected_its_own_device_is_dropped() -> None:
    body = json.dumps([
        {"ts": 1764756000, "pm25": 3, "device_id": "kg-other"},
        {"ts": 1764756000, "pm25": 3, "device_id": DEVICE},
    ]).encode()  # fmt: skip
    other, own = decode_native(body)
    assert other.dead_letter is not None
    assert "'kg-other'" in other.dead_letter.reason and "comes from the token" in (
        other.dead_letter.reason
    )
    assert own.dead_letter is None and [e.metric for e in own.events] == ["pm25"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[{", "invalid JSON"),
        (b"42", "JSON object or an array"),
        (b"[]", "empty batch"),
    ],
)
def test_a_body_that_cannot_be_split_is_unusable(body: bytes, reason: str) -> None:
    with pytest.raises(h.BodyUnusable, match=reason):
        h.native_items(body, DEVICE)


def test_senml_records_carry_the_base_fields_in_force() -> None:
    body = json.dumps([
        {"bn": f"urn:dev:{DEVICE}:", "bt": 1764756000, "bu": "Cel", "n": "temperature", "v": 30},
        {"n": "temperature", "t": 60, "v": 31},
        {"n": "temperature", "t": 120, "vs": "hot"},
        {"bt": 1764756600, "n": "temperature", "v": 32},
    ]).encode()  # fmt: skip
    decoded = decode_senml(body)
    assert [d.dead_letter is None for d in decoded] == [True, True, False, True]
    times = [d.events[0].time.timestamp() for d in decoded if d.dead_letter is None]
    assert times == [1764756000, 1764756060, 1764756600]
    values = [d.events[0].value for d in decoded if d.dead_letter is None]
    assert values == [30.0, 31.0, 32.0]
    # A rejected record's dead letter is self-contained: replayed alone, it means the same.
    letter = decoded[2].dead_letter
    assert letter is not None
    assert orjson.loads(letter.payload)[0]["bt"] == 1764756000


@pytest.mark.parametrize(
    ("base_name", "n", "ok"),
    [
        (f"urn:dev:{DEVICE}:", "pm25", True),
        (f"{DEVICE}/", "pm25", True),
        (DEVICE, "pm25", True),
        (f"{DEVICE}/pm25", None, True),
        ("urn:dev:kg-other:", "pm25", False),
        (f"urn:dev:x{DEVICE}:", "pm25", False),
        ("kg-other/pm25", None, False),
        ("pm25", None, True),  # the base name is only the quantity
    ],
)
def test_a_senml_base_name_may_name_only_the_tokens_device(
    base_name: str, n: str | None, ok: bool
) -> None:
    record: dict = {"bn": base_name, "bt": 1764756000, "v": 1.0}
    if n is not None:
        record["n"] = n
    [decoded] = decode_senml(json.dumps([record]).encode())
    if ok:
        assert decoded.dead_letter is None, decoded.dead_letter
    else:
        assert decoded.dead_letter is not None
        assert "names device" in decoded.dead_letter.reason


def test_senml_must_be_a_pack() -> None:
    with pytest.raises(h.BodyUnusable, match="JSON array"):
        h.senml_items(b'{"n": "pm25", "v": 1}', DEVICE)


def test_lines_are_items_blank_ones_skipped() -> None:
    found = h.line_items(b"a one\r\n\r\n  \nb two\nc three")
    assert [i.payload for i in found] == [b"a one", b"b two", b"c three"]


def test_json_array_items() -> None:
    assert [i.payload for i in h.json_array_items(b'[{"a": 1}, 2]')] == [b'{"a":1}', b"2"]
    assert [i.payload for i in h.json_array_items(b'{"a": 1}')] == [b'{"a": 1}']
    with pytest.raises(h.BodyUnusable):
        h.json_array_items(b'"x"')


def test_count_limit() -> None:
    h.check_count([h.Item(b"x")] * 3, 3)
    with pytest.raises(h.TooManyItems) as error:
        h.check_count([h.Item(b"x")] * 4, 3)
    assert (error.value.count, error.value.limit) == (4, 3)


def test_results_per_item_from_the_rows_the_writer_reported_new() -> None:
    body = json.dumps([
        {"ts": 1764756000, "pm25": 1.0},
        {"ts": 1764756000, "pm25": 1.0},
        {"ts": 1764756060, "pm25": 2.0, "pm10": 3.0},
        {"ts": 1764756120, "pm25": []},
    ]).encode()  # fmt: skip
    decoded = decode_native(body)
    # The writer kept the first of the two identical readings, and one of item 2's two.
    fresh = {id(decoded[0].events[0]), id(decoded[2].events[1])}
    results = h.results(decoded, fresh)
    assert [r.status for r in results] == ["stored", "duplicate", "stored", "rejected"]
    letter = decoded[3].dead_letter
    assert letter is not None
    assert results[3].dead_letter_id == dead_letter_id(letter)
    summary = h.summary(results)
    assert (summary["received"], summary["stored"], summary["duplicate"], summary["rejected"]) == (
        4, 2, 1, 1,
    )  # fmt: skip
    assert summary["items"][1] == {"index": 1, "status": "duplicate"}
    assert set(summary["items"][3]) == {"index", "status", "reason", "dead_letter_id"}


def test_generic_routes_decode_on_their_own_topic() -> None:
    config = HttpConfig(routes=(HttpRoute(name="syslog", format="syslog"),))
    route = config.routes[0]
    line = (
        b"<38>Dec  3 10:00:01 mail sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2"
    )
    for device, topic in ((None, "http/syslog"), ("shipper-1", "http/syslog/shipper-1")):
        assert h.route_topic(route, device) == topic
        [decoded] = h.decode_items(
            h.line_items(line), topic, "syslog", h.routes_router(config), 262144, NOW
        )
        assert decoded.dead_letter is None and decoded.format == "syslog"


def test_route_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="ingest/telemetry"):
        HttpRoute(name="x", format="senml")
    with pytest.raises(ValueError, match="reserved"):
        HttpRoute(name="telemetry", format="syslog")
    with pytest.raises(ValueError, match="unknown format"):
        HttpRoute(name="x", format="nope")
    with pytest.raises(ValueError, match="given twice"):
        HttpConfig(routes=(HttpRoute(name="a", format="cef"), HttpRoute(name="a", format="cef")))
    shipped = load_routes(REPO / "deploy" / "ingest" / "routes.yaml").http
    assert shipped.route("syslog") is not None and shipped.route("telemetry") is None


def test_the_count_limit_applies_before_items_are_built() -> None:
    with pytest.raises(h.TooManyItems) as error:
        h.native_items(b"[" + b",".join([b"{}"] * 5) + b"]", DEVICE, limit=4)
    assert (error.value.count, error.value.limit) == (5, 4)
    with pytest.raises(h.TooManyItems):
        h.senml_items(b"[1, 2, 3]", DEVICE, limit=2)
    with pytest.raises(h.TooManyItems):
        h.json_array_items(b"[1, 2, 3]", limit=2)
    with pytest.raises(h.TooManyItems) as lines:
        h.line_items(b"a\n\nb\nc\nd\n", limit=2)
    assert lines.value.count == 4
    assert len(h.line_items(b"a\n\nb\n", limit=2)) == 2
