"""Property tests for every registered decoder.

Whatever arrives, a decoder either returns canonical events or raises DecodeError with a
reason; anything else would crash the worker or poison a batch. The structured
strategies steer inputs towards each format's real keys so the deep paths run too.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import CameraEvent, Measurement, SecurityEvent
from ingest.formats.base import DecodeError, get_decoder, known_formats
from ingest.message import RawMessage
from tests.unit.firewall_samples import FIREWALL_LINES, firewall_tokens
from tests.unit.text_walk import strings_in as _strings
from tests.unit.web_linux_samples import (
    AUDITD_LINES,
    PROXY_LINES,
    WEB_LINES,
    auditd_tokens,
    web_tokens,
)

TELEMETRY_TOPIC = "ioc/v1/fuzz-dev-01/telemetry"
TOPICS = {
    "ioc_telemetry": TELEMETRY_TOPIC,
    "native_json": TELEMETRY_TOPIC,
    "senml": TELEMETRY_TOPIC,
    "frigate": "frigate/events",
    "frigate_stats": "frigate/stats",
    "frigate_reviews": "frigate/reviews",
    "isapi": "http/isapi/fuzz-cam-01",
    "onvif": "camera.onvif",
    "syslog": "seclog.syslog",
    "suricata": "seclog.suricata",
    "cef": "seclog.cef",
    "winlog": "seclog.winlog",
    "edr": "seclog.edr",
    "firewall": "seclog.firewall",
}
KAFKA_FORMATS = {"syslog", "suricata", "cef", "winlog", "edr", "firewall"}
FORMATS = known_formats()
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- strategies ---------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)


def json_values(keys: st.SearchStrategy[str], leaves: st.SearchStrategy[Any]) -> Any:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=6), st.dictionaries(keys, children, max_size=8)
        ),
        max_leaves=40,
    )


any_json = json_values(st.text(max_size=12), scalars)


def shallow(keys: st.SearchStrategy[str], leaves: st.SearchStrategy[Any]) -> Any:
    """Leaves, lists of leaves, or objects two levels deep: the depth real records have.
    Much cheaper to generate than st.recursive, so 300 examples stay quick."""
    inner = st.dictionaries(keys, leaves | st.lists(leaves, max_size=3), max_size=5)
    return leaves | st.lists(leaves | inner, max_size=4) | inner


TELEMETRY_KEYS = st.sampled_from(
    ["ts", "pm25", "temp", "humidity", "waterLevel", "bn", "bt", "bu", "bv", "bver", "n", "u",
     "v", "vs", "vb", "vd", "s", "t", "ut", "crit_"]
) | st.text(max_size=8)  # fmt: skip
TELEMETRY_LEAVES = scalars | st.sampled_from(
    ["2026-11-24T08:00:00+07:00", "2026-11-24T08:00:00", "Cel", "cm", "ug/m3", "/1000",
     "urn:dev:mac:0024befffe804ff1:", "pm25", "temp", "K", "%"]
) | st.floats(1.0e9, 1.9e9) | st.floats(-1e5, 1e5)  # fmt: skip

FRIGATE_KEYS = st.sampled_from(
    ["id", "camera", "label", "score", "top_score", "start_time", "end_time", "box",
     "current_zones", "entered_zones", "has_snapshot", "false_positive", "stationary",
     "sub_label", "recognized_license_plate", "path_data"]
) | st.text(max_size=8)  # fmt: skip
FRIGATE_LEAVES = scalars | st.floats(min_value=0, max_value=1) | st.floats(1.0e9, 1.9e9)

SURICATA_KEYS = st.sampled_from(
    ["timestamp", "event_type", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
     "app_proto", "alert", "signature_id", "signature", "severity", "action", "metadata",
     "mitre_technique_id", "dns", "rrname", "rrtype", "queries", "answers", "rdata", "http",
     "hostname", "url", "status", "tls", "version", "sni", "ja3", "hash", "flow",
     "bytes_toserver", "fileinfo", "filename", "size", "anomaly", "event", "host"]
) | st.text(max_size=8)  # fmt: skip
SURICATA_LEAVES = scalars | st.sampled_from(
    ["2026-11-24T08:00:00.123456+0700", "alert", "flow", "dns", "http", "tls", "fileinfo",
     "anomaly", "stats", "203.0.113.7", "2001:db8::1", "fe80::1%eth0", "TCP", "T1190",
     "TLS 1.2", "allowed", "blocked"]
)  # fmt: skip


WINLOG_KEYS = st.sampled_from(
    ["@timestamp", "winlog", "event_id", "channel", "computer_name", "record_id", "keywords",
     "event_data", "message", "EventTime", "EventID", "Hostname", "EventType", "Channel",
     "Message", "TargetUserName", "TargetDomainName", "TargetUserSid", "TargetSid",
     "SubjectUserName", "IpAddress", "IpPort", "LogonType", "Status", "SubStatus",
     "FailureReason", "WorkstationName", "Workstation", "ProcessName", "ProcessId",
     "NewProcessName", "NewProcessId", "CommandLine", "ParentProcessName", "TargetLogonId"]
) | st.text(max_size=8)  # fmt: skip
WINLOG_LEAVES = scalars | st.sampled_from(
    ["2026-11-24T01:00:00.512Z", "2026-11-24 08:00:00", "4625", "4624", "4740", "4672",
     "4688", "4776", "Security", "Audit Failure", "AUDIT_SUCCESS", "-", "::1", "::ffff:1.2.3.4",
     "fe80::1%12", "0xc000006d", "0xC000006A", "0x0", "0x1a2c", "0xzz", "%%2313", "3", "10",
     "C:\\Windows\\x.exe", "\\\\WS01", 4625, 4740, 65536]
)  # fmt: skip
EDR_KEYS = st.sampled_from(
    ["id", "title", "severity", "category", "detectionSource", "serviceSource", "productName",
     "detectorId", "threatDisplayName", "threatFamilyName", "mitreTechniques",
     "createdDateTime", "firstActivityDateTime", "lastActivityDateTime", "alertWebUrl",
     "evidence", "@odata.type", "verdict", "remediationStatus", "detectionStatus",
     "fileDetails", "fileName", "filePath", "sha256", "sha1", "md5", "fileSize",
     "deviceDnsName", "loggedOnUsers", "accountName", "userAccount", "processId",
     "imageFile", "processCommandLine", "ipAddress", "value"]
) | st.text(max_size=8)  # fmt: skip
EDR_LEAVES = scalars | st.sampled_from(
    ["2026-11-24T01:02:03.1234567Z", "#microsoft.graph.security.fileEvidence",
     "#microsoft.graph.security.processEvidence", "#microsoft.graph.security.deviceEvidence",
     "#microsoft.graph.security.userEvidence", "#microsoft.graph.security.ipEvidence",
     "malicious", "remediated", "prevented", "blocked", "detected", "notRemediated", "high",
     "Malware", "antivirus", "T1059.001", "C:\\x", "/tmp/", "203.0.113.7"]
)  # fmt: skip


@st.composite
def telemetry_docs(draw: st.DrawFn) -> bytes:
    record = st.dictionaries(TELEMETRY_KEYS, shallow(TELEMETRY_KEYS, TELEMETRY_LEAVES), max_size=8)
    doc = draw(record | st.lists(record, max_size=4))
    return orjson.dumps(doc)


@st.composite
def frigate_docs(draw: st.DrawFn) -> bytes:
    after = draw(st.dictionaries(FRIGATE_KEYS, shallow(FRIGATE_KEYS, FRIGATE_LEAVES), max_size=12))
    # Lists too: an unhashable "type" once reached a set lookup and raised TypeError.
    kind = draw(st.sampled_from(["new", "update", "end"]) | scalars | st.lists(scalars, max_size=2))
    return orjson.dumps({"type": kind, "before": {}, "after": after})


@st.composite
def suricata_docs(draw: st.DrawFn) -> bytes:
    doc = draw(st.dictionaries(SURICATA_KEYS, shallow(SURICATA_KEYS, SURICATA_LEAVES), max_size=12))
    if draw(st.booleans()):
        doc["timestamp"] = "2026-11-24T08:00:00.123456+0700"
        doc["event_type"] = draw(st.sampled_from(["alert", "flow", "dns", "http", "tls", "x"]))
    return orjson.dumps(doc)


safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
syslog_tokens = st.one_of(
    safe_text,
    st.sampled_from(
        ["<38>", "<165>1 ", "<13>", "<999>", "Nov  4 08:00:00 ", "Feb 29 23:59:59 ",
         "2026-11-24T08:00:00.003+07:00 ", "- ", "host ", "sshd[1]: ", "sudo: ", "[a@1 k=\"v\"] ",
         "[a@1 k=\"\\\"\\]\" ", "Failed password for invalid user ", "Accepted publickey for ",
         "Invalid user ", " from ", "203.0.113.7", " port ", "22", " ssh2", "message repeated ",
         " times: [", "pam_unix(sshd:auth): authentication failure; rhost=", " user=", " : ",
         " ; ", "TTY=pts/0", "USER=root", "COMMAND=/bin/sh", "\x00", "\x1b[31m", "\ufeff",
         "²", "٣", "\r\n", "\\"]
    ),
)  # fmt: skip


cef_tokens = st.one_of(
    safe_text,
    st.sampled_from(
        ["CEF:0|", "CEF:1|", "CEF:x|", "|", "\\|", "\\\\", "\\", "=", "\\=", " ", "\\n",
         "Fortinet|", "PAN-OS|", "Very-High|", "10|", "Unknown|", "src=", "dst=", "spt=",
         "dpt=", "suser=", "duser=", "shost=", "dhost=", "act=", "proto=", "6", "outcome=",
         "/Failure", "msg=", "rt=", "start=", "1795482000000", "1795482000",
         "Nov 24 2026 08:00:00", "Nov 24 08:00:00", " GMT+07:00", " ICT", " Mars/Olympus",
         "cs1Label=", "cs1=", "203.0.113.7", "2001:db8::1", "<134>", "<14>",
         "Nov 24 08:00:00 fw01 ", "<13>1 2026-11-24T08:00:00+07:00 h a - - - ", "\x00",
         "\x1b[31m", "\r\n"]
    ),
)  # fmt: skip


@st.composite
def token_lines(draw: st.DrawFn, tokens: st.SearchStrategy[str]) -> bytes:
    line = "".join(draw(st.lists(tokens, max_size=14))).encode()
    if draw(st.booleans()):
        line += draw(st.binary(max_size=16))
    return line


@st.composite
def syslog_lines(draw: st.DrawFn) -> bytes:
    line = "".join(draw(st.lists(syslog_tokens, max_size=14))).encode()
    if draw(st.booleans()):
        line += draw(st.binary(max_size=16))
    return line


# Valid messages that mutations start from, so that most examples get past the first
# check and exercise the deep paths (unit conversion, SD parsing, ECS mapping…).
NOW = 1795482000.0  # 2026-11-24T01:00:00Z
TELEMETRY_BASES: list[Any] = [
    {"ts": "2026-11-24T08:00:00+07:00", "pm25": 41.2, "pm10": 63.0, "temp": 29.4},
    [{"ts": NOW, "water_level": 1.1}, {"ts": NOW + 60, "water_level": 1.2, "salinity": 4}],
    [{"bn": "urn:dev:mac:0024befffe804ff1:", "bt": NOW, "n": "pm25", "u": "ug/m3", "v": 18.4},
     {"n": "temp", "u": "Cel", "v": 29.1}, {"n": "waterLevel", "u": "cm", "v": 120, "t": 5}],
    [{"n": "rainfall", "u": "mm/h", "v": 3, "t": -60}, {"n": "door", "vb": True}],
]  # fmt: skip
FRIGATE_AFTER = {
    "id": "1795482000.4-abc", "camera": "cong", "label": "person", "score": 0.8,
    "top_score": 0.9, "start_time": NOW, "end_time": None, "box": [1, 2, 3, 4],
    "current_zones": ["a"], "entered_zones": ["a", "b"], "has_snapshot": True,
    "false_positive": False, "stationary": False, "sub_label": None,
}  # fmt: skip
STATS_KEYS = st.sampled_from(
    ["cameras", "service", "last_updated", "uptime", "camera_fps", "process_fps",
     "skipped_fps", "detection_fps", "pid", "detectors", "gate", "cổng"]
) | st.text(max_size=8)  # fmt: skip
STATS_LEAVES = scalars | st.floats(0, 300) | st.integers(1_000_000_000, 1_900_000_000)
STATS_BASES: list[Any] = [
    {
        "cameras": {
            "gate": {"camera_fps": 5.0, "process_fps": 4.9, "skipped_fps": 0.1,
                     "detection_fps": 1.2, "pid": 40, "capture_pid": 41, "ffmpeg_pid": 42},
            "yard.2": {"camera_fps": 15, "process_fps": 15, "skipped_fps": 0,
                       "detection_fps": 0},
        },
        "detection_fps": 1.2,
        "detectors": {"coral": {"inference_speed": 9.1, "detection_start": 0.0, "pid": 30}},
        "service": {"last_updated": 1795482060, "uptime": 3600, "version": "0.14.1",
                    "storage": {}, "temperatures": {}},
    }
]  # fmt: skip
FRIGATE_BASES: list[Any] = [
    {"type": kind, "before": {}, "after": FRIGATE_AFTER} for kind in ("new", "update", "end")
]
REVIEW_KEYS = st.sampled_from(
    ["id", "camera", "start_time", "end_time", "severity", "data", "detections", "objects",
     "sub_labels", "zones", "audio"]
) | st.text(max_size=8)  # fmt: skip
REVIEW_LEAVES = FRIGATE_LEAVES | st.sampled_from(["alert", "detection", "car", "school_bus"])
REVIEW_BASES: list[Any] = [
    {"type": kind, "before": {}, "after": {
        "id": "1795482000.5-r7kq2m", "camera": "cong", "start_time": NOW, "end_time": None,
        "severity": "alert", "data": {"detections": ["a"], "objects": ["person"],
                                      "sub_labels": [], "zones": ["cong"], "audio": []}}}
    for kind in ("new", "update", "end")
]  # fmt: skip
ONVIF_KEYS = st.sampled_from(
    ["camera", "topic", "utc_time", "property_operation", "source", "data", "id", "Rule",
     "IsMotion", "IsInside", "IsTamper", "State", "ClassTypes", "Direction", "ObjectId"]
) | st.text(max_size=8)  # fmt: skip
ONVIF_LEAVES = scalars | st.sampled_from(
    ["tns1:RuleEngine/CellMotionDetector/Motion", "tns1:RuleEngine/LineDetector/Crossed",
     "tns1:VideoSource/SignalLoss", "2026-11-24T15:02:11Z", "2026-11-24T15:02:11", "true",
     "false", "Human", "Vehicle", "Changed"]
)  # fmt: skip
ONVIF_BASES: list[Any] = [
    {"camera": "cam-4", "topic": "tns1:RuleEngine/FieldDetector/ObjectsInside",
     "utc_time": "2026-11-24T15:02:11.250Z", "source": {"Rule": "cong"},
     "data": {"IsInside": True, "ClassTypes": "Human"}},
    {"camera": "cam-4", "topic": "tns1:RuleEngine/LineDetector/Crossed", "id": "v-1",
     "utc_time": "2026-11-24T15:02:11+07:00", "data": {"ObjectId": "3"}},
]  # fmt: skip
ISAPI_BASES = [
    path.read_text(encoding="utf-8")
    for path in sorted((Path(__file__).resolve().parents[1] / "data" / "cameras").glob("*.xml"))
]
isapi_tokens = st.sampled_from(
    ["<eventType>ANPR</eventType>", "<eventType>videoloss</eventType>", "<eventState>x",
     "<ANPR><licensePlate>51F-123.45</licensePlate><confidenceLevel>101</confidenceLevel>"
     "</ANPR>", "<DetectionRegionList><DetectionRegionEntry><regionID>\x01</regionID>"
     "</DetectionRegionEntry></DetectionRegionList>", "<dateTime>2026-13-01</dateTime>",
     '<!DOCTYPE a [<!ENTITY b "c">]>', "&b;", "&amp;", "&#0;", "&#x1b;", "\x00", "]]>",
     "<![CDATA[<x>]]>", "<?pi x?>", "<!-- c -->", "\ufeff", "</EventNotificationAlert>"]
) | safe_text  # fmt: skip
_EVE = {
    "timestamp": "2026-11-24T08:00:00.123456+0700", "src_ip": "203.0.113.7", "src_port": 4,
    "dest_ip": "10.0.0.5", "dest_port": 22, "proto": "TCP", "host": "ids",
}  # fmt: skip
SURICATA_BASES: list[Any] = [
    _EVE | {"event_type": "alert", "alert": {"action": "allowed", "signature_id": 1,
            "signature": "ET X", "severity": 1, "metadata": {"mitre_technique_id": ["T1190"]}}},
    _EVE | {"event_type": "flow", "flow": {"bytes_toserver": 1, "pkts_toclient": 2}},
    _EVE | {"event_type": "dns", "dns": {"type": "answer", "rrname": "a.vn",
            "answers": [{"rdata": "1.2.3.4"}], "queries": [{"rrname": "b.vn"}]}},
    _EVE | {"event_type": "http", "http": {"hostname": "h", "url": "/", "status": 200}},
    _EVE | {"event_type": "tls", "tls": {"version": "TLSv1.2", "ja3": {"hash": "x"}}},
    _EVE | {"event_type": "fileinfo", "fileinfo": {"filename": "f", "size": 3}, "http": {}},
    _EVE | {"event_type": "anomaly", "anomaly": {"event": "e"}},
]  # fmt: skip
SYSLOG_BASES = [
    "<38>Nov  4 08:00:00 web01 sshd[1234]: Failed password for invalid user admin from"
    " 203.0.113.7 port 49286 ssh2",
    "<86>Nov 24 08:00:00 sshd[9]: Accepted publickey for d from 2001:db8::1 port 5 ssh2: K",
    '<165>1 2026-11-24T08:00:00.003+07:00 fw1 sshd 99 ID47 [ex@1 a="3" b="x\\"y\\]"][o@2]'
    " \ufeffInvalid user oracle from 198.51.100.9 port 4242",
    "<85>Nov 24 08:00:00 h sudo: alice : 3 incorrect password attempts ; TTY=pts/0 ;"
    " USER=root ; COMMAND=/bin/ls",
    "<85>Nov 24 08:00:00 h sshd[5]: pam_unix(sshd:auth): authentication failure; uid=0"
    " rhost=203.0.113.7  user=root",
    "Nov 24 08:00:00 h sshd[1]: message repeated 2 times: [ Failed password for root from"
    " 1.2.3.4 port 22 ssh2]",
    "<4>Nov 24 08:00:00 fw kernel: [123.4] [UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc:00:16"
    ":3e:dd:ee:ff:08:00 SRC=203.0.113.7 DST=10.0.0.5 LEN=60 DF PROTO=TCP SPT=5 DPT=22 SYN",
    "<4>Nov 24 08:00:00 fw kernel: DROP:IN=eth0 OUT= SRC=2001:db8::7 DST=2001:db8::5 PROTO=UDP"
    " SPT=53 DPT=53 [SRC=1.2.3.4 DST=5.6.7.8 ]",
]
CEF_BASES = [
    "<185>Nov 24 08:00:00 FGT100F CEF:0|Fortinet|Fortigate|v7.2.5|00013|forward deny|3|"
    "src=203.0.113.7 spt=51234 dst=10.20.0.5 dpt=22 proto=6 act=deny suser=a duser=b",
    "CEF:0|Palo Alto Networks|PAN-OS|10.2.4|virus|THREAT|High|rt=Nov 24 2026 01:00:00 GMT"
    " cs1Label=Rule cs1=Allow Web request=http://x/?a=1 msg=a\\=b\\nc\\\\ outcome=/Failure",
    "<134>1 2026-11-24T08:00:00+07:00 gw CheckPoint 1 - - CEF:0|Check Point|VPN-1 \\| FW|R81|"
    "Log|https|Unknown|rt=1795482000000 start=1795481940000 src=2001:db8::1 dhost=srv",
]
WINLOG_BASES: list[Any] = [
    {"@timestamp": "2026-11-24T01:00:00.512Z", "message": "An account failed to log on.",
     "winlog": {"event_id": "4625", "channel": "Security", "computer_name": "DC01",
                "keywords": ["Audit Failure"], "record_id": 7,
                "event_data": {"TargetUserName": "admin", "TargetDomainName": "D",
                               "Status": "0xc000006d", "SubStatus": "0xc000006a",
                               "LogonType": "3", "IpAddress": "::ffff:203.0.113.7",
                               "IpPort": "49286", "WorkstationName": "KALI"}}},
    {"EventTime": "2026-11-24 08:00:00", "Hostname": "DC02", "EventType": "AUDIT_SUCCESS",
     "EventID": 4740, "Channel": "Security", "TargetUserName": "b", "TargetDomainName": "WS",
     "TargetSid": "S-1-5-21-1"},
    {"EventTime": "2026-11-24 08:00:00", "EventID": 4688, "NewProcessName": "C:\\a\\b.exe",
     "NewProcessId": "0x1a2c", "ProcessId": "0x2b8", "CommandLine": "b.exe -x",
     "ParentProcessName": "C:\\w.exe", "SubjectUserName": "u"},
]  # fmt: skip
_FILE_EVIDENCE = {
    "@odata.type": "#microsoft.graph.security.fileEvidence", "verdict": "malicious",
    "remediationStatus": "remediated", "detectionStatus": "detected",
    "fileDetails": {"fileName": "eicar.com", "filePath": "C:\\Users", "sha256": "ab" * 32},
}  # fmt: skip
EDR_BASES: list[Any] = [
    {"id": "da6386_1", "title": "'EICAR' malware was detected", "severity": "medium",
     "category": "Malware", "detectionSource": "antivirus", "threatFamilyName": "EICAR",
     "mitreTechniques": ["T1204.002"], "createdDateTime": "2026-11-24T01:02:03.1234567Z",
     "firstActivityDateTime": "2026-11-24T01:01:58Z",
     "evidence": [_FILE_EVIDENCE,
                  {"@odata.type": "#microsoft.graph.security.deviceEvidence",
                   "deviceDnsName": "pc07", "loggedOnUsers": [{"accountName": "b"}]},
                  {"@odata.type": "#microsoft.graph.security.processEvidence",
                   "processId": 7, "imageFile": {"fileName": "w.exe"},
                   "userAccount": {"accountName": "b", "domainName": "D"}}]},
]  # fmt: skip


@st.composite
def isapi_xml(draw: st.DrawFn) -> bytes:
    """A sample push with pieces replaced, inserted or cut off."""
    text = draw(st.sampled_from(ISAPI_BASES))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 40)))
        text = text[:at] + draw(isapi_tokens) + text[end:]
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", "surrogatepass")


def _record(doc: Any, index: int) -> dict[str, Any]:
    if isinstance(doc, list):
        return doc[index % len(doc)]
    return doc.get("after", doc)


@st.composite
def mutated_docs(
    draw: st.DrawFn, bases: list[Any], keys: st.SearchStrategy[str], leaves: Any
) -> bytes:
    """A valid document with a few keys set to odd values or removed."""
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 3))):
        record = _record(doc, draw(st.integers(0, 3)))
        key = draw(keys)
        if draw(st.booleans()):
            record[key] = draw(shallow(keys, leaves))
        else:
            record.pop(key, None)
    return orjson.dumps(doc)


@st.composite
def mutated_lines(
    draw: st.DrawFn, bases: list[str] = SYSLOG_BASES, tokens: Any = syslog_tokens
) -> bytes:
    """A valid line with a random piece cut out or spliced in."""
    line = draw(st.sampled_from(bases))
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, len(line)))
        end = draw(st.integers(start, min(len(line), start + 8)))
        line = line[:start] + draw(tokens) + line[end:]
    return line.encode()


def _containers(doc: Any) -> list[Any]:
    """Every dict and list inside doc (doc too), outermost first."""
    found = [doc]
    for node in found:
        children = node.values() if isinstance(node, dict) else node
        found.extend(c for c in children if isinstance(c, dict | list) and c)
    return found


@st.composite
def deep_mutated_docs(
    draw: st.DrawFn, bases: list[Any], keys: st.SearchStrategy[str], leaves: Any
) -> bytes:
    """A valid document with values replaced at any depth (evidence[2].fileDetails…),
    where decoders read nested members that top-level mutation never reaches."""
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(_containers(doc)))
        if isinstance(node, dict):
            node[draw(st.sampled_from(list(node)) | keys)] = draw(shallow(keys, leaves))
        else:
            node[draw(st.integers(0, len(node) - 1))] = draw(shallow(keys, leaves))
    return orjson.dumps(doc)


STRUCTURED = {
    "ioc_telemetry": telemetry_docs()
    | mutated_docs(TELEMETRY_BASES, TELEMETRY_KEYS, TELEMETRY_LEAVES),
    "native_json": mutated_docs(TELEMETRY_BASES, TELEMETRY_KEYS, TELEMETRY_LEAVES),
    "senml": mutated_docs(TELEMETRY_BASES, TELEMETRY_KEYS, TELEMETRY_LEAVES),
    "frigate": frigate_docs() | mutated_docs(FRIGATE_BASES, FRIGATE_KEYS, FRIGATE_LEAVES),
    "frigate_reviews": mutated_docs(REVIEW_BASES, REVIEW_KEYS, REVIEW_LEAVES)
    | deep_mutated_docs(REVIEW_BASES, REVIEW_KEYS, REVIEW_LEAVES),
    "isapi": isapi_xml(),
    "onvif": mutated_docs(ONVIF_BASES, ONVIF_KEYS, ONVIF_LEAVES)
    | deep_mutated_docs(ONVIF_BASES, ONVIF_KEYS, ONVIF_LEAVES),
    "frigate_stats": mutated_docs(STATS_BASES, STATS_KEYS, STATS_LEAVES)
    | deep_mutated_docs(STATS_BASES, STATS_KEYS, STATS_LEAVES),
    "suricata": suricata_docs() | mutated_docs(SURICATA_BASES, SURICATA_KEYS, SURICATA_LEAVES),
    "syslog": syslog_lines() | mutated_lines(),
    "cef": token_lines(cef_tokens) | mutated_lines(CEF_BASES, cef_tokens),
    "winlog": mutated_docs(WINLOG_BASES, WINLOG_KEYS, WINLOG_LEAVES)
    | deep_mutated_docs(WINLOG_BASES, WINLOG_KEYS, WINLOG_LEAVES),
    "edr": mutated_docs(EDR_BASES, EDR_KEYS, EDR_LEAVES)
    | deep_mutated_docs(EDR_BASES, EDR_KEYS, EDR_LEAVES),
    "web_access": token_lines(web_tokens) | mutated_lines(WEB_LINES, web_tokens),
    "proxy_access": token_lines(web_tokens) | mutated_lines(PROXY_LINES, web_tokens),
    "auditd": token_lines(auditd_tokens) | mutated_lines(AUDITD_LINES, auditd_tokens),
    "firewall": token_lines(firewall_tokens) | mutated_lines(FIREWALL_LINES, firewall_tokens),
}

# ---- the property -------------------------------------------------------------------


def _unsafe(text: str) -> bool:
    return any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text)


def check(fmt: str, payload: bytes, offset: int | None = None) -> None:
    transport = "kafka" if fmt in KAFKA_FORMATS else "mqtt"
    topic = TOPICS.get(fmt, "fuzz/topic")
    msg = RawMessage(transport, topic, payload, partition=0, offset=offset)
    try:
        events = get_decoder(fmt)(msg)
    except DecodeError as error:
        assert str(error).strip(), "a DecodeError must say why"
        return
    for event in events:
        assert isinstance(event, Measurement | CameraEvent | SecurityEvent)
        if not isinstance(event, Measurement):
            dumped = event.model_dump(exclude={"raw"})
            assert not any(_unsafe(s) for s in _strings(dumped)), dumped
        if isinstance(event, SecurityEvent):
            assert event.raw == payload


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(payload=st.binary(max_size=600))
def test_arbitrary_bytes(fmt: str, payload: bytes) -> None:
    check(fmt, payload)


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(doc=any_json)
def test_arbitrary_json(fmt: str, doc: Any) -> None:
    check(fmt, orjson.dumps(doc), offset=1)


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_format_shaped_inputs(fmt: str, data: st.DataObject) -> None:
    payload = data.draw(STRUCTURED.get(fmt, any_json.map(orjson.dumps)))
    check(fmt, payload, offset=data.draw(st.none() | st.integers(0, 2**40)))


def test_fuzz_covers_every_registered_format() -> None:
    # Every registered decoder must have format-shaped inputs: a new format without them
    # would get only arbitrary bytes and JSON, which rarely pass its first check.
    missing = set(known_formats()) - set(STRUCTURED)
    assert not missing, f"no structured fuzz strategy for {sorted(missing)}"
    assert set(STRUCTURED) <= set(known_formats()), "a strategy for an unknown format"
    assert datetime.now(UTC).year >= 2026  # fixtures are dated 2026; keep the clock honest
