"""Firewall logs as agencies run them -> SecurityEvents on ECS names: FortiGate
(key=value syslog), Cisco ASA/FTD (%ASA- syslog), Palo Alto PAN-OS (CSV syslog),
pfSense/OPNsense (filterlog), and FortiGate and PAN-OS in CEF. One module per vendor;
this one tells them apart and registers the `firewall` format (topic seclog.firewall).

Which vendor a line is comes from the line itself, so one topic (and one HTTP route)
carries every firewall of an agency:
  1. "CEF:" after an optional syslog header            -> vendor_cef
  2. a "%ASA-n-nnnnnn:" or "%FTD-n-nnnnnn:" tag          -> asa
  3. the syslog program is "filterlog"                  -> pfsense
  4. the body's 4th CSV cell is a PAN-OS log type       -> panos
  5. the body has FortiGate's logid= and type=/devid=   -> fortigate
Anything else is a DecodeError naming the vendors tried (a dead letter with the reason).

Untrusted text: the line is decoded (invalid UTF-8 -> U+FFFD) and cleaned by
events.text.clean_text before it is split, so every string in a column or the ECS
document is a substring of clean text; `raw` keeps the exact bytes.
"""

from __future__ import annotations

from events.models import SecurityEvent
from events.text import clean_text, show
from ingest.formats.base import DecodeError, register
from ingest.formats.common import DEFAULT_TIMEZONE, strip_newline, zone_info
from ingest.formats.firewall import asa, fortigate, panos, pfsense, vendor_cef
from ingest.formats.firewall.event import frame
from ingest.message import RawMessage

FORMAT = "firewall"
DATASETS = (fortigate.DATASET, asa.DATASET, panos.DATASET, pfsense.DATASET)


@register(FORMAT)
def decode_firewall(msg: RawMessage, timezone: str = DEFAULT_TIMEZONE) -> list[SecurityEvent]:
    line = clean_text(strip_newline(msg.payload))
    if not line.strip():
        raise DecodeError("empty firewall line")
    if vendor_cef.cef_start(line) >= 0:
        return vendor_cef.decode(msg, timezone)
    zone = zone_info(timezone)
    tag = asa.find_tag(line)
    if tag is not None:
        return asa.decode(msg, line, tag, zone)
    framed = frame(line, msg.received_at, zone)
    if framed.header is not None and framed.header.appname == pfsense.PROGRAM:
        return pfsense.decode(msg, framed, zone)
    if panos.looks_like(framed.body):
        return panos.decode(msg, framed, zone)
    if fortigate.looks_like(framed.body):
        return fortigate.decode(msg, framed, zone)
    raise DecodeError(
        "not a firewall line this service reads (FortiGate key=value, Cisco ASA %ASA-, "
        f"PAN-OS CSV, pfSense filterlog, FortiGate/PAN-OS CEF); line starts {show(line, 60)}"
    )
