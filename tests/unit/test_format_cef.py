"""ArcSight CEF lines (bare or after a syslog header) -> ECS SecurityEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.timezone import LOCAL_TZ
from events.ids import stable_id
from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.formats.cef import decode_cef
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in as _strings

TOPIC = "seclog.cef"
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi

FORTIGATE = (
    "<185>Nov 24 08:00:00 FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|traffic:forward deny|3|"
    "deviceExternalId=FG100FTK20000000 FortinetFortiGatelogid=0000000013 cat=traffic:forward"
    " FortinetFortiGatesubtype=forward src=203.0.113.7 spt=51234 deviceInboundInterface=wan1"
    " dst=10.20.0.5 dpt=22 deviceOutboundInterface=internal proto=6 act=deny"
    " FortinetFortiGatepolicyid=12 app=SSH out=0 in=0 FortinetFortiGatecrlevel=high"
)
PAN_OS = (
    "CEF:0|Palo Alto Networks|PAN-OS|10.2.4|virus|THREAT|5|rt=Nov 24 2026 01:00:00 GMT"
    " deviceExternalId=012801000000 src=198.51.100.23 dst=10.20.0.15 cs1Label=Rule"
    " cs1=Allow-Web suser=sotttt\\\\nguyen.van.a duser= app=web-browsing cs3Label=Virtual System"
    " cs3=vsys1 cs4Label=Source Zone cs4=untrust cn1Label=SessionID cn1=33760 spt=443 dpt=51234"
    " proto=tcp act=reset-both request=eicar.com cat=Eicar Test File(100000) externalId=7159"
)
CHECK_POINT = (
    "<134>1 2026-11-24T08:00:00+07:00 gw-hn CheckPoint 2511 - - CEF:0|Check Point|"
    "VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop rt=1795482000000 spt=49710"
    " dpt=443 cs2Label=Rule Name cs2=Cleanup rule originsicname=cn\\=gw-hn,o\\=mgmt..ehsx4k"
    " dst=10.20.0.5 inzone=External outzone=Internal proto=6 src=203.0.113.50"
)
DEEP_SECURITY = (
    "CEF:0|Trend Micro|Deep Security Agent|20.0.0|4000000|Eicar_test_file|6|cn1=1"
    " cn1Label=Host ID dvchost=kt-pc07 cs6=ImageName | ContainerName | ID cs6Label=Container"
    " filePath=C:\\\\Users\\\\tran\\\\Desktop\\\\eicar.exe act=Delete msg=Realtime"
    " TrendMicroDsFileMD5=44D88612FEA8A8F36DE82E1278ABB02F"
)


def msg(line: str | bytes, offset: int | None = 5021) -> RawMessage:
    raw = line.encode() if isinstance(line, str) else line
    return RawMessage("kafka", TOPIC, raw, partition=1, offset=offset, received_at=RECEIVED)


def decode(line: str | bytes, **kwargs: Any) -> SecurityEvent:
    (event,) = get_decoder("cef")(msg(line, **kwargs))
    assert isinstance(event, SecurityEvent)
    return event


def cef(extension: str, severity: str = "5", prefix: str = "") -> str:
    return f"{prefix}CEF:0|Acme|Sensor|1.0|100|Test event|{severity}|{extension}"


# ---- vendors ------------------------------------------------------------------------


def test_fortigate_after_rfc3164_header() -> None:
    event = decode(FORTIGATE)
    assert event.time == datetime(2026, 11, 24, 8, 0, tzinfo=LOCAL_TZ)  # the header's time
    assert (event.dataset, event.action, event.severity) == ("cef.log", "deny", 3)
    assert (event.source_ip, event.source_port) == ("203.0.113.7", 51234)
    assert (event.destination_ip, event.destination_port) == ("10.20.0.5", 22)
    assert (event.observer_vendor, event.observer_product) == ("Fortinet", "Fortigate")
    assert (event.rule_id, event.rule_name) == ("00013", "traffic:forward deny")
    assert event.host_name == "FGT100F"  # no shost/dhost: the device that logged it
    ecs = event.ecs
    assert ecs["network"] == {"transport": "tcp", "protocol": "ssh"}
    assert ecs["event"]["type"] == ["denied"]
    assert ecs["observer"]["version"] == "v7.2.5"
    assert ecs["rule"]["category"] == "traffic:forward"
    assert ecs["cef"]["severity_band"] == "low"
    assert ecs["cef"]["extensions"]["FortinetFortiGatepolicyid"] == "12"
    assert ecs["log"]["syslog"]["hostname"] == "FGT100F"
    assert ecs["log"]["syslog"]["facility"] == {"code": 23, "name": "local7"}


def test_pan_os_threat_with_labels_and_escaped_backslash() -> None:
    event = decode(PAN_OS)
    assert event.time == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # rt, in GMT
    assert event.user_name == "sotttt\\nguyen.van.a"  # "\\\\" is one backslash, not "\\n"
    assert (event.source_port, event.destination_port) == (443, 51234)
    assert event.action == "reset-both"
    assert event.ecs["cef"]["labels"] == {
        "Rule": "Allow-Web",
        "Virtual System": "vsys1",
        "Source Zone": "untrust",
        "SessionID": "33760",
    }
    assert event.ecs["url"] == {"original": "eicar.com"}
    assert event.ecs["rule"]["category"] == "Eicar Test File(100000)"
    assert event.ecs["event"]["id"] == "7159"
    assert event.ecs["destination"] == {"ip": "10.20.0.15", "port": 51234}  # empty duser


def test_check_point_after_rfc5424_header() -> None:
    event = decode(CHECK_POINT)
    assert event.time == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert event.observer_product == "VPN-1 & FireWall-1"
    assert event.severity is None  # "Unknown"
    assert event.ecs["cef"]["severity"] == "Unknown"
    assert event.ecs["cef"]["extensions"]["originsicname"] == "cn=gw-hn,o=mgmt..ehsx4k"
    assert event.ecs["event"]["type"] == ["denied"]
    syslog = event.ecs["log"]["syslog"]
    assert (syslog["appname"], syslog["procid"], syslog["version"]) == ("CheckPoint", "2511", "1")


def test_deep_security_pipes_in_extension_need_no_escape() -> None:
    event = decode(DEEP_SECURITY)
    extensions = event.ecs["cef"]["extensions"]
    assert extensions["cs6"] == "ImageName | ContainerName | ID"
    assert event.ecs["file"] == {"path": "C:\\Users\\tran\\Desktop\\eicar.exe"}
    assert (event.message, event.host_name, event.severity) == ("Realtime", "kt-pc07", 6)
    assert event.ecs["observer"]["hostname"] == "kt-pc07"


def test_rfc3164_header_without_host_but_with_tag() -> None:
    event = decode(cef("src=10.0.0.1", prefix="<14>Nov 24 08:00:00 McAfeeEPO: "))
    assert event.ecs["log"]["syslog"]["appname"] == "McAfeeEPO"
    assert event.host_name is None


def test_pri_only_header() -> None:
    event = decode(cef("src=10.0.0.1", prefix="<14>"))
    assert event.time == RECEIVED
    assert event.ecs["log"]["syslog"]["priority"] == 14


def test_cef_version_1_and_no_trailing_pipe() -> None:
    event = decode("CEF:1|Acme|Sensor|2.0|7|Port scan|9")
    assert event.ecs["cef"]["version"] == 1
    assert event.ecs["cef"]["extensions"] == {}
    assert (event.severity, event.message) == (9, "Port scan")


# ---- header and extension grammar ---------------------------------------------------


def test_header_escapes() -> None:
    event = decode("CEF:0|Ven\\|dor|Pro\\\\duct|1|sig\\|1|Name with \\| pipe|4|src=10.0.0.1")
    assert (event.observer_vendor, event.observer_product) == ("Ven|dor", "Pro\\duct")
    assert (event.rule_id, event.rule_name) == ("sig|1", "Name with | pipe")
    assert event.source_ip == "10.0.0.1"


def test_extension_escapes_and_spaces() -> None:
    event = decode(cef("msg=a\\=b c\\\\d\\nline two\\rend act=blocked  by policy"))
    assert event.message == "a=b c\\d␊line two␍end"
    assert event.action == "blocked  by policy"


def test_unknown_escape_keeps_its_backslash() -> None:
    event = decode(cef("filePath=C:\\Windows\\temp\\x.exe"))
    assert event.ecs["file"]["path"] == "C:\\Windows\\temp\\x.exe"


def test_unescaped_equals_inside_a_value_is_kept() -> None:
    event = decode(cef("request=http://evil.example/a?x=1&y=2 src=10.0.0.1 msg=k=v"))
    assert event.ecs["url"]["original"] == "http://evil.example/a?x=1&y=2"
    assert event.message == "k=v"
    assert event.source_ip == "10.0.0.1"


def test_empty_value_and_trailing_key() -> None:
    event = decode(cef("suser= duser=alice act="))
    assert event.user_name == "alice"
    assert event.action is None
    assert event.ecs["cef"]["extensions"] == {"suser": "", "duser": "alice", "act": ""}


def test_full_key_names_are_aliases() -> None:
    event = decode(cef("sourceAddress=2001:db8::7 destinationPort=3389 sourceUserName=bob"))
    assert (event.source_ip, event.destination_port, event.user_name) == (
        "2001:db8::7",
        3389,
        "bob",
    )


def test_text_before_first_key_is_noted() -> None:
    event = decode(cef("garbage words src=10.0.0.1"))
    assert event.source_ip == "10.0.0.1"
    assert "text before the first key" in event.ecs["error"]["message"]


def test_extension_without_pairs_is_noted_not_rejected() -> None:
    event = decode(cef("just some text"))
    assert event.ecs["cef"]["extensions"] == {}
    assert "not key=value pairs" in event.ecs["error"]["message"]


@pytest.mark.parametrize(
    ("severity", "number", "band"),
    [
        ("0", 0, "low"),
        ("3", 3, "low"),
        ("4", 4, "medium"),
        ("6", 6, "medium"),
        ("7", 7, "high"),
        ("8", 8, "high"),
        ("9", 9, "very-high"),
        ("10", 10, "very-high"),
        ("Low", 3, "low"),
        ("medium", 6, "medium"),
        ("HIGH", 8, "high"),
        ("Very-High", 10, "very-high"),
        ("11", None, None),
        ("-1", None, None),
        ("Unknown", None, None),
    ],
)
def test_severity(severity: str, number: int | None, band: str | None) -> None:
    event = decode(cef("src=10.0.0.1", severity=severity))
    assert event.severity == number
    assert event.ecs["cef"].get("severity_band") == band
    assert event.ecs["cef"]["severity"] == severity


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("success", "success"), ("/Success", "success"), ("/Failure", "failure"),
     ("failed", "failure"), ("/Attempt", "unknown"), ("maybe", "unknown")],
)  # fmt: skip
def test_outcome(outcome: str, expected: str) -> None:
    assert decode(cef(f"outcome={outcome}")).outcome == expected


def test_user_prefers_source_user_and_host_prefers_destination() -> None:
    event = decode(cef("suser=attacker duser=victim shost=ws1 dhost=srv1 dvchost=fw1"))
    assert (event.user_name, event.host_name) == ("attacker", "srv1")
    assert event.ecs["source"]["user"] == {"name": "attacker"}
    assert event.ecs["destination"]["user"] == {"name": "victim"}
    assert event.ecs["observer"]["hostname"] == "fw1"


def test_invalid_addresses_and_ports_are_left_out() -> None:
    event = decode(cef("src=999.1.1.1 dst=fe80::1%eth0 spt=70000 dpt=x2"))
    assert (event.source_ip, event.source_port, event.destination_port) == (None, None, None)
    assert event.destination_ip == "fe80::1"
    assert event.ecs["cef"]["extensions"]["src"] == "999.1.1.1"


# ---- times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rt", "expected"),
    [
        ("1795482000000", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),  # epoch ms
        ("1795482000", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),  # epoch s, seen in the wild
        ("Nov 24 2026 08:00:00", datetime(2026, 11, 24, 8, 0, tzinfo=LOCAL_TZ)),
        ("Nov 24 2026 08:00:00.250", datetime(2026, 11, 24, 8, 0, 0, 250000, tzinfo=LOCAL_TZ)),
        ("Nov 24 2026 01:00:00 UTC", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
        ("Nov 24 2026 08:00:00 ICT", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
        ("Nov 24 2026 08:00:00.5 GMT+07:00", datetime(2026, 11, 24, 1, 0, 0, 500000, tzinfo=UTC)),
        ("Nov 24 2026 08:00:00 Asia/Ho_Chi_Minh", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
        ("Nov 24 08:00:00", datetime(2026, 11, 24, 8, 0, tzinfo=LOCAL_TZ)),  # year inferred
        ("2026-11-24T08:00:00+07:00", datetime(2026, 11, 24, 1, 0, tzinfo=UTC)),
    ],
)
def test_rt_formats(rt: str, expected: datetime) -> None:
    event = decode(cef(f"rt={rt} src=10.0.0.1"))
    assert event.time == expected
    assert "error" not in event.ecs


def test_start_and_end_go_to_event() -> None:
    event = decode(cef("start=1795481940000 end=1795482000000"))
    assert event.ecs["event"]["start"] == "2026-11-24T00:59:00+00:00"
    assert event.ecs["event"]["end"] == "2026-11-24T01:00:00+00:00"


@pytest.mark.parametrize(
    ("rt", "problem"),
    [
        ("yesterday", "is not a CEF time"),
        ("Nov 24 2026 08:00:00 Mars/Olympus", "zone 'Mars/Olympus'"),
        ("Feb 30 2026 08:00:00", "rt: day is out of range"),
        ("Nov 24 2026 8:00", "has no HH:mm:ss"),
        ("0", "before 2000"),
        ("99999999999999999999999", "rt:"),
        ("Nov 24 2030 08:00:00", "more than a day in the future"),
    ],
)
def test_bad_rt_falls_back_and_is_noted(rt: str, problem: str) -> None:
    event = decode(cef(f"rt={rt} src=10.0.0.1", prefix="<14>Nov 24 09:00:00 h "))
    assert event.time == datetime(2026, 11, 24, 9, 0, tzinfo=LOCAL_TZ)  # the syslog header's
    assert problem in event.ecs["error"]["message"]
    assert event.source_ip == "10.0.0.1"


def test_zone_override() -> None:
    (event,) = decode_cef(msg(cef("rt=Nov 24 2026 08:00:00")), timezone="UTC")
    assert event.time == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


# ---- identity, raw bytes, hostile input ---------------------------------------------


def test_event_id_uses_kafka_position() -> None:
    assert decode(PAN_OS).event_id == stable_id("kafka", TOPIC, 1, 5021)


def test_event_id_without_position_uses_the_bytes() -> None:
    event = decode(PAN_OS, offset=None)
    assert event.event_id == stable_id("kafka", TOPIC, PAN_OS.encode())


def assert_clean(event: SecurityEvent) -> None:
    for text in _strings(event.model_dump(exclude={"raw"})):
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text), text


def test_hostile_content_is_clean_everywhere_but_raw() -> None:
    line = (
        b"<13>Nov 24 08:00:00 fw\x1b[2J CEF:0|Ev\x00il|<script>alert(1)</script>|1|"
        b"1' OR '1'='1|\x1b]0;pwned\x07|5|suser=adm\x00in\x9b msg=\xff\xfe DROP TABLE events;--"
        b" \x1b[31mred\r\nforged line dhost=<img src\\=x onerror\\=alert(1)>\n"
    )
    event = decode(line)
    assert event.raw == line
    assert_clean(event)
    assert event.observer_vendor == "Ev␀il"
    assert event.observer_product == "<script>alert(1)</script>"  # stored as text, not run
    assert event.rule_id == "1' OR '1'='1"
    assert event.rule_name == "␛]0;pwned␇"
    assert event.user_name == "adm␀in\ufffd"
    assert event.message == "\ufffd\ufffd DROP TABLE events;-- ␛[31mred␍␊forged line"
    assert event.host_name == "<img src=x onerror=alert(1)>"


def test_one_megabyte_line_is_bounded() -> None:
    # Speed is measured in benchmarks, not asserted here; this checks the bounds.
    line = cef("src=10.0.0.1 msg=" + "A" * 1_000_000 + " act=deny")
    event = decode(line)
    assert event.message is not None and len(event.message) == 64 * 1024
    assert event.message.endswith("…")
    assert len(event.ecs["cef"]["extensions"]["msg"]) == 4096
    assert event.action == "deny"
    assert event.raw == line.encode()


@pytest.mark.parametrize(
    "extension",
    [
        "msg=" + "a=" * 300_000,  # "=" without keys: one long value
        "msg=" + "\\=" * 300_000,  # escaped "="
        "msg=" + "\\" * 600_001 + " src=10.0.0.1",  # backslash runs
        "msg=" + " =" * 300_000,  # spaces before every "="
        "k=" + " k=v" * 100_000,  # many keys: only the first 256 are read
    ],
)
def test_pathological_extensions_are_bounded(extension: str) -> None:
    event = decode(cef(extension))
    assert len(event.ecs["cef"]["extensions"]) <= 256


def test_too_many_keys_is_noted() -> None:
    extension = " ".join(f"cs{i}x=v" for i in range(300))
    event = decode(cef(extension))
    assert len(event.ecs["cef"]["extensions"]) == 256
    assert "more than 256 extension pairs" in event.ecs["error"]["message"]


def test_pipes_in_header_backslash_runs() -> None:
    event = decode("CEF:0|a\\\\|b|c|d|e|5|")  # "\\\\|" is a backslash then a real "|"
    assert (event.observer_vendor, event.observer_product) == ("a\\", "b")


# ---- rejections ---------------------------------------------------------------------


def _old_header() -> str:
    return "<13>1 1999-12-31T00:00:00Z h app - - - " + cef("src=10.0.0.1")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "no 'CEF:' header in the line"),
        (b"hello world", "no 'CEF:' header in the line; line starts 'hello world'"),
        (b"xCEF:0|a|b|c|d|e|5|", "no 'CEF:' header"),
        (b"CEF:0|Acme|Sensor", "not a CEF record: header has 3 of 7"),
        (b"CEF:0|a|b|c|d\\|e|5", "header has 6 of 7"),
        (b"CEF:zero|a|b|c|d|e|5|", "version 'zero' is not a number"),
        (b"CEF:|a|b|c|d|e|5|", "version '' is not a number"),
        (b"fw01 CEF:0|a|b|c|d|e|5|", "text before 'CEF:' is not a syslog header"),
        (b"<999>Nov 24 08:00:00 h CEF:0|a|b|c|d|e|5|", "<PRI> is not <0>…<191>"),
        (_old_header().encode(), "syslog timestamp: timestamp 1999"),
    ],
)
def test_rejections_name_the_problem(line: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(line)
    assert reason in str(caught.value)


def test_reception_time_outside_the_window_is_rejected() -> None:
    old = RawMessage(
        "kafka", TOPIC, cef("src=1.2.3.4").encode(), received_at=RECEIVED - timedelta(days=365 * 30)
    )
    with pytest.raises(DecodeError, match="reception time: timestamp"):
        decode_cef(old)
