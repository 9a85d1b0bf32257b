"""Sysmon, PowerShell and the other Windows channels (winlog_channels.py/.yaml) through the
winlog decoder, as Winlogbeat and NXLog send them: ECS fields, what Sigma reads, bounds,
hostile and fuzzed input."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.models import SecurityEvent
from ingest.formats.base import DecodeError
from ingest.formats.winlog import decode_winlog
from ingest.message import RawMessage
from processors.security.sigma import FieldMap
from tests.unit.text_walk import strings_in

SYSMON = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL = "Microsoft-Windows-PowerShell/Operational"
FIELDMAP = FieldMap.load()


def winlogbeat(channel: str, event_id: int, provider: str, **event_data: Any) -> dict[str, Any]:
    return {
        "@timestamp": "2026-12-03T01:15:00.123Z",
        "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": "8.15.3"},
        "agent": {"type": "winlogbeat", "version": "8.15.3"},
        "event": {"code": str(event_id), "kind": "event", "provider": provider},
        "host": {"name": "WS-KT-07"},
        "winlog": {
            "channel": channel,
            "computer_name": "WS-KT-07.sotttt.gov.vn",
            "event_id": str(event_id),
            "provider_name": provider,
            "record_id": 882310,
            "api": "wineventlog",
            "event_data": event_data,
        },
    }


def nxlog(channel: str, event_id: int, source: str, **fields: Any) -> dict[str, Any]:
    return {
        "EventTime": "2026-12-03 08:31:40",
        "Hostname": "WS-KT-07.sotttt.gov.vn",
        "Keywords": "-9223372036854775808",
        "EventType": "INFO",
        "SeverityValue": 2,
        "Severity": "INFO",
        "EventID": event_id,
        "SourceName": source,
        "RecordNumber": 882377,
        "ExecutionProcessID": 3120,
        "Channel": channel,
        "Domain": "NT AUTHORITY",
        "AccountName": "SYSTEM",
        "UserID": "S-1-5-18",
        "Message": "rendered text",
        "EventReceivedTime": "2026-12-03 08:31:41",
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
        **fields,
    }


def decode(record: Any, offset: int = 7) -> SecurityEvent:
    payload = record if isinstance(record, bytes) else orjson.dumps(record)
    (event,) = decode_winlog(RawMessage("kafka", "seclog.winlog", payload, offset=offset))
    return event


def sigma(event: SecurityEvent, field: str) -> Any:
    """What a Sigma rule reads for `field` (the merged field map, windows.yaml included)."""
    return FIELDMAP.view(event).first(FIELDMAP.ref(field))


def admitted(event: SecurityEvent, product: str | None, service: str | None, category: str | None):
    predicate = FIELDMAP.logsource_filter((product, service, category))
    return predicate is None or predicate(FIELDMAP.view(event))


PROCESS_CREATE = {
    "RuleName": "-",
    "UtcTime": "2026-12-03 01:15:00.120",
    "ProcessGuid": "{5f1c2a9e-1f30-674e-2a04-000000001e00}",
    "ProcessId": "7344",
    "Image": "C:\\Windows\\System32\\whoami.exe",
    "OriginalFileName": "whoami.exe",
    "Description": "whoami - displays logged on user information",
    "CommandLine": "whoami /priv",
    "CurrentDirectory": "C:\\Users\\nv.an\\",
    "User": "SOTTTT\\nv.an",
    "LogonId": "0xb4b8d",
    "IntegrityLevel": "Medium",
    "Hashes": "SHA1=A4A6924F3EAF97981323703D38FD99C4FD0D7AB6,MD5=43C2D3293AD939241DF61B3630A9D3B6,"
    "IMPHASH=7FF0758B766F747CE57DFAC70743FB88",
    "ParentProcessId": "6120",
    "ParentImage": "C:\\Windows\\System32\\cmd.exe",
    "ParentCommandLine": '"C:\\Windows\\system32\\cmd.exe" ',
}


# ---- Sysmon ---------------------------------------------------------------------------


def test_sysmon_process_creation_to_ecs() -> None:
    event = decode(winlogbeat(SYSMON, 1, "Microsoft-Windows-Sysmon", **PROCESS_CREATE))
    assert (event.dataset, event.category, event.action) == (
        "windows.sysmon_operational",
        ("process",),
        "process-created",
    )
    assert (event.user_name, event.process_name, event.host_name) == (
        "nv.an",
        "whoami.exe",
        "WS-KT-07.sotttt.gov.vn",
    )
    assert event.message == "Sysmon: process created: whoami /priv"
    ecs = event.ecs
    assert ecs["event"]["module"] == "sysmon"
    assert ecs["host"]["os"]["type"] == "windows"
    assert ecs["user"] == {"name": "nv.an", "domain": "SOTTTT"}
    process = ecs["process"]
    assert process["pid"] == 7344 and process["parent"]["pid"] == 6120
    assert process["hash"] == {
        "sha1": "a4a6924f3eaf97981323703d38fd99c4fd0d7ab6",
        "md5": "43c2d3293ad939241df61b3630a9d3b6",
        "imphash": "7ff0758b766f747ce57dfac70743fb88",
    }
    assert process["pe"]["original_file_name"] == "whoami.exe"
    # Kept as written, trailing space included: rules compare whole command lines.
    assert process["parent"]["command_line"] == '"C:\\Windows\\system32\\cmd.exe" '
    assert admitted(event, "windows", None, "process_creation")
    assert not admitted(event, "windows", None, "image_load")
    assert sigma(event, "Hashes").startswith("SHA1=A4A6")  # raw, as rules match it
    assert sigma(event, "IntegrityLevel") == "Medium"
    assert sigma(event, "ParentImage") == "C:\\Windows\\System32\\cmd.exe"


def test_sysmon_network_connection() -> None:
    event = decode(
        winlogbeat(
            SYSMON,
            3,
            "Microsoft-Windows-Sysmon",
            Image="C:\\Windows\\SysWOW64\\regsvr32.exe",
            Protocol="tcp",
            Initiated="true",
            SourceIp="10.20.30.47",
            SourcePort="51544",
            DestinationIp="203.0.113.50",
            DestinationHostname="-",
            DestinationPort="443",
        )
    )
    assert (event.source_ip, event.source_port) == ("10.20.30.47", 51544)
    assert (event.destination_ip, event.destination_port) == ("203.0.113.50", 443)
    assert event.ecs["network"] == {"transport": "tcp", "direction": "egress"}
    assert "domain" not in event.ecs.get("destination", {})  # "-" is no value
    assert sigma(event, "Initiated") == "true"
    assert admitted(event, "windows", None, "network_connection")
    assert not admitted(event, "windows", None, "dns_query")


@pytest.mark.parametrize(
    ("event_type", "categories"),
    [
        ("CreateKey", {"registry_add", "registry_event"}),
        ("DeleteKey", {"registry_delete", "registry_event"}),
        ("DeleteValue", {"registry_delete", "registry_event"}),
    ],
)
def test_sysmon_12_is_registry_add_or_delete_by_event_type(
    event_type: str, categories: set[str]
) -> None:
    event = decode(
        nxlog(
            SYSMON,
            12,
            "Microsoft-Windows-Sysmon",
            EventType=event_type,  # Sysmon's insertion string over NXLog's level field
            Image="C:\\Windows\\regedit.exe",
            TargetObject="HKLM\\SOFTWARE\\Microsoft\\AMSI\\Providers\\{2781761E}",
        )
    )
    assert sigma(event, "EventType") == event_type
    registry = {"registry_add", "registry_delete", "registry_set", "registry_event"}
    assert {c for c in registry if admitted(event, "windows", None, c)} == categories
    assert event.ecs["registry"] == {
        "path": "HKLM\\SOFTWARE\\Microsoft\\AMSI\\Providers\\{2781761E}",
        "hive": "HKLM",
        "key": "SOFTWARE\\Microsoft\\AMSI\\Providers\\{2781761E}",
        "value": "{2781761E}",
    }


def test_nxlog_level_event_type_is_not_an_insertion_string() -> None:
    event = decode(nxlog(SYSMON, 11, "Microsoft-Windows-Sysmon", TargetFilename="C:\\x.txt"))
    assert "EventType" not in event.ecs["winlog"]["event_data"]
    assert event.ecs["file"] == {"path": "C:\\x.txt", "name": "x.txt", "extension": "txt"}
    assert admitted(event, "windows", None, "file_event")


def test_sysmon_registry_value_set_keeps_details_raw() -> None:
    event = decode(
        winlogbeat(
            SYSMON,
            13,
            "Microsoft-Windows-Sysmon",
            EventType="SetValue",
            TargetObject="HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAV",
            Details="DWORD (0x00000001)",
        )
    )
    assert sigma(event, "Details") == "DWORD (0x00000001)"
    assert event.ecs["registry"]["data"]["strings"] == ["DWORD (0x00000001)"]
    assert admitted(event, "windows", None, "registry_set")


def test_sysmon_image_load_describes_the_loaded_module() -> None:
    event = decode(
        winlogbeat(
            SYSMON,
            7,
            "Microsoft-Windows-Sysmon",
            Image="C:\\Users\\a\\pd64.exe",
            ImageLoaded="C:\\Users\\a\\dbghelp.dll",
            OriginalFileName="dbghelp.dll",
            Hashes="SHA256=" + "AB" * 32,
            Signed="false",
            Signature="-",
        )
    )
    ecs = event.ecs
    assert ecs["file"]["pe"]["original_file_name"] == "dbghelp.dll"
    assert ecs["file"]["hash"] == {"sha256": "ab" * 32}
    assert ecs["file"]["code_signature"] == {"signed": False}
    assert "pe" not in ecs["process"] and "hash" not in ecs["process"]
    assert sigma(event, "OriginalFileName") == "dbghelp.dll"  # the module's, from event_data
    assert sigma(event, "Signature") == "-"  # as Sysmon wrote it (and not rule.name)
    assert sigma(event, "Signed") == "false"  # the raw string rules compare
    assert admitted(event, "windows", None, "image_load")


def test_sysmon_process_access_source_and_target() -> None:
    event = decode(
        nxlog(
            SYSMON,
            10,
            "Microsoft-Windows-Sysmon",
            SourceProcessId="8812",
            SourceImage="C:\\Temp\\pd64.exe",
            TargetImage="C:\\Windows\\system32\\lsass.exe",
            GrantedAccess="0x1fffff",
            CallTrace="C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|UNKNOWN(00007FF6A1B2C3D4)",
            SourceUser="SOTTTT\\nv.an",
        )
    )
    assert event.ecs["process"] == {
        "pid": 8812,
        "executable": "C:\\Temp\\pd64.exe",
        "name": "pd64.exe",
    }
    assert sigma(event, "TargetImage") == "C:\\Windows\\system32\\lsass.exe"
    assert sigma(event, "GrantedAccess") == "0x1fffff"
    assert sigma(event, "SourceUser") == "SOTTTT\\nv.an"
    assert admitted(event, "windows", None, "process_access")
    assert not admitted(event, "windows", None, "process_creation")


def test_sysmon_dns_query_answers() -> None:
    event = decode(
        winlogbeat(
            SYSMON,
            22,
            "Microsoft-Windows-Sysmon",
            QueryName="example.org",
            QueryStatus="0",
            QueryResults="type:  5 cdn.example.net;::ffff:203.0.113.88;2001:db8::1;",
            Image="C:\\Program Files\\x.exe",
        )
    )
    assert event.ecs["dns"] == {
        "question": {"name": "example.org"},
        "resolved_ip": ["203.0.113.88", "2001:db8::1"],
    }
    assert event.message == "Sysmon: DNS query: example.org"
    assert admitted(event, "windows", None, "dns_query")


@pytest.mark.parametrize(
    ("event_id", "category"),
    [
        (2, "file_change"),
        (6, "driver_load"),
        (8, "create_remote_thread"),
        (9, "raw_access_thread"),
        (15, "create_stream_hash"),
        (17, "pipe_created"),
        (18, "pipe_created"),
        (19, "wmi_event"),
        (21, "wmi_event"),
        (23, "file_delete"),
        (26, "file_delete"),
        (25, "process_tampering"),
        (29, "file_executable_detected"),
        (255, "sysmon_error"),
    ],
)
def test_sysmon_event_ids_to_sigma_categories(event_id: int, category: str) -> None:
    event = decode(winlogbeat(SYSMON, event_id, "Microsoft-Windows-Sysmon", Image="C:\\a.exe"))
    assert event.action is not None and event.dataset == "windows.sysmon_operational"
    assert admitted(event, "windows", None, category)
    assert admitted(event, "windows", "sysmon", None)
    assert not admitted(event, "windows", None, "process_creation")


# ---- PowerShell ---------------------------------------------------------------------


def script_part(number: int, total: int, text: str) -> dict[str, Any]:
    return winlogbeat(
        POWERSHELL,
        4104,
        "Microsoft-Windows-PowerShell",
        MessageNumber=str(number),
        MessageTotal=str(total),
        ScriptBlockText=text,
        ScriptBlockId="9e2f3c4a-6b1d-4e8f-a0c2-7d5e1b3a9f60",
        Path="C:\\Users\\a\\tools.ps1",
    )


def test_split_script_block_parts_are_events_of_their_own() -> None:
    parts = [decode(script_part(n, 3, f"part {n} " + "x" * 20_000), offset=n) for n in (1, 2, 3)]
    assert len({part.event_id for part in parts}) == 3
    for number, part in enumerate(parts, 1):
        powershell = part.ecs["powershell"]
        assert (powershell["sequence"], powershell["total"]) == (number, 3)
        assert powershell["file"]["script_block_id"] == "9e2f3c4a-6b1d-4e8f-a0c2-7d5e1b3a9f60"
        assert sigma(part, "ScriptBlockText").startswith(f"part {number} ")
        assert len(sigma(part, "ScriptBlockText")) == 20_007  # whole, not cut at 4096
        assert "ScriptBlockText" not in part.ecs["winlog"]["event_data"]  # not kept twice
        assert admitted(part, "windows", None, "ps_script")
        assert not admitted(part, "windows", None, "ps_module")
        assert part.ecs["file"]["path"] == "C:\\Users\\a\\tools.ps1"


def test_script_block_text_is_bounded() -> None:
    event = decode(script_part(1, 1, "A" * 500_000))
    assert len(event.ecs["powershell"]["file"]["script_block_text"]) == 64 * 1024


def test_module_logging_4103_context() -> None:
    context = (
        "        Severity = Informational\r\n        Host Name = ConsoleHost\r\n"
        "        Host Application = powershell.exe -ep bypass\r\n"
        "        Engine Version = 5.1.19041.4648\r\n        Command Name = Get-GPPPassword\r\n"
        "        Command Type = Function\r\n        Script Name = \r\n"
        "        User = SOTTTT\\nv.an\r\n        Shell ID = Microsoft.PowerShell\r\n"
    )
    event = decode(
        nxlog(
            POWERSHELL,
            4103,
            "Microsoft-Windows-PowerShell",
            ContextInfo=context,
            Payload='CommandInvocation(Get-GPPPassword): "Get-GPPPassword"\r\n',
        )
    )
    ecs = event.ecs
    assert ecs["process"]["command_line"] == "powershell.exe -ep bypass"
    assert ecs["process"]["name"] == "powershell.exe"
    assert ecs["powershell"]["command"] == {"name": "Get-GPPPassword", "type": "Function"}
    assert ecs["powershell"]["engine"] == {"version": "5.1.19041.4648"}
    assert ecs["user"] == {"name": "nv.an", "domain": "SOTTTT"}
    assert "file" not in ecs  # "Script Name = " is empty
    assert sigma(event, "Payload").startswith("CommandInvocation(Get-GPPPassword)")
    assert admitted(event, "windows", None, "ps_module")
    assert admitted(event, "windows", "powershell", None)


def test_classic_engine_start_400() -> None:
    details = (
        "\tNewEngineState=Available\r\n\tPreviousEngineState=None\r\n\r\n\tHostName=ConsoleHost\r\n"
        "\tHostVersion=5.1.19041.4648\r\n\tHostApplication=powershell.exe -Version 2 -c x\r\n"
        "\tEngineVersion=2.0\r\n\tCommandLine="
    )
    event = decode(
        winlogbeat(
            "Windows PowerShell",
            400,
            "PowerShell",
            param1="Available",
            param2="None",
            param3=details,
        )
    )
    assert event.dataset == "windows.powershell"
    assert event.ecs["powershell"]["engine"] == {
        "version": "2.0",
        "new_state": "Available",
        "previous_state": "None",
    }
    assert event.ecs["process"]["command_line"] == "powershell.exe -Version 2 -c x"
    data = sigma(event, "Data")
    assert isinstance(data, list) and data[0] == "Available" and "EngineVersion=2.0" in data[2]
    assert admitted(event, "windows", None, "ps_classic_start")
    assert admitted(event, "windows", "powershell-classic", None)
    assert not admitted(event, "windows", None, "process_creation")


# ---- System, Application, Task Scheduler, WMI, Defender -----------------------------


def test_system_service_installed_7045() -> None:
    event = decode(
        winlogbeat(
            "System",
            7045,
            "Service Control Manager",
            ServiceName="WinUpdSvc",
            ImagePath="%COMSPEC% /c powershell -nop -w hidden",
            ServiceType="user mode service",
            StartType="demand start",
            AccountName="LocalSystem",
        )
    )
    assert (event.dataset, event.action) == ("windows.system", "service-installed")
    assert event.ecs["service"]["name"] == "WinUpdSvc"
    assert event.message == "A service was installed in the system.: WinUpdSvc"
    assert sigma(event, "ImagePath") == "%COMSPEC% /c powershell -nop -w hidden"
    assert sigma(event, "Provider_Name") == "Service Control Manager"
    assert admitted(event, "windows", "system", None)
    assert not admitted(event, "windows", "application", None)


def test_system_log_cleared_104_reads_user_data() -> None:
    doc = winlogbeat("System", 104, "Microsoft-Windows-Eventlog")
    doc["winlog"]["user_data"] = {
        "xml_name": "LogFileCleared",
        "SubjectUserName": "Administrator",
        "SubjectDomainName": "SOTTTT",
        "Channel": "Application",
    }
    event = decode(doc)
    data = event.ecs["winlog"]["event_data"]
    assert data == {
        "SubjectUserName": "Administrator",
        "SubjectDomainName": "SOTTTT",
        "Channel": "Application",
    }
    assert event.action == "log-cleared"


def test_application_unnamed_data_is_listed_as_data() -> None:
    event = decode(
        winlogbeat(
            "Application", 15457, "MSSQLSERVER", param1="xp_cmdshell", param2="0", param10="z"
        )
    )
    assert event.dataset == "windows.application"
    assert sigma(event, "Data") == ["xp_cmdshell", "0", "z"]  # in parameter order
    assert admitted(event, "windows", "application", None)


def test_task_scheduler_and_wmi() -> None:
    task = decode(
        winlogbeat(
            "Microsoft-Windows-TaskScheduler/Operational",
            106,
            "Microsoft-Windows-TaskScheduler",
            TaskName="\\Updater",
            UserContext="SOTTTT\\nv.an",
        )
    )
    assert (task.dataset, task.action, task.user_name) == (
        "windows.taskscheduler",
        "scheduled-task-registered",
        "nv.an",
    )
    assert admitted(task, "windows", "taskscheduler", None)
    wmi = decode(
        nxlog(
            "Microsoft-Windows-WMI-Activity/Operational",
            5861,
            "Microsoft-Windows-WMI-Activity",
            PossibleCause="Binding EventFilter: CommandLineEventConsumer",
        )
    )
    assert (wmi.dataset, wmi.action) == ("windows.wmi", "wmi-permanent-subscription")
    assert admitted(wmi, "windows", "wmi", None)


@pytest.mark.parametrize("space", [" ", "", "_"])
def test_defender_names_with_or_without_spaces(space: str) -> None:
    fields = {
        f"Threat{space}Name": "Trojan:PowerShell/Mimikatz.A",
        f"Source{space}Name": "AMSI",
        f"Process{space}Name": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "Path": "file:_C:\\Users\\a\\Downloads\\m.ps1; process:_pid:4120",
        f"Detection{space}User": "SOTTTT\\nv.an",
    }
    event = decode(
        winlogbeat(
            "Microsoft-Windows-Windows Defender/Operational",
            1116,
            "Microsoft-Windows-Windows Defender",
            **fields,
        )
    )
    assert (event.dataset, event.category, event.action) == (
        "windows.defender",
        ("malware",),
        "malware-detected",
    )
    assert event.ecs["threat"]["software"]["name"] == "Trojan:PowerShell/Mimikatz.A"
    assert event.ecs["file"]["path"] == "C:\\Users\\a\\Downloads\\m.ps1"
    assert event.user_name == "nv.an"
    assert sigma(event, "SourceName") == "AMSI"
    assert admitted(event, "windows", "windefend", None)
    assert admitted(event, None, None, "antivirus")  # the per-agency malware count


def test_unknown_channel_is_forwarded_with_its_insertion_strings() -> None:
    event = decode(
        winlogbeat(
            "Microsoft-Windows-Bits-Client/Operational",
            16403,
            "Microsoft-Windows-Bits-Client",
            RemoteName="http://203.0.113.50/a.exe",
        )
    )
    assert (event.dataset, event.action) == ("windows.forwarded", None)
    assert sigma(event, "RemoteName") == "http://203.0.113.50/a.exe"
    assert admitted(event, "windows", "bits-client", None)
    assert not admitted(event, "windows", "system", None)


def test_security_4688_is_still_process_creation() -> None:
    doc = winlogbeat(
        "Security",
        4688,
        "Microsoft-Windows-Security-Auditing",
        NewProcessName="C:\\Windows\\System32\\vssadmin.exe",
        CommandLine="vssadmin.exe delete shadows /all /quiet",
        SubjectUserName="svc_backup",
    )
    event = decode(doc)
    assert (event.dataset, event.action) == ("system.security", "created-process")
    assert event.ecs["host"]["os"]["type"] == "windows"
    assert sigma(event, "Image") == "C:\\Windows\\System32\\vssadmin.exe"
    assert admitted(event, "windows", None, "process_creation")
    assert admitted(event, "windows", "security", None)


# ---- hostile, bounded, fuzzed -------------------------------------------------------


def test_hostile_values_are_clean_and_bounded() -> None:
    data = dict(PROCESS_CREATE)
    data.update(
        CommandLine="cmd\x00 /c \x1b[2J" + "B" * 100_000,
        User="\x1b]0;x\x07\\" + "u" * 1000,
        Hashes="SHA1=" + "Z" * 10_000 + ",MD5=<script>,IMPHASH=\x00",
        ProcessId="99999999999999999999999",
        ParentProcessId="-5",
        Evil="\r\nforged line",
    )
    raw = orjson.dumps(winlogbeat(SYSMON, 1, "Microsoft-Windows-Sysmon", **data))
    event = decode(raw)
    assert event.raw == raw
    for text in strings_in(event.model_dump(exclude={"raw"})):
        assert not any((ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) < 0xA0 for c in text)
    process = event.ecs["process"]
    assert len(process["command_line"]) == 32768
    assert "pid" not in process and "pid" not in process["parent"]
    assert "hash" not in process  # no well-formed hash in it
    assert event.user_name is not None and len(event.user_name) == 255
    assert len(event.ecs["winlog"]["event_data"]["CommandLine"]) == 32768


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**winlogbeat(SYSMON, 1, "x"), "@timestamp": 5}, "field '@timestamp' missing"),
        (nxlog(SYSMON, "one", "x"), "field 'EventID': 'one' is not an event id"),
        (b"\xff\xfe{", "invalid JSON"),
    ],
)
def test_channel_records_rejected_with_reason(record: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(record)
    assert reason in str(caught.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_NAMES = st.sampled_from(
    [*PROCESS_CREATE, "TargetObject", "Details", "EventType", "QueryResults", "ScriptBlockText",
     "MessageNumber", "ContextInfo", "param3", "Data", "Threat Name", "Path", "PipeName",
     "SourceIp", "DestinationPort", "Signed", "Initiated", "ImageLoaded", "UserContext"]
)  # fmt: skip
_CHANNELS = st.sampled_from(
    [SYSMON, POWERSHELL, "Windows PowerShell", "System", "Application", "Security",
     "Microsoft-Windows-TaskScheduler/Operational", "Microsoft-Windows-WMI-Activity/Operational",
     "Microsoft-Windows-Windows Defender/Operational", "Other/Channel"]
)  # fmt: skip
_IDS = st.sampled_from([1, 3, 7, 10, 12, 13, 22, 23, 400, 800, 4103, 4104, 4688, 7045, 1116, 129])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    channel=_CHANNELS,
    event_id=_IDS,
    data=st.dictionaries(_NAMES | st.text(max_size=10), _JSON | st.text(), max_size=10),
    shipper=st.sampled_from(["winlogbeat", "nxlog"]),
)
def test_fuzzed_records_decode_or_are_rejected_with_a_reason(
    channel: str, event_id: int, data: dict[str, Any], shipper: str
) -> None:
    if shipper == "winlogbeat":
        record = winlogbeat(channel, event_id, "Fuzz")
        record["winlog"]["event_data"] = data
        if data:
            record["winlog"]["user_data"] = copy.deepcopy(data)
    else:
        record = {**nxlog(channel, event_id, "Fuzz"), **data}
    try:
        payload = orjson.dumps(record)
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON at all (an int beyond 64 bits): nothing a shipper can send
    try:
        event = decode(payload)
    except DecodeError as error:
        assert str(error)
        return
    assert event.dataset.startswith(("windows.", "system.security"))
    for text in strings_in(event.model_dump(exclude={"raw"})):
        assert "\x00" not in text and "\n" not in text
    orjson.dumps(event.ecs)  # storable as jsonb


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300))
def test_fuzzed_bytes_never_crash(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(payload)
