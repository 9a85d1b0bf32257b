"""Grouping rules (grouping.yaml): typed, checked at load, and applied. Pure.

`decide(rules, alert)` answers which rule takes a new alert and by which key value;
whether that joins an open case or opens one is the job's question to the store.
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.yaml_loader import load_model
from events.alerts import Severity
from processors.cases.model import Marking

GROUPING_FILE = Path(__file__).with_name("grouping.yaml")
# A key value longer than this is not an address, a host or an indicator: not grouped.
MAX_KEY = 512


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Title(_Model):
    vi: str = Field(min_length=1, max_length=300)
    en: str = Field(min_length=1, max_length=300)

    @field_validator("vi", "en")
    @classmethod
    def _fields_known(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - {"key", "alert"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}: use {{key}}, {{alert}}")
        return value

    def render(self, lang: str, key: str, alert: str) -> str:
        template = self.vi if lang == "vi" else self.en
        return template.format(key=key, alert=alert)[:300]


class GroupingRule(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    alerts: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    # Labels that, when the alert carries them, also have to match: a host name is
    # unique only within its agency ("pc-01" in two agencies is two hosts).
    within: list[str] = Field(default_factory=list, max_length=5)
    window_minutes: int = Field(ge=1, le=90 * 24 * 60)
    min_alerts: int = Field(default=1, ge=1, le=1000)
    title: Title

    def takes(self, rule: str) -> bool:
        return any(fnmatch.fnmatchcase(rule, pattern) for pattern in self.alerts)


class Grouping(_Model):
    version: Literal[1]
    lookback_minutes: int = Field(ge=1, le=30 * 24 * 60)
    min_severity: Literal["info", "low", "medium", "high", "critical"] = "low"
    tlp: Marking = "amber"
    pap: Marking = "amber"
    rules: list[GroupingRule]

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[GroupingRule]) -> list[GroupingRule]:
        ids = [r.id for r in rules]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise ValueError(f"rule ids must be unique: {doubled}")
        return rules

    @property
    def minimum(self) -> Severity:
        return Severity.parse(self.min_severity)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: GroupingRule
    key: str
    # What the case is kept under (`grouping_key`): the key, and the `within` labels.
    group: str


def load_grouping(path: Path = GROUPING_FILE) -> Grouping:
    """grouping.yaml read and checked now (ConfigErrors name file:line)."""
    return load_model(path, Grouping)


def decide(grouping: Grouping, alert: Mapping[str, Any]) -> Decision | None:
    """The first rule that takes the alert (its `rule`, `severity`, `labels`), with the
    key value; None when the alert is too mild or no rule takes it."""
    if int(alert["severity"]) < grouping.minimum:
        return None
    labels = alert.get("labels") or {}
    for rule in grouping.rules:
        value = labels.get(rule.key)
        if not isinstance(value, str) or not value.strip() or value == "-":
            continue
        if len(value) > MAX_KEY or not rule.takes(str(alert["rule"])):
            continue
        key = value.strip()
        scope = [
            f"{name}={labels[name]}" for name in rule.within if isinstance(labels.get(name), str)
        ]
        group = f"{key} [{', '.join(scope)}]" if scope else key
        return Decision(rule=rule, key=key, group=group[: MAX_KEY * 2])
    return None
