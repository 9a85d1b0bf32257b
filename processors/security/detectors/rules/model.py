"""The security rule pack (detections.yaml) as data: one pydantic class per detection type.

Rule content is data: thresholds, windows, severities, ATT&CK ids, titles and which
events count. Which events count is a Sigma detection (`select`, `exclude`), compiled
later (compiled.py) against the same fieldmap.yaml the Sigma rules use.
"""

from __future__ import annotations

import ipaddress
import string
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

RULES_FILE = Path(__file__).resolve().parents[2] / "rules" / "detections.yaml"
SeverityName = Literal["info", "low", "medium", "high", "critical"]
Technique = Annotated[str, Field(pattern=r"^T\d{4}(\.\d{3})?$")]
Seconds = Annotated[float, Field(gt=0, le=30 * 86400)]
Count = Annotated[int, Field(ge=1, le=1000)]  # also what a key keeps: bounds its state
# Placeholders every template may use; each detection type adds its own.
COMMON_FIELDS = frozenset({"window_minutes"})


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class DetectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    FIELDS: ClassVar[frozenset[str]] = frozenset()
    # Further Sigma selections a type reads besides select/exclude, compiled at load.
    SELECTIONS: ClassVar[tuple[str, ...]] = ()

    id: str = Field(pattern=r"^sec\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
    enabled: bool = True
    severity: SeverityName
    techniques: tuple[Technique, ...] = ()
    window_seconds: Seconds
    # Sigma detections (a map = AND of fields, a list of maps = OR); None selects all.
    select: dict[str, Any] | list[dict[str, Any]] | None = None
    exclude: dict[str, Any] | list[dict[str, Any]] | None = None
    title: Text
    summary: Text

    @field_validator("title", "summary")
    @classmethod
    def _known_placeholders(cls, text: Text) -> Text:
        allowed = cls.FIELDS | COMMON_FIELDS
        for language in ("vi", "en"):
            for name in _placeholders(getattr(text, language)):
                if name not in allowed:
                    known = ", ".join(sorted(allowed))
                    raise ValueError(f"{language}: unknown placeholder {{{name}}}; known: {known}")
        return text


class BruteForceSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "count", "threshold", "users", "hosts"}
    )
    type: Literal["bruteforce"]
    threshold: Count


class PasswordSpraySpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "count", "threshold", "users", "hosts"}
    )
    type: Literal["password_spray"]
    distinct_users: Count


class SuccessAfterFailuresSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "user_name", "host_name", "count", "basis_vi", "basis_en"}
    )
    SELECTIONS: ClassVar[tuple[str, ...]] = ("success",)
    type: Literal["success_after_failures"]
    failures: Count
    # select picks the failures; success picks the logins that end a run of them.
    success: dict[str, Any] | list[dict[str, Any]]
    by: tuple[Literal["source", "user"], ...] = Field(min_length=1)


class PortScanSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"source_ip", "ports", "hosts", "target", "kind_vi", "kind_en"}
    )
    type: Literal["portscan"]
    distinct_ports: Count
    distinct_hosts: Count
    # Sources that legitimately touch many hosts or ports: vulnerability scanners,
    # monitoring, proxies, resolvers. Matching is by address or network.
    ignore_sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


class IdsAlertSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"signature", "signature_id", "source_ip", "targets", "count", "level"}
    )
    type: Literal["ids_alert"]
    # The sensor's own severity number -> ours; `severity` is for numbers not listed.
    severity_by_level: dict[int, SeverityName] = Field(default_factory=dict)


class MalwareSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"threat", "host_name", "file", "file_hash", "action", "count"}
    )
    type: Literal["malware"]
    # What the product did that means the file was stopped; anything else (detected
    # only, remediation failed) raises severity_not_stopped.
    stopped_actions: tuple[str, ...] = Field(min_length=1)
    severity_not_stopped: SeverityName


class IndicatorFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ip: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()


class IndicatorMatchSpec(DetectionSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"indicator", "indicator_type", "listed_as", "field", "hosts", "count", "source"}
    )
    type: Literal["indicator_match"]
    # ECS paths read for each kind of indicator, in order.
    fields: IndicatorFields


Detection = Annotated[
    BruteForceSpec
    | PasswordSpraySpec
    | SuccessAfterFailuresSpec
    | PortScanSpec
    | IdsAlertSpec
    | MalwareSpec
    | IndicatorMatchSpec,
    Field(discriminator="type"),
]


class SigmaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # A single-event Sigma rule speaks once per entity per this long, not per event.
    event_window_seconds: Seconds = 3600
    # Vietnamese titles by Sigma rule id; a rule without one gets a generic prefix.
    titles_vi: dict[str, str] = Field(default_factory=dict)
    # Rule ids that still match and feed correlations but raise no alert of their own:
    # building blocks, and rules a native detection already covers (one attack, one alert).
    muted: frozenset[str] = frozenset()
    # Matches of rules below this Sigma level feed correlations and stay countable but
    # raise no alert: low and informational rules are for hunting, and one alert per
    # internet scanner per hour would bury the CSIRT's queue.
    min_alert_level: Literal["informational", "low", "medium", "high", "critical"] = "low"


class RulePack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    detections: list[Detection]
    sigma: SigmaSettings = SigmaSettings()
    # Where the pack came from (config.yaml_loader.Source), so errors found after
    # validation (a selection that does not compile) can name their line too.
    _source: Any = PrivateAttr(default=None)

    @property
    def source(self) -> Any:
        return self._source

    def located(self, source: Any) -> RulePack:
        """This pack, knowing the file and lines it was read from."""
        self._source = source  # a private attribute: allowed on a frozen model
        return self

    @field_validator("detections")
    @classmethod
    def _unique_ids(cls, detections: list[DetectionSpec]) -> list[DetectionSpec]:
        seen: set[str] = set()
        for spec in detections:
            if spec.id in seen:
                raise ValueError(f"detection id {spec.id!r} is used twice")
            seen.add(spec.id)
        return detections


def _placeholders(template: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"template {template!r}: {error}") from None
    for name in names:
        # Plain names only: "{a.b}" or "{a[0]}" would reach into the values' attributes.
        if not name.isidentifier():
            raise ValueError(f"template {template!r}: placeholder {{{name}}} is not a name")
    return names
