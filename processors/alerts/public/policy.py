"""The public warnings policy (policy.yaml): typed, checked at load, and applied.

`classify(alert)` answers whether an alert is a public warning now and at which level;
`render(...)` fills the audience texts. Pure: no database, no clock.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.timezone import LOCAL_TZ
from config.yaml_loader import load_model

POLICY_FILE = Path(__file__).with_name("policy.yaml")
LANGS = ("vi", "en")  # Vietnamese first: the public reads it first
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")

Category = Literal[
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
]  # fmt: skip
Response = Literal[
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"
]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _templates(value: Any) -> Any:
    # One template or a list of them (the first whose fields are all known is used).
    return [value] if isinstance(value, str) else value


class Text(_Model):
    """Bilingual text; each language a list of templates tried in order."""

    vi: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    _as_list = field_validator("vi", "en", mode="before")(_templates)

    @field_validator("vi", "en")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("a text may not be empty")
        for template in value:
            list(string.Formatter().parse(template))  # raises on a broken brace
        return value

    def of(self, lang: str) -> list[str]:
        return self.vi if lang == "vi" else self.en


class Level(_Model):
    name: Text
    severity: CapSeverity
    urgency: Urgency
    response: list[Response] = Field(min_length=1)
    headline: Text
    instruction: Text


class CancelText(_Model):
    headline: Text
    description: Text
    instruction: Text


class Kind(_Model):
    rule_prefix: str = Field(min_length=2)
    domain: str
    category: list[Category] = Field(min_length=1)
    certainty: Certainty
    expires_after_hours: float = Field(gt=0, le=24 * 14)
    refresh_before_hours: float = Field(gt=0)
    radius_km: float = Field(gt=0, le=200)
    value_decimals: int = Field(ge=0, le=4)
    unit: str
    event: Text
    levels: dict[str, Level] = Field(min_length=1)
    description: Text
    cancel: CancelText

    @property
    def expires_after(self) -> timedelta:
        return timedelta(hours=self.expires_after_hours)

    @property
    def refresh_before(self) -> timedelta:
        return timedelta(hours=min(self.refresh_before_hours, self.expires_after_hours))


class Manual(_Model):
    category: list[Category] = Field(min_length=1)
    certainty: Certainty
    urgency: Urgency
    response: list[Response] = Field(min_length=1)
    expires_after_hours: float = Field(gt=0, le=24 * 14)
    radius_km: float = Field(gt=0, le=200)
    event: Text
    cancel: CancelText


class AreaSpec(_Model):
    description: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0, le=200)


class TestText(_Model):
    expires_after_hours: float = Field(gt=0, le=48)
    area: AreaSpec
    event: Text
    headline: Text
    description: Text
    instruction: Text


class Policy(_Model):
    languages: dict[Literal["vi", "en"], str]
    time_format: dict[Literal["vi", "en"], str]
    sender_name: Text
    disclaimer: Text
    kinds: dict[str, Kind] = Field(min_length=1)
    manual: Manual
    test: TestText

    def kind_of(self, alert: Mapping[str, Any]) -> tuple[str, Kind] | None:
        rule, domain = str(alert.get("rule", "")), str(alert.get("domain", ""))
        for key, kind in self.kinds.items():
            if rule.startswith(kind.rule_prefix) and domain == kind.domain:
                return key, kind
        return None


def load_policy(path: Path = POLICY_FILE) -> Policy:
    """policy.yaml read and checked now (ConfigErrors name file:line): the job reads it
    when the alert service builds its jobs, so `ioc rules reload` brings a new one in."""
    return load_model(path, Policy)


@cache
def policy(path: Path = POLICY_FILE) -> Policy:
    """policy.yaml, read and checked once per process."""
    return load_policy(path)


# --- applying it -------------------------------------------------------------------------


class Public(_Model):
    """An alert that is a public warning now: its kind and public level."""

    kind_key: str
    level_key: str


def level_key(alert: Mapping[str, Any]) -> str | None:
    values: Mapping[str, Any] = alert.get("alert_values") or {}
    key = values.get("level", values.get("to_level"))
    return key if isinstance(key, str) else None


def classify(alert: Mapping[str, Any], rules: Policy | None = None) -> Public | None:
    """The public level of an open alert, or None: not a public kind, resolved, or below
    the kind's public levels."""
    rules = rules or policy()
    found = rules.kind_of(alert)
    if found is None or alert.get("status") == "resolved":
        return None
    key, kind = found
    level = level_key(alert)
    if level not in kind.levels:
        return None
    return Public(kind_key=key, level_key=level)


def is_public_kind(alert: Mapping[str, Any], rules: Policy | None = None) -> bool:
    return (rules or policy()).kind_of(alert) is not None


# --- texts ---------------------------------------------------------------------------------


def _number(value: Any, decimals: int, lang: str) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    text = f"{number:.{decimals}f}"
    return text.replace(".", ",") if lang == "vi" else text  # Vietnamese decimal comma


def fields(
    alert: Mapping[str, Any],
    kind: Kind,
    lang: str,
    *,
    place: str,
    at: datetime,
    level_name: str | None,
    rules: Policy,
) -> dict[str, str]:
    """Template fields for one language; a field the alert does not give is left out, so
    the templates that need it are skipped."""
    values: Mapping[str, Any] = alert.get("alert_values") or {}
    labels: Mapping[str, Any] = alert.get("labels") or {}
    out: dict[str, str] = {
        "place": place,
        "time": at.astimezone(LOCAL_TZ).strftime(rules.time_format[lang]),  # type: ignore[index]
        "unit": kind.unit,
    }
    if level_name:
        out["level"] = level_name
    for name in ("value", "threshold", "count", "mean_3n", "cases"):
        text = _number(values.get(name), kind.value_decimals, lang)
        if text is not None:
            out[name] = text
    # Words the alert carries per language (pests, epidemics), then plain labels.
    for name in ("species", "disease", "action"):
        text = values.get(f"{name}_{lang}")
        if isinstance(text, str) and text.strip():
            out[name] = text.strip()
    commune = values.get("commune", labels.get("commune"))
    if isinstance(commune, str) and commune.strip():
        out["commune"] = commune.strip()
    week = _ISO_WEEK.match(str(values.get("week", "")))
    if week:  # people do not read ISO weeks
        year, number = week.group(1), int(week.group(2))
        out["week"] = f"tuần {number} năm {year}" if lang == "vi" else f"week {number} of {year}"
    return out


class _Strict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def fill(text: Text, lang: str, values: Mapping[str, str]) -> str:
    """The first template of `text` whose fields are all in `values`. Values are put in
    once (braces inside a station name are not read again)."""
    known = _Strict(values)
    for template in text.of(lang):
        try:
            filled = template.format_map(known)
        except (KeyError, IndexError):
            continue
        result = " ".join(filled.split())
        return result[:1].upper() + result[1:]  # a sentence starts with a capital
    # The last template should need nothing but {place}; policy tests check each kind.
    raise KeyError(f"no template of {text.of(lang)[-1]!r} has its fields in {sorted(values)}")


def sentences(parts: Sequence[str]) -> str:
    return "\n".join(p for p in parts if p)
