"""Facts of a service's message that is neither authentication nor a packet (cron jobs,
crontab edits, antivirus detections: programs/cron.py, programs/clamav.py), and the event
built from them. The line stays in system.syslog (Filebeat's split); the facts add ECS
fields to the syslog document. Here, not in programs/, which holds one module per program."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.models import SecurityEvent
from ingest.formats.common import security_event_id
from ingest.formats.syslog.framing import SyslogLine
from ingest.formats.syslog.programs.facts import Outcome
from ingest.message import RawMessage

SERVICE_DATASET = "system.syslog"


@dataclass(slots=True)
class ServiceFacts:
    action: str
    outcome: Outcome
    category: tuple[str, ...]
    event_type: tuple[str, ...]
    user: str | None = None
    ecs: dict[str, Any] = field(default_factory=dict)  # merged into the document
    vendor: str | None = None
    product: str | None = None


def service_event(
    msg: RawMessage, line: SyslogLine, time: datetime, facts: ServiceFacts, doc: dict[str, Any]
) -> SecurityEvent:
    """`doc` is the syslog document of the line (event.py's _ecs without facts)."""
    doc["event"].update(
        category=list(facts.category),
        type=list(facts.event_type),
        action=facts.action,
        outcome=facts.outcome,
    )
    for key, value in facts.ecs.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    if facts.user:
        doc["user"] = {"name": facts.user}
    if facts.vendor:
        doc["observer"] = {"vendor": facts.vendor, "product": facts.product or facts.vendor}
    doc["host"] = {**doc.get("host", {}), "os": {"type": "linux"}}
    return SecurityEvent(
        time=time,
        event_id=security_event_id(msg),
        dataset=SERVICE_DATASET,
        category=facts.category,
        action=facts.action,
        outcome=facts.outcome,
        severity=line.severity,
        user_name=facts.user,
        host_name=line.hostname,
        process_name=line.appname,
        observer_vendor=facts.vendor,
        observer_product=facts.product or facts.vendor,
        message=line.message,
        ecs=doc,
        raw=msg.payload,
    )
