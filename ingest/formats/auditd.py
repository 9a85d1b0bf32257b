"""Linux audit (auditd) log lines -> SecurityEvents on Elastic Common Schema names.

    [node=web01 ]type=SYSCALL msg=audit(1764730800.123:4567): arch=c000003e syscall=59 …
    type=EXECVE msg=audit(1764730800.123:4567): argc=3 a0="grep" a1="-i" a2=70617373
    type=PROCTITLE msg=audit(1764730800.123:4567): proctitle=67726570002D69…

One audit event is several records (SYSCALL, EXECVE, CWD, PATH…, PROCTITLE, EOE) sharing
the serial after the colon in msg=audit(…). The records of one message are joined by
(node, serial) into one SecurityEvent each. The decoder is pure and keeps no state, so
records of one event that arrive in different messages (a shipper sending one line per
message, which Filebeat, rsyslog imfile and audisp-syslog all do) are NOT joined: each
message becomes its own event with the records it has, under the same auditd.serial (a
search or a correlation by serial puts them back together). SigmaHQ's linux/auditd rules
are written per record (`type: EXECVE` with `a0`, `type: SYSCALL` with `exe`), so they
match either way. A message holding only the EOE marker is refused with a reason (filter
`type=EOE` at the shipper: it carries nothing).

Values: "quoted" text is literal; an unquoted value of a field auditd encodes (name, exe,
comm, proctitle, EXECVE's a0…aN, …, see auditd.yaml) is the hex of the bytes and is
decoded (proctitle's NULs become spaces); `(null)` and `?` are absent. Long EXECVE
arguments split into a1[0], a1[1]… are put back together. The ENRICHED part auditd ≥ 3
appends after a \\x1d (SYSCALL=execve UID="root" …) is read too; without it the syscall
number is named from auditd.yaml's table.

Parsed by hand: the line is key=value tokens with two quote styles and a nested msg='…'
(user-space records); python-audit/auparse bind the C library, which needs the audit
daemon's headers and reads files, not strings from a network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from config.yaml_loader import load_model
from events.models import SecurityEvent
from events.text import clean_text, show
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    MAX_STRING,
    checked_time,
    digits,
    int_or_none,
    ip_or_none,
    put,
    strip_newline,
    zone_info,
)
from ingest.formats.syslog.framing import NotSyslog, parse_line
from ingest.formats.web_access import MAX_LINES, event_id, one_event, unwrap
from ingest.message import RawMessage

DATASET = "auditd.log"
MAX_RECORDS = 128  # per event; a PATH record per file touched, rarely more than ten
MAX_FIELDS = 256  # per record
MAX_ARGS = 512  # EXECVE arguments kept; argc says how many there were
_SEPARATOR = "\x1d"  # between the raw fields and the ENRICHED ones
_HEADER = re.compile(
    r"(?:node=(?P<node>\S{1,255}) )?type=(?P<type>[A-Z0-9_]{1,32}) "
    r"(?:msg=)?audit\((?P<sec>\d{1,12})(?:\.(?P<ms>\d{1,6}))?:(?P<serial>\d{1,20})\):\s?"
)
_KEY = re.compile(r"[A-Za-z0-9_\-\[\]]{1,64}")
_ARG = re.compile(r"a(\d{1,4})(?:\[(\d{1,4})\])?")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_ABSENT = frozenset({"(null)", "?", "(none)", ""})


class _Tables(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    syscalls: dict[str, dict[int, str]]
    arches: dict[str, str]
    categories: dict[str, tuple[str, str]]
    encoded: frozenset[str]
    numeric_types: dict[int, str]


TABLES = load_model(Path(__file__).with_name("auditd.yaml"), _Tables)


@dataclass(slots=True)
class Record:
    type: str
    fields: dict[str, str]
    enriched: dict[str, str]
    text: str  # the record rendered with decoded values, for keyword searches


@dataclass(slots=True)
class AuditEvent:
    node: str | None
    serial: int
    time: datetime
    host: str | None
    records: list[Record] = field(default_factory=list)


# ---- decoder ------------------------------------------------------------------------


@register("auditd")
def decode_auditd(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    text, host = _text(msg)
    grouped: dict[tuple[str | None, int], AuditEvent] = {}
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        raise DecodeError(f"{len(lines)} lines in one message; at most {MAX_LINES}")
    numbered = [(n, line.removesuffix("\r")) for n, line in enumerate(lines, 1) if line.strip()]
    for number, line in numbered:
        where = f"line {number}: " if len(numbered) > 1 else ""
        _add(grouped, line, host, msg, timezone, where)
    events = [e for e in grouped.values() if any(r.type != "EOE" for r in e.records)]
    if not events:
        raise DecodeError(
            "only EOE (end of event) records: they carry nothing; drop type=EOE at the shipper"
        )
    return [
        one_event(f"serial {e.serial}: ", audit_event, msg, index, e)
        for index, e in enumerate(events)
    ]


def _text(msg: RawMessage) -> tuple[str, str | None]:
    payload = strip_newline(msg.payload)
    if payload.lstrip().startswith(b"{"):
        envelope = unwrap(msg, "audit", lambda _: None)
        return envelope.text, envelope.host
    return payload.decode("utf-8", errors="replace"), None


def _add(
    grouped: dict[tuple[str | None, int], AuditEvent],
    line: str,
    host: str | None,
    msg: RawMessage,
    timezone: str,
    where: str,
) -> None:
    body, header_host = _strip_syslog(line, msg, timezone, where)
    match = _HEADER.match(body)
    if match is None:
        raise DecodeError(
            f"{where}not an audit record (type=… msg=audit(time:serial): …): {show(body, 80)}"
        )
    kind = match.group("type")
    if kind.isdigit():
        kind = TABLES.numeric_types.get(int(kind), f"UNKNOWN[{kind}]")
    node = clean_text(match.group("node"), MAX_NAME) if match.group("node") else None
    # The kernel's serial is 32 bits; one past 64 bits in the ECS document is more than
    # orjson writes, and the writer failing on it stopped the worker (tests/fuzz found it).
    serial = int_or_none(match.group("serial"))
    if serial is None:
        raise DecodeError(f"{where}audit serial {match.group('serial')} is out of range")
    key = (node, serial)
    event = grouped.get(key)
    if event is None:
        when = _time(match.group("sec"), match.group("ms"), where)
        event = grouped[key] = AuditEvent(node, serial, when, node or header_host or host)
    if len(event.records) >= MAX_RECORDS:
        raise DecodeError(f"{where}more than {MAX_RECORDS} records in event {serial}")
    event.records.append(parse_record(kind, body[match.end() :]))


def _strip_syslog(line: str, msg: RawMessage, timezone: str, where: str) -> tuple[str, str | None]:
    # audisp-syslog and rsyslog put a syslog header in front; the kernel's kmsg copy
    # writes "audit: type=1300 audit(…)".
    line = line.removeprefix("audit: ")
    if line.startswith(("type=", "node=")):
        return line, None
    head = line.split(_SEPARATOR, 1)
    try:
        parsed = parse_line(clean_text(head[0]), msg.received_at, zone_info(timezone))
    except NotSyslog:
        raise DecodeError(f"{where}not an audit record: {show(line, 80)}") from None
    body = parsed.message.removeprefix("audit: ")
    rest = _SEPARATOR + head[1] if len(head) > 1 else ""
    return body + rest, parsed.hostname


def _time(seconds: str, millis: str | None, where: str) -> datetime:
    try:
        when = datetime.fromtimestamp(int(seconds) + int((millis or "0")[:3]) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(f"{where}audit time {seconds} is out of range") from None
    return checked_time(when, f"{where}audit time")


# ---- one record ---------------------------------------------------------------------


def parse_record(kind: str, body: str) -> Record:
    raw_part, _, enriched_part = body.partition(_SEPARATOR)
    fields: dict[str, str] = {}
    for key, value, quoted in tokens(raw_part):
        if key == "msg" and quoted:  # user-space records nest their fields in msg='…'
            for inner_key, inner, inner_quoted in tokens(value):
                _put_field(fields, kind, inner_key, inner, inner_quoted)
        else:
            _put_field(fields, kind, key, value, quoted)
    _join_split_args(fields)
    enriched = {k: clean_text(v, MAX_STRING) for k, v, _ in tokens(enriched_part)}
    rendered = " ".join(f"{k}={v}" for k, v in fields.items())
    return Record(kind, fields, enriched, clean_text(f"type={kind} {rendered}", MAX_STRING))


def tokens(text: str) -> Iterator[tuple[str, str, bool]]:
    """(key, value, quoted) of each key=value; words without "=" are skipped. One pass."""
    position, size, count = 0, len(text), 0
    while position < size and count < MAX_FIELDS:
        while position < size and text[position] == " ":
            position += 1
        equals = text.find("=", position)
        space = text.find(" ", position)
        if equals < 0:
            return
        if 0 <= space < equals:  # a word without "=" ("avc:", "denied", "{")
            position = space + 1
            continue
        key = text[position:equals]
        value, position, quoted = _value(text, equals + 1)
        if _KEY.fullmatch(key):
            count += 1
            yield key, value, quoted


def _value(text: str, start: int) -> tuple[str, int, bool]:
    if start < len(text) and text[start] in "\"'":
        end = text.find(text[start], start + 1)
        if end < 0:  # unterminated: the rest of the line
            return text[start + 1 :], len(text), True
        return text[start + 1 : end], end + 1, True
    end = text.find(" ", start)
    end = len(text) if end < 0 else end
    return text[start:end], end, False


def _put_field(fields: dict[str, str], kind: str, key: str, value: str, quoted: bool) -> None:
    if value in _ABSENT:
        return
    if not quoted and _encoded(kind, key) and _HEX.fullmatch(value):
        value = _unhex(key, value)
    fields.setdefault(key, clean_text(value, MAX_STRING))


def _encoded(kind: str, key: str) -> bool:
    if key in TABLES.encoded:
        return True
    return kind == "EXECVE" and _ARG.fullmatch(key) is not None


def _unhex(key: str, value: str) -> str:
    data = bytes.fromhex(value)
    if key == "proctitle":  # argv joined by NULs
        data = data.rstrip(b"\0").replace(b"\0", b" ")
    elif key == "key":  # several keys are joined by \x01
        data = data.replace(b"\x01", b",")
    return data.decode("utf-8", errors="replace")


def _join_split_args(fields: dict[str, str]) -> None:
    # An argument longer than the kernel's chunk arrives as a1_len=… a1[0]=… a1[1]=….
    parts: dict[str, list[tuple[int, str]]] = {}
    for key in [k for k in fields if "[" in k]:
        match = _ARG.fullmatch(key)
        if match and match.group(2) is not None:
            parts.setdefault(f"a{match.group(1)}", []).append(
                (int(match.group(2)), fields.pop(key))
            )
    for name, chunks in parts.items():
        fields.setdefault(name, clean_text("".join(v for _, v in sorted(chunks)), MAX_STRING))


# ---- the event ----------------------------------------------------------------------


def audit_event(msg: RawMessage, index: int, event: AuditEvent) -> SecurityEvent:
    doc = audit_ecs(event)
    ecs_event = doc["event"]
    user = doc.get("user", {})
    process = doc.get("process", {})
    return SecurityEvent(
        time=event.time,
        event_id=event_id(msg, index),
        dataset=DATASET,
        category=tuple(ecs_event.get("category", ())),
        action=ecs_event["action"],
        outcome=ecs_event["outcome"],
        source_ip=doc.get("source", {}).get("ip"),
        user_name=user.get("name"),
        host_name=event.host,
        process_name=process.get("name"),
        message=doc["message"],
        ecs=doc,
        raw=msg.payload,
    )


def audit_ecs(event: AuditEvent) -> dict[str, Any]:
    records = [r for r in event.records if r.type != "EOE"]
    by_type: dict[str, list[Record]] = {}
    for record in records:
        by_type.setdefault(record.type, []).append(record)
    syscall = _syscall(by_type)
    execve = _execve(by_type)
    main = "EXECVE" if execve else records[0].type
    auditd: dict[str, Any] = {
        "serial": event.serial,
        "record_types": list(dict.fromkeys(r.type for r in records)),
        "records": [{"type": r.type, **r.fields} for r in records],
    }
    put(auditd, ("node",), event.node)
    if syscall:
        auditd["syscall"] = syscall
    if execve:
        auditd["execve"] = execve
    paths = by_type.get("PATH", [])
    if paths:
        auditd["path"] = {
            key: [p.fields[key] for p in paths if key in p.fields]
            for key in ("name", "nametype", "inode", "mode", "ouid")
            if any(key in p.fields for p in paths)
        }
    other = _other_fields(records)
    if other:
        auditd["other"] = other
    enriched: dict[str, str] = {}
    for record in records:
        for key, value in record.enriched.items():
            enriched.setdefault(key, value)
    if enriched:
        auditd["enriched"] = enriched
    doc: dict[str, Any] = {
        "@timestamp": event.time.isoformat(),
        "message": clean_text(" | ".join(r.text for r in records), MAX_MESSAGE_CHARS),
        "event": _event_fields(main, syscall, other),
        "host": {"os": {"type": "linux"}},
        "auditd": auditd,
    }
    put(doc, ("host", "name"), event.host)
    _process(doc, syscall, execve, by_type, other)
    _user(doc, syscall, other, enriched)
    _network(doc, other)
    put(doc, ("file", "path"), _file_path(paths))
    keys = syscall.get("key") or other.get("key")
    if keys:
        doc["tags"] = keys.split(",")[:16]
    return doc


def _file_path(paths: list[Record]) -> str | None:
    # A create or delete logs the parent directory (PARENT) and the file (CREATE/DELETE):
    # the file is the one a rule means.
    named = [record.fields for record in paths if "name" in record.fields]
    for wanted in ("CREATE", "DELETE", "NORMAL"):
        for fields in named:
            if fields.get("nametype") == wanted:
                return fields["name"]
    return named[0]["name"] if named else None


def _syscall(by_type: dict[str, list[Record]]) -> dict[str, Any]:
    record = by_type.get("SYSCALL", [None])[0]
    if record is None:
        return {}
    found: dict[str, Any] = dict(record.fields)
    arch = found.get("arch", "").lower()
    number = found.pop("syscall", None)
    name = record.enriched.get("SYSCALL")
    # Bounded for the same reason as the serial.
    value = int_or_none(number)
    if value is not None:
        found["number"] = value
        name = name or TABLES.syscalls.get(arch, {}).get(value)
    elif number and not digits(number):
        name = name or number  # auditd -i / ausearch -i output names it already
    put(found, ("name",), name)
    put(found, ("arch_name",), record.enriched.get("ARCH") or TABLES.arches.get(arch))
    return found


def _execve(by_type: dict[str, list[Record]]) -> dict[str, Any]:
    record = by_type.get("EXECVE", [None])[0]
    if record is None:
        return {}
    found: dict[str, Any] = dict(record.fields)
    argc = int_or_none(found.get("argc"), MAX_ARGS * 1000) or 0
    found["args"] = [found[f"a{i}"] for i in range(min(argc, MAX_ARGS)) if f"a{i}" in found]
    return found


_OWN_SECTIONS = frozenset({"SYSCALL", "EXECVE", "PATH"})


def _other_fields(records: list[Record]) -> dict[str, str]:
    other: dict[str, str] = {}
    for record in records:
        if record.type not in _OWN_SECTIONS:
            for key, value in record.fields.items():
                other.setdefault(key, value)
    return other


def _event_fields(main: str, syscall: dict[str, Any], other: dict[str, str]) -> dict[str, Any]:
    category, kind = TABLES.categories.get(main, (None, None))
    if main == "SYSCALL" and syscall.get("name") in ("execve", "execveat"):
        category, kind = "process", "start"
    success = syscall.get("success") or other.get("res") or other.get("result")
    outcome = {"yes": "success", "success": "success", "no": "failure", "failed": "failure"}
    event: dict[str, Any] = {
        "kind": "event",
        "module": "auditd",
        "dataset": DATASET,
        "action": main.lower(),
        "outcome": outcome.get((success or "").lower(), "unknown"),
    }
    if category:
        event["category"] = [category]
        event["type"] = [kind]
    return event


def _process(
    doc: dict[str, Any],
    syscall: dict[str, Any],
    execve: dict[str, Any],
    by_type: dict[str, list[Record]],
    other: dict[str, str],
) -> None:
    process: dict[str, Any] = {}
    put(process, ("pid",), int_or_none(syscall.get("pid") or other.get("pid"), 2**31))
    put(process, ("parent", "pid"), int_or_none(syscall.get("ppid"), 2**31))
    put(process, ("executable",), syscall.get("exe") or other.get("exe"))
    put(process, ("name",), syscall.get("comm") or other.get("comm"))
    title = other.get("proctitle")
    args = execve.get("args") or []
    if args:
        process["args"] = args
        process["args_count"] = len(args)
    command_line = " ".join(args) if args else title
    put(process, ("command_line",), clean_text(command_line, MAX_STRING) if command_line else None)
    put(process, ("title",), title)
    cwd = next((r.fields["cwd"] for r in by_type.get("CWD", []) if "cwd" in r.fields), None)
    put(process, ("working_directory",), cwd)
    if process:
        doc["process"] = process


def _user(
    doc: dict[str, Any], syscall: dict[str, Any], other: dict[str, str], enriched: dict[str, str]
) -> None:
    user: dict[str, Any] = {}
    uid = syscall.get("uid") or other.get("uid")
    put(user, ("id",), uid)
    name = enriched.get("UID") or other.get("acct") or other.get("id")
    put(user, ("name",), name[:MAX_NAME] if name and not digits(name) else None)
    put(user, ("effective", "id"), syscall.get("euid"))
    put(user, ("effective", "name"), enriched.get("EUID"))
    put(user, ("audit", "id"), syscall.get("auid") or other.get("auid"))
    put(user, ("audit", "name"), enriched.get("AUID"))
    if user:
        doc["user"] = user


def _network(doc: dict[str, Any], other: dict[str, str]) -> None:
    address = other.get("addr")
    ip = ip_or_none(address)
    if ip:
        put(doc, ("source", "ip"), ip)
    host = other.get("hostname")
    if host and host != address and host != "?":
        put(doc, ("source", "domain"), host[:MAX_NAME])
