"""Observables out of alerts and their events: IP addresses, users, hosts, file hashes,
URLs and domains, each typed, normalised and checked. Pure.

Where they come from: the alert's labels (`source_ip`, `host_name`, `user_name`,
`indicator` with `indicator_type`, `file_hash`) and values (`users`, `hosts`,
`file_hash`, `target`), and the ECS document of each event behind the alert (the paths
in ECS_PATHS). A value that does not parse as its type is left out rather than stored
wrong (a host "-", an address "unknown").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from processors.cases.model import ObservableType

MAX_TEXT = 256
MAX_URL = 2048
# An alert with thousands of events gives at most this many observables.
MAX_PER_ALERT = 200

# ECS path -> kind ("ip", "user", "host", "hash", "url", "domain"); a list value gives each.
ECS_PATHS: tuple[tuple[str, str], ...] = (
    ("source.ip", "ip"), ("destination.ip", "ip"), ("client.ip", "ip"), ("server.ip", "ip"),
    ("related.ip", "ip"),
    ("user.name", "user"), ("source.user.name", "user"), ("destination.user.name", "user"),
    ("user.target.name", "user"), ("related.user", "user"),
    ("host.name", "host"), ("host.hostname", "host"), ("related.hosts", "host"),
    ("file.hash.sha256", "hash"), ("file.hash.sha1", "hash"), ("file.hash.md5", "hash"),
    ("process.hash.sha256", "hash"), ("process.hash.sha1", "hash"), ("process.hash.md5", "hash"),
    ("related.hash", "hash"),
    ("url.full", "url"), ("url.original", "url"),
    ("url.domain", "domain"), ("dns.question.name", "domain"), ("destination.domain", "domain"),
    ("server.domain", "domain"),
)  # fmt: skip
# Alert labels and values -> kind.
ALERT_FIELDS: tuple[tuple[str, str], ...] = (
    ("source_ip", "ip"), ("host_name", "host"), ("user_name", "user"), ("file_hash", "hash"),
    ("users", "user"), ("hosts", "host"), ("target", "ip"), ("sensor", "host"),
)  # fmt: skip
_INDICATOR_KINDS = {"ip": "ip", "domain": "domain", "md5": "hash", "sha1": "hash", "sha256": "hash"}
_HASHES: Mapping[int, ObservableType] = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX = re.compile(r"[0-9a-f]+")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_BLANK = frozenset({"", "-", "n/a", "null", "none", "unknown"})


@dataclass(frozen=True, slots=True)
class Observable:
    type: ObservableType
    value: str
    seen: datetime


def typed(kind: str, raw: object) -> tuple[ObservableType, str] | None:
    """(type, normalised value) of one raw value of a kind; None when it is not one."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if text.lower() in _BLANK or "\x00" in text:
        return None
    parse = _PARSERS.get(kind)
    return parse(text) if parse else None


def _ip(text: str) -> tuple[ObservableType, str] | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.is_unspecified or address.is_loopback:
        return None
    return ("ipv4" if address.version == 4 else "ipv6"), str(address)


def _name(kind: ObservableType) -> Any:
    def parse(text: str) -> tuple[ObservableType, str] | None:
        if len(text) > MAX_TEXT or not text.isprintable():
            return None
        # Host names are case-insensitive; user names are kept as written (Windows
        # ignores case, Linux does not).
        return kind, text.lower() if kind == "host" else text

    return parse


def _hash(text: str) -> tuple[ObservableType, str] | None:
    value = text.lower()
    kind = _HASHES.get(len(value))
    return (kind, value) if kind and _HEX.fullmatch(value) else None


def _domain(text: str) -> tuple[ObservableType, str] | None:
    name = text.lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        return None
    if labels[-1].isdigit():  # an address, not a domain
        return None
    return "domain", name


def _url(text: str) -> tuple[ObservableType, str] | None:
    if len(text) > MAX_URL or not text.isprintable() or any(c.isspace() for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ftp") or not parts.hostname:
        return None
    return "url", text


_PARSERS = {
    "ip": _ip, "user": _name("user"), "host": _name("host"), "hash": _hash, "url": _url,
    "domain": _domain,
}  # fmt: skip


def _values(raw: object) -> Iterator[object]:
    if isinstance(raw, list | tuple):
        yield from raw[:MAX_PER_ALERT]
    elif raw is not None:
        yield raw


def _path(document: Mapping[str, Any], path: str) -> object:
    """A dotted ECS path, nested ({"source": {"ip": …}}) or flat ({"source.ip": …})."""
    if path in document:
        return document[path]
    node: object = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def from_alert(alert: Mapping[str, Any], at: datetime) -> list[Observable]:
    """Observables named by an alert's labels and values."""
    found: list[tuple[str, object]] = []
    labels = alert.get("labels") or {}
    values = alert.get("alert_values") or {}
    for name, kind in ALERT_FIELDS:
        for source in (labels, values):
            found.extend((kind, v) for v in _values(source.get(name)))
    kind = _INDICATOR_KINDS.get(str(labels.get("indicator_type", "")))
    if kind:
        found.append((kind, labels.get("indicator")))
    return _unique(found, at)


def from_event(event: Mapping[str, Any]) -> list[Observable]:
    """Observables in one security event (its columns and ECS document)."""
    document = event.get("ecs") or {}
    found: list[tuple[str, object]] = [
        ("ip", event.get("source_ip")), ("ip", event.get("destination_ip")),
        ("user", event.get("user_name")), ("host", event.get("host_name")),
    ]  # fmt: skip
    for path, kind in ECS_PATHS:
        found.extend((kind, v) for v in _values(_path(document, path)))
    return _unique(found, event["time"])


def _unique(found: Iterable[tuple[str, object]], at: datetime) -> list[Observable]:
    seen: dict[tuple[str, str], Observable] = {}
    for kind, raw in found:
        if raw is not None and not isinstance(raw, str | int):
            raw = str(raw)  # inet from the driver
        parsed = typed(kind, raw)
        if parsed and parsed not in seen:
            seen[parsed] = Observable(parsed[0], parsed[1], at)
        if len(seen) >= MAX_PER_ALERT:
            break
    return list(seen.values())


def merge(
    groups: Iterable[Iterable[Observable]],
) -> list[tuple[ObservableType, str, datetime, datetime, int]]:
    """(type, value, first seen, last seen, sightings) over observables of many sources."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for group in groups:
        for item in group:
            key = (item.type, item.value)
            row = merged.get(key)
            if row is None:
                merged[key] = [item.type, item.value, item.seen, item.seen, 1]
            else:
                row[2], row[3], row[4] = min(row[2], item.seen), max(row[3], item.seen), row[4] + 1
    return [tuple(row) for row in merged.values()]  # type: ignore[misc]
