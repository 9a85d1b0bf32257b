"""Windows Security events as Winlogbeat or NXLog JSON -> ECS SecurityEvents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from config.timezone import LOCAL_TZ
from events.ids import stable_id
from events.models import SecurityEvent
from ingest.formats.base import DecodeError, get_decoder
from ingest.formats.winlog import decode_winlog
from ingest.message import RawMessage
from tests.unit.text_walk import strings_in as _strings

TOPIC = "seclog.winlog"
RENDERED_4625 = (
    "An account failed to log on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-0-0\r\n"
    "\tAccount Name:\t\t-\r\n\r\nLogon Type:\t\t\t3\r\n"
)


def winlogbeat(event_id: int | str = 4625, **event_data: Any) -> dict[str, Any]:
    """Winlogbeat 8.x output for a Security event (event_id is a string there, an int
    in 7.x)."""
    data = {
        "SubjectUserSid": "S-1-0-0",
        "SubjectUserName": "-",
        "SubjectDomainName": "-",
        "SubjectLogonId": "0x0",
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": "administrator",
        "TargetDomainName": "SOTTTT",
        "Status": "0xc000006d",
        "FailureReason": "%%2313",
        "SubStatus": "0xc000006a",
        "LogonType": "3",
        "LogonProcessName": "NtLmSsp ",
        "AuthenticationPackageName": "NTLM",
        "WorkstationName": "KALI",
        "TransmittedServices": "-",
        "LmPackageName": "-",
        "KeyLength": "0",
        "ProcessId": "0x0",
        "ProcessName": "-",
        "IpAddress": "203.0.113.7",
        "IpPort": "49286",
    }
    data.update(event_data)
    return {
        "@timestamp": "2026-11-24T01:00:00.512Z",
        "message": RENDERED_4625,
        "event": {
            "code": str(event_id),
            "kind": "event",
            "provider": "Microsoft-Windows-Security-Auditing",
        },
        "host": {"name": "dc01"},
        "winlog": {
            "channel": "Security",
            "computer_name": "DC01.sotttt.gov.vn",
            "event_id": event_id,
            "provider_name": "Microsoft-Windows-Security-Auditing",
            "record_id": 4401293,
            "keywords": ["Audit Failure"],
            "task": "Logon",
            "api": "wineventlog",
            "event_data": data,
        },
    }


def nxlog(event_id: int | str = 4625, **fields: Any) -> dict[str, Any]:
    """NXLog CE im_msvistalog + to_json() output: one flat object."""
    record = {
        "EventTime": "2026-11-24 08:00:00",
        "Hostname": "DC02.sotttt.gov.vn",
        "Keywords": -9218868437227405312,
        "EventType": "AUDIT_FAILURE",
        "SeverityValue": 4,
        "Severity": "ERROR",
        "EventID": event_id,
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
        "Version": 0,
        "Task": 12544,
        "OpcodeValue": 0,
        "RecordNumber": 993120,
        "ProcessID": 636,
        "ThreadID": 4120,
        "Channel": "Security",
        "Message": "An account failed to log on.\r\n\r\nSubject: …",
        "Category": "Logon",
        "Opcode": "Info",
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "DC02$",
        "SubjectDomainName": "SOTTTT",
        "SubjectLogonId": "0x3e7",
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": "oracle",
        "TargetDomainName": "SOTTTT",
        "Status": "0xC000006D",
        "FailureReason": "%%2313",
        "SubStatus": "0xC0000064",
        "LogonType": "10",
        "WorkstationName": "-",
        "IpAddress": "198.51.100.23",
        "IpPort": "0",
        "EventReceivedTime": "2026-11-24 08:00:01",
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
    }
    record.update(fields)
    return record


def decode(record: Any, offset: int | None = 311, **kwargs: Any) -> SecurityEvent:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    msg = RawMessage("kafka", TOPIC, raw, partition=3, offset=offset)
    (event,) = decode_winlog(msg, **kwargs) if kwargs else get_decoder("winlog")(msg)
    assert isinstance(event, SecurityEvent)
    return event


# ---- 4625 ---------------------------------------------------------------------------


def test_winlogbeat_4625_bad_password() -> None:
    event = decode(winlogbeat())
    assert event.time == datetime(2026, 11, 24, 1, 0, 0, 512000, tzinfo=UTC)
    assert (event.dataset, event.category, event.action, event.outcome) == (
        "system.security",
        ("authentication",),
        "logon-failed",
        "failure",
    )
    assert (event.user_name, event.source_ip, event.source_port) == (
        "administrator",
        "203.0.113.7",
        49286,
    )
    assert event.host_name == "DC01.sotttt.gov.vn"
    assert event.message == (
        "An account failed to log on: the user name is correct but the password is wrong"
    )
    ecs = event.ecs
    assert ecs["user"] == {"name": "administrator", "domain": "SOTTTT", "id": "S-1-0-0"}
    assert ecs["source"] == {"ip": "203.0.113.7", "port": 49286, "domain": "KALI"}
    assert ecs["winlog"]["logon"] == {
        "type": "Network",
        "failure": {
            "reason": "Unknown user name or bad password.",
            "status": "bad user name or authentication information",
            "sub_status": "the user name is correct but the password is wrong",
        },
    }
    assert ecs["event"]["code"] == "4625"
    assert ecs["winlog"]["event_data"]["LogonProcessName"] == "NtLmSsp "
    assert ecs["message"].startswith("An account failed to log on.␍␊␍␊Subject:")
    assert ecs["agent"] == {"type": "winlogbeat"}
    assert "process" not in ecs  # "-" and 0x0 mean no caller process


@pytest.mark.parametrize(
    ("status", "sub_status", "reason"),
    [
        ("0xc000006d", "0xc0000064", "the user name does not exist"),
        ("0xC000006D", "0xC000006A", "the user name is correct but the password is wrong"),
        ("0xc0000234", "0x0", "the account is locked out"),
        ("0xc000006e", "0xc0000072", "the account is disabled"),
        ("0xc000006e", "0xc0000071", "the password has expired"),
        ("0xc000006e", "0xc000006f", "logon outside the account's allowed hours"),
        ("0xc000015b", "0x0", "the user has not been granted this logon type on this computer"),
        ("0xc000006d", "0xc0000999", "bad user name or authentication information"),
    ],
)
def test_4625_failure_reasons(status: str, sub_status: str, reason: str) -> None:
    event = decode(winlogbeat(Status=status, SubStatus=sub_status))
    assert event.ecs["event"]["reason"] == reason
    assert event.message == f"An account failed to log on: {reason}"


def test_nxlog_4625_unknown_user_over_rdp() -> None:
    event = decode(nxlog())
    assert event.time == datetime(2026, 11, 24, 8, 0, tzinfo=LOCAL_TZ)  # no zone: Hanoi time
    assert (event.action, event.outcome, event.user_name) == ("logon-failed", "failure", "oracle")
    assert (event.source_ip, event.source_port) == ("198.51.100.23", None)  # port 0: none
    assert event.host_name == "DC02.sotttt.gov.vn"
    ecs = event.ecs
    assert ecs["winlog"]["logon"]["type"] == "RemoteInteractive"
    assert ecs["event"]["reason"] == "the user name does not exist"
    assert ecs["winlog"]["record_id"] == 993120
    assert ecs["winlog"]["channel"] == "Security"
    assert ecs["agent"] == {"type": "nxlog"}
    data = ecs["winlog"]["event_data"]
    assert "TargetUserName" in data and "EventTime" not in data and "Hostname" not in data
    assert "source" in ecs and "domain" not in ecs["source"]  # WorkstationName "-"


def test_nxlog_zone_override_and_iso_event_time() -> None:
    assert decode(nxlog(), timezone="UTC").time == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    event = decode(nxlog(EventTime="2026-11-24T08:00:00.250000+07:00"))
    assert event.time == datetime(2026, 11, 24, 1, 0, 0, 250000, tzinfo=UTC)


@pytest.mark.parametrize("event_id", [4625, "4625"])
def test_event_id_int_or_string(event_id: int | str) -> None:
    assert decode(winlogbeat(event_id)).action == "logon-failed"
    assert decode(nxlog(event_id)).action == "logon-failed"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("-", None),
        ("", None),
        ("::1", "::1"),  # a local logon: kept, it is what happened
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 client of a dual-stack listener
        ("2001:db8::7", "2001:db8::7"),
        ("fe80::1%12", "fe80::1"),
        ("not-an-ip", None),
    ],
)
def test_source_address_forms(address: str, expected: str | None) -> None:
    event = decode(winlogbeat(IpAddress=address))
    assert event.source_ip == expected
    assert event.ecs["winlog"]["event_data"]["IpAddress"] == address


# ---- other events -------------------------------------------------------------------


def test_4624_logon_success() -> None:
    doc = winlogbeat(
        4624,
        LogonType="10",
        TargetUserName="nguyen.van.a",
        TargetLogonId="0x8a1f3c",
        ProcessName="C:\\Windows\\System32\\svchost.exe",
        ProcessId="0x3c4",
        IpAddress="10.20.0.31",
        IpPort="50122",
    )
    doc["winlog"]["keywords"] = ["Audit Success"]
    for key in ("Status", "SubStatus", "FailureReason"):
        del doc["winlog"]["event_data"][key]
    event = decode(doc)
    assert (event.action, event.outcome, event.category) == (
        "logged-in",
        "success",
        ("authentication",),
    )
    assert event.message == "An account was successfully logged on."
    assert event.process_name == "svchost.exe"
    assert event.ecs["process"] == {
        "executable": "C:\\Windows\\System32\\svchost.exe",
        "name": "svchost.exe",
        "pid": 964,
    }
    assert event.ecs["winlog"]["logon"] == {"type": "RemoteInteractive", "id": "0x8a1f3c"}
    assert "reason" not in event.ecs["event"]


def test_nxlog_4740_account_locked_out() -> None:
    record = {
        "EventTime": "2026-11-24 08:05:00",
        "Hostname": "DC01.sotttt.gov.vn",
        "EventType": "AUDIT_SUCCESS",
        "EventID": 4740,
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "Channel": "Security",
        "Message": "A user account was locked out.",
        "TargetUserName": "tran.thi.b",
        "TargetDomainName": "WS-KT-07",
        "TargetSid": "S-1-5-21-3623811015-3361044348-30300820-1105",
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "DC01$",
        "SubjectDomainName": "SOTTTT",
        "SubjectLogonId": "0x3e7",
    }
    event = decode(record)
    assert (event.category, event.action, event.outcome) == (
        ("iam",),
        "locked-out-user-account",
        "success",
    )
    assert event.user_name == "tran.thi.b"
    assert event.ecs["user"] == {
        "name": "tran.thi.b",
        "id": "S-1-5-21-3623811015-3361044348-30300820-1105",
    }
    assert event.ecs["source"] == {"domain": "WS-KT-07"}  # the caller computer
    assert event.ecs["event"]["type"] == ["user", "change"]


def test_4672_special_privileges_names_the_subject() -> None:
    doc = winlogbeat(4672, SubjectUserName="svc_backup", SubjectDomainName="SOTTTT")
    doc["winlog"]["event_data"] = {
        "SubjectUserSid": "S-1-5-21-1-2-3-1207",
        "SubjectUserName": "svc_backup",
        "SubjectDomainName": "SOTTTT",
        "SubjectLogonId": "0x9b1c2",
        "PrivilegeList": "SeBackupPrivilege\n\t\t\tSeRestorePrivilege",
    }
    doc["winlog"]["keywords"] = ["Audit Success"]
    event = decode(doc)
    assert (event.category, event.action, event.user_name) == (
        ("iam",),
        "logged-in-special",
        "svc_backup",
    )
    assert event.ecs["winlog"]["logon"] == {"id": "0x9b1c2"}
    assert event.ecs["winlog"]["event_data"]["PrivilegeList"] == (
        "SeBackupPrivilege␊\t\t\tSeRestorePrivilege"
    )


def test_4688_process_creation() -> None:
    doc = winlogbeat(4688)
    doc["winlog"]["event_data"] = {
        "SubjectUserSid": "S-1-5-21-1-2-3-1105",
        "SubjectUserName": "tran.thi.b",
        "SubjectDomainName": "SOTTTT",
        "SubjectLogonId": "0x1f2e3",
        "NewProcessId": "0x1a2c",
        "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "TokenElevationType": "%%1936",
        "ProcessId": "0x2b8",
        "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
        "ParentProcessName": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    }
    event = decode(doc)
    assert (event.category, event.action, event.user_name, event.process_name) == (
        ("process",),
        "created-process",
        "tran.thi.b",
        "powershell.exe",
    )
    process = event.ecs["process"]
    assert (process["pid"], process["command_line"]) == (
        6700,
        "powershell.exe -nop -w hidden -enc SQBFAFgA",
    )
    assert process["parent"] == {
        "executable": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "name": "WINWORD.EXE",
        "pid": 696,
    }


@pytest.mark.parametrize(("status", "outcome"), [("0x0", "success"), ("0xc0000064", "failure")])
def test_4776_outcome_from_status(status: str, outcome: str) -> None:
    event = decode(nxlog(4776, Status=status, Workstation="\\\\WS-KT-07"))
    assert (event.action, event.outcome) == ("credential-validated", outcome)
    assert event.ecs["source"]["domain"] == "WS-KT-07"


def test_unlisted_event_uses_audit_keyword_and_first_line() -> None:
    doc = winlogbeat(5140, ShareName="\\\\*\\C$")
    doc["message"] = "A network share object was accessed.\r\n\r\nSubject: …"
    doc["winlog"]["keywords"] = ["Audit Success"]
    event = decode(doc)
    assert (event.action, event.category, event.outcome) == (None, (), "success")
    assert event.message == "A network share object was accessed."
    assert event.user_name == "administrator"


def test_other_channel_is_stored_not_interpreted() -> None:
    # Sysmon, PowerShell and the other channels SigmaHQ reads are interpreted now
    # (test_winlog_channels.py); a channel outside that table is stored as forwarded.
    record = nxlog(1, Channel="Microsoft-Windows-Bits-Client/Operational", EventType="INFO")
    event = decode(record)
    assert (event.dataset, event.action, event.outcome) == ("windows.forwarded", None, None)
    assert event.ecs["event"]["module"] == "windows"


# ---- identity, hostile input, rejections --------------------------------------------


def test_winlogbeat_event_code_stands_in_for_a_missing_event_id() -> None:
    assert decode(_without(winlogbeat(), "winlog", "event_id")).action == "logon-failed"


def test_event_id_rule() -> None:
    assert decode(winlogbeat()).event_id == stable_id("kafka", TOPIC, 3, 311)
    raw = orjson.dumps(nxlog())
    assert decode(raw, offset=None).event_id == stable_id("kafka", TOPIC, raw)


def test_hostile_values_are_clean_everywhere_but_raw() -> None:
    doc = winlogbeat(
        TargetUserName="adm\x00in\x1b[8m<script>",
        TargetDomainName="'; DROP TABLE events;--",
        WorkstationName="\x9bWS\r\nforged",
        **{"Evil\x00Key": "\x07" * 10, "Nested": {"deep": ["\x1b]0;x\x07"]}},
    )
    doc["winlog"]["computer_name"] = "dc\x1b[2J01"
    raw = orjson.dumps(doc)
    event = decode(raw)
    assert event.raw == raw
    for text in _strings(event.model_dump(exclude={"raw"})):
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text), text
    assert event.user_name == "adm␀in␛[8m<script>"
    assert event.ecs["user"]["domain"] == "'; DROP TABLE events;--"
    assert event.host_name == "dc␛[2J01"


def test_huge_values_are_bounded() -> None:
    event = decode(winlogbeat(TargetUserName="A" * 1_000_000, CommandLine="B" * 1_000_000))
    assert event.user_name is not None and len(event.user_name) == 255
    # Command lines are kept to Windows' own limit (32768), other strings to 4096.
    assert len(event.ecs["winlog"]["event_data"]["CommandLine"]) == 32768
    assert len(event.ecs["winlog"]["event_data"]["TargetUserName"]) == 4096


def _without(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "a Windows event record must be a JSON object"),
        ({"hello": "world"}, "neither Winlogbeat JSON (no 'winlog' object) nor NXLog JSON"),
        (_without(winlogbeat(), "@timestamp"), "field '@timestamp' missing or not a string"),
        ({**winlogbeat(), "@timestamp": "yesterday"}, "field '@timestamp': 'yesterday' is not"),
        ({**winlogbeat(), "@timestamp": "2026-11-24T01:00:00"}, "timestamp has no UTC offset"),
        ({**winlogbeat(), "@timestamp": "1999-01-01T00:00:00Z"}, "before 2000"),
        (
            _without(_without(winlogbeat(), "winlog", "event_id"), "event", "code"),
            "field 'winlog.event_id': null is not",
        ),
        (winlogbeat("4625a"), "field 'winlog.event_id': '4625a' is not an event id"),
        (winlogbeat(True), "field 'winlog.event_id': true is not an event id"),
        (winlogbeat(70000), "is not an event id (0-65535)"),
        (nxlog("²"), "field 'EventID': '²' is not an event id"),
        (_without(nxlog(), "EventTime"), "field 'EventTime' missing or not a string"),
        (nxlog(EventTime="24/11/2026 08:00"), "field 'EventTime': '24/11/2026 08:00' is not ISO"),
    ],
)
def test_rejections_name_the_problem(record: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(record)
    assert reason in str(caught.value)
