"""The allowed commands (commands.yaml): which device types take which command, each
command's parameter schema and expiry. A request is checked here before anything is
stored or sent, so a refused command never reaches the broker."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from config.yaml_loader import load_model

CATALOG_FILE = Path(__file__).with_name("commands.yaml")
MAX_PARAM_ERRORS = 20
MAX_MESSAGE = 200
COMMAND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

CommandName = Annotated[str, StringConstraints(pattern=COMMAND_NAME.pattern)]
DeviceType = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: Texts
    device_types: list[DeviceType] = Field(min_length=1)
    params: dict[str, Any]
    expiry_seconds: int = Field(ge=1)
    max_expiry_seconds: int = Field(ge=1, le=30 * 86400)

    @field_validator("params")
    @classmethod
    def _schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise ValueError(f"not a valid JSON Schema: {error.message}") from None
        if schema.get("type") != "object":
            raise ValueError("the params schema must say type: object (params are an object)")
        return schema

    @model_validator(mode="after")
    def _expiry(self) -> CommandSpec:
        if self.expiry_seconds > self.max_expiry_seconds:
            raise ValueError("expiry_seconds is longer than max_expiry_seconds")
        return self


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commands: dict[CommandName, CommandSpec] = Field(min_length=1)


@dataclass(frozen=True)
class ParamError:
    loc: tuple[str | int, ...]
    msg: str
    type: str


@dataclass
class Refused(Exception):
    """Why a request is refused: `code` names the API problem, `params` fill its text."""

    code: str
    params: dict[str, object] = field(default_factory=dict)
    errors: list[ParamError] = field(default_factory=list)


class Catalog:
    def __init__(self, commands: Mapping[str, CommandSpec]) -> None:
        self.commands = dict(commands)
        self._validators = {
            name: Draft202012Validator(spec.params) for name, spec in self.commands.items()
        }

    def allowed(self, device_type: str) -> list[str]:
        return sorted(n for n, s in self.commands.items() if device_type in s.device_types)

    def check(
        self, device_type: str, command: str, params: Any, expires_in_seconds: int | None
    ) -> int:
        """The command's expiry in seconds, or Refused."""
        spec = self.commands.get(command)
        if spec is None:
            raise Refused("command_unknown", {"known": ", ".join(sorted(self.commands))})
        if device_type not in spec.device_types:
            allowed = ", ".join(self.allowed(device_type)) or "-"
            raise Refused("command_not_allowed", {"device_type": device_type, "allowed": allowed})
        errors = param_errors(self._validators[command], params)
        if errors:
            raise Refused("command_params_invalid", {"command": command}, errors)
        expiry = spec.expiry_seconds if expires_in_seconds is None else expires_in_seconds
        if expiry > spec.max_expiry_seconds:
            raise Refused(
                "command_expiry_too_long", {"command": command, "limit": spec.max_expiry_seconds}
            )
        return expiry


def param_errors(validator: Draft202012Validator, params: Any) -> list[ParamError]:
    """Schema violations as field, message and kind; the message quotes the schema,
    never the value sent (as every API error does)."""
    out: list[ParamError] = []
    for error in sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.path))):
        out.extend(_describe(error))
    return out[:MAX_PARAM_ERRORS]


def _describe(error: SchemaViolation) -> Sequence[ParamError]:
    path = ("params", *error.absolute_path)
    keyword = str(error.validator)
    instance = error.instance
    if keyword == "required" and isinstance(instance, Mapping):
        missing = [n for n in error.validator_value if n not in instance]
        return [ParamError((*path, str(n)), "missing required field", keyword) for n in missing]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        known = set((error.schema or {}).get("properties", {}))
        extra = [str(k)[:64] for k in instance if k not in known]
        return [ParamError((*path, k), "unknown field", keyword) for k in extra]
    message = f"must satisfy {keyword}: {error.validator_value!r}"[:MAX_MESSAGE]
    return [ParamError(path, message, keyword)]


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Raises config.yaml_loader.ConfigErrors (file:line: field: message)."""
    return Catalog(load_model(path, CatalogFile).commands)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()
