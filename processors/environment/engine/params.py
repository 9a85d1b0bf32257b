"""Per-device parameters: a table keyed by device id, read from another YAML file.

A pack names its table as `stations: ../alarm_levels.yaml#stations` (file relative to the
pack, then a dotted path inside it). A rule reads NAME from the device's row with
`{param: NAME}`, falling back to its own `defaults:`; a number that resolves to nothing
drops the level or step that needs it (a station that publishes only BĐ II gets only
that level), so thresholds are never invented for a station.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.yaml_loader import ConfigError as RuleError
from config.yaml_loader import Path_, Source, read_source

from .model import ParamRef

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True)
class StationTable:
    source: Source
    section: tuple[str, ...]
    rows: Mapping[str, Mapping[str, Any]]

    @property
    def name(self) -> str:
        return f"{self.source.file}#{'.'.join(self.section)}"

    def row(self, device_id: str) -> Mapping[str, Any]:
        return self.rows.get(device_id, _EMPTY)

    def path(self, device_id: str, *rest: str) -> Path_:
        return (*self.section, device_id, *rest)

    def error(self, device_id: str, key: str | None, message: str) -> RuleError:
        return self.source.error(self.path(device_id, *([key] if key else [])), message)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_of(
    number: float | ParamRef, row: Mapping[str, Any], defaults: Mapping[str, float]
) -> float | None:
    if not isinstance(number, ParamRef):
        return number
    value = row.get(number.param, defaults.get(number.param))
    return float(value) if is_number(value) else None


def load_table(
    ref: str, pack: Path, cache: dict[tuple[Path, str], StationTable]
) -> tuple[StationTable | None, str | None, list[RuleError]]:
    """(table, problem with the reference itself, problems inside the table file)."""
    file_part, _, section_part = ref.partition("#")
    path = (pack.parent / file_part).resolve()
    if (path, section_part) in cache:
        return cache[(path, section_part)], None, []
    if not path.is_file():
        return None, f"table file {file_part!r} not found next to the pack", []
    source, errors = read_source(path)
    if source is None:
        return None, f"table file {file_part!r} cannot be used", errors
    section = tuple(section_part.split("."))
    rows = source.at(section)
    if not isinstance(rows, Mapping):
        return None, f"{file_part!r} has no mapping at {section_part!r}", errors
    errors += [
        source.error((*section, str(device)), "expected a mapping of parameters")
        for device, row in rows.items()
        if not isinstance(row, Mapping)
    ]
    good = {str(d): r for d, r in rows.items() if isinstance(r, Mapping)}
    table = StationTable(source, section, good)
    cache[(path, section_part)] = table
    return table, None, errors
