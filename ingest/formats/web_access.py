"""Web server access logs -> SecurityEvents on Elastic Common Schema names.

Two line formats:

* NCSA combined / common (nginx's default `combined`, Apache's `combined` and `common`,
  also with a leading `vhost:port` as Apache's `vhost_combined` writes):
  `1.2.3.4 - alice [03/Dec/2026:10:00:00 +0700] "GET /a?b=1 HTTP/1.1" 200 512 "ref" "UA"`
  (extra quoted fields after the user agent, such as nginx's `"$http_x_forwarded_for"`,
  are kept in raw only).
* IIS W3C extended: space-separated columns named by the `#Fields:` directive IIS writes
  at the top of each file. A message may carry the directives and then records (NXLog or a
  shipper sending a whole file); records read with the last `#Fields:` of the message, or,
  when a message has none (Filebeat sends one line per message and IIS's header is never
  resent), with IIS's default field list. A record whose column count does not fit the
  default is rejected with that reason: configure the shipper to send the header with the
  records, or keep IIS's default fields. NXLog's xm_w3c output (a JSON object keyed by the
  W3C field names) is read too.

How the line arrives: alone (one per Kafka message or HTTP line), several per message
(one event each), inside a syslog header (nginx `access_log syslog:`; the program tag
names the server), or inside a shipper's JSON envelope (Filebeat `message`, Fluent Bit
`log`) whose `log.file.path`, `event.dataset` or `event.module` names the server. A
combined line with no such hint is filed as nginx: the format does not say which server
wrote it (nginx and Apache write the same bytes); a deployment with Apache sends the hint.

Parsed by hand: the combined format is one regular expression without backtracking
traps (each group is a class that cannot contain its delimiter), and W3C is a split on
spaces; the PyPI parsers for either (apache-log-parser, w3lib) are unmaintained or do
something else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote_plus

import orjson
from pydantic import ValidationError

from events.ids import stable_id
from events.models import SecurityEvent
from events.text import clean_text, show, validation_reason
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    MAX_STRING,
    MONTHS,
    checked_time,
    int_or_none,
    ip_or_none,
    port_or_none,
    put,
    security_event_id,
    strip_newline,
    validated,
    zone_info,
)
from ingest.formats.syslog.framing import NotSyslog, SyslogLine, parse_line
from ingest.message import RawMessage

MAX_LINES = 5000  # a 256 KiB message of short lines; past this the message is refused
MAX_URL = 8192
IIS_DEFAULT_FIELDS = [
    "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port",
    "cs-username", "c-ip", "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus",
    "sc-win32-status", "time-taken",
]  # fmt: skip
_MAX_FIELDS = 64  # W3C defines ~30 fields; a longer #Fields line is not IIS's


@dataclass(frozen=True, slots=True)
class Server:
    module: str
    dataset: str
    vendor: str
    product: str
    os_type: str | None = None


SERVERS = {
    "nginx": Server("nginx", "nginx.access", "nginx", "nginx"),
    "apache": Server("apache", "apache.access", "Apache Software Foundation", "httpd"),
    "iis": Server("iis", "iis.access", "Microsoft", "IIS", "windows"),
}
# Words in a program tag, file path, dataset or module that name the server.
_HINTS = (
    ("iis", "iis"), ("w3svc", "iis"), ("u_ex", "iis"), ("nginx", "nginx"),
    ("apache", "apache"), ("httpd", "apache"),
)  # fmt: skip

# host[:port] (vhost_combined) ident user [time] "request" status bytes ["ref" "ua"] ...
# Every group is a character class that excludes its own delimiter: no backtracking.
_COMBINED = re.compile(
    r"(?:(?P<vhost>[^\s\[\"]+:\d{1,5}) )?"
    r"(?P<client>[^\s\[\"]+) (?P<ident>[^\s\[\"]+) (?P<user>[^\[\"]*?) "
    r"\[(?P<time>[^\]]{1,64})\] "
    r"\"(?P<request>(?:[^\"\\]|\\.)*)\" "
    r"(?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    r"(?: \"(?P<referrer>(?:[^\"\\]|\\.)*)\" \"(?P<agent>(?:[^\"\\]|\\.)*)\")?"
    r"(?P<rest>.*)$",
    re.S,
)
_TIME = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)")


class NotAccessLine(ValueError):
    """The text is not an access log record; the reason says why."""


@dataclass(slots=True)
class Envelope:
    """Where the line(s) came from, read from a syslog header or a shipper's JSON."""

    text: str
    hint: str | None = None  # the server, when the envelope names it
    host: str | None = None
    record: dict[str, Any] | None = None  # an NXLog xm_w3c object, already split


@dataclass(slots=True)
class Access:
    """One request, in ECS terms, whatever the line format."""

    time: datetime
    client: str | None = None
    user: str | None = None
    method: str | None = None
    target: str | None = None  # path?query as requested (or a full URL via a proxy)
    version: str | None = None
    status: int | None = None
    bytes: int | None = None
    referrer: str | None = None
    agent: str | None = None
    host: str | None = None  # the virtual host / Host header
    server_ip: str | None = None
    server_port: int | None = None
    duration_ms: int | None = None
    request_line: str | None = None


# ---- decoder ------------------------------------------------------------------------


@register("web_access")
def decode_web_access(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    envelope = unwrap(msg, "web access", _server_hint, timezone)
    if envelope.record is not None:
        access = iis_record(envelope.record)
        return validated(lambda: access_event(msg, 0, envelope, "iis", access))
    events: list[SecurityEvent] = []
    fields: list[str] | None = None
    numbered = list(split_lines(envelope.text))
    for number, line in numbered:
        where = f"line {number}: " if len(numbered) > 1 else ""
        if line.startswith("#"):
            fields = _directive(line, fields, where)
            continue
        server, access = _parse(line, fields, where)
        events.append(
            one_event(where, access_event, msg, len(events), envelope, server, access, line)
        )
    if not events:
        raise DecodeError(
            "only W3C directives (#Software, #Fields, …) and no record: IIS writes them at "
            "the top of each file; send them with the records that follow"
        )
    return events


def one_event(where: str, build: Callable[..., SecurityEvent], *args: Any) -> SecurityEvent:
    """build(*args), with a model violation turned into a DecodeError naming the line."""
    try:
        return build(*args)
    except ValidationError as error:
        raise DecodeError(f"{where}{validation_reason(error)}") from None


def _parse(line: str, fields: list[str] | None, where: str) -> tuple[str | None, Access]:
    try:
        if _W3C_START.match(line):
            return "iis", iis_record(dict(zip_w3c(fields or IIS_DEFAULT_FIELDS, line, fields)))
        return None, combined(line)
    except NotAccessLine as error:
        raise DecodeError(f"{where}{error}") from None


_W3C_START = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} ")


def _directive(line: str, fields: list[str] | None, where: str) -> list[str] | None:
    name, _, value = line[1:].partition(":")
    if name.strip() != "Fields":
        return fields  # #Software, #Version, #Date, #Remark: nothing to keep
    names = value.split()
    if not names or len(names) > _MAX_FIELDS:
        raise DecodeError(f"{where}#Fields: needs 1 to {_MAX_FIELDS} names, got {len(names)}")
    return names


# ---- envelopes (shared with proxy_access and auditd) --------------------------------


def unwrap(
    msg: RawMessage,
    what: str,
    hint_of: Callable[[str], str | None],
    timezone: str = DEFAULT_TIMEZONE,
) -> Envelope:
    """The text of the log line(s) and what the envelope says about them."""
    text = strip_newline(msg.payload).decode("utf-8", errors="replace")
    if not text.strip():
        raise DecodeError(f"empty {what} message")
    if text.lstrip().startswith("{"):
        return _json_envelope(text, what, hint_of)
    if text.startswith("<") or text[:3] in MONTHS:
        return _syslog_envelope(text, msg, hint_of, timezone)
    return Envelope(text)


def _json_envelope(text: str, what: str, hint_of: Callable[[str], str | None]) -> Envelope:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"a JSON envelope that is not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"a JSON envelope must be an object holding the {what} line")
    host = _path_text(doc, ("host", "name")) or _path_text(doc, ("host", "hostname"))
    hints = [
        _path_text(doc, ("log", "file", "path")),
        _path_text(doc, ("event", "dataset")),
        _path_text(doc, ("event", "module")),
        _path_text(doc, ("fileset", "name")),
        _path_text(doc, ("SourceModuleName",)),  # NXLog's input name
    ]
    hint = next((h for h in map(_hint_or_none(hint_of), hints) if h), None)
    if "cs-method" in doc or "cs-uri-stem" in doc:  # NXLog xm_w3c: fields already split
        return Envelope("", "iis", host, doc)
    for key in ("message", "log", "event.original"):
        line = doc.get(key)
        if type(line) is str and line.strip():
            return Envelope(line, hint, host)
    original = _path_text(doc, ("event", "original"))
    if original:
        return Envelope(original, hint, host)
    raise DecodeError(f"JSON envelope without a 'message' or 'log' string holding the {what} line")


def _hint_or_none(hint_of: Callable[[str], str | None]) -> Callable[[str | None], str | None]:
    return lambda value: hint_of(value) if value else None


def _path_text(doc: dict[str, Any], path: tuple[str, ...]) -> str | None:
    # Nested ({"log": {"file": {"path": …}}}) or flattened ({"log.file.path": …}).
    node: Any = doc.get(".".join(path))
    if node is None:
        node = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
    return clean_text(node, MAX_NAME) if type(node) is str and node else None


def _syslog_envelope(
    text: str, msg: RawMessage, hint_of: Callable[[str], str | None], timezone: str
) -> Envelope:
    first, _, rest = text.partition("\n")
    try:
        header: SyslogLine = parse_line(clean_text(first), msg.received_at, zone_info(timezone))
    except NotSyslog:
        return Envelope(text)  # a line that only looks like syslog ("Mar-portal:443 …")
    body = header.message + ("\n" + rest if rest else "")
    return Envelope(body, hint_of(header.appname or ""), header.hostname)


def split_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based number, clean line) for each non-empty line; bounded."""
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        raise DecodeError(f"{len(lines)} lines in one message; at most {MAX_LINES}")
    for number, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, clean_text(line)


def _server_hint(text: str) -> str | None:
    lowered = text.lower()
    return next((server for word, server in _HINTS if word in lowered), None)


# ---- NCSA combined / common (shared with proxy_access) ------------------------------


def combined(line: str) -> Access:
    match = _COMBINED.match(line)
    if match is None:
        raise NotAccessLine(
            f"neither a combined/common access line nor an IIS W3C record: {show(line, 80)}"
        )
    group = match.group
    method, target, version = _request(_unescape(group("request")))
    vhost = group("vhost")
    host, port = vhost.rsplit(":", 1) if vhost else (None, None)
    return Access(
        time=clf_time(group("time")),
        client=group("client"),
        user=_dash(group("user").strip()),
        method=method,
        target=target,
        version=version,
        status=int(group("status")) if group("status") != "-" else None,
        bytes=int_or_none(group("bytes")),
        referrer=_dash(_unescape(group("referrer"))),
        agent=_quoted_agent(group("agent")),
        host=host,
        server_port=port_or_none(port),
        request_line=_unescape(group("request")),
    )


def clf_time(stamp: str) -> datetime:
    """[03/Dec/2026:10:00:00 +0700] (the brackets already removed)."""
    match = _TIME.fullmatch(stamp)
    if match is None or match.group(2) not in MONTHS:
        raise NotAccessLine(f"time {show(stamp)} is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, month, year, hour, minute, second, sign, zh, zm = match.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
    try:
        zone = timezone(offset)
        when = datetime(int(year), MONTHS[month], int(day), int(hour), int(minute), int(second))
    except ValueError as error:
        raise NotAccessLine(f"time {show(stamp)}: {error}") from None
    return when.replace(tzinfo=zone)


def _request(text: str) -> tuple[str | None, str | None, str | None]:
    # "GET /x HTTP/1.1"; a garbage request (a TLS handshake sent to port 80) is logged
    # as is by nginx: keep it whole as the target, with no method.
    parts = text.split(" ")
    if len(parts) == 3 and parts[0].isalpha() and parts[2].startswith("HTTP/"):
        return parts[0].upper()[:32], parts[1][:MAX_URL], parts[2][5:16]
    if len(parts) == 2 and parts[0].isalpha():  # HTTP/0.9 "GET /"
        return parts[0].upper()[:32], parts[1][:MAX_URL], None
    return None, (text[:MAX_URL] or None), None


def _unescape(text: str | None) -> str | None:
    # nginx writes \xHH for bytes outside printable ASCII and \" inside quotes; Apache
    # writes \" and \\. Decoded escapes are cleaned again (they may be controls).
    if text is None or "\\" not in text:
        return text
    return clean_text(_ESCAPE.sub(_unescaped, text))


def _unescaped(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if len(code) == 3 else code


def _quoted_agent(text: str | None) -> str | None:
    # "-" means no header; "" is an empty header, which rules look for (PowerShell's
    # WebClient sends none): keep the empty string.
    if text is None:
        return None
    return None if text == "-" else _unescape(text)


def _dash(text: str | None) -> str | None:
    return None if not text or text == "-" else text[:MAX_NAME]


# ---- IIS W3C ------------------------------------------------------------------------


def zip_w3c(fields: list[str], line: str, declared: list[str] | None) -> Iterator[tuple[str, str]]:
    values = line.split(" ")
    if len(values) != len(fields):
        source = "the message's #Fields" if declared else "IIS's default #Fields"
        raise NotAccessLine(
            f"W3C record has {len(values)} values but {source} names {len(fields)}; "
            "send the #Fields header with the records"
        )
    return zip(fields, values, strict=True)


def iis_record(record: dict[str, Any]) -> Access:
    def get(name: str) -> str | None:
        value = record.get(name)
        if type(value) is int:  # NXLog's JSON writes sc-status and s-port as numbers
            value = str(value)
        if type(value) is not str or value in ("", "-"):
            return None
        return clean_text(value, MAX_STRING)

    stem, query = get("cs-uri-stem"), get("cs-uri-query")
    target = (stem or "") + (f"?{query}" if query else "")
    return Access(
        time=_w3c_time(get("date"), get("time")),
        client=get("c-ip"),
        user=_dash(get("cs-username")),
        method=(get("cs-method") or "").upper()[:32] or None,
        target=target[:MAX_URL] or None,
        version=(get("cs-version") or "").removeprefix("HTTP/")[:16] or None,
        status=int_or_none(get("sc-status"), 1000),
        bytes=int_or_none(get("sc-bytes")),
        referrer=_plus(get("cs(Referer)")),
        agent=_plus(get("cs(User-Agent)")),
        host=get("cs-host"),
        server_ip=get("s-ip"),
        server_port=port_or_none(get("s-port")),
        duration_ms=int_or_none(get("time-taken")),
    )


def _plus(text: str | None) -> str | None:
    # W3C replaces spaces inside a value with "+" (and writes a real "+" as %2B).
    return unquote_plus(text) if text and "+" in text else text


def _w3c_time(day: str | None, clock: str | None) -> datetime:
    # W3C times are UTC by definition (IIS's "local time rollover" changes only the file).
    if not day or not clock:
        raise NotAccessLine("W3C record without 'date' and 'time'")
    try:
        return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)
    except ValueError:
        raise NotAccessLine(f"W3C date/time {show(day)} {show(clock)} is not valid") from None


# ---- the event ----------------------------------------------------------------------


def event_id(msg: RawMessage, index: int) -> str:
    base = security_event_id(msg)
    return base if index == 0 else stable_id(base, index)


def access_event(
    msg: RawMessage,
    index: int,
    envelope: Envelope,
    server_name: str | None,
    access: Access,
    line: str | None = None,
) -> SecurityEvent:
    server = SERVERS[server_name or envelope.hint or "nginx"]
    time = checked_time(access.time, "time")
    doc = http_ecs(access, time, server.module, server.dataset, line)
    put(doc, ("observer", "vendor"), server.vendor)
    put(doc, ("observer", "product"), server.product)
    put(doc, ("host", "name"), envelope.host)
    put(doc, ("host", "os", "type"), server.os_type)
    put(doc, ("destination", "ip"), ip_or_none(access.server_ip))
    put(doc, ("destination", "port"), access.server_port)
    return SecurityEvent(
        time=time,
        event_id=event_id(msg, index),
        dataset=server.dataset,
        category=("web",),
        action="access",
        outcome=doc["event"]["outcome"],
        source_ip=doc.get("source", {}).get("ip"),
        destination_ip=doc.get("destination", {}).get("ip"),
        destination_port=access.server_port,
        user_name=access.user,
        host_name=envelope.host,
        observer_vendor=server.vendor,
        observer_product=server.product,
        message=doc["message"],
        ecs=doc,
        raw=msg.payload,
    )


def http_ecs(
    access: Access, time: datetime, module: str, dataset: str, line: str | None
) -> dict[str, Any]:
    """The ECS document of one HTTP request (web server or proxy)."""
    status = access.status
    outcome = "unknown" if status is None else "failure" if status >= 400 else "success"
    doc: dict[str, Any] = {
        "@timestamp": time.isoformat(),
        "message": (line or access.request_line or access.target or "")[:MAX_MESSAGE_CHARS],
        "event": {
            "kind": "event",
            "module": module,
            "dataset": dataset,
            "category": ["web"],
            "type": ["access"],
            "action": "access",
            "outcome": outcome,
        },
    }
    client = ip_or_none(access.client)
    if client:
        put(doc, ("source", "ip"), client)
    elif access.client and access.client != "-":
        put(doc, ("source", "address"), access.client[:MAX_NAME])
    put(doc, ("user", "name"), access.user)
    put(doc, ("http", "request", "method"), access.method)
    put(doc, ("http", "request", "referrer"), access.referrer)
    put(doc, ("http", "version"), access.version)
    put(doc, ("http", "response", "status_code"), status)
    put(doc, ("http", "response", "body", "bytes"), access.bytes)
    put(doc, ("user_agent", "original"), access.agent)
    if access.duration_ms is not None:
        put(doc, ("event", "duration"), access.duration_ms * 1_000_000)
    url = url_ecs(access.target, access.host)
    if url:
        doc["url"] = url
    return doc


def url_ecs(target: str | None, host: str | None) -> dict[str, Any]:
    """url.original as requested, split into path, query, extension, domain (ECS)."""
    if not target:
        return {"domain": host[:MAX_NAME]} if host else {}
    url: dict[str, Any] = {"original": target}
    rest = target
    scheme, sep, after = target.partition("://")
    if sep and scheme.isalpha() and len(scheme) <= 10:
        url["scheme"] = scheme.lower()
        authority, slash, path = after.partition("/")
        host = host or authority.rpartition("@")[2]
        rest = slash + path
    elif target.startswith("/") or target == "*":
        pass
    elif ":" in target and " " not in target:  # CONNECT host:443
        host = host or target
        rest = ""
    if host:
        name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
        url["domain"] = (name or host).lower()[:MAX_NAME]
        put(url, ("port",), port_or_none(port))
    path, has_query, query = rest.partition("?")
    path = path.partition("#")[0]
    if path:
        url["path"] = path
        extension = _extension(path)
        if extension:
            url["extension"] = extension
    if has_query:
        url["query"] = query
    return url


def _extension(path: str) -> str | None:
    name = path.rpartition("/")[2]
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not extension or len(extension) > 16:
        return None
    return extension.lower() if extension.isalnum() else None
