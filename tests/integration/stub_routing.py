"""Channel routing for alert-manager tests: what AlertManager and renotify_due ask of the
real config (processors/alerts/channels.py), without channel configuration files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from events.alerts import Domain, Severity


@dataclass(frozen=True)
class StubChannel:
    name: str
    group_wait_seconds: float = 0.0

    def group_key(self, rule: str, labels: Mapping[str, str]) -> str:
        return rule


class StubRouting:
    """Two channels for everything; security also goes to the SOC's Kafka channel."""

    def for_alert(self, domain: Domain, severity: Severity) -> Sequence[StubChannel]:
        channels = [StubChannel("webhook"), StubChannel("mqtt")]
        if domain is Domain.SECURITY:
            channels.append(StubChannel("kafka"))
        return channels
