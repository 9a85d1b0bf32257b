"""Loading detections.yaml: validated whole (pydantic), an error names the file and the
field, so a bad edit stops the service at startup instead of silently disabling a
detection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .model import RULES_FILE, RulePack


class RulePackError(ValueError):
    """detections.yaml is malformed; the message names the file and the field."""


def load_rule_pack(path: Path = RULES_FILE) -> RulePack:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RulePackError(f"{path}: {error}") from None
    return parse_rule_pack(data, str(path))


def parse_rule_pack(data: Any, source: str = "<rule pack>") -> RulePack:
    try:
        return RulePack.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{_where(data, item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise RulePackError(f"{source}: {problems}") from None


def _where(data: Any, loc: Sequence[int | str]) -> str:
    """('detections', 2, 'portscan', 'window_seconds') -> 'detections[2] (sec.portscan)
    .window_seconds': the id makes the entry findable, the type tag is noise."""
    parts: list[str] = []
    items = list(loc)
    if len(items) >= 2 and items[0] == "detections" and isinstance(items[1], int):
        index = items[1]
        entry = data["detections"][index] if _indexable(data, index) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        parts.append(f"detections[{index}]" + (f" ({ident})" if ident else ""))
        items = items[2:]
        if items and isinstance(entry, dict) and items[0] == entry.get("type"):
            items = items[1:]
    parts.extend(f"[{item}]" if isinstance(item, int) else f".{item}" for item in items)
    return "".join(parts).lstrip(".") or "(top level)"


def _indexable(data: Any, index: int) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("detections"), list)
        and 0 <= index < len(data["detections"])
    )
