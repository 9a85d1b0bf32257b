"""A parsed syslog line and its program's facts -> one SecurityEvent on ECS names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events.models import SecurityEvent, check_event_time
from events.text import clean_json
from ingest.formats.base import DecodeError
from ingest.formats.common import digits, ip_or_none, security_event_id
from ingest.formats.syslog.framing import MAX_NAME_CHARS, SyslogLine, syslog_header_ecs
from ingest.formats.syslog.programs import AUTH_PROGRAMS, netfilter, program_facts
from ingest.formats.syslog.programs.facts import MAX_USER_CHARS, AuthFacts
from ingest.formats.syslog.programs.netfilter import FirewallFacts
from ingest.formats.syslog.service import ServiceFacts, service_event
from ingest.message import RawMessage

_AUTH_FACILITIES = frozenset({4, 10})  # auth, authpriv


def syslog_event(msg: RawMessage, line: SyslogLine) -> SecurityEvent:
    try:
        time = check_event_time(line.time)
    except ValueError as error:
        raise DecodeError(f"timestamp: {error}") from None
    facts = program_facts(line.appname, line.message)
    if isinstance(facts, FirewallFacts):
        return _firewall_event(msg, line, time, facts)
    if isinstance(facts, ServiceFacts):  # cron, clamav: system.syslog with their facts
        return service_event(msg, line, time, facts, _ecs(line, time, "system.syslog", None, None))
    auth = facts is not None or line.appname in AUTH_PROGRAMS
    dataset = "system.auth" if auth or line.facility in _AUTH_FACILITIES else "system.syslog"
    source_ip = ip_or_none(facts.source) if facts else None
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=dataset,
        category=facts.category if facts else (),
        action=facts.action if facts else None,
        outcome=facts.outcome if facts else None,
        severity=line.severity,
        source_ip=source_ip,
        source_port=facts.port if facts else None,
        user_name=facts.user if facts else None,
        host_name=line.hostname,
        process_name=line.appname,
        message=line.message,
        ecs=_ecs(line, time, dataset, facts, source_ip),
        raw=msg.payload,
    )


def _firewall_event(
    msg: RawMessage, line: SyslogLine, time: datetime, facts: FirewallFacts
) -> SecurityEvent:
    doc = _ecs(line, time, netfilter.FIREWALL_DATASET, None, None)
    netfilter.add_ecs(doc, facts)
    source, destination = doc.get("source", {}), doc.get("destination", {})
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=netfilter.FIREWALL_DATASET,
        category=("network",),
        action=facts.action,
        outcome=facts.outcome,
        severity=line.severity,
        source_ip=source.get("ip"),
        source_port=source.get("port"),
        destination_ip=destination.get("ip"),
        destination_port=destination.get("port"),
        host_name=line.hostname,
        process_name=line.appname,
        observer_vendor=netfilter.FIREWALL_VENDOR,
        observer_product=facts.product,
        message=line.message,
        ecs=doc,
        raw=msg.payload,
    )


def _ecs(
    line: SyslogLine,
    time: datetime,
    dataset: str,
    facts: AuthFacts | None,
    source_ip: str | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "event", "module": "system", "dataset": dataset}
    if line.severity is not None:
        event["severity"] = line.severity
    doc: dict[str, Any] = {
        "@timestamp": time.isoformat(),
        "message": line.message,
        "event": event,
        "log": {"syslog": _log_syslog(line)},
    }
    if line.hostname:
        doc["host"] = {"name": line.hostname}
    if line.appname:
        doc["process"] = {"name": line.appname}
        if line.procid and digits(line.procid) and len(line.procid) < 10:
            doc["process"]["pid"] = int(line.procid)
    if facts is not None:
        _add_auth(doc, facts, source_ip)
    return doc


def _log_syslog(line: SyslogLine) -> dict[str, Any]:
    syslog = syslog_header_ecs(line)
    if line.structured_data:
        syslog["structured_data"] = clean_json(line.structured_data, max_string=1024, max_items=64)
    return syslog


def _add_auth(doc: dict[str, Any], facts: AuthFacts, source_ip: str | None) -> None:
    doc["event"].update(
        category=list(facts.category),
        type=list(facts.event_type),
        action=facts.action,
        outcome=facts.outcome,
    )
    source: dict[str, Any] = {}
    if source_ip:
        source["ip"] = source_ip
    elif facts.source:
        source["address"] = source["domain"] = facts.source[:MAX_NAME_CHARS]
    if facts.port is not None:
        source["port"] = facts.port
    if source:
        doc["source"] = source
    user: dict[str, Any] = {}
    if facts.user:
        user["name"] = facts.user
    if facts.effective_user:
        user["effective"] = {"name": facts.effective_user[:MAX_USER_CHARS]}
    if user:
        doc["user"] = user
    doc["system"] = {"auth": facts.details}
