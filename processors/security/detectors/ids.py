"""IDS alerts (Suricata): one signal per (signature, source address) per window, not one
per packet, with the sensor's severity mapped onto ours.

Suricata's severity 1 is the MOST severe; the mapping lives in detections.yaml
(severity_by_level), so a site can raise or lower it without code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from events.alerts import Severity, Signal
from events.models import SecurityEvent
from processors.detector import Outcome, State
from processors.security.detectors.rules import (
    IdsAlertSpec,
    Rule,
)
from processors.security.detectors.rules.windows import (
    joined,
    ordered,
    security_events,
    settle,
    tally,
)


class IdsAlertDetector:
    def __init__(self, rule: Rule[IdsAlertSpec]):
        self.rule = rule
        self.name = rule.id
        self._levels = {
            level: Severity.parse(name) for level, name in rule.spec.severity_by_level.items()
        }

    def keys(self, events: Sequence[Any]) -> set[str]:
        return set(self._grouped(events))

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        outcome = Outcome()
        for key, batch in self._grouped(events).items():
            state = states.get(key)
            for event in batch:
                counted = tally(state, event, self.rule.window, {"targets": event.destination_ip})
                if counted is None:
                    continue
                state, fire = counted
                if fire:
                    state["fired"] = state["last"]
                    outcome.signals.append(self._signal(event, state))
            settle(outcome, states, key, state)
        outcome.signals = ordered(outcome.signals)
        return outcome

    def _grouped(self, events: Sequence[Any]) -> dict[str, list[SecurityEvent]]:
        grouped: dict[str, list[SecurityEvent]] = {}
        for event in security_events(events):
            if self.rule.selects(event):
                grouped.setdefault(_key(event), []).append(event)
        return grouped

    def severity(self, event: SecurityEvent) -> Severity:
        found = self._levels.get(event.severity) if event.severity is not None else None
        return found if found is not None else Severity.parse(self.rule.spec.severity)

    def _signal(self, event: SecurityEvent, state: State) -> Signal:
        signature_id, source_ip = _identity(event)
        signature = event.rule_name or signature_id
        targets = state["notes"]["targets"]
        level = "-" if event.severity is None else str(event.severity)
        return self.rule.signal(
            labels={"signature_id": signature_id, "source_ip": source_ip},
            at=event.time,
            severity=self.severity(event),
            techniques=event.technique_ids,
            fields={
                "signature": signature,
                "signature_id": signature_id,
                "source_ip": source_ip,
                "targets": joined(targets),
                "count": state["count"],
                "level": level,
            },
            values={
                "signature": signature,
                "category": event.ecs.get("rule", {}).get("category"),
                "sensor_severity": event.severity,
                "action": event.action,
                "alerts": state["count"],
                "targets": targets,
                "sensor": event.host_name,
            },
            event_ids=state["ids"],
        )


def _identity(event: SecurityEvent) -> tuple[str, str]:
    # An alert without a source address (rare: decoder-level anomalies) still groups
    # by signature rather than being dropped.
    return event.rule_id or event.rule_name or "-", event.source_ip or "-"


def _key(event: SecurityEvent) -> str:
    return json.dumps(list(_identity(event)))
