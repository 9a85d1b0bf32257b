"""ArcSight Common Event Format lines -> SecurityEvents on Elastic Common Schema names.

`CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|k=v k=v…`, alone or after an
RFC 3164/5424 syslog header (read by ingest.formats.syslog.framing.parse_line, so the year and
zone rules are the same as for syslog).

Parsed by hand: the CEF parsers on PyPI are small unmaintained regex scripts (pycef 1.11,
2020; cefp 0.0.2, 2020) and the rest only write CEF. The grammar is simple but has two
traps a regex handles badly: header fields end at an *unescaped* "|", and an extension
value may contain spaces, so it runs until the next " key=" (an unescaped "="). Both are
found with str.find in one left-to-right pass, so a 1 MB line stays linear.

The mapping follows Filebeat's CEF decoder (source.*, destination.*, observer.* from the
header, rule.id = SignatureID, rule.name = Name); every extension, as sent, is kept under
ecs["cef"]["extensions"], and `raw` keeps the exact bytes.

Untrusted text: the line is decoded (invalid UTF-8 -> U+FFFD) and cleaned by
events.text.clean_text before it is split; the escapes \\n and \\r become the control
pictures clean_text would give them, so no control character reaches a column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from config.timezone import LOCAL_TZ
from events.models import SecurityEvent
from events.text import ELLIPSIS, clean_text, show
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    MAX_STRING,
    MONTHS,
    checked_time,
    digits,
    infer_year,
    int_or_none,
    ip_or_none,
    port_or_none,
    put,
    security_event_id,
    strip_newline,
    transport,
    validated,
    zone_info,
)
from ingest.formats.syslog.framing import SyslogLine, parse_line, syslog_header_ecs
from ingest.message import RawMessage

DATASET = "cef.log"
_MAGIC = "CEF:"
_HEADER_FIELDS = 7  # Version … Severity; the extension follows the 7th "|"
_MAX_KEYS = 256  # real records carry < 100; past this the rest stays only in raw
# A key is a token of key characters right after a space and right before "=". No key
# character is a backslash, so that "=" is never an escaped one. One C-level scan (the
# literal space lets re skip ahead) finds them all; each try stops within 65 characters.
_KEY_AT = re.compile(r" ([A-Za-z0-9_.\-]{1,64})=")
_HEADER_ESCAPES = {"|": "|", "\\": "\\"}
# \n and \r decode to the control pictures clean_text uses (see module docstring).
_EXTENSION_ESCAPES = {"\\": "\\", "=": "=", "n": "\u240a", "r": "\u240d"}
_ESCAPE = re.compile(r"\\(.)", re.S)

# Severity words of CEF (case-insensitive). A word names a band (0–3 low, 4–6 medium,
# 7–8 high, 9–10 very high); the number stored is the band's top, so "High" passes the
# same "severity >= 7" filter as a numeric 7 or 8.
SEVERITY_WORDS = {"low": 3, "medium": 6, "high": 8, "very-high": 10, "very high": 10}
SEVERITY_BANDS = ((3, "low"), (6, "medium"), (8, "high"), (10, "very-high"))

# Zone abbreviations are ambiguous in general; these few are not, and ICT is Vietnam's.
ZONE_ABBREVIATIONS: dict[str, tzinfo] = {
    "UTC": UTC, "GMT": UTC, "Z": UTC, "ICT": LOCAL_TZ,
}  # fmt: skip
# ArcSight full key names some producers send instead of the short ones.
ALIASES = {
    "sourceAddress": "src", "destinationAddress": "dst", "sourcePort": "spt",
    "destinationPort": "dpt", "sourceUserName": "suser", "destinationUserName": "duser",
    "sourceHostName": "shost", "destinationHostName": "dhost", "deviceAction": "act",
    "transportProtocol": "proto", "deviceEventCategory": "cat", "eventOutcome": "outcome",
    "message": "msg", "deviceReceiptTime": "rt", "startTime": "start", "endTime": "end",
    "deviceAddress": "dvc", "deviceHostName": "dvchost", "fileName": "fname",
    "bytesIn": "in", "bytesOut": "out", "destinationProcessName": "dproc",
    "sourceProcessName": "sproc", "requestUrl": "request",
}  # fmt: skip
# CEF key -> (ECS path, conversion). Times (rt, start, end) are handled separately.
FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "src": (("source", "ip"), "ip"),
    "spt": (("source", "port"), "port"),
    "smac": (("source", "mac"), "name"),
    "shost": (("source", "domain"), "name"),
    "suser": (("source", "user", "name"), "name"),
    "suid": (("source", "user", "id"), "name"),
    "dst": (("destination", "ip"), "ip"),
    "dpt": (("destination", "port"), "port"),
    "dmac": (("destination", "mac"), "name"),
    "dhost": (("destination", "domain"), "name"),
    "duser": (("destination", "user", "name"), "name"),
    "duid": (("destination", "user", "id"), "name"),
    "in": (("source", "bytes"), "int"),
    "out": (("destination", "bytes"), "int"),
    "act": (("event", "action"), "name"),
    "outcome": (("event", "outcome"), "outcome"),
    "reason": (("event", "reason"), "text"),
    "externalId": (("event", "id"), "name"),
    "proto": (("network", "transport"), "transport"),
    "app": (("network", "protocol"), "lower"),
    "cat": (("rule", "category"), "name"),
    "msg": (("message",), "message"),
    "dvc": (("observer", "ip"), "ip"),
    "dvchost": (("observer", "hostname"), "name"),
    "dproc": (("process", "name"), "name"),
    "dpid": (("process", "pid"), "int"),
    "sproc": (("source", "process", "name"), "name"),
    "fname": (("file", "name"), "name"),
    "filePath": (("file", "path"), "text"),
    "fsize": (("file", "size"), "int"),
    "request": (("url", "original"), "text"),
    "requestMethod": (("http", "request", "method"), "name"),
    "requestClientApplication": (("user_agent", "original"), "text"),
}
TIMES = frozenset({"rt", "start", "end"})  # device receipt time, first and last seen
# Every key the mapping reads -> (ECS path, conversion); full names resolved, times
# marked "time" with their short name as path, so each extension costs one lookup.
_TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    key: FIELDS.get(short, ((short,), "time"))
    for key, short in [(k, k) for k in (*FIELDS, *TIMES)] + list(ALIASES.items())
    if short in FIELDS or short in TIMES
}
# ArcSight writes "/Success", "/Failure", "/Attempt"; firewalls their own words.
OUTCOMES = {
    "success": "success", "succeeded": "success", "successful": "success", "ok": "success",
    "allow": "success", "allowed": "success", "true": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "denied": "failure",
    "deny": "failure", "blocked": "failure", "block": "failure", "false": "failure",
}  # fmt: skip
# event.type from what the device did (act), for deny/allow dashboards.
ACTION_TYPES = {
    "deny": "denied", "denied": "denied", "drop": "denied", "dropped": "denied",
    "block": "denied", "blocked": "denied", "reject": "denied", "rejected": "denied",
    "reset": "denied", "quarantined": "denied", "prevented": "denied",
    "allow": "allowed", "allowed": "allowed", "accept": "allowed", "accepted": "allowed",
    "permit": "allowed", "permitted": "allowed", "pass": "allowed",
}  # fmt: skip
# Vendor custom fields come as csN/cnN/… with a csNLabel naming them.
_LABELLED = ("cs", "cn", "cfp", "flexString", "flexNumber", "flexDate", "c6a", "deviceCustomDate")


class _NotCef(ValueError):
    """The text does not follow CEF; the reason says where it stops matching."""


@dataclass(slots=True)
class CefRecord:
    """One parsed record; every str is clean text with CEF escapes resolved."""

    version: int
    vendor: str
    product: str
    device_version: str
    signature_id: str
    name: str
    severity: str
    extensions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# ---- decoder ------------------------------------------------------------------------


@register("cef")
def decode_cef(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    line = clean_text(strip_newline(msg.payload))
    start = _cef_start(line)
    if start < 0:
        raise DecodeError(f"no 'CEF:' header in the line; line starts {show(line, 60)}")
    zone = zone_info(timezone)
    header = _syslog_header(line[:start], msg.received_at, zone) if start else None
    try:
        record = parse_cef(line[start:])
    except _NotCef as error:
        raise DecodeError(f"not a CEF record: {error}") from None
    return validated(lambda: _event(msg, record, header, zone))


def _cef_start(line: str) -> int:
    # "CEF:" starts the line or follows the syslog header: its last space, or the ">" of
    # a bare <PRI> (Imperva writes "<14>CEF:0|…").
    pos = line.find(_MAGIC)
    while pos > 0 and line[pos - 1] not in " >":
        pos = line.find(_MAGIC, pos + 1)
    return pos


def _syslog_header(prefix: str, received_at: datetime, zone: ZoneInfo) -> SyslogLine:
    try:
        return parse_line(prefix, received_at, zone)
    except ValueError as error:
        raise DecodeError(
            f"text before 'CEF:' is not a syslog header: {error}; it starts {show(prefix, 60)}"
        ) from None


# ---- parsing ------------------------------------------------------------------------


def parse_cef(text: str) -> CefRecord:
    """A record from text that starts with 'CEF:' (already clean)."""
    fields, pos = _header(text)
    version = fields[0][len(_MAGIC) :].strip()
    if not digits(version) or len(version) > 3:
        raise _NotCef(f"version {show(version)} is not a number")
    record = CefRecord(int(version), *fields[1:])
    _extension(text[pos:], record)
    return record


def _header(text: str) -> tuple[list[str], int]:
    """The 7 header fields and where the extension starts. A missing last "|" after the
    severity is tolerated: the record then has no extension."""
    fields: list[str] = []
    pos = 0
    while len(fields) < _HEADER_FIELDS:
        end = _unescaped(text, "|", pos)
        if end < 0:
            if len(fields) == _HEADER_FIELDS - 1:
                fields.append(_unescape(text[pos:], _HEADER_ESCAPES))
                return fields, len(text)
            raise _NotCef(f"header has {len(fields) + 1} of 7 '|'-separated fields")
        fields.append(_unescape(text[pos:end], _HEADER_ESCAPES))
        pos = end + 1
    return fields, pos


def _unescaped(text: str, char: str, pos: int) -> int:
    """Index of the next `char` not escaped by a backslash, or -1."""
    found = text.find(char, pos)
    while found >= 0:
        before = found
        while before > pos and text[before - 1] == "\\":
            before -= 1
        if (found - before) % 2 == 0:
            return found
        found = text.find(char, found + 1)
    return -1


def _unescape(value: str, escapes: dict[str, str]) -> str:
    if "\\" not in value:
        return value
    # An escape CEF does not define keeps its backslash (the text says what was sent).
    return _ESCAPE.sub(lambda m: escapes.get(m.group(1), m.group(0)), value)


def _extension(text: str, record: CefRecord) -> None:
    """key=value pairs; a value runs until the space before the next `key=`. An "="
    that does not end a key-shaped token (a URL query "?a=1", "\\=") stays in the value."""
    text = " " + text.strip(" ")  # every key, the first too, now follows a space
    previous: re.Match[str] | None = None
    pairs = 0
    for match in _KEY_AT.finditer(text):
        if previous is None:
            if match.start() > 0:
                junk = show(text[1 : match.start()], 40)
                record.problems.append(f"text before the first key: {junk}")
        else:
            _store(record, previous[1], text[previous.end() : match.start()])
            pairs += 1
            if pairs >= _MAX_KEYS:
                record.problems.append(f"more than {_MAX_KEYS} extension pairs; the rest is in raw")
                return
        previous = match
    if previous is not None:
        _store(record, previous[1], text[previous.end() :])
    elif len(text) > 1:
        record.problems.append(f"extension is not key=value pairs: {show(text[1:], 40)}")


def _store(record: CefRecord, key: str, value: str) -> None:
    record.extensions[key] = _unescape(value, _EXTENSION_ESCAPES)


def _cut(value: str, limit: int) -> str:
    """A substring of the cleaned line is clean; it only needs the length limit."""
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


# ---- times --------------------------------------------------------------------------


def cef_time(value: str, received_at: datetime, zone: ZoneInfo) -> datetime:
    """rt/start/end: epoch milliseconds, ISO 8601, or 'MMM dd [yyyy] HH:mm:ss[.SSS] [zone]'
    (zone: UTC, GMT, Z, ICT, an IANA name, ±hh:mm or GMT±hh:mm; none means the source's
    zone). A bad value raises ValueError (or OverflowError/OSError for absurd epochs)."""
    value = value.strip()
    if digits(value):
        if len(value) > 16:
            raise ValueError(f"{show(value, 20)} is too large for epoch milliseconds")
        # CEF says milliseconds; some devices send seconds, which are 10 digits today.
        number = int(value)
        return datetime.fromtimestamp(number / (1000 if len(value) > 11 else 1), UTC)
    if digits(value[:4]):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    return _month_day_time(value, received_at, zone)


def _month_day_time(value: str, received_at: datetime, zone: ZoneInfo) -> datetime:
    parts = value.split()
    month = MONTHS.get(parts[0].title()) if parts else None
    if month is None or len(parts) < 3 or not digits(parts[1]):
        raise ValueError(f"{show(value, 40)} is not a CEF time")
    year = int(parts[2]) if digits(parts[2]) and len(parts[2]) == 4 else None
    rest = parts[3:] if year else parts[2:]
    if not rest:
        raise ValueError(f"{show(value, 40)} has no time of day")
    clock, _, fraction = rest[0].partition(".")
    hour, minute, second = (int(p) for p in _clock(clock, value))
    where = _zone_named(rest[1], value) if len(rest) > 1 else zone
    micro = int(fraction[:6].ljust(6, "0")) if digits(fraction) else 0
    day = int(parts[1])
    if year is None:
        when = infer_year(month, day, hour, minute, second, received_at, where)
        if when is None:
            raise ValueError(f"{show(value, 40)} is not a valid date")
        return when.replace(microsecond=micro)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=where)


def _clock(clock: str, value: str) -> list[str]:
    parts = clock.split(":")
    if len(parts) != 3 or not all(digits(p) and len(p) == 2 for p in parts):
        raise ValueError(f"{show(value, 40)} has no HH:mm:ss")
    return parts


def _zone_named(name: str, value: str) -> tzinfo:
    upper = name.upper()
    if upper in ZONE_ABBREVIATIONS:
        return ZONE_ABBREVIATIONS[upper]
    # Java's "zzz" writes "GMT+07:00" for a zone it has no abbreviation for.
    offset = upper.removeprefix("GMT").removeprefix("UTC")
    if offset.startswith(("+", "-")):
        return datetime.strptime(offset, "%z").tzinfo or UTC
    try:
        return zone_info(name)
    except (ValueError, KeyError, OSError):
        raise ValueError(f"zone {show(name, 40)} in {show(value, 40)} is unknown") from None


# ---- the event ----------------------------------------------------------------------


def _event(
    msg: RawMessage, record: CefRecord, header: SyslogLine | None, zone: ZoneInfo
) -> SecurityEvent:
    ecs = _base_ecs(record, header)
    times = _map_extensions(ecs, record, msg.received_at, zone)
    time = _event_time(times, header, msg.received_at)
    ecs = {"@timestamp": time.isoformat()} | ecs
    if record.problems:
        ecs["error"] = {"message": "; ".join(record.problems)}
    source, destination = ecs.get("source", {}), ecs.get("destination", {})
    user = source.get("user", {}).get("name") or destination.get("user", {}).get("name")
    if user:
        ecs["user"] = {"name": user}
    host = _host_name(ecs, header)
    if host:
        ecs["host"] = {"name": host}
    event = ecs["event"]
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=DATASET,
        action=event.get("action"),
        outcome=event.get("outcome"),
        severity=event.get("severity"),
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        user_name=user,
        host_name=host,
        process_name=ecs.get("process", {}).get("name"),
        observer_vendor=ecs["observer"].get("vendor"),
        observer_product=ecs["observer"].get("product"),
        rule_id=ecs["rule"].get("id"),
        rule_name=ecs["rule"].get("name"),
        message=ecs.get("message"),
        ecs=ecs,
        raw=msg.payload,
    )


def _base_ecs(record: CefRecord, header: SyslogLine | None) -> dict[str, Any]:
    severity = _severity(record.severity)
    event: dict[str, Any] = {"kind": "event", "module": "cef", "dataset": DATASET}
    observer = {
        "vendor": _cut(record.vendor, MAX_NAME) or None,
        "product": _cut(record.product, MAX_NAME) or None,
        "version": _cut(record.device_version, MAX_NAME) or None,
    }
    rule = {
        "id": _cut(record.signature_id, MAX_NAME) or None,
        "name": _cut(record.name, 1024) or None,
    }
    cef: dict[str, Any] = {
        "version": record.version,
        "device": {k: v for k, v in observer.items() if v} | {"event_class_id": rule["id"]},
        "name": rule["name"],
        "severity": _cut(record.severity, 32),
        "extensions": {key: _cut(value, MAX_STRING) for key, value in record.extensions.items()},
    }
    if severity is not None:
        event["severity"] = severity
        cef["severity_band"] = next(name for top, name in SEVERITY_BANDS if severity <= top)
    labels = _labels(record.extensions)
    if labels:
        cef["labels"] = labels
    ecs: dict[str, Any] = {
        "event": event,
        "observer": {k: v for k, v in observer.items() if v},
        "rule": {k: v for k, v in rule.items() if v},
        "cef": cef,
    }
    if rule.get("name"):
        ecs["message"] = _cut(record.name, MAX_MESSAGE_CHARS)
    if header is not None:
        ecs["log"] = {"syslog": syslog_header_ecs(header)}
    return ecs


def _severity(text: str) -> int | None:
    text = text.strip()
    if digits(text) and len(text) <= 2 and int(text) <= 10:
        return int(text)
    return SEVERITY_WORDS.get(text.lower())


def _labels(extensions: dict[str, str]) -> dict[str, str]:
    """{'Rule': 'Allow-DNS'} from cs1Label=Rule cs1=Allow-DNS: vendors' own field names."""
    return {
        _cut(label, MAX_NAME): _cut(extensions[key[:-5]], MAX_STRING)
        for key, label in extensions.items()
        if key[-5:] == "Label"
        and key[:-5] in extensions
        and key[:-5].rstrip("0123456789") in _LABELLED
    }


def _map_extensions(
    ecs: dict[str, Any], record: CefRecord, received_at: datetime, zone: ZoneInfo
) -> dict[str, datetime]:
    """Put the known keys on their ECS names; return the device times (rt, start, end)."""
    times: dict[str, datetime] = {}
    for key, value in record.extensions.items():
        target = _TARGETS.get(key)
        if target is None or not value:
            continue
        if target[1] == "time":
            when = _device_time(record, target[0][0], value, received_at, zone)
            if when is not None:
                times[target[0][0]] = when
        else:
            path, kind = target
            put(ecs, path, _CONVERTERS[kind](value))
    action = ecs["event"].get("action")
    if action and action.lower() in ACTION_TYPES:
        ecs["event"]["type"] = [ACTION_TYPES[action.lower()]]
    for key in ("start", "end"):
        if key in times:
            ecs["event"][key] = times[key].isoformat()
    return times


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "ip": lambda value: ip_or_none(value.strip()),
    "port": lambda value: port_or_none(value.strip()),
    "int": lambda value: int_or_none(value.strip()),
    "transport": lambda value: transport(value.strip()),
    "lower": lambda value: _cut(value.lower(), MAX_NAME),
    "outcome": lambda value: OUTCOMES.get(value.strip().lstrip("/").lower(), "unknown"),
    "message": lambda value: _cut(value, MAX_MESSAGE_CHARS),
    "name": lambda value: _cut(value, MAX_NAME),
    "text": lambda value: _cut(value, MAX_STRING),
}


def _device_time(
    record: CefRecord, key: str, value: str, received_at: datetime, zone: ZoneInfo
) -> datetime | None:
    # A bad device time must not cost the event: it is noted in error.message and the
    # syslog header or reception time is used instead.
    try:
        return checked_time(cef_time(value, received_at, zone), key)
    except (ValueError, OverflowError, OSError, DecodeError) as error:
        record.problems.append(f"{key}: {error}")
        return None


def _event_time(
    times: dict[str, datetime], header: SyslogLine | None, received_at: datetime
) -> datetime:
    if "rt" in times:
        return times["rt"]
    if header is not None:
        return checked_time(header.time, "syslog timestamp")
    return checked_time(received_at, "reception time")


def _host_name(ecs: dict[str, Any], header: SyslogLine | None) -> str | None:
    # The host the event is about: the destination (the server attacked, the endpoint
    # scanned), else the source, else the device that logged it.
    return (
        ecs.get("destination", {}).get("domain")
        or ecs.get("source", {}).get("domain")
        or ecs["observer"].get("hostname")
        or (header.hostname if header else None)
    )
