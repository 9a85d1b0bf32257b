"""The camera rule pack (cameras.yaml): severities, episode gaps, texts; loaded whole,
every problem reported as file:line: field: message."""

from __future__ import annotations

import string
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from config.yaml_loader import ConfigErrors, read_source, validate_source
from events.alerts import Severity

RULES_FILE = Path(__file__).resolve().parent / "cameras.yaml"
SeverityName = Literal["info", "low", "medium", "high", "critical"]
# Fields every text may use; each rule adds its own (FIELDS).
COMMON_FIELDS = frozenset({"camera", "camera_name", "site", "at"})
_ZONE = frozenset({"zone", "zone_name"})


class CameraRulesError(ConfigErrors):
    """cameras.yaml is malformed; each line names the file, line and field."""


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Doc):
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    summary_vi: str = ""
    summary_en: str = ""


class Texts(Doc):
    firing: Text
    resolved: Text


class RuleSpec(Doc):
    FIELDS: ClassVar[frozenset[str]] = frozenset()

    enabled: bool = True
    severity: SeverityName
    text: Texts

    @property
    def level(self) -> Severity:
        return Severity.parse(self.severity)

    @field_validator("text")
    @classmethod
    def _known_placeholders(cls, texts: Texts) -> Texts:
        allowed = cls.FIELDS | COMMON_FIELDS
        for state, text in (("firing", texts.firing), ("resolved", texts.resolved)):
            for name, template in text.model_dump().items():
                problem = _template_problem(template, allowed)
                if problem:
                    raise ValueError(f"{state}.{name}: {problem}")
        return texts


class IntrusionSpec(RuleSpec):
    FIELDS: ClassVar[frozenset[str]] = _ZONE | {
        "labels_vi",
        "labels_en",
        "closed",
        "since",
        "count",
    }
    # No sighting for this long ends an episode: the next one is a new alert.
    episode_gap_seconds: float = Field(gt=0, le=86400)


class LoiteringSpec(RuleSpec):
    FIELDS: ClassVar[frozenset[str]] = _ZONE | {"label_vi", "label_en", "duration", "count"}
    labels: tuple[str, ...] = Field(min_length=1)


class CrowdingSpec(RuleSpec):
    FIELDS: ClassVar[frozenset[str]] = _ZONE | {"count", "threshold"}
    # Resolved once the zone holds at most threshold - clear_margin people (1: as soon as
    # it is below the threshold), so a crowd hovering at the threshold is one alert, not
    # one per person coming and going.
    clear_margin: int = Field(ge=1, le=1000)


class CrossingSpec(Doc):
    enabled: bool = True
    # Half-width of the band around a line (fraction of the frame) inside which a box's
    # bottom centre is on neither side: a box jittering on the line does not count.
    band: float = Field(ge=0, le=0.2)


class PlatesSpec(Doc):
    enabled: bool = True


class HealthSpec(RuleSpec):
    FIELDS: ClassVar[frozenset[str]] = frozenset({"since"})


class Objects(Doc):
    # A tracked object with no message for this long is forgotten (its end was lost).
    forget_after_seconds: float = Field(gt=0, le=86400)
    # Objects one camera's state keeps at most: bounds the state row.
    max_per_camera: int = Field(ge=1, le=10000)
    # Ended objects remembered per camera (newest first), so a re-delivered message of
    # one is not a new track; the writer already hands on only messages new to the
    # database, so this is a second guard and kept short: the state is read and written
    # with every batch of the camera.
    ended_per_camera: int = Field(ge=0, le=10000)


class CameraRules(Doc):
    version: Literal[1]
    labels_vi: dict[str, str]
    objects: Objects
    intrusion: IntrusionSpec
    loitering: LoiteringSpec
    crowding: CrowdingSpec
    crossing: CrossingSpec
    plates: PlatesSpec
    tamper: HealthSpec
    video_loss: HealthSpec

    def label_vi(self, label: str | None) -> str:
        return self.labels_vi.get(label or "", label or "?")


def _template_problem(template: str, allowed: frozenset[str]) -> str | None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"bad template: {error}"
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            return f"placeholder {{{name}}} is not a name"
        if name not in allowed:
            return f"unknown placeholder {{{name}}}; known: {', '.join(sorted(allowed))}"
    return None


_RULES = TypeAdapter(CameraRules)


def load_camera_rules(path: Path = RULES_FILE) -> CameraRules:
    source, errors = read_source(path)
    if source is None or errors:
        raise CameraRulesError(errors)
    try:
        return validate_source(source, _RULES)
    except ConfigErrors as error:
        raise CameraRulesError(error.errors) from None
