"""proxy_access: squid native and combined lines, envelopes, hostile lines."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage
from tests.unit.web_linux_samples import PROXY_LINES, web_tokens

decode = get_decoder("proxy_access")


def decode_all(payload: str, offset: int | None = 3) -> list[SecurityEvent]:
    return list(decode(RawMessage("kafka", "seclog.proxy", payload.encode(), 0, offset)))


def one(payload: str) -> SecurityEvent:
    events = decode_all(payload)
    assert len(events) == 1
    return events[0]


def test_native_line_becomes_ecs() -> None:
    event = one(PROXY_LINES[0])
    doc = event.ecs
    assert event.dataset == "squid.access" and event.category == ("web", "network")
    assert event.time.isoformat() == "2026-12-03T04:00:00.123000+00:00"
    assert (event.source_ip, event.destination_ip, event.user_name) == (
        "10.1.2.3",
        "93.184.216.34",
        "alice",
    )
    assert doc["url"] == {
        "original": "http://example.com/a?b=1",
        "scheme": "http",
        "domain": "example.com",
        "path": "/a",
        "query": "b=1",
    }
    assert doc["http"]["response"]["status_code"] == 200
    assert doc["http"]["response"]["mime_type"] == "text/html"
    assert doc["event"]["duration"] == 456_000_000 and doc["event"]["action"] == "tcp_miss"
    assert doc["squid"] == {
        "result_code": "TCP_MISS",
        "hierarchy_code": "HIER_DIRECT",
        "peer": "93.184.216.34",
        "content_type": "text/html",
    }
    assert doc["observer"] == {"vendor": "Squid", "product": "Squid"}


def test_denied_connect() -> None:
    event = one(PROXY_LINES[1])
    assert event.outcome == "failure" and "denied" in event.ecs["event"]["type"]
    assert event.ecs["url"]["domain"] == "evil.example" and event.ecs["url"]["port"] == 443
    assert event.destination_ip is None and event.destination_port == 443


def test_combined_line_has_the_user_agent_and_squid_codes() -> None:
    event = one(PROXY_LINES[2])
    assert event.ecs["user_agent"]["original"] == "Microsoft BITS/7.8"
    assert event.ecs["url"]["extension"] == "exe"
    assert event.ecs["squid"] == {"result_code": "TCP_MISS", "hierarchy_code": "HIER_DIRECT"}


def test_syslog_envelope_gives_the_host() -> None:
    assert one(PROXY_LINES[3]).host_name == "proxy01"


def test_no_reply_status_zero_is_absent() -> None:
    event = one(
        "1796270400.123 5 10.1.2.3 TCP_MISS_ABORTED/000 0 GET http://a.example/ - HIER_NONE/- -"
    )
    assert "status_code" not in event.ecs["http"].get("response", {})
    assert event.outcome == "unknown"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("1796270400.123 5 10.1.2.3 TCP_MISS/200", "has 4 fields, expected 10"),
        ("99999999999.123 5 1.2.3.4 A/200 0 GET http://a/ - H/- -", "squid time|after|future"),
        ("900000000.000 5 1.2.3.4 A/200 0 GET http://a/ - H/- -", "before 2000"),
        ("GET http://a/", "neither a combined/common access line"),
        ("", "empty proxy access message"),
    ],
)
def test_bad_lines_say_why(payload: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_all(payload)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(web_tokens, max_size=20).map("".join))
def test_hostile_token_soup_never_crashes(text: str) -> None:
    try:
        events = decode_all(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    except DecodeError as error:
        assert str(error)
        return
    assert all(isinstance(event, SecurityEvent) for event in events)
