"""Palo Alto Networks PAN-OS syslog in its default CSV form (TRAFFIC, THREAT, SYSTEM,
CONFIG; other log types keep their common columns).

    <14>Dec  1 09:15:02 PA-HQ 1,2026/12/01 09:15:02,013201001234,TRAFFIC,end,2561,
    2026/12/01 09:15:02,10.10.1.20,203.0.113.80,198.51.100.10,203.0.113.80,allow-web,…

The columns are PAN-OS's documented order ("Syslog Field Descriptions", the same from
8.1 to 11.x for the columns read here; newer versions only append). Quoted cells (a
rule or URL holding a comma) are read by the csv module. Times are the firewall's local
time without a zone: the route's zone applies, as for RFC 3164 stamps.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from events.models import SecurityEvent
from ingest.formats.base import DecodeError
from ingest.formats.common import MAX_STRING, int_or_none
from ingest.formats.firewall import event as fw
from ingest.message import RawMessage

MODULE = "panw"
DATASET = "panw.panos"
TYPES = frozenset(
    {"TRAFFIC", "THREAT", "SYSTEM", "CONFIG", "HIPMATCH", "GLOBALPROTECT", "USERID",
     "AUTHENTICATION", "DECRYPTION", "TUNNEL", "SCTP", "CORRELATION", "IPTAG", "AUDIT"}
)  # fmt: skip
_MAX_COLUMNS = 256
# Columns shared by TRAFFIC and THREAT, index -> name under panw.panos.
_SESSION = {
    1: "receive_time", 2: "serial", 3: "type", 4: "subtype", 6: "generated_time",
    7: "src", 8: "dst", 9: "natsrc", 10: "natdst", 11: "rule", 12: "srcuser",
    13: "dstuser", 14: "app", 15: "vsys", 16: "from", 17: "to", 18: "inbound_if",
    19: "outbound_if", 20: "logset", 22: "sessionid", 23: "repeatcnt", 24: "sport",
    25: "dport", 26: "natsport", 27: "natdport", 28: "flags", 29: "proto", 30: "action",
}  # fmt: skip
_TRAFFIC = _SESSION | {
    31: "bytes", 32: "bytes_sent", 33: "bytes_received", 34: "packets", 35: "start",
    36: "elapsed", 37: "category", 39: "seqno", 41: "srcloc", 42: "dstloc",
    44: "pkts_sent", 45: "pkts_received", 46: "session_end_reason", 52: "device_name",
}  # fmt: skip
_THREAT = _SESSION | {
    31: "misc", 32: "threatid", 33: "category", 34: "severity", 35: "direction",
    36: "seqno", 38: "srcloc", 39: "dstloc", 41: "contenttype", 43: "filedigest",
    46: "user_agent", 47: "filetype", 49: "referer", 59: "device_name",
}  # fmt: skip
_SYSTEM = {
    1: "receive_time", 2: "serial", 3: "type", 4: "subtype", 6: "generated_time",
    8: "vsys", 9: "eventid", 10: "object", 13: "module", 14: "severity", 15: "description",
    16: "seqno", 22: "device_name",
}  # fmt: skip
_CONFIG = {
    1: "receive_time", 2: "serial", 3: "type", 4: "subtype", 6: "generated_time",
    7: "host", 8: "vsys", 9: "cmd", 10: "admin", 11: "client", 12: "result", 13: "path",
    14: "seqno",
}  # fmt: skip
_GLOBALPROTECT = {
    1: "receive_time", 2: "serial", 3: "type", 4: "subtype", 6: "generated_time",
    7: "vsys", 8: "eventid", 9: "stage", 10: "auth_method", 11: "tunnel_type",
    12: "srcuser", 13: "srcregion", 14: "machinename", 15: "public_ip", 16: "public_ipv6",
    17: "private_ip", 18: "private_ipv6", 21: "client_ver", 22: "client_os", 25: "reason",
    26: "error", 27: "description", 28: "status", 29: "location", 33: "portal", 34: "seqno",
    41: "gateway", 47: "device_name",
}  # fmt: skip
_COMMON = {1: "receive_time", 2: "serial", 3: "type", 4: "subtype", 6: "generated_time"}
_LAYOUTS = {
    "TRAFFIC": _TRAFFIC,
    "THREAT": _THREAT,
    "SYSTEM": _SYSTEM,
    "CONFIG": _CONFIG,
    "GLOBALPROTECT": _GLOBALPROTECT,
}
# THREAT severity words -> ECS event.severity (syslog-like: lower is worse).
_SEVERITIES = {"critical": 2, "high": 3, "medium": 4, "low": 5, "informational": 6}
_THREAT_CATEGORIES = {
    "virus": "malware", "wildfire-virus": "malware", "wildfire": "malware",
    "spyware": "intrusion_detection", "vulnerability": "intrusion_detection",
    "flood": "intrusion_detection", "scan": "intrusion_detection", "url": "web",
    "file": "file", "data": "network",
}  # fmt: skip


def looks_like(body: str) -> bool:
    """'1,2026/12/01 09:15:02,<serial>,TRAFFIC,…': the 4th cell is a PAN-OS log type."""
    cells = body[:128].split(",", 4)
    return len(cells) == 5 and cells[3] in TYPES


def decode(msg: RawMessage, framed: fw.Framed, zone: ZoneInfo) -> list[SecurityEvent]:
    try:
        cells = next(csv.reader([framed.body[: fw.MAX_BODY_CHARS]]))
    except (csv.Error, StopIteration) as error:
        raise DecodeError(f"PAN-OS record is not CSV: {error}") from None
    kind = cells[3] if len(cells) > 3 else ""
    layout = _LAYOUTS.get(kind, _COMMON)
    fields = {
        name: fw.cut(cells[index], MAX_STRING)
        for index, name in layout.items()
        if index < len(cells) and index < _MAX_COLUMNS and cells[index]
    }
    doc = to_ecs(fields)
    fw.header_ecs(doc, framed.header)
    if framed.header is not None and framed.header.hostname and "host" not in doc:
        doc["host"] = {"name": framed.header.hostname}
        doc["observer"]["hostname"] = framed.header.hostname
    time = _time(fields.get("generated_time"), zone) or (
        framed.header.time if framed.header else msg.received_at
    )
    return fw.build(msg, doc, time)


def to_ecs(fields: dict[str, Any]) -> dict[str, Any]:
    """The ECS document of PAN-OS named fields (also used for PAN-OS CEF)."""
    get = fields.get
    doc = fw.base_doc(MODULE, DATASET)
    kind = (get("type") or "").upper()
    doc["event"]["action"] = fw.cut(get("action"))
    if kind in ("TRAFFIC", "THREAT"):
        _session(doc, fields)
    if kind == "TRAFFIC":
        fw.connection(doc, get("action"), "end" if get("subtype") == "end" else "connection")
    elif kind == "THREAT":
        fw.connection(doc, get("action"))
        subtype = (get("subtype") or "").lower()
        doc["event"]["category"] = [_THREAT_CATEGORIES.get(subtype, "intrusion_detection")]
        doc["event"]["severity"] = _SEVERITIES.get((get("severity") or "").lower())
        doc["rule"] = {
            key: value
            for key, value in {"name": get("threatid"), "ruleset": get("rule")}.items()
            if value
        }
        if get("misc"):
            doc["url" if subtype == "url" else "file"] = {
                "original" if subtype == "url" else "name": get("misc")
            }
    elif kind == "SYSTEM":
        doc["event"]["action"] = fw.cut(get("eventid"))
        doc["message"] = get("description")
    elif kind == "CONFIG":
        doc["event"].update(category=["configuration"], type=["change"], action=fw.cut(get("cmd")))
        if get("admin"):
            doc["user"] = {"name": fw.cut(get("admin"))}
        doc["message"] = " ".join(v for v in (get("cmd"), get("path")) if v) or None
    elif kind == "GLOBALPROTECT":
        _globalprotect(doc, fields)
    name = fw.cut(get("device_name"))
    doc["observer"] = fw.observer(
        "Palo Alto Networks",
        "PAN-OS",
        hostname=name,
        name=name,
        serial_number=fw.cut(get("serial")),
        ingress=_zone(get("from"), get("inbound_if")),
        egress=_zone(get("to"), get("outbound_if")),
    )
    if name:
        doc["host"] = {"name": name}
    doc["panw"] = {"panos": {key: value for key, value in fields.items() if value}}
    return {key: value for key, value in doc.items() if value not in (None, {})}


def _session(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    get = fields.get
    user = get("srcuser")
    source = fw.endpoint(
        get("src"),
        get("sport"),
        bytes=int_or_none(get("bytes_sent")),
        packets=int_or_none(get("pkts_sent")),
        nat=fw.endpoint(get("natsrc"), get("natsport")) or None,
        user={"name": fw.cut(user)} if user else None,
        geo=_geo(get("srcloc")),
    )
    destination = fw.endpoint(
        get("dst"),
        get("dport"),
        bytes=int_or_none(get("bytes_received")),
        packets=int_or_none(get("pkts_received")),
        nat=fw.endpoint(get("natdst"), get("natdport")) or None,
        geo=_geo(get("dstloc")),
    )
    fw.place_endpoints(doc, source, destination)
    if user:
        doc["user"] = {"name": fw.cut(user)}
    net = fw.network(
        get("proto"),
        source.get("ip"),
        destination.get("ip"),
        application=fw.cut((get("app") or "").lower()) or None,
        bytes=int_or_none(get("bytes")),
        packets=int_or_none(get("packets")),
    )
    if net:
        doc["network"] = net
    if get("rule"):
        doc["rule"] = {"name": get("rule")}
    if get("session_end_reason"):
        doc["event"]["reason"] = get("session_end_reason")


def _geo(location: str | None) -> dict[str, Any] | None:
    # PAN-OS writes a country, or the private range an address is in ("10.0.0.0-…").
    if not location or any(c.isdigit() for c in location):
        return None
    return {"country_name": location}


def _globalprotect(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    """A GlobalProtect (VPN) portal or gateway event; its logins are authentication
    events, so failed VPN logins feed the brute-force and spray detections."""
    get = fields.get
    event = doc["event"]
    event["action"] = fw.cut(get("eventid"))
    action = (get("eventid") or "").lower()
    status = (get("status") or "").lower()
    if "auth" in action or "login" in action:
        event["category"] = ["authentication"]
        event["type"] = ["start"]
        event["outcome"] = {"success": "success", "failure": "failure"}.get(status, "unknown")
    source = fw.endpoint(get("public_ip") or get("public_ipv6"))
    if source:
        doc["source"] = source
    if get("srcuser"):
        doc["user"] = {"name": fw.cut(get("srcuser"))}
    doc["message"] = get("error") or get("description")


def _zone(zone: str | None, interface: str | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if zone:
        out["zone"] = fw.cut(zone)
    if interface:
        out["interface"] = {"name": fw.cut(interface)}
    return out or None


def _time(stamp: str | None, zone: ZoneInfo) -> datetime | None:
    """'2026/12/01 09:15:02' in the firewall's zone; None if absent or malformed."""
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError:
        return None
