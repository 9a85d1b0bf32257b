"""Suricata EVE JSON records -> SecurityEvents on Elastic Common Schema names.

The mapping follows Filebeat's Suricata module so that ECS-based detections and
dashboards work unchanged: alerts become event.kind "alert", category
intrusion_detection; protocol records (flow, dns, http, tls, fileinfo, anomaly…) become
category network. The original record, minus packet/payload dumps, stays under
ecs["suricata"]["eve"]; `raw` keeps the exact bytes.

Suricata's alert severity runs the other way from most tools: 1 is the MOST severe.
It is stored unchanged (column and event.severity), never inverted, so it means what
the rule author and the Suricata docs say it means.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events.models import SecurityEvent
from events.text import clean_json, clean_text, show
from ingest.formats.base import DecodeError, register
from ingest.formats.common import (
    MAX_STRING,
    ip_or_none,
    iso_time,
    json_object,
    object_at,
    port_or_none,
    put,
    security_event_id,
    technique_ids,
    text_at,
    validated,
)
from ingest.message import RawMessage

DATASET = "suricata.eve"
VENDOR = "OISF"
PRODUCT = "Suricata"
# Records that describe the sensor, not traffic: they belong in metrics, not in the SOC.
NOT_SECURITY_EVENTS = frozenset({"stats"})
# Base64 packet and payload dumps: large, and raw already has them.
_DUMPS = frozenset({"payload", "payload_printable", "packet", "packet_info"})
_MAX_NAME = 1024
_ALERT_ACTIONS = {"allowed": "allowed", "blocked": "denied"}


@register("suricata")
def decode_suricata(msg: RawMessage) -> list[SecurityEvent]:
    eve = json_object(msg.payload, "an EVE record")
    event_type = eve.get("event_type")
    if type(event_type) is not str or not event_type:
        raise DecodeError("field 'event_type' missing or not a string")
    if event_type in NOT_SECURITY_EVENTS:
        raise DecodeError(
            f"event_type {event_type!r} is not a security event; leave it out of the EVE"
            " output that feeds this topic"
        )
    # Suricata writes "+0700" (no colon); fromisoformat reads that since Python 3.11.
    time = iso_time(eve, "timestamp")
    return validated(lambda: _event(msg, eve, event_type, time))


def _event(msg: RawMessage, eve: dict[str, Any], event_type: str, time: datetime) -> SecurityEvent:
    ecs = _base_ecs(eve, time)
    alert = _alert(eve) if event_type == "alert" else None
    if alert is not None:
        _add_alert(ecs, alert)
    else:
        ecs["event"].update(kind="event", category=["network"], action=clean_text(event_type, 64))
        _PROTOCOL_MAPPERS.get(event_type, _no_protocol)(ecs, eve)
    source, destination = ecs.get("source", {}), ecs.get("destination", {})
    rule = ecs.get("rule", {})
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=DATASET,
        category=tuple(ecs["event"]["category"]),
        action=ecs["event"].get("action"),
        outcome=None,
        severity=ecs["event"].get("severity"),
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        host_name=ecs.get("host", {}).get("name"),
        observer_vendor=VENDOR,
        observer_product=PRODUCT,
        rule_id=rule.get("id"),
        rule_name=rule.get("name"),
        technique_ids=tuple(ecs.get("threat", {}).get("technique", {}).get("id", ())),
        message=rule.get("name"),
        ecs=ecs,
        raw=msg.payload,
    )


def _base_ecs(eve: dict[str, Any], time: datetime) -> dict[str, Any]:
    ecs: dict[str, Any] = {
        "@timestamp": time.isoformat(),
        "event": {"module": "suricata", "dataset": DATASET},
        "observer": {"vendor": VENDOR, "product": PRODUCT, "type": "ids"},
        "suricata": {
            "eve": clean_json(
                {k: v for k, v in eve.items() if k not in _DUMPS}, max_string=MAX_STRING
            )
        },
    }
    for side, ip_key, port_key in (
        ("source", "src_ip", "src_port"),
        ("destination", "dest_ip", "dest_port"),
    ):
        endpoint = _endpoint(eve.get(ip_key), eve.get(port_key))
        if endpoint:
            ecs[side] = endpoint
    network = _network(eve)
    if network:
        ecs["network"] = network
    host = eve.get("host")
    if type(host) is str and host:
        ecs["host"] = {"name": clean_text(host, 255)}
        ecs["observer"]["hostname"] = ecs["host"]["name"]
    return ecs


def _endpoint(ip: Any, port: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {}
    address = ip_or_none(ip) if type(ip) is str else None
    if address:
        endpoint["ip"] = address
    if (number := port_or_none(port)) is not None:
        endpoint["port"] = number
    return endpoint


def _network(eve: dict[str, Any]) -> dict[str, Any]:
    network: dict[str, Any] = {}
    for ecs_key, eve_key in (("transport", "proto"), ("protocol", "app_proto")):
        value = eve.get(eve_key)
        if type(value) is str and value:
            network[ecs_key] = clean_text(value.lower(), 64)
    community_id = eve.get("community_id")
    if type(community_id) is str:
        network["community_id"] = clean_text(community_id, 128)
    return network


# ---- alerts -------------------------------------------------------------------------


def _alert(eve: dict[str, Any]) -> dict[str, Any]:
    alert = eve.get("alert")
    if not isinstance(alert, dict):
        raise DecodeError("alert record without an 'alert' object")
    signature_id = alert.get("signature_id")
    if type(signature_id) is not int:
        raise DecodeError(f"field 'alert.signature_id': {show(signature_id)} is not an integer")
    severity = alert.get("severity")
    if severity is not None and (type(severity) is not int or not 0 <= severity <= 255):
        raise DecodeError(f"field 'alert.severity': {show(severity)} is not an integer 0-255")
    return alert


def _add_alert(ecs: dict[str, Any], alert: dict[str, Any]) -> None:
    event = ecs["event"]
    event.update(kind="alert", category=["intrusion_detection"])
    action = alert.get("action")
    if type(action) is str and action:
        event["action"] = clean_text(action, 64)
        if action in _ALERT_ACTIONS:
            event["type"] = [_ALERT_ACTIONS[action]]
    if alert.get("severity") is not None:
        event["severity"] = alert["severity"]
    rule: dict[str, Any] = {"id": str(alert["signature_id"])}
    for ecs_key, eve_key in (("name", "signature"), ("category", "category")):
        value = alert.get(eve_key)
        if type(value) is str and value:
            rule[ecs_key] = clean_text(value, _MAX_NAME)
    if type(alert.get("rev")) is int:
        rule["version"] = str(alert["rev"])
    ecs["rule"] = rule
    techniques = _techniques(alert.get("metadata"))
    if techniques:
        ecs["threat"] = {"framework": "MITRE ATT&CK", "technique": {"id": techniques}}


def _techniques(metadata: Any) -> list[str]:
    # ET Open/Pro rule metadata names ATT&CK techniques, e.g. mitre_technique_id: ["T1190"].
    if not isinstance(metadata, dict):
        return []
    values = metadata.get("mitre_technique_id")
    return technique_ids(values) if isinstance(values, list) else []


# ---- protocol records ---------------------------------------------------------------


def _int(section: dict[str, Any], key: str) -> int | None:
    value = section.get(key)
    return value if type(value) is int and 0 <= value < 2**63 else None


def _flow(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    flow = object_at(eve, "flow")
    ecs["event"]["type"] = ["connection", "end"]
    put(ecs, ("source", "bytes"), _int(flow, "bytes_toserver"))
    put(ecs, ("source", "packets"), _int(flow, "pkts_toserver"))
    put(ecs, ("destination", "bytes"), _int(flow, "bytes_toclient"))
    put(ecs, ("destination", "packets"), _int(flow, "pkts_toclient"))


def _dns(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    dns = object_at(eve, "dns")
    ecs["event"]["type"] = ["protocol"]
    # EVE v2 puts the question at the top of "dns"; v3 (Suricata 8) in "queries".
    queries = dns.get("queries")
    question = queries[0] if isinstance(queries, list) and queries else dns
    question = question if isinstance(question, dict) else {}
    put(ecs, ("dns", "type"), text_at(dns, "type", 32))
    put(ecs, ("dns", "id"), _int(dns, "id"))
    put(ecs, ("dns", "question", "name"), text_at(question, "rrname", 255))
    put(ecs, ("dns", "question", "type"), text_at(question, "rrtype", 16))
    put(ecs, ("dns", "response_code"), text_at(dns, "rcode", 16))
    answers = dns.get("answers")
    if isinstance(answers, list):
        resolved = [
            ip
            for a in answers[:64]
            if isinstance(a, dict) and (ip := ip_or_none(text_at(a, "rdata", 64)))
        ]
        put(ecs, ("dns", "resolved_ip"), resolved or None)


def _http(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    http = object_at(eve, "http")
    ecs["event"]["type"] = ["protocol"]
    put(ecs, ("url", "domain"), text_at(http, "hostname", 255))
    put(ecs, ("url", "original"), text_at(http, "url"))
    put(ecs, ("http", "request", "method"), text_at(http, "http_method", 32))
    put(ecs, ("http", "request", "referrer"), text_at(http, "http_refer"))
    put(ecs, ("http", "response", "status_code"), _int(http, "status"))
    put(ecs, ("http", "response", "body", "bytes"), _int(http, "length"))
    protocol = text_at(http, "protocol", 16)
    put(ecs, ("http", "version"), protocol.removeprefix("HTTP/") if protocol else None)
    put(ecs, ("user_agent", "original"), text_at(http, "http_user_agent"))


def _tls(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    tls = object_at(eve, "tls")
    ecs["event"]["type"] = ["protocol"]
    version = text_at(tls, "version", 32)  # "TLS 1.2", "TLSv1.3", "SSLv3"
    if version:
        protocol, _, number = version.replace("v", " ", 1).partition(" ")
        put(ecs, ("tls", "version_protocol"), protocol.lower() or None)
        put(ecs, ("tls", "version"), number.strip() or None)
    put(ecs, ("tls", "client", "server_name"), text_at(tls, "sni", 255))
    put(ecs, ("tls", "server", "subject"), text_at(tls, "subject"))
    put(ecs, ("tls", "server", "issuer"), text_at(tls, "issuerdn"))
    put(ecs, ("tls", "server", "hash", "sha1"), text_at(tls, "fingerprint", 128))
    put(ecs, ("tls", "client", "ja3"), text_at(object_at(tls, "ja3"), "hash", 64))
    put(ecs, ("tls", "server", "ja3s"), text_at(object_at(tls, "ja3s"), "hash", 64))


def _fileinfo(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    info = object_at(eve, "fileinfo")
    ecs["event"]["type"] = ["info"]
    ecs["event"]["category"] = ["network", "file"]
    put(ecs, ("file", "name"), text_at(info, "filename", _MAX_NAME))
    put(ecs, ("file", "size"), _int(info, "size"))
    for algorithm in ("md5", "sha1", "sha256"):
        put(ecs, ("file", "hash", algorithm), text_at(info, algorithm, 128))
    if "http" in eve:  # files carried over HTTP come with the request
        _http(ecs, eve)


def _anomaly(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    anomaly = object_at(eve, "anomaly")
    ecs["event"]["type"] = ["info"]
    put(ecs, ("event", "action"), text_at(anomaly, "event", 128))


def _no_protocol(ecs: dict[str, Any], eve: dict[str, Any]) -> None:
    ecs["event"]["type"] = ["info"]


_PROTOCOL_MAPPERS = {
    "flow": _flow,
    "netflow": _flow,
    "dns": _dns,
    "http": _http,
    "tls": _tls,
    "fileinfo": _fileinfo,
    "anomaly": _anomaly,
}
