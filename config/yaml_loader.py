"""One loader for every YAML configuration file: errors say file:line: field: message.

Ingest routes, alert channels, security detections, the Sigma fieldmap, environment rule
packs and the station tables all load through here, so a person editing any of them is
pointed at the line to fix, not at a stack trace.

The document is composed once (yaml node tree), every key path's line is recorded, then
the same nodes are constructed into plain data for pydantic. A pydantic error's `loc` is
walked through that data to a key path, and the path to the nearest recorded line.
PyYAML gives the marks and pydantic the locations; the mapping between the two is the
part no library does, hence this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, order=True)
class ConfigError:
    file: str
    line: int  # 0: the file as a whole (unreadable)
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigErrors(ValueError):
    """Every problem found in a set of configuration files, in file and line order."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
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
        if not self.lines:  # data that came without its text (built in code, a test)
            return 0
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(self.file, self.line(path), field_name(path), message)

    def at(self, path: Path_) -> Any:
        """The data at `path`, or None if it is not there."""
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node


def read_source(path: Path, *, empty: Any = None) -> tuple[Source | None, list[ConfigError]]:
    """The parsed file and the problems found on the way (unreadable, bad YAML, duplicate
    keys); `empty` is the data of an empty file, None when empty is an error."""
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [ConfigError(display, 0, "", f"cannot read: {error}")]
    return parse_source(display, text, empty=empty)


def parse_source(
    file: str, text: str, *, empty: Any = None
) -> tuple[Source | None, list[ConfigError]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            if empty is not None:
                return Source(file, empty, {}), []
            return None, [ConfigError(file, 1, "", "the file is empty")]
        lines: dict[Path_, int] = {}
        errors: list[ConfigError] = []
        _walk(node, (), lines, errors, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = ": ".join(p for p in (error.context, error.problem) if p)
        return None, [ConfigError(file, line, "", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as error:
        return None, [ConfigError(file, 1, "", f"YAML error: {error}")]
    finally:
        loader.dispose()
    return Source(file, data, lines), errors


def _walk(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], errors: list[ConfigError], file: str
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML keeps the last one silently; a key written twice is a mistake.
                errors.append(ConfigError(file, line, field_name((*path, key)), "duplicate key"))
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
) -> list[ConfigError]:
    out = []
    for item in error.errors():
        path = _data_path(source.at(prefix), item["loc"])
        full = (*prefix, *path)
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # The tag's own line: the entry's `kind:` / `type:`.
            full = (*full, str((item.get("ctx") or {}).get("discriminator", "kind")).strip("'"))
        out.append(source.error(full, _message(item)))
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """pydantic's loc without the tags it inserts for tagged unions (rules[2].threshold.for
    -> rules[2].for), found by walking the data the loc describes: a part that is not a
    key of the mapping at hand but one of its values is the tag."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part not in node and _is_tag(node, part):
            continue
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(path)


def _is_tag(node: Mapping[Any, Any], part: object) -> bool:
    return isinstance(part, str) and any(v == part for v in node.values() if isinstance(v, str))


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
        return str(ctx.get("error", item["msg"])).removeprefix("Value error, ")
    value = item.get("input")
    shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
    return f"{item['msg'][0].lower()}{item['msg'][1:]}{shown}"


# ---- one call for a whole file ------------------------------------------------------------


def load_model(
    path: Path, model: type[M], *, empty: Any = None, context: Mapping[str, Any] | None = None
) -> M:
    """`path` validated as `model`; raises ConfigErrors naming every problem's line."""
    return load_as(path, TypeAdapter(model), empty=empty, context=context)


def load_as(
    path: Path,
    adapter: TypeAdapter[T],
    *,
    empty: Any = None,
    context: Mapping[str, Any] | None = None,
) -> T:
    """`path` validated by any pydantic TypeAdapter (a list of models, a dict …)."""
    source, errors = read_source(path, empty=empty)
    if source is None or errors:
        raise ConfigErrors(errors)
    return validate_source(source, adapter, context=context)


def validate_source(
    source: Source, adapter: TypeAdapter[T], *, context: Mapping[str, Any] | None = None
) -> T:
    try:
        return adapter.validate_python(
            source.data, context=dict(context) if context is not None else None
        )
    except ValidationError as error:
        raise ConfigErrors(validation_errors(source, error)) from None


def load_data(path: Path, *, empty: Any = None) -> Any:
    """The file's plain data, for the few files whose reader is not a pydantic model;
    syntax errors and duplicate keys still come as file:line."""
    source, errors = read_source(path, empty=empty)
    if source is None or errors:
        raise ConfigErrors(errors)
    return source.data
