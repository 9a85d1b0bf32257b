"""What every firewall vendor's decoder shares: the syslog header, the verdict of an
action word, the ECS pieces of a connection, and the SecurityEvent built from the ECS
document (its columns read from the document, so the two never disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from config.yaml_loader import load_model
from events.models import SecurityEvent
from events.text import ELLIPSIS
from ingest.formats.common import (
    MAX_MESSAGE_CHARS,
    MAX_NAME,
    MAX_STRING,
    checked_time,
    ip_or_none,
    port_or_none,
    security_event_id,
    transport,
    validated,
)
from ingest.formats.syslog.framing import NotSyslog, SyslogLine, parse_line, syslog_header_ecs
from ingest.message import RawMessage

Verdict = Literal["allowed", "denied"] | None
# The part of a line the vendor parsers read; a firewall record is well under 8 KB (a
# PAN-OS THREAT line with a long URL is the largest). `raw` keeps everything.
MAX_BODY_CHARS = 16 * 1024


class _Verdicts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    denied: frozenset[str]
    allowed: frozenset[str]


VERDICTS = load_model(Path(__file__).with_name("verdicts.yaml"), _Verdicts)


def verdict(action: str | None) -> Verdict:
    """allowed/denied from a vendor's action word (verdicts.yaml); None if it does not say."""
    if not action:
        return None
    word = action.strip().lower()
    if word in VERDICTS.denied:
        return "denied"
    if word in VERDICTS.allowed:
        return "allowed"
    return None


def cut(value: str | None, limit: int = MAX_NAME) -> str | None:
    """A substring of clean text only needs its length bounded; "" becomes None."""
    if not value:
        return None
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


# ---- the syslog header --------------------------------------------------------------


@dataclass(slots=True)
class Framed:
    """A line split into its syslog header (None if it had none) and the vendor's body."""

    header: SyslogLine | None
    body: str


def frame(line: str, received_at: datetime, zone: ZoneInfo) -> Framed:
    """Header and body of `line` (clean text). A body without any header is the whole
    line: FortiGate sends "<189>date=…" and a file shipper may send bare records."""
    try:
        parsed = parse_line(line, received_at, zone)
    except NotSyslog:
        return Framed(None, line)
    return Framed(parsed, parsed.message)


def header_ecs(doc: dict[str, Any], header: SyslogLine | None) -> None:
    if header is not None:
        doc.setdefault("log", {})["syslog"] = syslog_header_ecs(header)


# ---- ECS pieces ---------------------------------------------------------------------


def endpoint(
    ip: str | None,
    port: str | int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """ECS source/destination from untrusted text: a bad address or port is left out."""
    out = {"ip": ip_or_none(ip.strip()) if ip else None, "port": port_or_none(port)}
    out.update(extra)
    return {key: value for key, value in out.items() if value is not None and value != {}}


def place_endpoints(
    doc: dict[str, Any], source: dict[str, Any], destination: dict[str, Any]
) -> None:
    """doc's source and destination, each only when the line gave it something."""
    for side, value in (("source", source), ("destination", destination)):
        if value:
            doc[side] = value


def network(proto: str | None, *addresses: str | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if proto:
        out["transport"] = transport(proto.strip())
        if proto.strip().isdigit():
            out["iana_number"] = proto.strip()
    address = next((a for a in addresses if a), None)
    if address:
        out["type"] = "ipv6" if ":" in address else "ipv4"
    out.update({key: value for key, value in extra.items() if value is not None})
    return out


def connection(doc: dict[str, Any], action: str | None, kind: str = "connection") -> None:
    """event.category/type/outcome of a connection the firewall passed or stopped, and
    `firewall.blocked`, the vendor-neutral flag Sigma's firewall rules read."""
    event = doc["event"]
    said = verdict(action)
    event["category"] = ["network"]
    event["type"] = (
        ["connection"] + ([kind] if kind != "connection" else []) + ([said] if said else [])
    )
    if said is not None:
        event["outcome"] = "success" if said == "allowed" else "failure"
        doc["firewall"] = {"blocked": said == "denied"}
    else:
        event.setdefault("outcome", "unknown")


def observer(vendor: str, product: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"vendor": vendor, "product": product, "type": "firewall"}
    out.update({key: value for key, value in extra.items() if value not in (None, {}, "")})
    return out


def base_doc(module: str, dataset: str) -> dict[str, Any]:
    return {"event": {"kind": "event", "module": module, "dataset": dataset}}


# ---- the SecurityEvent --------------------------------------------------------------


def build(msg: RawMessage, doc: dict[str, Any], time: datetime) -> list[SecurityEvent]:
    """The one SecurityEvent of `doc` (an ECS document), its columns read from it."""
    time = checked_time(time, "event time")
    doc = {"@timestamp": time.isoformat()} | doc
    doc["event"] = {key: value for key, value in doc["event"].items() if value is not None}
    if doc.get("message"):
        doc["message"] = cut(doc["message"], MAX_MESSAGE_CHARS)
    return validated(lambda: _event(msg, doc, time))


def _event(msg: RawMessage, doc: dict[str, Any], time: datetime) -> SecurityEvent:
    event = doc["event"]
    source, destination = doc.get("source", {}), doc.get("destination", {})
    seen = doc.get("observer", {})
    rule = doc.get("rule", {})
    user = doc.get("user", {}).get("name") or source.get("user", {}).get("name")
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=event["dataset"],
        category=tuple(event.get("category", ())),
        action=event.get("action"),
        outcome=event.get("outcome"),
        severity=event.get("severity"),
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        user_name=cut(user),
        host_name=doc.get("host", {}).get("name"),
        observer_vendor=seen.get("vendor"),
        observer_product=seen.get("product"),
        rule_id=cut(str(rule["id"])) if rule.get("id") is not None else None,
        rule_name=cut(rule.get("name"), MAX_STRING),
        message=doc.get("message"),
        ecs=doc,
        raw=msg.payload,
    )
