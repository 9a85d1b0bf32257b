"""YAML with line numbers, and errors that say file:line: field: message.

The document is composed once (yaml node tree), every key path's line is recorded, then
the same nodes are constructed into plain data for pydantic. A pydantic error's `loc` is
walked through that data to a key path, and the path to the nearest recorded line, so a
rule author is pointed at the line to fix, not at a stack trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class RuleError:
    file: str
    line: int  # 0: the file as a whole (unreadable)
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RuleErrors(ValueError):
    """Every problem found in a set of rule files, in file and line order."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it: what a person typed."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def field_name(path: Path_) -> str:
    """('rules', 2, 'for') -> 'rules[2].for'"""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Source:
    """A parsed YAML file: its data and the line of every key path in it."""

    file: str
    data: Any
    lines: Mapping[Path_, int]

    def line(self, path: Path_) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, path: Path_, message: str) -> RuleError:
        return RuleError(self.file, self.line(path), field_name(path), message)

    def at(self, path: Path_) -> Any:
        """The data at `path`, or None if it is not there."""
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node


def read_source(path: Path) -> tuple[Source | None, list[RuleError]]:
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [RuleError(display, 0, "", f"cannot read: {error}")]
    return parse_source(display, text)


def parse_source(file: str, text: str) -> tuple[Source | None, list[RuleError]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [RuleError(file, 1, "", "the file is empty")]
        lines: dict[Path_, int] = {}
        errors: list[RuleError] = []
        _walk(node, (), lines, errors, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = ": ".join(p for p in (error.context, error.problem) if p)
        return None, [RuleError(file, line, "", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as error:
        return None, [RuleError(file, 1, "", f"YAML error: {error}")]
    finally:
        loader.dispose()
    return Source(file, data, lines), errors


def _walk(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], errors: list[RuleError], file: str
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML keeps the last one silently; a rule written twice is a mistake.
                errors.append(RuleError(file, line, field_name((*path, key)), "duplicate key"))
            seen.add(key)
            # The key's line, not the value's: a block value starts on the next line.
            lines.setdefault((*path, key), line)
            _walk(value_node, (*path, key), lines, errors, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, errors, file)


# ---- pydantic errors ------------------------------------------------------------------


def validation_errors(
    source: Source, error: ValidationError, prefix: Path_ = ()
) -> list[RuleError]:
    out = []
    for item in error.errors():
        path = _data_path(source.at(prefix), item["loc"])
        full = (*prefix, *path)
        kind = item["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            full = (*full, "kind")
        out.append(source.error(full, _message(item)))
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """pydantic's loc without the tags it inserts for tagged unions (rules[2].threshold.for
    -> rules[2].for), found by walking the data the loc describes."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part not in node and part == node.get("kind"):
            continue
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(path)


def _message(item: Mapping[str, Any]) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind in ("missing", "union_tag_not_found"):
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    value = item.get("input")
    shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
    return f"{item['msg'][0].lower()}{item['msg'][1:]}{shown}"
