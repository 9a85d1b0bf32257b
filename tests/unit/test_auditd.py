"""auditd: records joined by serial, hex values decoded, envelopes, hostile lines."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.auditd import parse_record, tokens
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from tests.unit.web_linux_samples import AUDITD_LINES, auditd_tokens

decode = get_decoder("auditd")


def decode_all(payload: str | bytes, offset: int | None = 11) -> list[SecurityEvent]:
    data = payload.encode() if isinstance(payload, str) else payload
    return list(decode(RawMessage("kafka", "seclog.auditd", data, 0, offset)))


def one(payload: str | bytes) -> SecurityEvent:
    events = decode_all(payload)
    assert len(events) == 1
    return events[0]


def test_records_of_one_serial_are_one_event() -> None:
    event = one(AUDITD_LINES[0])
    doc = event.ecs
    assert event.dataset == "auditd.log" and event.time.isoformat().startswith("2026-12-03T04:00")
    assert doc["auditd"]["record_types"] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]
    assert doc["auditd"]["serial"] == 4567
    assert doc["auditd"]["syscall"]["name"] == "execve"  # from the ENRICHED part
    assert doc["auditd"]["execve"]["args"] == ["ls", "/tmp/a b"]  # a1 was hex
    assert doc["process"] == {
        "pid": 1234,
        "parent": {"pid": 1200},
        "executable": "/usr/bin/ls",
        "name": "ls",
        "args": ["ls", "/tmp/a b"],
        "args_count": 2,
        "command_line": "ls /tmp/a b",
        "title": "ls /tmp/a b",  # proctitle's NULs are spaces
        "working_directory": "/root",
    }
    assert doc["user"]["name"] == "root" and doc["user"]["audit"] == {"id": "1000", "name": "alice"}
    assert doc["event"]["category"] == ["process"] and doc["event"]["type"] == ["start"]
    assert doc["host"]["os"]["type"] == "linux" and doc["file"]["path"] == "/usr/bin/ls"
    assert "EOE" not in doc["auditd"]["record_types"]
    assert "a1=/tmp/a b" in event.message  # keyword rules search decoded values


def test_two_serials_in_one_message_are_two_events() -> None:
    text = AUDITD_LINES[0] + "\n" + AUDITD_LINES[1]
    events = decode_all(text)
    assert [e.ecs["auditd"]["serial"] for e in events] == [4567, 4600]
    assert len({e.event_id for e in events}) == 2


def test_user_space_record_reads_the_nested_msg() -> None:
    event = one(AUDITD_LINES[1])
    assert event.host_name == "db01"
    assert event.ecs["auditd"]["other"]["unit"] == "nginx"
    assert event.ecs["process"]["executable"] == "/usr/lib/systemd/systemd"
    assert event.action == "service_stop" and event.outcome == "success"


def test_syslog_wrapped_login_failure() -> None:
    event = one(AUDITD_LINES[2])
    assert event.host_name == "web01" and event.source_ip == "203.0.113.7"
    assert event.user_name == "alice" and event.outcome == "failure"
    assert event.category == ("authentication",)


def test_kernel_numeric_type_and_split_arguments() -> None:
    event = one(AUDITD_LINES[3])
    assert event.ecs["auditd"]["record_types"] == ["EXECVE"]
    assert event.ecs["auditd"]["execve"]["a2"] == "/a/b"  # a2[0] + a2[1], hex


def test_syscall_number_is_named_without_enrichment() -> None:
    event = one(
        "type=SYSCALL msg=audit(1796270400.000:9): arch=c00000b7 syscall=92 success=no "
        'exit=-1 a0=40000 pid=5 comm="x" exe="/tmp/x" key=6B31016B32'
    )
    syscall = event.ecs["auditd"]["syscall"]
    assert (syscall["name"], syscall["number"], syscall["arch_name"]) == (
        "personality",
        92,
        "aarch64",
    )
    assert syscall["a0"] == "40000"  # SYSCALL arguments are numbers, never hex-decoded
    assert event.ecs["tags"] == ["k1", "k2"] and event.outcome == "failure"


def test_numbers_past_64_bits_never_reach_the_ecs_document() -> None:
    """Found by tests/fuzz: syscall=<25 digits> decoded, and the writer's orjson then
    refused the event and stopped the worker's Kafka source."""
    event = one(
        "type=SYSCALL msg=audit(1796270400.000:9): arch=c000003e"
        " syscall=9999999999999999999999959 success=yes pid=5"
    )
    syscall = event.ecs["auditd"]["syscall"]
    assert "number" not in syscall and "name" not in syscall
    orjson.dumps(event.ecs)  # what store/writer.py does with it
    with pytest.raises(DecodeError, match="audit serial 99999999999999999999 is out of range"):
        decode_all("type=SYSCALL msg=audit(1796270400.000:99999999999999999999): pid=5")


def test_filebeat_json_envelope() -> None:
    payload = orjson.dumps({"message": AUDITD_LINES[1].split(" ", 1)[1], "host": {"name": "h9"}})
    assert one(payload).host_name == "h9"


def test_record_tokens_quote_styles_and_words() -> None:
    found = list(tokens('avc:  denied  { read } for pid=3 comm="a b" msg=\'x=1 y="2"\' k='))
    assert found == [
        ("pid", "3", False),
        ("comm", "a b", True),
        ("msg", 'x=1 y="2"', True),
        ("k", "", False),
    ]
    record = parse_record("EXECVE", 'argc=1 a0=41420043 name=(null) a1="\x1b[31m"')
    assert record.fields == {"argc": "1", "a0": "AB\u2400C", "a1": "\u241b[31m"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("type=EOE msg=audit(1796270400.123:4567): ", "only EOE"),
        ("hello", "not an audit record"),
        ("type=SYSCALL msg=audit(x:1): a=b", "not an audit record"),
        ("type=SYSCALL msg=audit(900000000.000:1): a=b", "before 2000"),
        ("type=SYSCALL msg=audit(999999999999.000:1): a=b", "out of range|future"),
        ("type=PATH msg=audit(1796270400.1:1): a=b\nnope", "line 2: not an audit record"),
        ("{}", "without a 'message'"),
        ("\n".join(["type=PATH msg=audit(1796270400.1:1): x=1"] * 129), "more than 128 records"),
    ],
)
def test_bad_input_is_a_decode_error_with_a_reason(payload: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_all(payload)


def test_a_line_with_many_fields_is_bounded() -> None:
    line = "type=SYSCALL msg=audit(1796270400.1:1): " + " ".join(f"k{i}=v" for i in range(5000))
    assert len(one(line).ecs["auditd"]["syscall"]) <= 260


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(auditd_tokens, max_size=24).map("".join))
def test_hostile_token_soup_never_crashes(text: str) -> None:
    payload = text.encode("utf-8", "surrogatepass")
    try:
        events = decode_all(payload, None)
    except DecodeError as error:
        assert str(error)
        return
    assert all(event.raw == payload for event in events)
