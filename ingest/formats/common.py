"""Helpers every security-log decoder shares: event ids, addresses, times, ECS building.

They live here, not in one decoder, so that syslog, Suricata, CEF, Windows and EDR
records get the same id rule, the same address checks and the same rejection wording.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import ValidationError

from config.timezone import LOCAL_TZ_NAME
from events.ids import stable_id
from events.models import SecurityEvent, check_event_time
from events.text import clean_text, show, validation_reason
from ingest.formats.base import DecodeError
from ingest.message import RawMessage

# Senders in Vietnamese operations centres log local time when a stamp carries no zone.
DEFAULT_TIMEZONE = LOCAL_TZ_NAME
MAX_MESSAGE_CHARS = 64 * 1024  # the message column; raw keeps everything
MAX_STRING = 4096  # any other string in a column or the ECS document
MAX_NAME = 255  # host, user, product names (RFC 5424 HOSTNAME limit)
# ATT&CK technique or sub-technique, e.g. T1110 or T1110.001.
TECHNIQUE = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")
MAX_TECHNIQUES = 32
# IANA protocol numbers that firewalls log instead of names (ECS wants the name).
TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp", "58": "ipv6-icmp"}
MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def security_event_id(msg: RawMessage) -> str:
    """A Kafka record is identified by its position, so a re-delivery gets the same id;
    without a position, the same bytes on the same topic are the same event."""
    if msg.offset is not None:
        return stable_id("kafka", msg.topic, msg.partition, msg.offset)
    return stable_id(msg.transport, msg.topic, msg.payload)


def ip_or_none(text: str | None) -> str | None:
    """The canonical form of an IP address, or None. The column is PostgreSQL inet, so
    anything else would fail the whole batch; an IPv6 zone ("%eth0") is not inet.
    inet_pton is strict (no octal, no short forms) and ~20x faster than ipaddress."""
    if not text:
        return None
    host = text.partition("%")[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, host))
    except (OSError, ValueError):
        return None


def port_or_none(value: Any) -> int | None:
    if type(value) is str and digits(value) and len(value) <= 5:
        value = int(value)
    return value if type(value) is int and 0 <= value <= 65535 else None


def digits(text: str) -> bool:
    # str.isdigit() is also true for "²" and "٣", which int() rejects or misreads.
    return text.isascii() and text.isdigit()


def int_or_none(value: Any, limit: int = 2**63) -> int | None:
    """A non-negative integer from a JSON number or a decimal string, bounded so that it
    fits a bigint; anything else (bool, float, "0x1f", "²") is None."""
    if type(value) is str and digits(value) and len(value) <= 19:
        value = int(value)
    return value if type(value) is int and 0 <= value < limit else None


def transport(value: str) -> str:
    """ECS network.transport: lower-case name; IANA numbers become names."""
    return TRANSPORTS.get(value) or clean_text(value.lower(), 32)


def strip_newline(payload: bytes) -> bytes:
    if payload.endswith(b"\r\n"):
        return payload[:-2]
    return payload[:-1] if payload.endswith(b"\n") else payload


@cache
def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def infer_year(
    month: int, day: int, hour: int, minute: int, second: int, received_at: datetime, zone: tzinfo
) -> datetime | None:
    """For a stamp without a year (RFC 3164, CEF "MMM dd HH:mm:ss"): the year that puts it
    at most a day after reception: next year just after New Year's Eve (a sender clock
    slightly ahead), else this year, else last year. None if no such date exists."""
    now = received_at.astimezone(zone)
    latest = now + timedelta(days=1)
    for year in (now.year + 1, now.year, now.year - 1):
        try:
            when = datetime(year, month, day, hour, minute, second, tzinfo=zone)
        except ValueError:
            continue
        if when <= latest:
            return when
    return None


def technique_ids(values: Iterable[Any]) -> list[str]:
    """Well-formed ATT&CK ids, first occurrence order, at most MAX_TECHNIQUES."""
    found = (v for v in values if type(v) is str and TECHNIQUE.fullmatch(v))
    return list(dict.fromkeys(found))[:MAX_TECHNIQUES]


# ---- JSON records -------------------------------------------------------------------


def json_object(payload: bytes, what: str) -> dict[str, Any]:
    """The payload as a JSON object; `what` names the record in the reason."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"invalid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"{what} must be a JSON object")
    return doc


def object_at(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def text_at(section: dict[str, Any], key: str, limit: int = MAX_STRING) -> str | None:
    """A non-empty string member, cleaned and cut to `limit`; None otherwise."""
    value = section.get(key)
    return clean_text(value, limit) if type(value) is str and value else None


def put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set doc[a][b]…= value, creating the objects on the way; None is not set."""
    if value is None:
        return
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def iso_time(doc: dict[str, Any], key: str, default_zone: str | None = None) -> datetime:
    """doc[key] as an ISO 8601 time inside the plausible window. Without `default_zone`
    a stamp without an offset is rejected; with it, the stamp is read in that zone."""
    stamp = doc.get(key)
    if type(stamp) is not str:
        raise DecodeError(f"field '{key}' missing or not a string")
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise DecodeError(f"field '{key}': {show(stamp)} is not ISO 8601") from None
    if parsed.tzinfo is None:
        if default_zone is None:
            raise DecodeError(f"field '{key}': timestamp has no UTC offset")
        parsed = parsed.replace(tzinfo=zone_info(default_zone))
    return checked_time(parsed, f"field '{key}'")


def checked_time(value: datetime, where: str) -> datetime:
    try:
        return check_event_time(value)
    except ValueError as error:
        raise DecodeError(f"{where}: {error}") from None


def validated(build: Callable[[], SecurityEvent]) -> list[SecurityEvent]:
    """The one event `build` makes, with a model violation turned into a DecodeError."""
    try:
        return [build()]
    except ValidationError as error:
        raise DecodeError(validation_reason(error)) from None
