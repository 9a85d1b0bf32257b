"""SecretRef: where a notifier's secret comes from, never the secret itself in a repr.

In a config file (channels.yaml) a secret is named by its source:

    secret: {setting: webhook_secret}    # a service secret: Settings (IOC_WEBHOOK_SECRET)
                                         # or else the generated secrets file
    password: {env: SMTP_PASSWORD}       # a deployment's own variable (not IOC_*: those
                                         # are Settings fields, read by Settings alone)
    secret: {value: "…"}                 # inline: tests and benchmarks only

A plain string is taken as an inline value, so throwaway test configs stay short.
`resolve(settings)` is the one place a secret is read; a missing one is a ConfigMissing
error that says which source was empty, never what any value was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

if TYPE_CHECKING:
    from config.settings import Settings

SETTINGS_PREFIX = "IOC_"


class SecretMissing(ValueError):
    """A secret's source is empty; the message names the source, not any value."""


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A service secret by its name in config/secrets.py (webhook_secret,
    # mqtt_ingest_password, …): Settings' IOC_<NAME> wins over the secrets file.
    setting: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_string_is_a_value(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        given = [name for name in ("setting", "env", "value") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("name exactly one source: setting, env or value")
        if self.env is not None and self.env.startswith(SETTINGS_PREFIX):
            raise ValueError(
                f"{self.env} is a Settings variable; name the secret instead, e.g."
                f" {{setting: {self.env.removeprefix(SETTINGS_PREFIX).lower()}}}"
            )
        if self.setting is not None:
            from config.secrets import SECRET_NAMES

            if self.setting not in SECRET_NAMES:
                raise ValueError(
                    f"unknown service secret {self.setting!r}; known: {', '.join(SECRET_NAMES)}"
                )
        return self

    @property
    def source(self) -> str:
        """Where the secret comes from, fit for an error message or a log."""
        if self.setting is not None:
            return f"service secret {self.setting} (IOC_{self.setting.upper()} or the secrets file)"
        if self.env is not None:
            return f"environment variable {self.env}"
        return "an inline value"

    def __repr__(self) -> str:
        if self.value is not None:
            return "SecretRef(value='**********')"
        return f"SecretRef({'setting' if self.setting else 'env'}={self.setting or self.env!r})"

    __str__ = __repr__

    def resolve(self, settings: Settings, environ: Mapping[str, str] = os.environ) -> str:
        """The secret itself; raises SecretMissing when its source is empty."""
        found = self._lookup(settings, environ)
        if not found:
            raise SecretMissing(f"secret missing: {self.source} is not set (thiếu khoá bí mật)")
        return found

    def _lookup(self, settings: Settings, environ: Mapping[str, str]) -> str | None:
        if self.value is not None:
            return self.value.get_secret_value()
        if self.env is not None:
            return environ.get(self.env)
        from config.secrets import load_secrets

        try:
            # load_secrets lets a Settings value (IOC_<NAME>) win over the file.
            return str(getattr(load_secrets(settings, create=False), str(self.setting)))
        except FileNotFoundError:
            return getattr(settings, str(self.setting), None)
