"""The kernel's netfilter LOG lines (iptables, nftables, ufw): one packet each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.formats.common import ip_or_none, port_or_none, transport
from ingest.formats.syslog.programs.data import PROGRAMS
from ingest.formats.syslog.programs.facts import Outcome

FIREWALL_DATASET = "system.firewall"
FIREWALL_VENDOR = "netfilter"  # the kernel subsystem behind iptables, nftables and ufw
_DENIED_WORDS = PROGRAMS.netfilter.denied_words
_ALLOWED_WORDS = PROGRAMS.netfilter.allowed_words
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


def decode(message: str) -> FirewallFacts | None:
    """'[UFW BLOCK] IN=eth0 OUT= MAC=… SRC=… DST=… … PROTO=TCP SPT=1 DPT=22 …'"""
    if "SRC=" not in message or "DST=" not in message:
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


def add_ecs(doc: dict[str, Any], facts: FirewallFacts) -> None:
    """The packet's ECS fields on top of the syslog line's document."""
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
