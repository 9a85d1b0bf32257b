"""FortiGate and PAN-OS in CEF, as they send it when told to (`set format cef`; PAN-OS's
CEF syslog profile): read by the CEF decoder (ingest/formats/cef.py, unchanged), then
mapped as the vendor's own syslog is, so one FortiGate or one PAN-OS gives the same ECS
fields (fortinet.firewall.*, panw.panos.*, firewall.blocked, event.dataset) in either
form. CEF from any other vendor on the firewall route stays as the CEF decoder gives it
(dataset cef.log); the `cef` section of the document is kept either way."""

from __future__ import annotations

from typing import Any

from events.models import SecurityEvent
from ingest.formats.cef import decode_cef
from ingest.formats.firewall import event as fw
from ingest.formats.firewall import fortigate, panos
from ingest.message import RawMessage

MAGIC = "CEF:"
# FortiOS names its own keys FTNTFGT<key> (6.x) or FortinetFortiGate<key> (7.x).
_FORTINET_PREFIXES = ("FortinetFortiGate", "FTNTFGT")
# Standard CEF keys -> FortiGate's own names (Fortinet's "FortiOS CEF support" table).
_FORTIGATE_KEYS = {
    "deviceExternalId": "devid", "dvchost": "devname", "src": "srcip", "spt": "srcport",
    "dst": "dstip", "dpt": "dstport", "deviceInboundInterface": "srcintf",
    "deviceOutboundInterface": "dstintf", "proto": "proto", "act": "action",
    "out": "sentbyte", "in": "rcvdbyte", "msg": "msg", "duser": "user", "suser": "user",
    "sourceTranslatedAddress": "transip", "sourceTranslatedPort": "transport",
    "externalId": "sessionid", "request": "url", "dhost": "hostname",
}  # fmt: skip
# Standard CEF keys and cs/cn labels -> PAN-OS field names (Palo Alto's CEF templates).
_PANOS_KEYS = {
    "deviceExternalId": "serial", "dvchost": "device_name", "src": "src", "dst": "dst",
    "spt": "sport", "dpt": "dport", "sourceTranslatedAddress": "natsrc",
    "destinationTranslatedAddress": "natdst", "sourceTranslatedPort": "natsport",
    "destinationTranslatedPort": "natdport", "suser": "srcuser", "duser": "dstuser",
    "app": "app", "deviceInboundInterface": "inbound_if",
    "deviceOutboundInterface": "outbound_if", "proto": "proto", "act": "action",
    "in": "bytes_sent", "out": "bytes_received", "request": "misc", "reason":
    "session_end_reason", "cat": "threatid", "requestClientApplication": "user_agent",
}  # fmt: skip
_PANOS_LABELS = {
    "rule": "rule", "virtual system": "vsys", "source zone": "from",
    "destination zone": "to", "total bytes": "bytes", "packets": "packets",
    "url category": "category", "sessionid": "sessionid",
}  # fmt: skip


def cef_start(line: str) -> int:
    """Where "CEF:" starts: the line's start, or after the syslog header's last space or
    a bare <PRI>'s ">" (the CEF decoder's own rule)."""
    pos = line.find(MAGIC)
    while pos > 0 and line[pos - 1] not in " >":
        pos = line.find(MAGIC, pos + 1)
    return pos


def decode(msg: RawMessage, timezone: str) -> list[SecurityEvent]:
    event = decode_cef(msg, timezone)[0]
    vendor = (event.observer_vendor or "").lower()
    product = (event.observer_product or "").lower()
    if vendor == "fortinet" and product.startswith("fortigate"):
        doc = fortigate.to_ecs(_fortigate_pairs(event.ecs))
    elif vendor == "palo alto networks":
        doc = panos.to_ecs(_panos_fields(event.ecs))
    else:
        return [event]
    for key in ("cef", "log", "error"):
        if key in event.ecs:
            doc[key] = event.ecs[key]
    doc.setdefault("message", event.message)
    relay = event.ecs.get("log", {}).get("syslog", {}).get("hostname")
    if relay and "hostname" not in doc["observer"]:
        doc["observer"]["hostname"] = relay
        doc.setdefault("host", {"name": relay})
    return fw.build(msg, doc, event.time)


def _fortigate_pairs(ecs: dict[str, Any]) -> dict[str, str]:
    extensions: dict[str, str] = ecs["cef"]["extensions"]
    pairs: dict[str, str] = {}
    for key, value in extensions.items():
        for prefix in _FORTINET_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                pairs.setdefault(key[len(prefix) :], value)
                break
    for key, name in _FORTIGATE_KEYS.items():
        if extensions.get(key):
            pairs.setdefault(name, extensions[key])
    # cat=traffic:forward / event:system / utm:ips -> type and subtype
    kind, _, subtype = extensions.get("cat", "").partition(":")
    pairs.setdefault("type", kind)
    if subtype:
        pairs.setdefault("subtype", subtype)
    pairs.setdefault("logid", ecs["cef"].get("device", {}).get("event_class_id") or "")
    return {key: value for key, value in pairs.items() if value}


def _panos_fields(ecs: dict[str, Any]) -> dict[str, str]:
    cef = ecs["cef"]
    extensions: dict[str, str] = cef["extensions"]
    fields = {name: extensions[key] for key, name in _PANOS_KEYS.items() if extensions.get(key)}
    for label, value in cef.get("labels", {}).items():
        name = _PANOS_LABELS.get(label.strip().lower())
        if name and value:
            fields.setdefault(name, value)
    # The header's Name is the log type (TRAFFIC, THREAT …), SignatureID its subtype.
    fields["type"] = (cef.get("name") or "").upper()
    subtype = cef.get("device", {}).get("event_class_id")
    if subtype:
        fields["subtype"] = subtype
    if fields["type"] == "THREAT" and cef.get("severity_band"):
        fields.setdefault("severity", cef["severity_band"])
    if fields["type"] != "THREAT":
        fields.pop("threatid", None)
    return fields
