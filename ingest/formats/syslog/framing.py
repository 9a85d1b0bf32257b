"""Syslog framing: the RFC 3164 and RFC 5424 headers of a line, and their ECS log.syslog.*.

Parsed by hand: the PyPI parsers each cover one RFC and are unmaintained
(syslog-rfc5424-parser 0.3.2, 2019; syslogmp 0.4, 3164 only, 2021), and none infers the
year and zone of a 3164 timestamp. Both headers are a fixed sequence of space-separated
fields, which str.partition/split read in one linear pass, with no regex to backtrack.

Lenient where real senders are: a 3164 line may lack the hostname (local /dev/log
format) or carry an RFC 3339 timestamp (rsyslog's high-precision forwarding), and a
line without <PRI> is accepted when it starts with a valid 3164 timestamp (a log file
line shipped as is by Filebeat, Fluent Bit or Vector); it then has no facility/severity.

What the message says is for the program decoders (programs/), not for this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from events.text import clean_text, show
from ingest.formats.common import MAX_MESSAGE_CHARS, MONTHS, digits, infer_year

MAX_NAME_CHARS = 255  # RFC 5424 HOSTNAME limit, used for every header name
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


class NotSyslog(ValueError):
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


def parse_line(line: str, received_at: datetime, zone: tzinfo) -> SyslogLine:
    """`line` must already be clean text. RFC 3164 stamps carry no zone: `zone` is the
    sender's (the route's, by default the local one)."""
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


# ---- RFC 5424 -----------------------------------------------------------------------


def _pri(line: str) -> tuple[int | None, str]:
    if not line.startswith("<"):
        return None, line
    end = line.find(">", 1, 5)
    number = line[1:end] if end > 0 else ""
    if not digits(number) or int(number) > 191:
        raise NotSyslog("<PRI> is not <0>…<191>")
    return int(number), line[end + 1 :]


def _rfc5424(rest: str, received_at: datetime) -> SyslogLine:
    parts = rest.split(" ", 6)
    if len(parts) < 7:
        raise NotSyslog("RFC 5424 header needs VERSION TIMESTAMP HOST APP PROCID MSGID SD")
    version, stamp, host, app, procid, msgid, tail = parts
    if version != "1":
        raise NotSyslog(f"syslog protocol version {show(version)} is not 1")
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
        raise NotSyslog("STRUCTURED-DATA is neither '-' nor [SD-ELEMENT]")
    if pos < len(text) and text[pos] != " ":
        raise NotSyslog("STRUCTURED-DATA is not followed by a space")
    return data, text[pos + 1 :]


def _sd_element(text: str, pos: int, data: dict[str, dict[str, str]]) -> int:
    # SD-ID and PARAM-NAME are at most 32 characters, so every search below is bounded
    # and a line of many unclosed "[" stays linear.
    end = _find_first(text, pos, pos + 33, " ]")
    sd_id = text[pos:end]
    if end < 0 or not sd_id:
        raise NotSyslog("SD-ID is empty, too long or not closed")
    params: dict[str, str] = {}
    pos = end
    while text.startswith(" ", pos):
        equals = text.find("=", pos + 1, pos + 34)
        name = text[pos + 1 : equals]
        if equals < 0 or not name or not text.startswith('"', equals + 1) or " " in name:
            raise NotSyslog(f'SD-PARAM in [{sd_id}] is not name="value"')
        params[name], pos = _quoted(text, equals + 2)
    if not text.startswith("]", pos):
        raise NotSyslog(f"SD-ELEMENT [{sd_id}] is not closed by ']'")
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
    raise NotSyslog("PARAM-VALUE is not closed by '\"'")


def _rfc3339(stamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise NotSyslog(f"TIMESTAMP {show(stamp, 40)} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise NotSyslog(f"TIMESTAMP {show(stamp, 40)} has no UTC offset")
    return parsed


def _nil(value: str) -> str | None:
    return None if value == _NIL or not value else value[:MAX_NAME_CHARS]


def _message(text: str) -> str:
    return clean_text(text, MAX_MESSAGE_CHARS)


# ---- RFC 3164 -----------------------------------------------------------------------


def _rfc3164(rest: str, received_at: datetime, zone: tzinfo, require_time: bool) -> SyslogLine:
    time, rest = _bsd_timestamp(rest, received_at, zone)
    if time is None:
        if require_time:
            raise NotSyslog("no <PRI> and no 'Mmm dd hh:mm:ss' timestamp")
        # RFC 3164 §4.3.3: a line without a valid header is all message, "now".
        return SyslogLine(time=received_at, message=_message(rest))
    first, _, after = rest.partition(" ")
    host = None
    if first and not first.endswith(":"):  # a tag ends in ":", a host name never does
        host, rest = first[:MAX_NAME_CHARS], after
    program, procid, message = _tag(rest)
    return SyslogLine(
        time=time, message=_message(message), hostname=host, appname=program, procid=procid
    )


def _bsd_timestamp(text: str, received_at: datetime, zone: tzinfo) -> tuple[datetime | None, str]:
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
        raise NotSyslog(f"no valid date and time for day {day} of month {month}")
    return when, parts[2] if len(parts) > 2 else ""


def _tag(text: str) -> tuple[str | None, str | None, str]:
    """'prog[pid]: msg' or 'prog: msg' -> (prog, pid, msg); no tag -> (None, None, text)."""
    token, _, message = text.partition(" ")
    if not token.endswith(":") or len(token) < 2:
        return None, None, text
    token = token[:-1]
    program, bracket, pid = token.partition("[")
    if bracket and pid.endswith("]"):
        return program[:MAX_NAME_CHARS] or None, pid[:-1][:MAX_NAME_CHARS] or None, message
    return token[:MAX_NAME_CHARS], None, message
