"""Notification channels (deploy/alerts/channels.yaml): who is told of which alert, how.

Validated whole at load, so a typo fails the service at start, not the first alert at
3 a.m. Each channel's `settings` block is checked against its notifier's own model,
found through the notifier registry: a new channel type brings its model with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.settings import REPO_ROOT
from config.yaml_loader import load_model
from events.alerts import BROADCAST_DOMAINS, Domain, Severity
from processors.alerts.notify import notifier_type

if TYPE_CHECKING:
    from config.settings import Settings

DEFAULT_CHANNELS_FILE = REPO_ROOT / "deploy" / "alerts" / "channels.yaml"
RULE = "rule"  # the group_by name that means the alert's rule, not a label

# ${NAME} or ${NAME:-default}, as in a shell or docker compose.
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace ${NAME} and ${NAME:-default} in every string of `value` (recursively).

    Only channel settings are expanded: they hold what differs between deployments
    (URLs, ports, addresses). A reference with no value and no default is an error,
    never an empty string, so a missing variable cannot pass unnoticed.
    """
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda m: _lookup(m, environ), value)
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    return value


def _lookup(match: re.Match[str], environ: Mapping[str, str]) -> str:
    name, default = match.group(1), match.group(2)
    found = environ.get(name)
    if found:
        return found
    if default is not None:
        return default
    raise ValueError(f"environment variable {name} is not set and has no default")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    type: str
    # Left out: every domain but those carrying personal data (plates), which a
    # channel gets only by naming them.
    domains: tuple[Domain, ...] = BROADCAST_DOMAINS
    min_severity: Severity = Severity.LOW
    group_by: tuple[str, ...] = (RULE,)
    group_wait_seconds: float = Field(default=30.0, ge=0)
    # After validation: the notifier's own config model (see _check_settings).
    settings: BaseModel

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        notifier_type(value)  # raises, naming the known types
        return value

    @field_validator("min_severity", mode="before")
    @classmethod
    def _severity_word(cls, value: object) -> object:
        return Severity.parse(value) if isinstance(value, str) else value

    @field_validator("domains")
    @classmethod
    def _some_domain(cls, value: tuple[Domain, ...]) -> tuple[Domain, ...]:
        if not value:
            raise ValueError("at least one domain (leave the field out for all)")
        return value

    @field_validator("settings", mode="before")
    @classmethod
    def _check_settings(cls, value: object, info: ValidationInfo) -> BaseModel:
        kind = info.data.get("type")
        if kind is None:  # the type itself failed; its error says why
            raise ValueError("cannot check settings of an unknown channel type")
        # A ValidationError raised here reaches the caller with its locations under
        # channels[i].settings, so the loader can point at the nested field's line.
        return notifier_type(kind).Config.model_validate(expand_env(value or {}, os.environ))

    def accepts(self, domain: Domain, severity: Severity) -> bool:
        return domain in self.domains and severity >= self.min_severity

    def group_key(self, rule: str, labels: Mapping[str, str]) -> str:
        """Alerts with equal keys on one channel go out together.

        Values are JSON-quoted so a label value holding ',' or '=' cannot make two
        different groups look the same; a missing label groups as "".
        """
        parts = []
        for name in self.group_by:
            value = rule if name == RULE else str(labels.get(name, ""))
            parts.append(f"{name}={orjson.dumps(value).decode()}")
        return ",".join(parts)


class ChannelsConfig(_Strict):
    # 0 turns reminders off. The alert manager reads this; the dispatcher does not.
    renotify_interval_seconds: float = Field(default=4 * 3600, ge=0)
    max_attempts: int = Field(default=10, gt=0)
    backoff_seconds: float = Field(default=10.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    channels: tuple[Channel, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> ChannelsConfig:
        names = [c.name for c in self.channels]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(doubled)}")
        return self

    def for_alert(self, domain: Domain, severity: Severity) -> list[Channel]:
        return [c for c in self.channels if c.accepts(domain, severity)]

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def backoff(self, attempts: int) -> timedelta:
        """Wait before try number attempts + 1: doubling from backoff_seconds, capped."""
        exponent = min(max(attempts - 1, 0), 32)  # 2**32 × any base is past any cap
        return timedelta(seconds=min(self.backoff_seconds * 2**exponent, self.backoff_max_seconds))


def channels_path(settings: Settings) -> Path:
    """The channels file: IOC_CHANNELS_FILE, read by Settings like every IOC_* variable."""
    return settings.channels_file


def load_channels(path: Path) -> ChannelsConfig:
    """Raises ConfigErrors (a ValueError): file:line: field: message for each problem."""
    return load_model(path, ChannelsConfig, empty={})
