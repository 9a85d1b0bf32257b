"""What detectors emit and what the alert manager keeps.

A detector never writes an alert: it emits a Signal ("this condition holds / no longer
holds for this entity"), and the alert manager turns signals into alerts with identity,
lifecycle, silences and notifications. That split is what keeps detectors pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from events.ids import stable_id

# The PostgreSQL NOTIFY channel of live changes: the alert manager announces each alert
# change there and store.users each revocation, in their transactions; the API's feed
# (api/feed.py) listens on it.
LIVE_CHANNEL = "ioc_alerts"


class Domain(StrEnum):
    ENVIRONMENT = "environment"
    SECURITY = "security"
    CAMERA = "camera"
    HEALTH = "health"
    # Watch-listed plate seen (camera.plate_watch): the alert names a vehicle's plate,
    # personal data under Decree 13/2023/NĐ-CP, so it is a domain of its own.
    PLATES = "plates"
    # Crop pests counted in light traps (pest.* rules) and weekly case counts of
    # notifiable diseases per commune (epidemic.*): public-interest warnings, no personal
    # data, not for the CSIRT (issue 15).
    PESTS = "pests"
    EPIDEMICS = "epidemics"


class Severity(IntEnum):
    """Ordered so escalation is a comparison. CAP 1.2 has its own words (cap_severity)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"severity {text!r} is not one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def cap_severity(self) -> str:
        return _CAP_SEVERITY[self]


_CAP_SEVERITY = {
    Severity.INFO: "Unknown",
    Severity.LOW: "Minor",
    Severity.MEDIUM: "Moderate",
    Severity.HIGH: "Severe",
    Severity.CRITICAL: "Extreme",
}


class SignalState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertStatus(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# Security alerts are for the CSIRT; watch-list hits for those who keep the watch list
# (operators and admins: plates are personal data, not for the wall, the CSIRT or
# integrators); everything else is for every operator.
VISIBLE_TO: Mapping[Domain, frozenset[str]] = {
    Domain.SECURITY: frozenset({"csirt", "admin"}),
    Domain.ENVIRONMENT: frozenset({"operator", "csirt", "admin", "viewer"}),
    Domain.CAMERA: frozenset({"operator", "csirt", "admin", "viewer"}),
    # Integrators connect equipment: a device's health is theirs to see.
    Domain.HEALTH: frozenset({"operator", "csirt", "admin", "viewer", "integrator"}),
    Domain.PLATES: frozenset({"operator", "admin"}),
    Domain.PESTS: frozenset({"operator", "admin", "viewer"}),
    Domain.EPIDEMICS: frozenset({"operator", "admin", "viewer"}),
}

# Domains whose alerts carry personal data: never sent anywhere by default (a channel
# that leaves `domains` out gets every other domain) and never shown on a dashboard.
PERSONAL_DATA: frozenset[Domain] = frozenset({Domain.PLATES})
BROADCAST_DOMAINS: tuple[Domain, ...] = tuple(d for d in Domain if d not in PERSONAL_DATA)


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Alert identity: the rule and the entity labels, nothing that changes while the
    condition holds (not the value, not the severity)."""
    return stable_id(rule, *(f"{k}={labels[k]}" for k in sorted(labels)))


@dataclass(frozen=True)
class Signal:
    """One detector's verdict about one entity at one moment.

    labels identify the entity (device_id, station, source_ip …) and make the
    fingerprint; values carry what was measured (shown, never part of identity).
    Titles are Vietnamese first (operators read them), English beside them.
    """

    rule: str
    domain: Domain
    labels: Mapping[str, str]
    state: SignalState
    severity: Severity
    at: datetime
    title_vi: str
    title_en: str
    summary_vi: str = ""
    summary_en: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    technique_ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)
