"""What a case is: its statuses and the moves between them, severities, TLP/PAP, the
classification it is closed with, and the times to acknowledge and to close. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from events.alerts import Severity

Status = Literal["new", "investigating", "contained", "closed"]
CaseSeverity = Literal["low", "medium", "high", "critical"]
# TLP 2.0 (FIRST) names; PAP uses the same four colours plus amber+strict, as MISP does.
Marking = Literal["clear", "green", "amber", "amber+strict", "red"]
Classification = Literal["true_positive", "false_positive", "benign"]
ObservableType = Literal["ipv4", "ipv6", "user", "host", "sha256", "sha1", "md5", "url", "domain"]

STATUSES: tuple[Status, ...] = ("new", "investigating", "contained", "closed")
SEVERITIES: tuple[CaseSeverity, ...] = ("low", "medium", "high", "critical")
MARKINGS: tuple[Marking, ...] = ("clear", "green", "amber", "amber+strict", "red")
CLASSIFICATIONS: tuple[Classification, ...] = ("true_positive", "false_positive", "benign")
OBSERVABLE_TYPES: tuple[ObservableType, ...] = (
    "ipv4", "ipv6", "user", "host", "sha256", "sha1", "md5", "url", "domain",
)  # fmt: skip

# Moves by PATCH: forward along the lifecycle, or back one step (containment that did
# not hold). Closing needs a classification (its own request); a closed case is
# reopened to `investigating`.
MOVES: Mapping[Status, frozenset[Status]] = {
    "new": frozenset({"investigating", "contained"}),
    "investigating": frozenset({"contained"}),
    "contained": frozenset({"investigating"}),
    "closed": frozenset(),
}


class InvalidMove(ValueError):
    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a case cannot move from {current} to {wanted}")
        self.current = current
        self.wanted = wanted


def check_move(current: Status, wanted: Status) -> None:
    """Raises InvalidMove unless PATCH may move a case from `current` to `wanted`."""
    if wanted != current and wanted not in MOVES[current]:
        raise InvalidMove(current, wanted)


def severity_of(alert_severity: int) -> CaseSeverity:
    """An alert's severity (0 info .. 4 critical) as a case's: info counts as low."""
    return SEVERITIES[max(0, min(int(alert_severity), Severity.CRITICAL) - 1)]


def higher(a: CaseSeverity, b: CaseSeverity) -> CaseSeverity:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())
