"""Cisco ASA (and Firepower Threat Defense) syslog: `%ASA-<level>-<message id>: <text>`.

    <166>Dec 01 2026 09:15:02 fw-hq : %ASA-6-302013: Built inbound TCP connection 1234
    for outside:203.0.113.5/51234 (203.0.113.5/51234) to dmz:10.20.0.5/443 (198.51.100.10/443)

The ASA writes its own header: a timestamp with the year when `logging timestamp` is on
("Dec 01 2026 09:15:02", or RFC 5424's with `logging timestamp rfc5424`), the device id
when `logging device-id` is set, then " : " — or nothing but <PRI>; a relay (rsyslog)
may rewrite it as RFC 3164. So the line is split at the "%ASA-" tag and what comes
before is read leniently. The message ids SOCs build on are parsed into ECS (the
connection, deny, access-list, login and command-accounting ids below); any other id
still becomes an event with its code, level and text, which Sigma keywords can search.
The text is matched only within its first 2,048 characters (an ASA message is shorter),
by anchored patterns with bounded repeats.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from events.models import SecurityEvent
from ingest.formats.common import MAX_STRING, MONTHS, digits, infer_year, int_or_none
from ingest.formats.firewall import event as fw
from ingest.formats.syslog.framing import NotSyslog, SyslogLine, parse_line
from ingest.message import RawMessage

MODULE = "cisco"
DATASET = "cisco.asa"
TAG = re.compile(r"%(ASA|FTD)-([0-7])-([0-9]{6}): ?")
_MAX_TEXT = 2048
# ASA logging levels are syslog severities (0 emergencies … 7 debugging).
_IP = r"[0-9A-Fa-f.:]{2,45}"
_IF = r"[^\s:/()]{1,64}"
# Endpoint templates; "P_" becomes the side ("a" first, "b" second) of the message.
_END = rf"(?P<P_if>{_IF}):(?P<P_ip>{_IP})/(?P<P_port>[0-9]{{1,5}})"
_MAPPED = rf"\((?P<P_mip>{_IP})/(?P<P_mport>[0-9]{{1,5}})\)"
_USER = r"(?:\((?P<P_user>[^)]{0,256})\))?"


def _end(p: str) -> str:
    return _END.replace("P_", p)


def _side(p: str) -> str:
    return (_END + " " + _MAPPED + _USER).replace("P_", p)


_PATTERNS: dict[str, re.Pattern[str]] = {
    "built": re.compile(
        rf"Built (?P<dir>inbound|outbound) (?P<proto>TCP|UDP|SCTP|GRE) connection "
        rf"(?P<conn>[0-9]+) for {_side('a')} to {_side('b')}"
    ),
    "teardown": re.compile(
        rf"Teardown (?P<proto>TCP|UDP|SCTP|GRE) connection (?P<conn>[0-9]+) for "
        rf"{_end('a')} to {_end('b')} duration (?P<duration>[0-9:]{{1,12}}) "
        r"bytes (?P<bytes>[0-9]{1,19})(?: (?P<reason>.{0,256}))?"
    ),
    "icmp": re.compile(
        rf"(?P<verb>Built|Teardown) (?:(?P<dir>inbound|outbound) )?(?P<proto>ICMP|ICMPv6) "
        rf"connection (?:(?P<conn>[0-9]+) )?for faddr (?P<faddr>{_IP})/[0-9]+ "
        rf"(?:\([^)]{{0,64}}\) )?gaddr (?P<gaddr>{_IP})/[0-9]+ laddr (?P<laddr>{_IP})/[0-9]+"
    ),
    "deny_acl": re.compile(  # 106023
        rf"Deny (?P<proto>[a-zA-Z0-9]{{1,16}}) src (?P<aif>{_IF}):(?P<aip>{_IP})"
        rf"(?:/(?P<aport>[0-9]{{1,5}}))?(?:\([^)]{{0,256}}\))? dst (?P<bif>{_IF}):(?P<bip>{_IP})"
        rf"(?:/(?P<bport>[0-9]{{1,5}}))?(?:\([^)]{{0,256}}\))? .{{0,64}}?by access-group "
        r'"(?P<acl>[^"]{0,256})"'
    ),
    "deny_from": re.compile(  # 106001, 106006, 106007, 106015
        r"(?:Inbound (?P<proto1>TCP) connection denied|Deny (?:inbound |outbound )?"
        r"(?P<proto2>TCP|UDP|[a-z]{1,16})(?: \(no connection\))?) from "
        rf"(?P<aip>{_IP})/(?P<aport>[0-9]{{1,5}}) to (?P<bip>{_IP})/(?P<bport>[0-9]{{1,5}})"
        r".{0,128}? on interface (?P<aif>\S{1,64})"
    ),
    "access_list": re.compile(  # 106100
        r"access-list (?P<acl>\S{1,256}) (?P<verb>permitted|denied|est-allowed) "
        rf"(?P<proto>[a-zA-Z0-9]{{1,16}}) (?P<aif>{_IF})/(?P<aip>{_IP})\((?P<aport>[0-9]{{1,5}})\)"
        rf"(?:\([^)]{{0,256}}\))? -> (?P<bif>{_IF})/(?P<bip>{_IP})\((?P<bport>[0-9]{{1,5}})\)"
    ),
    "acl_denied": re.compile(  # 710003
        rf"(?P<proto>TCP|UDP) access denied by ACL from (?P<aip>{_IP})/(?P<aport>[0-9]{{1,5}}) "
        rf"to (?P<bif>{_IF}):(?P<bip>{_IP})/(?P<bport>[0-9]{{1,5}})"
    ),
    "login": re.compile(  # 605004, 605005
        rf"Login (?P<verb>denied|permitted) from (?P<aip>{_IP})/(?P<aport>[0-9]{{1,5}}) to "
        rf'(?P<bif>{_IF}):(?P<bip>{_IP})/(?P<service>\S{{1,32}}) for user "(?P<user>[^"]{{0,256}})"'
    ),
    "command": re.compile(  # 111008, 111009, 111010
        r"User '(?P<user>[^']{0,256})'(?:, running '(?P<app>[^']{0,64})' from IP "
        rf"(?P<aip>{_IP}),)? executed (?:the '(?P<cmd1>.*)' command|cmd: (?P<cmd2>.*)|"
        r"'(?P<cmd3>.*)')"
    ),
    "aaa": re.compile(  # 113004, 113005, 113015
        r"AAA user (?P<what>authentication|authorization) (?P<verb>Successful|Rejected)"
        r"(?P<rest>.{0,512})"
    ),
    "vpn": re.compile(  # 113039, 716038, 716039: AnyConnect and clientless SSL VPN
        r"Group <(?P<group>[^>]{0,256})> User <(?P<user>[^>]{0,256})> IP "
        rf"<(?P<aip>{_IP})> (?P<what>AnyConnect parent session started|Authentication: "
        r"(?:successful|rejected))"
    ),
    "icmp_denied": re.compile(  # 313001
        rf"Denied ICMP type=(?P<type>[0-9]{{1,3}}), code=(?P<code>[0-9]{{1,3}}) from "
        rf"(?P<aip>{_IP}) on interface (?P<aif>\S{{1,64}})"
    ),
}
# Message id -> the pattern that reads it.
_IDS = {
    "302013": "built", "302015": "built", "302014": "teardown", "302016": "teardown",
    "302020": "icmp", "302021": "icmp", "106023": "deny_acl", "106001": "deny_from",
    "106006": "deny_from", "106007": "deny_from", "106015": "deny_from",
    "106100": "access_list", "710003": "acl_denied", "605004": "login", "605005": "login",
    "111008": "command", "111009": "command", "111010": "command", "113004": "aaa",
    "113005": "aaa", "113015": "aaa", "113039": "vpn", "716038": "vpn", "716039": "vpn",
    "313001": "icmp_denied",
}  # fmt: skip


def find_tag(line: str) -> re.Match[str] | None:
    return TAG.search(line)


def decode(msg: RawMessage, line: str, tag: re.Match[str], zone: ZoneInfo) -> list[SecurityEvent]:
    prefix, text = line[: tag.start()], line[tag.end() :]
    time, host, header = _header(prefix, msg.received_at, zone)
    product, level, code = tag.group(1), int(tag.group(2)), tag.group(3)
    doc = fw.base_doc(MODULE, DATASET)
    doc["event"].update(code=code, severity=level)
    doc["message"] = text
    doc["observer"] = fw.observer(
        "Cisco", "ASA" if product == "ASA" else "FTD", hostname=fw.cut(host)
    )
    if host:
        doc["host"] = {"name": fw.cut(host)}
    asa: dict[str, Any] = {"message_id": code}
    doc["cisco"] = {"asa": asa}
    kind = _IDS.get(code)
    match = _PATTERNS[kind].match(text[:_MAX_TEXT]) if kind else None
    if match is not None:
        _READERS[kind](doc, asa, match.groupdict(), code)
    fw.header_ecs(doc, header)
    return fw.build(msg, doc, time)


def _header(
    prefix: str, received_at: datetime, zone: ZoneInfo
) -> tuple[datetime, str | None, SyslogLine | None]:
    """(time, device name, syslog header or None) from whatever precedes %ASA-."""
    text = prefix.strip().removesuffix(":").strip()
    try:
        header = parse_line(text, received_at, zone) if text else None
    except NotSyslog:
        header = None
    if header is not None and header.hostname:
        return header.time, header.hostname, header
    rest = header.message.strip() if header is not None else text
    if rest.startswith("<") and ">" in rest[:5]:
        rest = rest[rest.index(">") + 1 :]
    stamped = _asa_stamp(rest, received_at, zone)
    if stamped is not None:
        return stamped[0], stamped[1] or None, header
    parts = rest.split()
    host = parts[-1] if parts and len(parts) == 1 else None
    return (header.time if header else received_at), host, header


def _asa_stamp(text: str, received_at: datetime, zone: ZoneInfo) -> tuple[datetime, str] | None:
    """'Dec 01 2026 09:15:02 [device-id]' or 'Dec 1 09:15:02 [device-id]'."""
    parts = text.split()
    if len(parts) < 3 or parts[0] not in MONTHS or not digits(parts[1]) or len(parts[1]) > 2:
        return None
    year = int(parts[2]) if digits(parts[2]) and len(parts[2]) == 4 else None
    clock = parts[3 if year else 2] if len(parts) > (3 if year else 2) else ""
    pieces = clock.split(":")
    if len(pieces) != 3 or not all(digits(p) and len(p) == 2 for p in pieces):
        return None
    month, day = MONTHS[parts[0]], int(parts[1])
    hour, minute, second = (int(p) for p in pieces)
    rest = " ".join(parts[4 if year else 3 :])
    try:
        if year is not None:
            return datetime(year, month, day, hour, minute, second, tzinfo=zone), rest
    except ValueError:
        return None
    when = infer_year(month, day, hour, minute, second, received_at, zone)
    return (when, rest) if when is not None else None


# ---- the message ids ----------------------------------------------------------------


def _endpoints(doc: dict[str, Any], g: dict[str, Any], swap: bool = False) -> None:
    a = fw.endpoint(g.get("aip"), g.get("aport"))
    b = fw.endpoint(g.get("bip"), g.get("bport"))
    for prefix, side in (("a", a), ("b", b)):
        mapped = fw.endpoint(g.get(f"{prefix}mip"), g.get(f"{prefix}mport"))
        if mapped and mapped != {k: side.get(k) for k in mapped}:
            side["nat"] = mapped
        if g.get(f"{prefix}user"):
            side["user"] = {"name": fw.cut(g[f"{prefix}user"])}
    source, destination = (b, a) if swap else (a, b)
    source_if, destination_if = ("bif", "aif") if swap else ("aif", "bif")
    if source:
        doc["source"] = source
    if destination:
        doc["destination"] = destination
    proto = g.get("proto") or g.get("proto1") or g.get("proto2")
    net = fw.network(proto, source.get("ip"), destination.get("ip"))
    if g.get("dir"):
        net["direction"] = g["dir"]
    if net:
        doc["network"] = net
    observer = doc["observer"]
    if g.get(source_if):
        observer["ingress"] = {"interface": {"name": fw.cut(g[source_if])}}
    if g.get(destination_if):
        observer["egress"] = {"interface": {"name": fw.cut(g[destination_if])}}


def _built(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    # "Built outbound … for outside:<responder> to inside:<initiator>": the inside host
    # started it, so source and destination swap (as Filebeat's ASA module reads it).
    _endpoints(doc, g, swap=g.get("dir") == "outbound")
    asa["connection_id"] = g.get("conn")
    doc["event"]["action"] = "built"
    fw.connection(doc, "built", "start")


def _teardown(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    _endpoints(doc, g)
    asa["connection_id"] = g.get("conn")
    doc["event"]["action"] = "teardown"
    total = int_or_none(g.get("bytes"))
    if total is not None:
        doc.setdefault("network", {})["bytes"] = total
    if g.get("reason"):
        doc["event"]["reason"] = fw.cut(g["reason"].strip(), MAX_STRING)
    fw.connection(doc, "teardown", "end")


def _icmp(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    inbound = g.get("dir") != "outbound"
    g = dict(
        g, aip=g["faddr"] if inbound else g["laddr"], bip=g["laddr"] if inbound else g["faddr"]
    )
    _endpoints(doc, g)
    verb = g["verb"].lower()
    doc["event"]["action"] = verb
    fw.connection(doc, verb, "start" if verb == "built" else "end")


def _deny(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    _endpoints(doc, g)
    doc["event"]["action"] = "deny"
    fw.connection(doc, "deny")
    if g.get("acl"):
        doc["rule"] = {"name": fw.cut(g["acl"])}


def _access_list(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    _endpoints(doc, g)
    doc["event"]["action"] = g["verb"]
    fw.connection(doc, g["verb"])
    doc["rule"] = {"name": fw.cut(g["acl"])}


def _login(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    _endpoints(doc, g)
    allowed = g["verb"] == "permitted"
    doc["event"].update(
        category=["authentication"],
        type=["start"],
        action=f"login-{g['verb']}",
        outcome="success" if allowed else "failure",
    )
    doc["user"] = {"name": fw.cut(g["user"])}
    doc.setdefault("network", {})["protocol"] = fw.cut(g["service"].lower())


def _command(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    # Command accounting: what Sigma's cisco/aaa rules search (as keywords) for.
    command = g.get("cmd1") or g.get("cmd2") or g.get("cmd3") or ""
    doc["event"].update(
        category=["configuration"], type=["change"], action="command-executed", outcome="success"
    )
    doc["user"] = {"name": fw.cut(g["user"])}
    if g.get("aip"):
        doc["source"] = fw.endpoint(g["aip"])
    asa["command_line"] = fw.cut(command, MAX_STRING)
    if g.get("app"):
        asa["running"] = fw.cut(g["app"])


def _aaa(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    # " : reason = … : server = 10.0.0.2 : user = admin : user IP = 203.0.113.9"
    facts = {}
    for part in g.get("rest", "").split(" : "):
        key, equals, value = part.partition(" = ")
        if equals:
            facts[key.strip().lower()] = value.strip()
    ok = g["verb"] == "Successful"
    doc["event"].update(
        category=["authentication"],
        type=["info"],
        action=f"{g['what']}-{'successful' if ok else 'rejected'}",
        outcome="success" if ok else "failure",
    )
    if facts.get("reason"):
        doc["event"]["reason"] = fw.cut(facts["reason"], MAX_STRING)
    if facts.get("user") and facts["user"] != "*****":
        doc["user"] = {"name": fw.cut(facts["user"])}
    source = fw.endpoint(facts.get("user ip"))
    if source:
        doc["source"] = source


def _vpn(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    ok = not g["what"].endswith("rejected")
    doc["event"].update(
        category=["authentication"],
        type=["start"],
        action="vpn-login" if ok else "vpn-login-rejected",
        outcome="success" if ok else "failure",
    )
    doc["user"] = {"name": fw.cut(g["user"])}
    doc["source"] = fw.endpoint(g["aip"])
    asa["vpn_group"] = fw.cut(g["group"])


def _icmp_denied(doc: dict[str, Any], asa: dict[str, Any], g: dict[str, Any], code: str) -> None:
    _endpoints(doc, dict(g, proto="icmp"))
    doc["event"]["action"] = "deny"
    fw.connection(doc, "deny")
    asa["icmp"] = {"type": g["type"], "code": g["code"]}


_READERS: dict[str, Callable[[dict[str, Any], dict[str, Any], dict[str, Any], str], None]] = {
    "built": _built,
    "teardown": _teardown,
    "icmp": _icmp,
    "deny_acl": _deny,
    "deny_from": _deny,
    "access_list": _access_list,
    "acl_denied": _deny,
    "login": _login,
    "command": _command,
    "aaa": _aaa,
    "vpn": _vpn,
    "icmp_denied": _icmp_denied,
}
