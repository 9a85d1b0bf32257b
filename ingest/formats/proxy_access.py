"""Squid access logs -> SecurityEvents on Elastic Common Schema names (`squid.access`).

Two line formats, told apart by their first token:

* squid's native `logformat squid` (the default):
  `1764730800.123    456 10.1.2.3 TCP_MISS/200 1234 GET http://example.com/a?b alice
  HIER_DIRECT/93.184.216.34 text/html` (time, elapsed ms, client, result/status, bytes,
  method, URL, user, hierarchy/peer, content type). It has no user agent.
* squid's `logformat combined`: the NCSA combined line (read by web_access.combined)
  with `squid-result:hierarchy` after the user agent.

The line arrives alone, several per message, after a syslog header (`access_log
syslog:`), or in a shipper's JSON envelope, as web access lines do (web_access.unwrap).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from events.models import SecurityEvent
from events.text import show
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    DEFAULT_TIMEZONE,
    MAX_NAME,
    checked_time,
    int_or_none,
    ip_or_none,
    put,
)
from ingest.formats.web_access import (
    Access,
    Envelope,
    NotAccessLine,
    combined,
    event_id,
    http_ecs,
    one_event,
    split_lines,
    unwrap,
)
from ingest.message import RawMessage

DATASET = "squid.access"
VENDOR, PRODUCT = "Squid", "Squid"
_NATIVE_START = re.compile(r"\d{9,11}\.\d{3} ")
_MAX_NATIVE_FIELDS = 16  # 10 by default; a few custom logformats append more


@register("proxy_access")
def decode_proxy_access(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    envelope = unwrap(msg, "proxy access", lambda _: None, timezone)
    events: list[SecurityEvent] = []
    numbered = list(split_lines(envelope.text))
    for number, line in numbered:
        where = f"line {number}: " if len(numbered) > 1 else ""
        try:
            access, squid = native(line) if _NATIVE_START.match(line) else _combined(line)
        except NotAccessLine as error:
            raise DecodeError(f"{where}{error}") from None
        events.append(one_event(where, proxy_event, msg, len(events), envelope, access, squid))
    if not events:
        raise DecodeError("no proxy access line in the message")
    return events


def native(line: str) -> tuple[Access, dict[str, Any]]:
    parts = line.split()
    if not 10 <= len(parts) <= _MAX_NATIVE_FIELDS:
        raise NotAccessLine(
            f"squid native line has {len(parts)} fields, expected 10: {show(line, 80)}"
        )
    stamp, elapsed, client, result, size, method, url, user, hierarchy, mime = parts[:10]
    code, _, status = result.partition("/")
    peer_kind, _, peer = hierarchy.partition("/")
    try:
        when = datetime.fromtimestamp(float(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise NotAccessLine(f"squid time {show(stamp)} is not epoch seconds") from None
    access = Access(
        time=when,
        client=client,
        user=None if user == "-" else user[:MAX_NAME],
        method=method.upper()[:32] if method.isalpha() else None,
        target=url,
        status=int_or_none(status, 1000) or None,  # 000: no reply (aborted, denied early)
        bytes=int_or_none(size),
        duration_ms=int_or_none(elapsed),
        request_line=line,
    )
    squid = {"result_code": code[:64], "hierarchy_code": peer_kind[:64]}
    if peer and peer != "-":
        squid["peer"] = peer[:MAX_NAME]
    if mime and mime != "-":
        squid["content_type"] = mime[:MAX_NAME]
    return access, squid


def _combined(line: str) -> tuple[Access, dict[str, Any]]:
    access = combined(line)
    access.request_line = line
    code, _, peer_kind = _last_token(line).partition(":")
    squid: dict[str, Any] = {}
    if code.isupper() and "_" in code:
        squid["result_code"] = code[:64]
        squid["hierarchy_code"] = peer_kind[:64]
    return access, squid


def _last_token(line: str) -> str:
    return line.rpartition(" ")[2] if not line.endswith('"') else ""


def proxy_event(
    msg: RawMessage,
    index: int,
    envelope: Envelope,
    access: Access,
    squid: dict[str, Any],
) -> SecurityEvent:
    time = checked_time(access.time, "time")
    doc = http_ecs(access, time, "squid", DATASET, access.request_line)
    code = squid.get("result_code", "")
    event = doc["event"]
    event["category"] = ["web", "network"]
    event["type"] = ["access", "connection"]
    if "DENIED" in code:
        event["type"].append("denied")
        event["outcome"] = "failure"
    if code:
        event["action"] = code.lower()
    peer = ip_or_none(squid.get("peer"))
    put(doc, ("destination", "ip"), peer)
    put(doc, ("destination", "domain"), doc.get("url", {}).get("domain"))
    put(doc, ("http", "response", "mime_type"), squid.get("content_type"))
    put(doc, ("observer", "vendor"), VENDOR)
    put(doc, ("observer", "product"), PRODUCT)
    put(doc, ("host", "name"), envelope.host)
    doc["squid"] = squid
    return SecurityEvent(
        time=time,
        event_id=event_id(msg, index),
        dataset=DATASET,
        category=("web", "network"),
        action=event["action"],
        outcome=event["outcome"],
        source_ip=doc.get("source", {}).get("ip"),
        destination_ip=peer,
        destination_port=doc.get("url", {}).get("port"),
        user_name=access.user,
        host_name=envelope.host,
        observer_vendor=VENDOR,
        observer_product=PRODUCT,
        message=doc["message"],
        ecs=doc,
        raw=msg.payload,
    )
