"""Windows event log records (Winlogbeat or NXLog JSON) -> SecurityEvents on ECS names.

Two shippers, one decoder ("winlog"), told apart by shape:

* Winlogbeat: `{"@timestamp": "…Z", "winlog": {"event_id": 4625 | "4625", "channel",
  "computer_name", "record_id", "keywords": ["Audit Failure"], "event_data": {…}}}`.
* NXLog im_msvistalog + to_json(): one flat object, `{"EventTime": "2026-11-24
  08:00:00", "Hostname", "EventID": 4625, "EventType": "AUDIT_FAILURE", "Channel",
  "TargetUserName": …}`. EventTime is the agent's local time with no zone, read in the
  route's zone (default Asia/Ho_Chi_Minh).

What each event id means (action, category, whose account, outcome) and the readable
Status/SubStatus/LogonType names are data in winlog.yaml, named as Winlogbeat's Security
module names them so that Elastic rules on event.action work unchanged. Events not in
the table are still stored, with the account, host and address fields and the record's
own audit keyword as outcome.

Other channels (Sysmon, PowerShell, System, Application, Task Scheduler, WMI-Activity,
Defender, and any channel as windows.forwarded) are read by winlog_channels.py with its
table winlog_channels.yaml; Security keeps winlog.yaml.

The `message` column is a one-line summary ("An account failed to log on: the password
is wrong"); the rendered multi-line Windows text, when shipped, is ecs["message"].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from config.yaml_loader import load_data
from events.models import SecurityEvent
from events.text import clean_text, show
from ingest.formats import winlog_channels as channels
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    int_or_none,
    ip_or_none,
    iso_time,
    json_object,
    object_at,
    port_or_none,
    put,
    security_event_id,
    text_at,
    validated,
)
from ingest.message import RawMessage

SECURITY_DATASET = "system.security"
SECURITY_CHANNEL = "Security"
_TABLES = load_data(Path(__file__).with_name("winlog.yaml"))
EVENTS: dict[int, dict[str, Any]] = _TABLES["events"]
LOGON_TYPES: dict[str, str] = _TABLES["logon_types"]
STATUSES: dict[str, str] = _TABLES["statuses"]
FAILURE_REASONS: dict[str, str] = _TABLES["failure_reasons"]
# NXLog's own fields around the event's insertion strings (im_msvistalog).
NXLOG_ENVELOPE = frozenset(
    {
        "EventTime", "EventReceivedTime", "Hostname", "Keywords", "EventType",
        "SeverityValue", "Severity", "EventID", "SourceName", "ProviderGuid", "Version",
        "Task", "OpcodeValue", "RecordNumber", "ActivityID", "RelatedActivityID",
        "ProcessID", "ThreadID", "Channel", "Message", "Category", "Opcode", "Domain",
        "AccountName", "UserID", "AccountType", "SourceModuleName", "SourceModuleType",
        "ExecutionProcessID", "ExecutionThreadID",
    }
)  # fmt: skip
NXLOG_LEVELS = frozenset(
    {"CRITICAL", "ERROR", "AUDIT_FAILURE", "AUDIT_SUCCESS", "INFO", "WARNING", "VERBOSE"}
)
_AUDIT = {
    "audit success": "success", "audit_success": "success",
    "audit failure": "failure", "audit_failure": "failure",
}  # fmt: skip
_NONE = frozenset({"", "-"})  # Windows writes "-" for "no value"
_SUCCESS_STATUSES = frozenset({"0x0", "0x00000000", "0"})
_IPV4_MAPPED = "::ffff:"


@dataclass(slots=True)
class WinRecord:
    """The envelope of one record, whichever shipper sent it."""

    shipper: str  # winlogbeat or nxlog
    time: datetime
    event_id: int
    data: dict[str, Any]  # the event's named insertion strings, as shipped
    channel: str | None = None
    provider: str | None = None
    computer: str | None = None
    record_id: int | None = None
    audit: str | None = None  # success or failure, from the audit keyword
    rendered: str | None = None  # the Windows message text


@register("winlog")
def decode_winlog(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    doc = json_object(msg.payload, "a Windows event record")
    if isinstance(doc.get("winlog"), dict):
        record = _winlogbeat(doc)
    elif "EventID" in doc:
        record = _nxlog(doc, timezone)
    else:
        raise DecodeError(
            "neither Winlogbeat JSON (no 'winlog' object) nor NXLog JSON (no 'EventID' field)"
        )
    return validated(lambda: _event(msg, record))


# ---- the two shippers ---------------------------------------------------------------


def _winlogbeat(doc: dict[str, Any]) -> WinRecord:
    winlog = doc["winlog"]
    event_id = winlog.get("event_id", object_at(doc, "event").get("code"))
    keywords = winlog.get("keywords")
    audit = None
    if isinstance(keywords, list):
        audit = next((_AUDIT[k.lower()] for k in keywords if _audit_word(k)), None)
    return WinRecord(
        shipper="winlogbeat",
        time=iso_time(doc, "@timestamp"),
        event_id=_event_id(event_id, "winlog.event_id"),
        data=_winlogbeat_data(winlog),
        channel=text_at(winlog, "channel", MAX_NAME),
        provider=text_at(winlog, "provider_name", MAX_NAME),
        computer=text_at(winlog, "computer_name", MAX_NAME)
        or text_at(object_at(doc, "host"), "name", MAX_NAME),
        record_id=int_or_none(winlog.get("record_id")),
        audit=audit,
        rendered=text_at(doc, "message", MAX_MESSAGE_CHARS),
    )


def _winlogbeat_data(winlog: dict[str, Any]) -> dict[str, Any]:
    """event_data, plus user_data: events that log a UserData element instead (System
    104 "log cleared": SubjectUserName, Channel…) have it there; NXLog flattens both."""
    data = object_at(winlog, "event_data")
    user_data = object_at(winlog, "user_data")
    if not user_data:
        return data
    extra = {k: v for k, v in user_data.items() if k != "xml_name" and k not in data}
    return {**data, **extra}


def _nxlog(doc: dict[str, Any], timezone: str) -> WinRecord:
    event_type = doc.get("EventType")
    data = {key: value for key, value in doc.items() if key not in NXLOG_ENVELOPE}
    if type(event_type) is str and event_type.upper() not in NXLOG_LEVELS:
        # Sysmon's registry events have an insertion string named EventType
        # (SetValue, CreateKey…), which NXLog writes over its own level field.
        data["EventType"] = event_type
    return WinRecord(
        shipper="nxlog",
        time=iso_time(doc, "EventTime", default_zone=timezone),
        event_id=_event_id(doc["EventID"], "EventID"),
        data=data,
        channel=text_at(doc, "Channel", MAX_NAME),
        provider=text_at(doc, "SourceName", MAX_NAME),
        computer=text_at(doc, "Hostname", MAX_NAME),
        record_id=int_or_none(doc.get("RecordNumber")),
        audit=_AUDIT.get(event_type.lower()) if _audit_word(event_type) else None,
        rendered=text_at(doc, "Message", MAX_MESSAGE_CHARS),
    )


def _audit_word(value: Any) -> bool:
    return type(value) is str and value.lower() in _AUDIT


def _event_id(value: Any, where: str) -> int:
    number = int_or_none(value, limit=65536)
    if number is None:
        raise DecodeError(f"field '{where}': {show(value)} is not an event id (0-65535)")
    return number


# ---- insertion strings --------------------------------------------------------------


def _value(data: dict[str, Any], key: str, limit: int = MAX_NAME) -> str | None:
    """An insertion string, cleaned; Windows' "-" and empty mean none. NXLog sends some
    numbers as JSON numbers, so integers are read as their decimal text."""
    value = data.get(key)
    if type(value) is int:
        value = str(value)
    if type(value) is not str or value.strip() in _NONE:
        return None
    return clean_text(value.strip(), limit)


def _address(data: dict[str, Any]) -> str | None:
    # Windows logs IPv4 clients of a dual-stack listener as "::ffff:203.0.113.7".
    address = ip_or_none(_value(data, "IpAddress"))
    if address and address.startswith(_IPV4_MAPPED) and "." in address:
        return address[len(_IPV4_MAPPED) :]
    return address


def _pid(data: dict[str, Any], key: str) -> int | None:
    """Process ids are hex strings ("0x1a2c") in Security events; 0 means none."""
    value = _value(data, key, 20)
    if value and value.lower().startswith("0x"):
        try:
            number: int | None = int(value, 16)
        except ValueError:
            return None
    else:
        number = int_or_none(value)
    return number if number and number < 2**32 else None


def _executable_name(path: str) -> str:
    return path.rpartition("\\")[2] or path


# ---- the event ----------------------------------------------------------------------


def _event(msg: RawMessage, record: WinRecord) -> SecurityEvent:
    if record.channel not in (None, SECURITY_CHANNEL):
        return _channel_event(msg, record, channels.channel_info(record.channel))
    spec = _spec(record)
    ecs = _base_ecs(record, spec)
    _account(ecs, record.data, spec)
    _source(ecs, record.data)
    _logon(ecs, record.data)
    _process(ecs, record.data, record.event_id)
    summary = _summary(record, spec, ecs)
    return _security_event(msg, record, ecs, summary)


def _channel_event(msg: RawMessage, record: WinRecord, info: dict[str, str]) -> SecurityEvent:
    """Sysmon, PowerShell and the other channels of winlog_channels.yaml; any other
    channel is stored as windows.forwarded with the account and address fields."""
    kind = info["kind"]
    spec = channels.event_spec(kind, record.event_id)
    ecs = _base_ecs(record, spec, info)
    if kind:
        channels.apply(kind, record.event_id, record.data, ecs)
    else:
        _account(ecs, record.data, None)
        _source(ecs, record.data)
    summary = _summary(record, spec, ecs, channels.detail(ecs) if spec else None)
    return _security_event(msg, record, ecs, summary)


def _security_event(
    msg: RawMessage, record: WinRecord, ecs: dict[str, Any], summary: str
) -> SecurityEvent:
    ecs["message"] = record.rendered or summary
    event = ecs["event"]
    source = ecs.get("source", {})
    destination = ecs.get("destination", {})
    return SecurityEvent(
        time=record.time,
        event_id=security_event_id(msg),
        dataset=event["dataset"],
        category=tuple(event.get("category", ())),
        action=event.get("action"),
        outcome=event.get("outcome"),
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        user_name=ecs.get("user", {}).get("name"),
        host_name=record.computer,
        process_name=ecs.get("process", {}).get("name"),
        observer_vendor="Microsoft",
        observer_product="Windows",
        message=summary,
        ecs=ecs,
        raw=msg.payload,
    )


def _spec(record: WinRecord) -> dict[str, Any] | None:
    # Other channels reuse the numbers (Sysmon 1, PowerShell 4104…): only Security's count.
    if record.channel not in (None, SECURITY_CHANNEL):
        return None
    return EVENTS.get(record.event_id)


def _base_ecs(
    record: WinRecord, spec: dict[str, Any] | None, channel: dict[str, str] | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "event",
        "module": channel["module"] if channel else "system",
        "dataset": channel["dataset"] if channel else SECURITY_DATASET,
        "code": str(record.event_id),
    }
    put(event, ("provider",), record.provider)
    if spec is not None:
        # Copies: the lists belong to the shared table, the document to one event.
        event.update(
            action=spec["action"], category=list(spec["category"]), type=list(spec["type"])
        )
    put(event, ("outcome",), _outcome(record, spec))
    # Security's long strings (4698 TaskContent, 4688 CommandLine) are kept as long as
    # the other channels' (winlog_channels.LONG_FIELDS).
    data = channels.event_data(channel["kind"] if channel else "", record.data)
    winlog: dict[str, Any] = {"event_id": str(record.event_id), "event_data": data}
    put(winlog, ("channel",), record.channel)
    put(winlog, ("provider_name",), record.provider)
    put(winlog, ("computer_name",), record.computer)
    put(winlog, ("record_id",), record.record_id)
    ecs: dict[str, Any] = {
        "@timestamp": record.time.isoformat(),
        "event": event,
        "winlog": winlog,
        "agent": {"type": record.shipper},
    }
    put(ecs, ("host", "name"), record.computer)
    ecs.setdefault("host", {})["os"] = {"type": "windows", "family": "windows"}
    return ecs


def _outcome(record: WinRecord, spec: dict[str, Any] | None) -> str | None:
    rule = spec.get("outcome") if spec else None
    if rule in ("success", "failure"):
        return rule
    if rule == "status":
        status = _value(record.data, "Status", 32)
        if status is None:  # "0x0" reads as none: the success code
            return "success"
        return "success" if status.lower() in _SUCCESS_STATUSES else "failure"
    return record.audit


def _account(ecs: dict[str, Any], data: dict[str, Any], spec: dict[str, Any] | None) -> None:
    if spec is not None:
        prefix = spec["user"]
    else:
        prefix = "Target" if _value(data, "TargetUserName") else "Subject"
    domain = _value(data, f"{prefix}DomainName")
    if spec is not None and spec.get("domain_is") == "source":
        put(ecs, ("source", "domain"), domain)  # 4740: the computer the lockout came from
        domain = None
    put(ecs, ("user", "name"), _value(data, f"{prefix}UserName"))
    put(ecs, ("user", "domain"), domain)
    # 4624/4625 name it TargetUserSid, the account-management events TargetSid.
    put(ecs, ("user", "id"), _value(data, f"{prefix}UserSid") or _value(data, f"{prefix}Sid"))


def _source(ecs: dict[str, Any], data: dict[str, Any]) -> None:
    put(ecs, ("source", "ip"), _address(data))
    port = port_or_none(_value(data, "IpPort", 8))
    put(ecs, ("source", "port"), port or None)  # 0 means "no remote port"
    workstation = _value(data, "WorkstationName") or _value(data, "Workstation")
    if workstation and "domain" not in ecs.get("source", {}):
        put(ecs, ("source", "domain"), workstation.lstrip("\\"))


def _logon(ecs: dict[str, Any], data: dict[str, Any]) -> None:
    logon: dict[str, Any] = {}
    logon_type = _value(data, "LogonType", 8)
    put(logon, ("type",), LOGON_TYPES.get(logon_type or ""))
    logon_id = _value(data, "TargetLogonId", 32) or _value(data, "SubjectLogonId", 32)
    put(logon, ("id",), logon_id if logon_id != "0x0" else None)  # 0x0: no session
    failure: dict[str, Any] = {}
    reason = _value(data, "FailureReason", 512)
    put(failure, ("reason",), FAILURE_REASONS.get(reason or "", reason))
    for ecs_key, key in (("status", "Status"), ("sub_status", "SubStatus")):
        code = _value(data, key, 32)
        put(failure, (ecs_key,), STATUSES.get(code.lower()) if code else None)
    if failure:
        logon["failure"] = failure
    if logon:
        ecs["winlog"]["logon"] = logon
    explanation = _failure_explanation(data)
    put(ecs, ("event", "reason"), explanation)


def _failure_explanation(data: dict[str, Any]) -> str | None:
    """SubStatus says why more precisely than Status (0xC000006D 'bad user name or
    authentication information' is refined by 0xC000006A 'the password is wrong')."""
    for key in ("SubStatus", "Status"):
        code = _value(data, key, 32)
        if code and code.lower() in STATUSES:
            return STATUSES[code.lower()]
    return None


def _process(ecs: dict[str, Any], data: dict[str, Any], event_id: int) -> None:
    created = event_id == 4688  # the new process, and its creator as parent
    executable = _value(data, "NewProcessName" if created else "ProcessName", 1024)
    process: dict[str, Any] = {}
    if executable:
        process.update(executable=executable, name=_executable_name(executable))
    put(process, ("pid",), _pid(data, "NewProcessId" if created else "ProcessId"))
    if created:
        put(process, ("command_line",), _value(data, "CommandLine", channels.MAX_LONG))
        parent = _value(data, "ParentProcessName", 1024)
        if parent:
            process["parent"] = {"executable": parent, "name": _executable_name(parent)}
        put(process, ("parent", "pid"), _pid(data, "ProcessId"))
    if process:
        ecs["process"] = process


def _summary(
    record: WinRecord,
    spec: dict[str, Any] | None,
    ecs: dict[str, Any],
    detail: str | None = None,
) -> str:
    if spec is not None:
        text = f"{spec['description']}: {detail}" if detail else spec["description"]
    elif record.rendered:  # its first line; CR and LF are control pictures once cleaned
        text = record.rendered.split("␍", 1)[0].split("␊", 1)[0]
    else:
        text = f"Windows event {record.event_id}"
    reason = ecs["event"].get("reason")
    if reason and ecs["event"].get("outcome") == "failure":
        text = f"{text.rstrip('.')}: {reason}"
    return clean_text(text, MAX_MESSAGE_CHARS)
