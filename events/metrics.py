"""The metric registry: canonical names, units, physical ranges and aliases.

The data lives in metrics.yaml (with the reasoning behind each range); this module
validates it once and answers the two questions decoders ask per reading, fast:
"which canonical metric is this name?" and "is this value physically possible?".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from events.models import Quality

DEFAULT_METRICS_FILE = Path(__file__).with_name("metrics.yaml")

# Same rule as events.models.MetricName (a test keeps the two in step); checked here so a
# bad name is reported as such instead of as a pydantic error per reading.
METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

# Resolved names are memoised; the bound stops a stream of made-up names from growing
# the memo without limit (lookups past it still work, just uncached).
_MEMO_LIMIT = 4096


class MetricError(ValueError):
    """A name or unit the registry cannot accept; str() is a reason a person can act on."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = value * scale + offset"""

    scale: float = 1.0
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset


IDENTITY = Conversion()


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str | None  # None: not in the registry, so no unit is known
    minimum: float = -math.inf
    maximum: float = math.inf
    # Units other than `unit` this metric accepts, beyond the registry-wide conversions.
    units: Mapping[str, Conversion] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.unit is not None

    def quality(self, value: float) -> Quality:
        # Out of physical range means a faulty sensor: keep the row, but never use it.
        return Quality.GOOD if self.minimum <= value <= self.maximum else Quality.BAD


class MetricRegistry:
    def __init__(
        self,
        specs: Mapping[str, MetricSpec],
        aliases: Mapping[str, str],
        unit_aliases: Mapping[str, str],
        conversions: Mapping[tuple[str, str], Conversion],
    ) -> None:
        self._specs = MappingProxyType(dict(specs))
        self._aliases = {name.casefold(): target for name, target in aliases.items()}
        self._aliases.update({name.casefold(): name for name in specs})
        self._unit_aliases = dict(unit_aliases)
        self._conversions = dict(conversions)
        self._memo: dict[str, MetricSpec] = {}

    @property
    def metrics(self) -> Mapping[str, MetricSpec]:
        return self._specs

    def resolve(self, name: str) -> MetricSpec:
        """The spec for a canonical name or alias; unknown valid names get an open spec."""
        try:
            return self._memo[name]
        except KeyError:
            pass
        spec = self._lookup(name)
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[name] = spec
        return spec

    def _lookup(self, name: str) -> MetricSpec:
        target = self._aliases.get(name.casefold())
        if target is not None:
            return self._specs[target]
        if not METRIC_NAME.fullmatch(name):
            raise MetricError(
                f"{name[:80]!r} is not a valid metric name"
                " (a letter, then up to 63 letters, digits or '_')"
            )
        return MetricSpec(name=name, unit=None)

    def normalise_unit(self, unit: str) -> str:
        return self._unit_aliases.get(unit, unit)

    def conversion(self, spec: MetricSpec, unit: str) -> Conversion:
        """How to turn a value in `unit` into the canonical unit of `spec`."""
        unit = self.normalise_unit(unit)
        if spec.unit is None or unit == spec.unit:
            return IDENTITY
        found = spec.units.get(unit) or self._conversions.get((unit, spec.unit))
        if found is None:
            raise MetricError(
                f"unit {unit[:40]!r} cannot be converted to {spec.unit!r}"
                f" (the unit of metric {spec.name!r})"
            )
        return found


# ---- loading metrics.yaml -----------------------------------------------------------


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _LinearDoc(_Doc):
    scale: float = 1.0
    offset: float = 0.0


class _ConversionDoc(_LinearDoc):
    source: str = Field(alias="from")
    to: str


class _MetricDoc(_Doc):
    unit: str
    min: float
    max: float
    aliases: tuple[str, ...] = ()
    units: dict[str, _LinearDoc] = {}

    @model_validator(mode="after")
    def _range_is_ordered(self) -> _MetricDoc:
        if not self.min < self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class _RegistryDoc(_Doc):
    unit_aliases: dict[str, str] = {}
    conversions: tuple[_ConversionDoc, ...] = ()
    metrics: dict[str, _MetricDoc]


def load_registry(path: Path) -> MetricRegistry:
    try:
        doc = _RegistryDoc.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"{path}: {error}") from error
    return _build_registry(doc, str(path))


def _build_registry(doc: _RegistryDoc, origin: str) -> MetricRegistry:
    specs: dict[str, MetricSpec] = {}
    aliases: dict[str, str] = {}
    for name, metric in doc.metrics.items():
        if not METRIC_NAME.fullmatch(name):
            raise ValueError(f"{origin}: {name!r} is not a valid metric name")
        specs[name] = MetricSpec(
            name=name,
            unit=metric.unit,
            minimum=metric.min,
            maximum=metric.max,
            units=MappingProxyType(
                {u: Conversion(c.scale, c.offset) for u, c in metric.units.items()}
            ),
        )
        for alias in metric.aliases:
            aliases[alias] = name
    _check_names_unique(specs, aliases, origin)
    conversions = {(c.source, c.to): Conversion(c.scale, c.offset) for c in doc.conversions}
    return MetricRegistry(specs, aliases, doc.unit_aliases, conversions)


def _check_names_unique(
    specs: Mapping[str, MetricSpec], aliases: Mapping[str, str], origin: str
) -> None:
    # Matching is case-insensitive, so two entries that differ only in case would make
    # the meaning of a name depend on dict order.
    owner: dict[str, str] = {}
    for name, target in [(n, n) for n in specs] + list(aliases.items()):
        key = name.casefold()
        if key in owner and owner[key] != target:
            raise ValueError(
                f"{origin}: name {name!r} is claimed by both {owner[key]!r} and {target!r}"
            )
        owner[key] = target


@cache
def get_registry() -> MetricRegistry:
    """The process-wide registry, read once from the configured metrics file."""
    from config.settings import get_settings

    return load_registry(get_settings().metrics_file)
