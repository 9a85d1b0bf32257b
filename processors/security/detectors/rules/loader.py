"""Loading detections.yaml: validated whole (pydantic, through config.yaml_loader), every
problem reported as file:line: field: message, so a bad edit stops the service at
startup instead of silently disabling a detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from config.yaml_loader import (
    ConfigErrors,
    Path_,
    Source,
    read_source,
    validate_source,
)

from .model import RULES_FILE, RulePack

_PACK = TypeAdapter(RulePack)


class RulePackError(ConfigErrors):
    """detections.yaml is malformed; each line names the file, line and field."""


def load_rule_pack(path: Path = RULES_FILE) -> RulePack:
    source, errors = read_source(path)
    if source is None or errors:
        raise RulePackError(errors)
    return _validated(source)


def parse_rule_pack(data: Any, source: str = "<rule pack>") -> RulePack:
    """A pack from data already parsed (no lines known: errors name file and field)."""
    return _validated(Source(source, data, {}))


def _validated(source: Source) -> RulePack:
    try:
        pack = validate_source(source, _PACK)
    except ConfigErrors as error:
        raise RulePackError(error.errors) from None
    return pack.located(source)


def pack_error(pack: RulePack | None, path: Path_, message: str) -> RulePackError:
    """An error at `path` of the pack, on its line when the pack came from a file."""
    source = pack.source if pack is not None else None
    if not isinstance(source, Source):
        source = Source("<rule pack>", {}, {})
    return RulePackError([source.error(path, message)])
