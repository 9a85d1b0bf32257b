"""Syslog lines (RFC 3164 and RFC 5424) -> SecurityEvents on Elastic Common Schema names.

Parsed by hand: the PyPI parsers each cover one RFC and are unmaintained
(syslog-rfc5424-parser 0.3.2, 2019; syslogmp 0.4, 3164 only, 2021), and none infers the
year and zone of a 3164 timestamp. Both headers are a fixed sequence of space-separated
fields, which str.partition/split read in one linear pass, with no regex to backtrack.

Untrusted text: the whole line is decoded (invalid UTF-8 -> U+FFFD) and cleaned by
events.text.clean_text *before* it is split, so every string that reaches a column or
the ECS document is a substring of clean text. `raw` keeps the original bytes.

Lenient where real senders are: a 3164 line may lack the hostname (local /dev/log
format) or carry an RFC 3339 timestamp (rsyslog's high-precision forwarding), and a
line without <PRI> is accepted when it starts with a valid 3164 timestamp (a log file
line shipped as is by Filebeat, Fluent Bit or Vector); it then has no facility/severity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from events.models import SecurityEvent, check_event_time
from events.text import clean_json, clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_MESSAGE_CHARS,
    MONTHS,
    digits,
    infer_year,
    ip_or_none,
    port_or_none,
    security_event_id,
    strip_newline,
    transport,
    zone_info,
)
from ingest.message import RawMessage

# RFC 3164 timestamps carry no zone: DEFAULT_TIMEZONE (Asia/Ho_Chi_Minh) applies unless a
# route overrides it by calling decode_syslog(msg, timezone=...).
_MAX_NAME_CHARS = 255  # RFC 5424 HOSTNAME limit, used for every header name
_MAX_USER_CHARS = 256
_NIL = "-"
_BOM = "\ufeff"

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = (
    "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug",
)  # fmt: skip
_AUTH_FACILITIES = frozenset({4, 10})
# Programs whose lines belong in system.auth (Filebeat's split of auth.log vs syslog).
AUTH_PROGRAMS = frozenset(
    {
        "sshd", "sshd-session", "sudo", "su", "login", "passwd", "chpasswd", "useradd",
        "userdel", "usermod", "groupadd", "groupdel", "systemd-logind", "polkitd",
        "unix_chkpwd", "gdm-password", "doas",
    }
)  # fmt: skip


Outcome = Literal["success", "failure", "unknown"]


class _NotSyslog(ValueError):
    """The line does not follow either RFC; the reason says where it stops matching."""


@dataclass(slots=True)
class SyslogLine:
    """The header fields of one line; every str here is already clean text."""

    time: datetime
    message: str
    facility: int | None = None
    severity: int | None = None
    version: int | None = None  # 1 for RFC 5424, None for RFC 3164
    hostname: str | None = None
    appname: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)


# ---- decoder ------------------------------------------------------------------------


@register("syslog")
def decode_syslog(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    line = clean_text(strip_newline(msg.payload))
    try:
        parsed = parse_line(line, msg.received_at, zone_info(timezone))
    except _NotSyslog as error:
        raise DecodeError(
            f"not an RFC 3164 or RFC 5424 syslog line: {error}; line starts {show(line, 60)}"
        ) from None
    try:
        return [_event(msg, parsed)]
    except ValidationError as error:
        raise DecodeError(validation_reason(error)) from None


# ---- header parsing -----------------------------------------------------------------


def parse_line(line: str, received_at: datetime, zone: ZoneInfo) -> SyslogLine:
    pri, rest = _pri(line)
    if pri is None:
        parsed = _rfc3164(rest, received_at, zone, require_time=True)
    elif rest.startswith("1 "):  # VERSION 1 is the only RFC 5424 version there is
        parsed = _rfc5424(rest, received_at)
    else:
        parsed = _rfc3164(rest, received_at, zone, require_time=False)
    if pri is not None:
        parsed.facility, parsed.severity = divmod(pri, 8)
    return parsed


def _pri(line: str) -> tuple[int | None, str]:
    if not line.startswith("<"):
        return None, line
    end = line.find(">", 1, 5)
    number = line[1:end] if end > 0 else ""
    if not digits(number) or int(number) > 191:
        raise _NotSyslog("<PRI> is not <0>…<191>")
    return int(number), line[end + 1 :]


def _rfc5424(rest: str, received_at: datetime) -> SyslogLine:
    parts = rest.split(" ", 6)
    if len(parts) < 7:
        raise _NotSyslog("RFC 5424 header needs VERSION TIMESTAMP HOST APP PROCID MSGID SD")
    version, stamp, host, app, procid, msgid, tail = parts
    if version != "1":
        raise _NotSyslog(f"syslog protocol version {show(version)} is not 1")
    data, message = _structured_data(tail)
    return SyslogLine(
        time=received_at if stamp == _NIL else _rfc3339(stamp),
        message=_message(message.removeprefix(_BOM)),
        version=1,
        hostname=_nil(host),
        appname=_nil(app),
        procid=_nil(procid),
        msgid=_nil(msgid),
        structured_data=data,
    )


def _structured_data(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """SD elements and the MSG after them, in one left-to-right pass (RFC 5424 §6.3)."""
    if text == _NIL or text.startswith(_NIL + " "):
        return {}, text[2:]
    data: dict[str, dict[str, str]] = {}
    pos = 0
    while text.startswith("[", pos):
        pos = _sd_element(text, pos + 1, data)
    if pos == 0:
        raise _NotSyslog("STRUCTURED-DATA is neither '-' nor [SD-ELEMENT]")
    if pos < len(text) and text[pos] != " ":
        raise _NotSyslog("STRUCTURED-DATA is not followed by a space")
    return data, text[pos + 1 :]


def _sd_element(text: str, pos: int, data: dict[str, dict[str, str]]) -> int:
    # SD-ID and PARAM-NAME are at most 32 characters, so every search below is bounded
    # and a line of many unclosed "[" stays linear.
    end = _find_first(text, pos, pos + 33, " ]")
    sd_id = text[pos:end]
    if end < 0 or not sd_id:
        raise _NotSyslog("SD-ID is empty, too long or not closed")
    params: dict[str, str] = {}
    pos = end
    while text.startswith(" ", pos):
        equals = text.find("=", pos + 1, pos + 34)
        name = text[pos + 1 : equals]
        if equals < 0 or not name or not text.startswith('"', equals + 1) or " " in name:
            raise _NotSyslog(f'SD-PARAM in [{sd_id}] is not name="value"')
        params[name], pos = _quoted(text, equals + 2)
    if not text.startswith("]", pos):
        raise _NotSyslog(f"SD-ELEMENT [{sd_id}] is not closed by ']'")
    data[sd_id] = params
    return pos + 1


def _find_first(text: str, start: int, stop: int, chars: str) -> int:
    found = [i for i in (text.find(c, start, stop) for c in chars) if i >= 0]
    return min(found) if found else -1


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """A PARAM-VALUE up to its closing quote; \\" \\\\ \\] are escapes (RFC 5424
    §6.3.3). Returns the value and the index after the closing quote. Each character is
    scanned a bounded number of times, however many backslashes there are."""
    out: list[str] = []
    quote = text.find('"', pos)
    while quote >= 0:
        backslash = text.find("\\", pos, quote)
        if backslash < 0:
            out.append(text[pos:quote])
            return "".join(out), quote + 1
        out.append(text[pos:backslash])
        escaped = text[backslash + 1 : backslash + 2]
        if escaped in ('"', "\\", "]"):
            out.append(escaped)
            pos = backslash + 2
        else:  # a backslash that escapes nothing is itself
            out.append("\\")
            pos = backslash + 1
        if pos > quote:  # that quote was escaped: find the next one
            quote = text.find('"', pos)
    raise _NotSyslog("PARAM-VALUE is not closed by '\"'")


def _rfc3339(stamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise _NotSyslog(f"TIMESTAMP {show(stamp, 40)} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise _NotSyslog(f"TIMESTAMP {show(stamp, 40)} has no UTC offset")
    return parsed


def _nil(value: str) -> str | None:
    return None if value == _NIL or not value else value[:_MAX_NAME_CHARS]


def _message(text: str) -> str:
    return clean_text(text, MAX_MESSAGE_CHARS)


def _rfc3164(rest: str, received_at: datetime, zone: ZoneInfo, require_time: bool) -> SyslogLine:
    time, rest = _bsd_timestamp(rest, received_at, zone)
    if time is None:
        if require_time:
            raise _NotSyslog("no <PRI> and no 'Mmm dd hh:mm:ss' timestamp")
        # RFC 3164 §4.3.3: a line without a valid header is all message, "now".
        return SyslogLine(time=received_at, message=_message(rest))
    first, _, after = rest.partition(" ")
    host = None
    if first and not first.endswith(":"):  # a tag ends in ":", a host name never does
        host, rest = first[:_MAX_NAME_CHARS], after
    program, procid, message = _tag(rest)
    return SyslogLine(
        time=time, message=_message(message), hostname=host, appname=program, procid=procid
    )


def _bsd_timestamp(text: str, received_at: datetime, zone: ZoneInfo) -> tuple[datetime | None, str]:
    """'Mmm dd hh:mm:ss ' (day space-padded or not) or an RFC 3339 stamp, and the rest."""
    month = MONTHS.get(text[:3]) if text[3:4] == " " else None
    if month is None:
        stamp, _, rest = text.partition(" ")
        if digits(stamp[:4]) and "T" in stamp[:11]:
            return _rfc3339(stamp), rest
        return None, text
    parts = text[4:].lstrip(" ").split(" ", 2)
    if len(parts) < 2 or not digits(parts[0]) or len(parts[0]) > 2:
        return None, text
    clock = parts[1].split(":")
    if len(clock) != 3 or not all(digits(c) and len(c) == 2 for c in clock):
        return None, text
    day, (hour, minute, second) = int(parts[0]), map(int, clock)
    when = infer_year(month, day, hour, minute, second, received_at, zone)
    if when is None:
        raise _NotSyslog(f"no valid date and time for day {day} of month {month}")
    return when, parts[2] if len(parts) > 2 else ""


def _tag(text: str) -> tuple[str | None, str | None, str]:
    """'prog[pid]: msg' or 'prog: msg' -> (prog, pid, msg); no tag -> (None, None, text)."""
    token, _, message = text.partition(" ")
    if not token.endswith(":") or len(token) < 2:
        return None, None, text
    token = token[:-1]
    program, bracket, pid = token.partition("[")
    if bracket and pid.endswith("]"):
        return program[:_MAX_NAME_CHARS] or None, pid[:-1][:_MAX_NAME_CHARS] or None, message
    return token[:_MAX_NAME_CHARS], None, message


# ---- what auth programs say ---------------------------------------------------------


@dataclass(slots=True)
class AuthFacts:
    """ECS facts read from the message of an authentication program."""

    action: str
    outcome: Outcome
    category: tuple[str, ...] = ("authentication",)
    event_type: tuple[str, ...] = ("info",)
    user: str | None = None
    effective_user: str | None = None
    source: str | None = None  # as logged: an IP, or a host name with sshd UseDNS
    port: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # Filebeat's system.auth.*


def auth_facts(program: str | None, message: str) -> AuthFacts | None:
    message = _unwrap_repeated(message)
    if message.startswith("pam_"):
        facts = _pam_failure(message)
        if facts is not None:
            return facts
    if program in ("sshd", "sshd-session"):  # OpenSSH ≥ 9.8 logs as sshd-session
        return _sshd(message)
    if program == "sudo":
        return _sudo(message)
    return None


def _unwrap_repeated(message: str) -> str:
    # rsyslog folds repeats into "message repeated 3 times: [ Failed password …]"; the
    # inner line is the event (counted once: the count is not a per-attempt record).
    if not message.startswith("message repeated "):
        return message
    _, found, inner = message.partition(" times: [")
    return inner.removesuffix("]").strip() if found else message


def _sshd(message: str) -> AuthFacts | None:
    if message.startswith(("Failed ", "Accepted ")):
        # The user name is whatever the client sent, so it may itself contain
        # " from 1.2.3.4 port 1": the real address is after the LAST " from ".
        head, found, tail = message.rpartition(" from ")
        words = head.split(" ", 3)
        if not found or len(words) < 4 or words[2] != "for":
            return None
        verb, method, _, user = words
        success = verb == "Accepted"
        event = "Accepted" if success else "Failed"
        return _ssh_login(success, user.removeprefix("invalid user "), tail, event, method)
    if message.startswith("Invalid user "):
        head, found, tail = message.rpartition(" from ")
        if not found:
            return None
        return _ssh_login(False, head.removeprefix("Invalid user "), tail, "Invalid", None)
    return None


def _ssh_login(success: bool, user: str, tail: str, event: str, method: str | None) -> AuthFacts:
    address, found, after = tail.partition(" port ")
    if not found:  # older OpenSSH: "Invalid user x from 1.2.3.4"
        address = tail.split(" ", 1)[0]
    ssh = {"event": event} | ({"method": method} if method else {})
    return AuthFacts(
        action="ssh_login",
        outcome="success" if success else "failure",
        user=user[:_MAX_USER_CHARS] or None,
        source=address,
        port=port_or_none(after.split(" ", 1)[0]) if found else None,
        details={"ssh": ssh},
    )


def _pam_failure(message: str) -> AuthFacts | None:
    """'pam_unix(sshd:auth): authentication failure; logname= uid=0 … rhost=1.2.3.4 user=root'"""
    head, found, rest = message.partition("): authentication failure;")
    module, bracket, context = head.partition("(")
    if not found or not bracket or " " in module:
        return None
    service, _, phase = context.partition(":")
    fields = dict(token.partition("=")[::2] for token in rest.split(" ") if "=" in token)
    details = {"module": module, "service": service, "phase": phase} | {
        key: value
        for key, value in fields.items()
        if key in ("logname", "uid", "euid", "tty", "ruser")
    }
    return AuthFacts(
        action="pam_authentication",
        outcome="failure",
        user=fields.get("user", "")[:_MAX_USER_CHARS] or None,
        source=fields.get("rhost") or None,
        details={"pam": details},
    )


def _sudo(message: str) -> AuthFacts | None:
    """'alice : [problem ; ]TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls'"""
    user, found, rest = message.strip().partition(" : ")
    if not found or not user or " " in user:
        return None
    # The command is last and may itself contain " ; ", so split it off first.
    before, has_command, command = rest.partition("COMMAND=")
    fields: dict[str, str] = {}
    problem = None
    for part in before.split(" ; "):
        key, equals, value = part.strip().partition("=")
        if equals and key.isupper():
            fields[key] = value
        elif part.strip() and problem is None:
            problem = part.strip()
    if not has_command and not fields:
        return None
    sudo = {k.lower(): v for k, v in fields.items()} | ({"command": command} if has_command else {})
    if problem:
        sudo["error"] = problem
    return AuthFacts(
        action="sudo",
        outcome="failure" if problem else "success",
        category=("authentication",) if problem else ("process",),
        event_type=("info",) if problem else ("start",),
        user=user[:_MAX_USER_CHARS],
        effective_user=fields.get("USER"),
        details={"sudo": sudo},
    )


# ---- what the kernel firewall logs -------------------------------------------------

FIREWALL_DATASET = "system.firewall"
FIREWALL_VENDOR = "netfilter"  # the kernel subsystem behind iptables, nftables and ufw
# Words of a LOG prefix that say what the rule did. ufw writes "[UFW BLOCK]", "[UFW ALLOW]",
# "[UFW LIMIT BLOCK]", "[UFW AUDIT]"; hand-written rules carry whatever the admin chose
# ("DROP-IN: ", "IPTables-Dropped: "), so the prefix is read word by word.
_DENIED_WORDS = frozenset(
    {"block", "blocked", "drop", "dropped", "reject", "rejected", "deny", "denied"}
)
_ALLOWED_WORDS = frozenset({"allow", "allowed", "accept", "accepted", "pass", "permit"})
_PREFIX_WORD = re.compile(r"[a-z0-9]+")
# A netfilter LOG line is well under 1 KB; past this nothing is parsed (raw keeps it).
_MAX_FIREWALL_CHARS = 2048
# MAC= is 14 bytes: destination MAC, source MAC, EtherType.
_MAC = re.compile(r"(?:[0-9A-Fa-f]{2}:){13}[0-9A-Fa-f]{2}")


@dataclass(slots=True)
class FirewallFacts:
    """What one netfilter LOG line says; every str is a substring of clean text."""

    product: str  # "ufw" or "iptables"
    prefix: str
    action: str
    outcome: Outcome
    event_type: tuple[str, ...]
    fields: dict[str, str]  # KEY=VALUE tokens, first occurrence
    flags: list[str]  # bare tokens such as DF, SYN, ACK


def firewall_facts(program: str | None, message: str) -> FirewallFacts | None:
    """'[UFW BLOCK] IN=eth0 OUT= MAC=… SRC=… DST=… … PROTO=TCP SPT=1 DPT=22 …'"""
    if program != "kernel" or "SRC=" not in message or "DST=" not in message:
        return None
    text = message[:_MAX_FIREWALL_CHARS]
    start = _netfilter_start(text)
    if start < 0:
        return None
    prefix = _without_kernel_time(text[:start]).strip()
    fields, flags = _netfilter_tokens(text[start:])
    if "SRC" not in fields or "DST" not in fields:
        return None
    words = set(_PREFIX_WORD.findall(prefix.lower()))
    outcome: Outcome
    if words & _DENIED_WORDS:
        outcome, event_type = "failure", ("connection", "denied")
    elif words & _ALLOWED_WORDS:
        outcome, event_type = "success", ("connection", "allowed")
    else:  # "[UFW AUDIT]" or a prefix that does not say
        outcome, event_type = "unknown", ("connection",)
    return FirewallFacts(
        product="ufw" if prefix.startswith("[UFW ") else "iptables",
        prefix=prefix,
        action="-".join(_PREFIX_WORD.findall(prefix.lower()))[:64] or "iptables-log",
        outcome=outcome,
        event_type=event_type,
        fields=fields,
        flags=flags,
    )


def _netfilter_start(text: str) -> int:
    """Where 'IN=… OUT=' begins. The kernel writes "<prefix>IN=%s OUT=%s ", and a
    --log-prefix without a trailing space ("DROP:IN=eth0") is common, so the anchor is
    " OUT=" and IN= is the token just before it."""
    out = text.find(" OUT=")
    start = text.rfind("IN=", 0, out) if out > 0 else -1
    return start if start >= 0 and " " not in text[start:out] else -1


def _without_kernel_time(head: str) -> str:
    """Drop printk's '[ 1234.567890] ' that imklog/journald may leave in front."""
    if head.startswith("["):
        stamp, found, rest = head[1:].partition("]")
        if found and stamp.strip().replace(".", "", 1).isdigit():
            return rest
    return head


def _netfilter_tokens(text: str) -> tuple[dict[str, str], list[str]]:
    """KEY=VALUE tokens (first occurrence wins: a UDP header repeats LEN) and bare flags
    (DF, SYN…), up to the packet an ICMP error quotes in "[…]", which is not this one.
    The caller's _MAX_FIREWALL_CHARS cut bounds every token."""
    fields: dict[str, str] = {}
    flags: list[str] = []
    for token in text.partition(" [")[0].split(" "):
        if "=" in token:
            key, _, value = token.partition("=")
            if key not in fields:
                fields[key] = value
        elif token:
            flags.append(token)
    return fields, flags


def _macs(value: str) -> tuple[str | None, str | None]:
    """MAC=dst:src:type (14 bytes) -> ECS form ("00-16-3E-…") of source and destination."""
    if not _MAC.fullmatch(value):
        return None, None
    octets = value.upper().split(":")
    return "-".join(octets[6:12]), "-".join(octets[:6])


def _firewall_event(
    msg: RawMessage, line: SyslogLine, time: datetime, facts: FirewallFacts
) -> SecurityEvent:
    doc = _ecs(line, time, FIREWALL_DATASET, None, None)
    _add_firewall(doc, facts)
    source, destination = doc.get("source", {}), doc.get("destination", {})
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=FIREWALL_DATASET,
        category=("network",),
        action=facts.action,
        outcome=facts.outcome,
        severity=line.severity,
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        host_name=line.hostname,
        process_name=line.appname,
        observer_vendor=FIREWALL_VENDOR,
        observer_product=facts.product,
        message=line.message,
        ecs=doc,
        raw=msg.payload,
    )


def _add_firewall(doc: dict[str, Any], facts: FirewallFacts) -> None:
    fields = facts.fields
    doc["event"].update(
        category=["network"],
        type=list(facts.event_type),
        action=facts.action,
        outcome=facts.outcome,
    )
    source_mac, destination_mac = _macs(fields.get("MAC", ""))
    for side, ip_key, port_key, mac in (
        ("source", "SRC", "SPT", source_mac),
        ("destination", "DST", "DPT", destination_mac),
    ):
        endpoint = {
            "ip": ip_or_none(fields.get(ip_key)),
            "port": port_or_none(fields.get(port_key)),
            "mac": mac,
        }
        endpoint = {key: value for key, value in endpoint.items() if value is not None}
        if endpoint:
            doc[side] = endpoint
    network: dict[str, Any] = {}
    if fields.get("PROTO"):
        network["transport"] = transport(fields["PROTO"])
    address = doc.get("source", {}).get("ip") or doc.get("destination", {}).get("ip")
    if address:
        network["type"] = "ipv6" if ":" in address else "ipv4"
    if network:
        doc["network"] = network
    observer: dict[str, Any] = {
        "vendor": FIREWALL_VENDOR,
        "product": facts.product,
        "type": "firewall",
    }
    if line_host := doc.get("host", {}).get("name"):
        observer["hostname"] = line_host
    for direction, key in (("ingress", "IN"), ("egress", "OUT")):
        if fields.get(key):
            observer[direction] = {"interface": {"name": fields[key]}}
    doc["observer"] = observer
    doc["iptables"] = {"prefix": facts.prefix, "fields": fields, "flags": facts.flags}


# ---- the event ----------------------------------------------------------------------


def _event(msg: RawMessage, line: SyslogLine) -> SecurityEvent:
    try:
        time = check_event_time(line.time)
    except ValueError as error:
        raise DecodeError(f"timestamp: {error}") from None
    firewall = firewall_facts(line.appname, line.message)
    if firewall is not None:
        return _firewall_event(msg, line, time, firewall)
    facts = auth_facts(line.appname, line.message)
    auth = facts is not None or line.appname in AUTH_PROGRAMS
    dataset = "system.auth" if auth or line.facility in _AUTH_FACILITIES else "system.syslog"
    source_ip = ip_or_none(facts.source) if facts else None
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=dataset,
        category=facts.category if facts else (),
        action=facts.action if facts else None,
        outcome=facts.outcome if facts else None,
        severity=line.severity,
        source_ip=source_ip,
        source_port=facts.port if facts else None,
        user_name=facts.user if facts else None,
        host_name=line.hostname,
        process_name=line.appname,
        message=line.message,
        ecs=_ecs(line, time, dataset, facts, source_ip),
        raw=msg.payload,
    )


def _ecs(
    line: SyslogLine,
    time: datetime,
    dataset: str,
    facts: AuthFacts | None,
    source_ip: str | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "event", "module": "system", "dataset": dataset}
    if line.severity is not None:
        event["severity"] = line.severity
    doc: dict[str, Any] = {
        "@timestamp": time.isoformat(),
        "message": line.message,
        "event": event,
        "log": {"syslog": _log_syslog(line)},
    }
    if line.hostname:
        doc["host"] = {"name": line.hostname}
    if line.appname:
        doc["process"] = {"name": line.appname}
        if line.procid and digits(line.procid) and len(line.procid) < 10:
            doc["process"]["pid"] = int(line.procid)
    if facts is not None:
        _add_facts(doc, facts, source_ip)
    return doc


def syslog_header_ecs(line: SyslogLine) -> dict[str, Any]:
    """ECS log.syslog.* of a syslog header (also used for CEF carried in syslog)."""
    syslog: dict[str, Any] = {}
    if line.facility is not None and line.severity is not None:
        syslog["priority"] = line.facility * 8 + line.severity
        syslog["facility"] = {"code": line.facility, "name": FACILITIES[line.facility]}
        syslog["severity"] = {"code": line.severity, "name": SEVERITIES[line.severity]}
    if line.version is not None:
        syslog["version"] = str(line.version)
    named = {
        "hostname": line.hostname,
        "appname": line.appname,
        "procid": line.procid,
        "msgid": line.msgid,
    }
    syslog.update({key: value for key, value in named.items() if value is not None})
    return syslog


def _log_syslog(line: SyslogLine) -> dict[str, Any]:
    syslog = syslog_header_ecs(line)
    if line.structured_data:
        syslog["structured_data"] = clean_json(line.structured_data, max_string=1024, max_items=64)
    return syslog


def _add_facts(doc: dict[str, Any], facts: AuthFacts, source_ip: str | None) -> None:
    doc["event"].update(
        category=list(facts.category),
        type=list(facts.event_type),
        action=facts.action,
        outcome=facts.outcome,
    )
    source: dict[str, Any] = {}
    if source_ip:
        source["ip"] = source_ip
    elif facts.source:
        source["address"] = source["domain"] = facts.source[:_MAX_NAME_CHARS]
    if facts.port is not None:
        source["port"] = facts.port
    if source:
        doc["source"] = source
    user: dict[str, Any] = {}
    if facts.user:
        user["name"] = facts.user
    if facts.effective_user:
        user["effective"] = {"name": facts.effective_user[:_MAX_USER_CHARS]}
    if user:
        doc["user"] = user
    doc["system"] = {"auth": facts.details}
