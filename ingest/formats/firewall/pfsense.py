"""pfSense (and OPNsense) `filterlog` lines: one packet the pf rules matched, as CSV.

    <134>Dec  1 09:15:02 pfsense filterlog[4242]: 5,,,1000000103,igb0,match,block,in,4,
    0x0,,64,12345,0,DF,6,tcp,60,203.0.113.5,10.0.0.1,51234,23,0,S,1234567,,64240,,mss

Columns (pfSense's "Filter Log Format"): rule number, sub-rule, anchor, tracker (the
rule's id), interface, reason, action, direction, IP version; then IPv4 (TOS, ECN, TTL,
id, offset, flags, protocol id, protocol, length, source, destination) or IPv6 (class,
flow label, hop limit, protocol, protocol id, length, source, destination); then, for
TCP and UDP, source and destination port and data length (TCP adds flags, sequence, ack,
window, urgent, options).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from events.models import SecurityEvent
from ingest.formats.base import DecodeError
from ingest.formats.firewall import event as fw
from ingest.message import RawMessage

MODULE = "pfsense"
DATASET = "pfsense.log"
PROGRAM = "filterlog"
_MAX_CELLS = 64
_V4 = ("tos", "ecn", "ttl", "id", "offset", "flags", "proto_id", "proto", "length", "src", "dst")
_V6 = ("class", "flow_label", "hop_limit", "proto", "proto_id", "length", "src", "dst")
_PORTS = ("sport", "dport", "data_length")
_TCP = (*_PORTS, "tcp_flags", "sequence", "ack", "window", "urg", "options")
_HEAD = ("rule", "subrule", "anchor", "tracker", "interface", "reason", "action", "direction")


def decode(msg: RawMessage, framed: fw.Framed, zone: ZoneInfo) -> list[SecurityEvent]:
    cells = framed.body[: fw.MAX_BODY_CHARS].split(",", _MAX_CELLS)
    fields = _fields(cells)
    doc = fw.base_doc(MODULE, DATASET)
    action = fields["action"]
    doc["event"]["action"] = fw.cut(action)
    source = fw.endpoint(fields.get("src"), fields.get("sport"))
    destination = fw.endpoint(fields.get("dst"), fields.get("dport"))
    fw.place_endpoints(doc, source, destination)
    net = fw.network(fields.get("proto"), source.get("ip"), destination.get("ip"))
    direction = {"in": "inbound", "out": "outbound"}.get(fields["direction"])
    if direction:
        net["direction"] = direction
    if net:
        doc["network"] = net
    fw.connection(doc, action)
    if fields.get("tracker"):
        doc["rule"] = {"id": fw.cut(fields["tracker"])}
    header = framed.header
    host = header.hostname if header is not None else None
    interface = {"interface": {"name": fw.cut(fields["interface"])}}
    doc["observer"] = fw.observer(
        "Netgate",
        "pfSense",
        hostname=host,
        ingress=interface if fields["direction"] == "in" else None,
        egress=interface if fields["direction"] == "out" else None,
    )
    if host:
        doc["host"] = {"name": host}
    doc["message"] = framed.body
    doc["pfsense"] = {"filterlog": {k: fw.cut(v) for k, v in fields.items() if v}}
    fw.header_ecs(doc, header)
    return fw.build(msg, doc, header.time if header is not None else msg.received_at)


def _fields(cells: list[str]) -> dict[str, str]:
    if len(cells) < 9:
        raise DecodeError(f"filterlog record has {len(cells)} of at least 9 columns")
    fields = dict(zip(_HEAD, cells, strict=False))
    if not fields["action"]:
        raise DecodeError("filterlog record has no action (column 7)")
    version = cells[8]
    fields["ip_version"] = version
    layout = {"4": _V4, "6": _V6}.get(version)
    if layout is None:
        raise DecodeError(f"filterlog IP version {version[:8]!r} is neither 4 nor 6")
    start = 9
    fields.update(zip(layout, cells[start:], strict=False))
    rest = cells[start + len(layout) :]
    proto = fields.get("proto", "").lower()
    if proto == "tcp":
        fields.update(zip(_TCP, rest, strict=False))
    elif proto == "udp":
        fields.update(zip(_PORTS, rest, strict=False))
    return fields
