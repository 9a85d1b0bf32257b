"""web_access: nginx/Apache combined and common, IIS W3C; envelopes; hostile lines."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from tests.unit.web_linux_samples import WEB_LINES, web_tokens

decode = get_decoder("web_access")


def one(payload: bytes | str, offset: int | None = 7) -> SecurityEvent:
    events = decode_all(payload, offset)
    assert len(events) == 1
    return events[0]


def decode_all(payload: bytes | str, offset: int | None = 7) -> list[SecurityEvent]:
    data = payload.encode() if isinstance(payload, str) else payload
    return list(decode(RawMessage("kafka", "seclog.web", data, 0, offset)))


def test_nginx_combined_line_becomes_ecs() -> None:
    event = one(
        '203.0.113.7 - alice [03/Dec/2026:10:00:00 +0700] "GET /a/b.php?id=1&x=%27 HTTP/1.1" '
        '403 512 "https://portal.example.vn/" "sqlmap/1.7"'
    )
    assert event.dataset == "nginx.access" and event.category == ("web",)
    assert event.time.isoformat() == "2026-12-03T03:00:00+00:00"
    assert (event.source_ip, event.user_name, event.outcome) == ("203.0.113.7", "alice", "failure")
    doc = event.ecs
    assert doc["http"]["request"] == {"method": "GET", "referrer": "https://portal.example.vn/"}
    assert doc["http"]["response"] == {"status_code": 403, "body": {"bytes": 512}}
    assert doc["url"] == {
        "original": "/a/b.php?id=1&x=%27",
        "path": "/a/b.php",
        "extension": "php",
        "query": "id=1&x=%27",
    }
    assert doc["user_agent"] == {"original": "sqlmap/1.7"}
    assert doc["event"]["module"] == "nginx" and doc["observer"]["product"] == "nginx"
    assert event.raw.startswith(b"203.0.113.7")


def test_common_format_and_vhost_and_dash_fields() -> None:
    event = one(
        'portal.example.vn:8443 ::1 - - [03/Dec/2026:10:00:00 -0100] "GET / HTTP/1.0" 200 -'
    )
    doc = event.ecs
    assert event.source_ip == "::1" and event.user_name is None
    assert doc["url"]["domain"] == "portal.example.vn" and event.destination_port == 8443
    assert "user_agent" not in doc and "bytes" not in doc["http"]["response"].get("body", {})
    assert event.time.isoformat() == "2026-12-03T11:00:00+00:00"


def test_missing_and_empty_user_agent_differ() -> None:
    # "-" is no header (Sigma's `null`); "" is an empty header (rules look for it).
    absent = one('1.2.3.4 - - [03/Dec/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1 "-" "-"')
    empty = one('1.2.3.4 - - [03/Dec/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1 "-" ""')
    assert "user_agent" not in absent.ecs
    assert empty.ecs["user_agent"] == {"original": ""}


def test_nginx_escapes_are_decoded_and_cleaned() -> None:
    event = one(
        '1.2.3.4 - - [03/Dec/2026:10:00:00 +0700] "\\x16\\x03\\x01" 400 157 "-" "a\\"b\\x1bc"'
    )
    assert event.ecs["user_agent"]["original"] == 'a"b\u241bc'
    assert "method" not in event.ecs.get("http", {}).get("request", {})


def test_iis_with_header_and_default_fields() -> None:
    header = (
        "#Software: Microsoft Internet Information Services 10.0\n"
        "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs-host "
        "cs(User-Agent)\n"
    )
    events = decode_all(
        header + "2026-12-03 03:00:00 198.51.100.9 GET /a.aspx q=1 200 intranet.vn A+B\r\n"
        "2026-12-03 03:00:01 198.51.100.9 POST /b - 500 - -\n"
    )
    assert [e.ecs["url"]["original"] for e in events] == ["/a.aspx?q=1", "/b"]
    assert events[0].ecs["url"]["domain"] == "intranet.vn"
    assert events[0].ecs["user_agent"]["original"] == "A B"
    assert events[0].dataset == "iis.access" and events[0].ecs["host"]["os"]["type"] == "windows"
    assert events[0].event_id != events[1].event_id and events[1].outcome == "failure"
    alone = one(WEB_LINES[5])  # a record without its header: IIS's default fields
    assert alone.ecs["http"]["response"]["status_code"] == 404
    assert alone.ecs["destination"] == {"port": 443, "ip": "10.0.0.5"}


def test_iis_record_not_fitting_the_default_fields_says_so() -> None:
    with pytest.raises(DecodeError, match="default #Fields names 15"):
        decode_all("2026-12-03 03:00:00 1.2.3.4 GET /")
    with pytest.raises(DecodeError, match="only W3C directives"):
        decode_all("#Software: Microsoft Internet Information Services 10.0\n#Fields: date")


def test_nxlog_w3c_json() -> None:
    event = one(
        orjson.dumps(
            {"date": "2026-12-03", "time": "03:00:00", "c-ip": "198.51.100.9",
             "cs-method": "GET", "cs-uri-stem": "/x", "sc-status": 200, "s-port": 443}
        )
    )  # fmt: skip
    assert event.dataset == "iis.access" and event.ecs["http"]["response"]["status_code"] == 200


@pytest.mark.parametrize(
    ("payload", "dataset", "host"),
    [
        (WEB_LINES[6], "nginx.access", "web01"),
        (WEB_LINES[7], "apache.access", None),
        (
            orjson.dumps({"log": WEB_LINES[0], "host.name": "h1", "event.module": "apache"}),
            "apache.access",
            "h1",
        ),
        ("<190>Dec  3 10:00:00 web02 httpd: " + WEB_LINES[0], "apache.access", "web02"),
    ],
)
def test_envelopes_name_the_server(payload: str | bytes, dataset: str, host: str | None) -> None:
    event = one(payload)
    assert (event.dataset, event.host_name) == (dataset, host)


def test_several_lines_one_event_each_with_stable_ids() -> None:
    text = "\n".join(WEB_LINES[:4])
    first, again = decode_all(text), decode_all(text)
    assert len(first) == 4
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert len({e.event_id for e in first}) == 4


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("hello world", "neither a combined/common access line"),
        ('1.2.3.4 - - [31/Feb/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1', "day is out of range"),
        ('1.2.3.4 - - [03/Foo/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1', "dd/Mon/yyyy"),
        ('1.2.3.4 - - [03/Dec/1999:10:00:00 +0700] "GET / HTTP/1.1" 200 1', "before 2000"),
        ('1.2.3.4 - - [03/Dec/2099:10:00:00 +0700] "GET / HTTP/1.1" 200 1', "in the future"),
        ("   ", "empty web access message"),
        ("[1, 2]", "neither"),
        ('{"message": 5}', "without a 'message' or 'log'"),
        ("{not json", "not valid JSON"),
        ("ok\n" + WEB_LINES[0], "line 1: neither"),
        ("x\n" * 6000, "6000 lines in one message"),
    ],
)
def test_bad_input_is_a_decode_error_with_a_reason(payload: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_all(payload)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(web_tokens, max_size=20).map("".join))
def test_hostile_token_soup_never_crashes(text: str) -> None:
    try:
        events = decode_all(text.encode("utf-8", "surrogatepass"), None)
    except DecodeError as error:
        assert str(error)
        return
    for event in events:
        assert event.raw == text.encode("utf-8", "surrogatepass")
        assert event.message is None or "\x1b" not in event.message


def test_a_huge_line_stays_linear_and_bounded() -> None:
    long = "/" + "a" * 200_000
    event = one(f'1.2.3.4 - - [03/Dec/2026:10:00:00 +0700] "GET {long} HTTP/1.1" 200 1 "-" "x"')
    assert len(event.ecs["url"]["original"]) <= 8192


def test_a_line_that_only_looks_like_syslog_is_read_as_a_line() -> None:
    event = one('Mar-portal:443 1.2.3.4 - - [03/Dec/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1')
    assert event.ecs["url"]["domain"] == "mar-portal" and event.source_ip == "1.2.3.4"
