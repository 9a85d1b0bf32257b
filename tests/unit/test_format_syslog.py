"""Syslog RFC 3164 / RFC 5424 lines -> ECS SecurityEvents, including hostile bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.timezone import LOCAL_TZ
from events.ids import stable_id
from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.formats.syslog import MAX_MESSAGE_CHARS, decode_syslog, parse_line
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in as _strings

TOPIC = "seclog.syslog"
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi


def msg(line: bytes, offset: int | None = 1041, received: datetime = RECEIVED) -> RawMessage:
    return RawMessage("kafka", TOPIC, line, partition=2, offset=offset, received_at=received)


def decode(line: bytes, **kwargs: Any) -> SecurityEvent:
    (event,) = get_decoder("syslog")(msg(line, **kwargs))
    assert isinstance(event, SecurityEvent)
    return event


# ---- headers ------------------------------------------------------------------------


def test_rfc3164_single_digit_day_is_space_padded() -> None:
    event = decode(
        b"<38>Nov  4 08:00:00 web01 sshd[1234]: Failed password for root"
        b" from 203.0.113.7 port 49286 ssh2\n"
    )
    assert event.time == datetime(2026, 11, 4, 8, 0, tzinfo=LOCAL_TZ)
    assert (event.host_name, event.process_name, event.severity) == ("web01", "sshd", 6)
    syslog = event.ecs["log"]["syslog"]
    assert syslog["facility"] == {"code": 4, "name": "auth"}
    assert syslog["severity"] == {"code": 6, "name": "Informational"}
    assert syslog["priority"] == 38
    assert event.ecs["process"] == {"name": "sshd", "pid": 1234}


def test_rfc3164_unpadded_day_and_zone_override() -> None:
    (event,) = decode_syslog(msg(b"<13>Nov 4 08:00:00 gw01 kernel: eth0 up"), timezone="UTC")
    assert event.time == datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    assert (event.process_name, event.message) == ("kernel", "eth0 up")


def test_rfc3164_without_hostname() -> None:
    event = decode(b"<86>Nov 24 09:15:02 sudo: pam_unix(sudo:session): session closed")
    assert event.host_name is None
    assert event.process_name == "sudo"


def test_rfc3164_with_rfc3339_timestamp() -> None:
    event = decode(b"<30>2026-11-24T09:00:00.123456+07:00 nas01 smbd[77]: connect from 10.1.1.9")
    assert event.time == datetime(2026, 11, 24, 2, 0, 0, 123456, tzinfo=UTC)
    assert (event.host_name, event.process_name) == ("nas01", "smbd")


def test_file_line_without_pri_is_accepted_without_facility() -> None:
    event = decode(
        b"Nov 24 08:00:00 web01 sshd[9]: Accepted password for an from 10.0.0.8 port 5 ssh2"
    )
    assert event.severity is None
    assert "facility" not in event.ecs["log"]["syslog"]
    assert (event.outcome, event.user_name) == ("success", "an")


def test_pri_with_unparseable_header_is_all_message() -> None:
    event = decode(b"<14>something happened")
    assert (event.message, event.time, event.host_name) == ("something happened", RECEIVED, None)


@pytest.mark.parametrize(
    ("received", "stamp", "year"),
    [
        (datetime(2027, 1, 1, 0, 30, tzinfo=LOCAL_TZ), b"Dec 31 23:59:00", 2026),  # last year
        (datetime(2026, 12, 31, 23, 59, tzinfo=LOCAL_TZ), b"Jan  1 00:00:30", 2027),  # clock ahead
        (datetime(2026, 11, 24, 10, 0, tzinfo=LOCAL_TZ), b"Nov 25 09:00:00", 2026),  # < 1 day ahead
        (datetime(2026, 11, 24, 10, 0, tzinfo=LOCAL_TZ), b"Nov 26 11:00:00", 2025),  # > 1 day ahead
        (datetime(2028, 3, 1, 10, 0, tzinfo=LOCAL_TZ), b"Feb 29 23:00:00", 2028),
    ],
)
def test_rfc3164_year_rollover(received: datetime, stamp: bytes, year: int) -> None:
    line = (b"<13>" + stamp + b" h app: x").decode()
    parsed = parse_line(line, received.astimezone(UTC), LOCAL_TZ)
    assert parsed.time.year == year
    assert parsed.time.tzinfo == LOCAL_TZ


def test_rfc5424_with_structured_data_and_bom() -> None:
    line = (
        b"<165>1 2026-11-24T08:00:00.003+07:00 fw1.hn.gov.vn evntslog 8710 ID47"
        b' [exampleSDID@32473 iut="3" eventSource="Appl\\"ication" eventID="1011"]'
        b'[origin@0 ip="10.2.3.4" x="a\\]b\\\\c"]'
        b" \xef\xbb\xbfAn application event log entry"
    )
    event = decode(line)
    assert event.time == datetime(2026, 11, 24, 1, 0, 0, 3000, tzinfo=UTC)
    assert event.message == "An application event log entry"
    syslog = event.ecs["log"]["syslog"]
    assert (syslog["version"], syslog["msgid"], syslog["procid"]) == ("1", "ID47", "8710")
    assert syslog["structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": 'Appl"ication', "eventID": "1011"},
        "origin@0": {"ip": "10.2.3.4", "x": "a]b\\c"},
    }
    assert (event.host_name, event.process_name, event.severity) == ("fw1.hn.gov.vn", "evntslog", 5)


def test_rfc5424_without_structured_data_and_nil_fields() -> None:
    event = decode(b"<34>1 - - - - - - su root failed for lonvick on /dev/pts/8")
    assert event.time == RECEIVED
    assert (event.host_name, event.process_name) == (None, None)
    assert event.message == "su root failed for lonvick on /dev/pts/8"
    assert "structured_data" not in event.ecs["log"]["syslog"]


def test_rfc5424_empty_message() -> None:
    event = decode(b'<14>1 2026-11-24T01:00:00Z h app - - [a@1 k="v"]')
    assert event.message == ""


# ---- sshd, pam, sudo ----------------------------------------------------------------


def sshd(message: str, program: str = "sshd") -> SecurityEvent:
    return decode(f"<38>Nov 24 08:00:00 web01 {program}[1234]: {message}".encode())


@pytest.mark.parametrize(
    ("message", "user", "ip", "port", "outcome", "method"),
    [
        (
            "Failed password for invalid user admin from 203.0.113.7 port 49286 ssh2",
            "admin",
            "203.0.113.7",
            49286,
            "failure",
            "password",
        ),
        (
            "Failed password for root from 198.51.100.23 port 2201 ssh2",
            "root",
            "198.51.100.23",
            2201,
            "failure",
            "password",
        ),
        (
            "Failed publickey for git from 2001:db8::7 port 50100 ssh2: RSA SHA256:3q2+7w",
            "git",
            "2001:db8::7",
            50100,
            "failure",
            "publickey",
        ),
        (
            "Failed none for invalid user ubnt from 192.0.2.10 port 36002 ssh2",
            "ubnt",
            "192.0.2.10",
            36002,
            "failure",
            "none",
        ),
        (
            "Accepted publickey for deploy from 10.10.0.4 port 50522 ssh2: ED25519 SHA256:Ab",
            "deploy",
            "10.10.0.4",
            50522,
            "success",
            "publickey",
        ),
        (
            "Accepted password for vanhanh from 10.10.0.5 port 41000 ssh2",
            "vanhanh",
            "10.10.0.5",
            41000,
            "success",
            "password",
        ),
        (
            "Accepted keyboard-interactive/pam for ops from 10.10.0.6 port 41001 ssh2",
            "ops",
            "10.10.0.6",
            41001,
            "success",
            "keyboard-interactive/pam",
        ),
    ],
)
def test_sshd_login_lines(message, user, ip, port, outcome, method) -> None:
    event = sshd(message)
    assert (event.action, event.outcome, event.category) == (
        "ssh_login",
        outcome,
        ("authentication",),
    )
    assert (event.user_name, event.source_ip, event.source_port) == (user, ip, port)
    assert event.dataset == "system.auth"
    assert event.ecs["source"] == {"ip": ip, "port": port}
    assert event.ecs["user"] == {"name": user}
    assert event.ecs["event"]["outcome"] == outcome
    assert event.ecs["system"]["auth"]["ssh"]["method"] == method


@pytest.mark.parametrize(
    ("message", "port"),
    [
        ("Invalid user oracle from 203.0.113.7 port 50000", 50000),
        ("Invalid user oracle from 203.0.113.7", None),  # OpenSSH < 7.x
    ],
)
def test_sshd_invalid_user(message: str, port: int | None) -> None:
    event = sshd(message)
    assert (event.outcome, event.user_name, event.source_ip, event.source_port) == (
        "failure",
        "oracle",
        "203.0.113.7",
        port,
    )
    assert event.ecs["system"]["auth"]["ssh"]["event"] == "Invalid"


def test_sshd_session_program_of_new_openssh() -> None:
    event = sshd("Failed password for root from 203.0.113.9 port 1 ssh2", "sshd-session")
    assert (event.action, event.source_ip) == ("ssh_login", "203.0.113.9")


def test_rsyslog_repeated_message_is_unwrapped() -> None:
    event = sshd(
        "message repeated 5 times: [ Failed password for root from 203.0.113.7 port 22 ssh2]"
    )
    assert (event.outcome, event.user_name, event.source_ip) == ("failure", "root", "203.0.113.7")


def test_injected_address_in_user_name_does_not_win() -> None:
    event = sshd(
        "Failed password for invalid user x from 6.6.6.6 port 1 ssh2"
        " from 203.0.113.7 port 49286 ssh2"
    )
    assert (event.source_ip, event.source_port) == ("203.0.113.7", 49286)
    assert event.user_name == "x from 6.6.6.6 port 1 ssh2"


def test_host_name_instead_of_address_goes_to_source_domain() -> None:
    event = sshd("Failed password for root from scanner.example.net port 4000 ssh2")
    assert event.source_ip is None
    assert event.ecs["source"] == {
        "address": "scanner.example.net",
        "domain": "scanner.example.net",
        "port": 4000,
    }


def test_pam_unix_authentication_failure() -> None:
    event = sshd(
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh"
        " ruser= rhost=203.0.113.7  user=root"
    )
    assert (event.action, event.outcome, event.user_name, event.source_ip) == (
        "pam_authentication",
        "failure",
        "root",
        "203.0.113.7",
    )
    assert event.ecs["system"]["auth"]["pam"]["service"] == "sshd"


def test_pam_failure_without_user_or_rhost() -> None:
    event = decode(
        b"<85>Nov 24 08:00:00 ws1 sudo: pam_unix(sudo:auth): authentication failure;"
        b" logname=lan uid=1000 euid=0 tty=/dev/pts/0 ruser=lan rhost="
    )
    assert (event.user_name, event.source_ip, event.outcome) == (None, None, "failure")


def test_sudo_command_success() -> None:
    event = decode(
        b"<85>Nov 24 08:00:00 ws1 sudo:     lan : TTY=pts/0 ; PWD=/home/lan ; USER=root ;"
        b" COMMAND=/usr/bin/systemctl restart ioc-ingest ; echo done"
    )
    assert (event.action, event.outcome, event.category) == ("sudo", "success", ("process",))
    assert event.ecs["user"] == {"name": "lan", "effective": {"name": "root"}}
    assert event.ecs["system"]["auth"]["sudo"]["command"] == (
        "/usr/bin/systemctl restart ioc-ingest ; echo done"
    )


@pytest.mark.parametrize(
    "problem", ["3 incorrect password attempts", "user NOT in sudoers", "command not allowed"]
)
def test_sudo_failures(problem: str) -> None:
    line = (
        f"<85>Nov 24 08:00:00 ws1 sudo: mallory : {problem} ; TTY=pts/1 ; PWD=/tmp ;"
        " USER=root ; COMMAND=/bin/sh"
    )
    event = decode(line.encode())
    assert (event.outcome, event.category, event.user_name) == (
        "failure",
        ("authentication",),
        "mallory",
    )
    assert event.ecs["system"]["auth"]["sudo"]["error"] == problem


def test_ordinary_line_is_system_syslog_without_auth_fields() -> None:
    event = decode(b"<30>Nov 24 08:00:00 nvr01 systemd[1]: Started Frigate NVR.")
    assert (event.dataset, event.category, event.action, event.outcome) == (
        "system.syslog",
        (),
        None,
        None,
    )
    assert "source" not in event.ecs and "user" not in event.ecs


def test_auth_facility_is_system_auth_even_for_unknown_program() -> None:
    event = decode(b"<86>Nov 24 08:00:00 h vendor-agent[3]: token refreshed")
    assert event.dataset == "system.auth"


# ---- identity, raw bytes, hostile input ---------------------------------------------


def test_event_id_uses_kafka_position() -> None:
    event = decode(b"<13>Nov 24 08:00:00 h app: x")
    assert event.event_id == stable_id("kafka", TOPIC, 2, 1041)


def test_event_id_without_position_uses_the_bytes() -> None:
    line = b"<13>Nov 24 08:00:00 h app: x"
    event = decode(line, offset=None)
    assert event.event_id == stable_id("kafka", TOPIC, line)
    assert decode(line, offset=None).event_id == event.event_id


def test_raw_keeps_exact_bytes_including_newline() -> None:
    line = b"<13>Nov 24 08:00:00 h app: caf\xc3\xa9 \xff\x00\n"
    event = decode(line)
    assert event.raw == line
    assert event.message == "café \ufffd␀"


def test_hostile_bytes_never_reach_columns_or_ecs() -> None:
    line = (
        b"<38>Nov 24 08:00:00 we\x00b\x1b[31m sshd[1]: Failed password for invalid user"
        b" \x1b]0;pwned\x07ad\rmin\nroot\x9b\xc2\x9b from 203.0.113.7 port 22 ssh2"
    )
    event = decode(line)
    assert event.raw == line
    texts = _strings(event.ecs) + [
        s for s in (event.message, event.user_name, event.host_name, event.process_name) if s
    ]
    for text in texts:
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text), text
    assert event.user_name == "␛]0;pwned␇ad␍min␊root\ufffd\ufffd"
    assert event.source_ip == "203.0.113.7"


def test_long_message_is_bounded_but_raw_is_not() -> None:
    line = b"<13>Nov 24 08:00:00 h app: " + b"A" * (MAX_MESSAGE_CHARS + 5000)
    event = decode(line)
    assert event.message is not None and len(event.message) == MAX_MESSAGE_CHARS
    assert event.message.endswith("…")
    assert event.raw == line


def test_many_unclosed_brackets_stay_fast() -> None:
    line = b"<13>1 2026-11-24T01:00:00Z h a - - " + b"[a " * 100_000
    with pytest.raises(DecodeError, match="not an RFC 3164 or RFC 5424"):
        decode(line)


def test_many_backslashes_in_a_param_value_stay_fast() -> None:
    line = b'<13>1 2026-11-24T01:00:00Z h a - - [a k="' + b"\\x" * 200_000 + b'"] m'
    event = decode(line)
    assert event.message == "m"


# ---- rejections ---------------------------------------------------------------------


def _future_5424() -> bytes:
    stamp = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    return f"<13>1 {stamp} h a - - - m".encode()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"hello world", "not an RFC 3164 or RFC 5424 syslog line: no <PRI>"),
        (b"", "not an RFC 3164 or RFC 5424 syslog line"),
        (b"<999>Nov 24 08:00:00 h a: m", "<PRI> is not <0>…<191>"),
        (b"<x>Nov 24 08:00:00 h a: m", "<PRI> is not"),
        (b"<13>1 2026-11-24T01:00:00Z host", "RFC 5424 header needs"),
        (b"<13>1 yesterday h a - - - m", "TIMESTAMP 'yesterday' is not RFC 3339"),
        (b"<13>1 2026-11-24T01:00:00 h a - - - m", "has no UTC offset"),
        (b"<13>1 2026-11-24T01:00:00Z h a - - [unclosed", "SD-ID is empty, too long"),
        (b'<13>1 2026-11-24T01:00:00Z h a - - [a k="v"', "is not closed by ']'"),
        (b'<13>1 2026-11-24T01:00:00Z h a - - [a k="v]', "PARAM-VALUE is not closed"),
        (b"<13>1 2026-11-24T01:00:00Z h a - - [a k=v]", 'is not name="value"'),
        (b"<13>1 2026-11-24T01:00:00Z h a - - x", "neither '-' nor [SD-ELEMENT]"),
        (b'<13>1 2026-11-24T01:00:00Z h a - - [a k="v"]x', "not followed by a space"),
        (b"<13>1 1999-12-31T00:00:00Z h a - - - m", "timestamp: timestamp 1999"),
        (b"<13>Feb 30 08:00:00 h a: m", "no valid date and time for day 30 of month 2"),
        (b"<13>Nov 24 25:00:00 h a: m", "no valid date and time for day 24 of month 11"),
    ],
)
def test_rejections_name_the_problem(line: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(line)
    assert reason in str(caught.value)


def test_future_5424_timestamp_is_rejected() -> None:
    with pytest.raises(DecodeError, match=r"timestamp: .*future"):
        decode(_future_5424())


@pytest.mark.parametrize(
    "line",
    [
        "<13>Nov ²4 08:00:00 h app[²]: m",
        "<13>Nov 04 0٨:00:00 h app: m",
        "<1٣>Nov 04 08:00:00 h app: m",
        "<13>1 2026-11-24T01:00:00Z h app ² - - m",
    ],
)
def test_non_ascii_digits_never_crash(line: str) -> None:
    try:
        decode(line.encode())
    except DecodeError as error:
        assert str(error)
