"""Ordered alarm levels and where their thresholds come from.

The definitions are data (alarm_levels.yaml). Flood levels are per station: they come
from device metadata `alarm_levels: {bd1, bd2, bd3}` (metres), because one set of numbers
for every river would be wrong everywhere but one gauge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from config.yaml_loader import load_data

from .aqi import tables as aqi_tables

LEVELS_FILE = Path(__file__).with_name("alarm_levels.yaml")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class LevelConfigError(ValueError):
    """Thresholds that cannot drive an alarm; str() says which and why."""


def parse_duration(value: str | int | float | None) -> timedelta:
    """'90s', '15m', '2h', '1d', or a number of seconds."""
    if value is None:
        return timedelta(0)
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if match is None:
        raise LevelConfigError(f"bad duration {value!r}; use e.g. 90s, 15m, 2h, 1d")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


@dataclass(frozen=True, slots=True)
class Level:
    key: str
    threshold: float
    vi: str = ""
    en: str = ""
    colour: tuple[int, int, int] | None = None
    # A level's own clear distance (a rule pack's separate `clear:` line); None: the spec's.
    margin: float | None = None


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """Ordered levels of one detector for one entity (rising values are worse)."""

    detector: str
    levels: tuple[Level, ...]
    margin: float = 0.0
    hold: timedelta = timedelta(0)  # the `for:` before escalating
    clear_hold: timedelta = timedelta(0)  # the `clear_for:` before de-escalating
    source: str = ""
    keys: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.levels:
            raise LevelConfigError(f"{self.detector}: no levels")
        thresholds = [lvl.threshold for lvl in self.levels]
        if not all(math.isfinite(t) for t in thresholds) or any(
            a >= b for a, b in pairwise(thresholds)
        ):
            raise LevelConfigError(f"{self.detector}: thresholds {thresholds} must ascend")
        if self.margin < 0 or self.hold < timedelta(0) or self.clear_hold < timedelta(0):
            raise LevelConfigError(f"{self.detector}: margin and durations must be >= 0")
        if any(not (lvl.margin is None or 0 <= lvl.margin < math.inf) for lvl in self.levels):
            raise LevelConfigError(f"{self.detector}: a level's margin must be >= 0")
        object.__setattr__(self, "keys", {lvl.key: i for i, lvl in enumerate(self.levels)})

    def rank(self, key: str | None) -> int:
        """0 for normal, 1 for the lowest level, and so on."""
        return 0 if key is None else self.keys[key] + 1

    def level(self, key: str) -> Level:
        return self.levels[self.keys[key]]

    def exit_line(self, key: str) -> float:
        """The value below which level `key` is left (threshold minus its margin)."""
        lvl = self.level(key)
        return lvl.threshold - (self.margin if lvl.margin is None else lvl.margin)


@cache
def config() -> Mapping[str, Any]:
    """alarm_levels.yaml, read once per process."""
    return load_data(LEVELS_FILE)


def _spec(
    name: str, doc: Mapping[str, Any], levels: list[Level], meta: Mapping[str, Any]
) -> LevelSpec:
    return LevelSpec(
        detector=name,
        levels=tuple(levels),
        margin=float(meta.get("alarm_margin", doc.get("margin", 0.0))),
        hold=parse_duration(doc.get("for")),
        clear_hold=parse_duration(doc.get("clear_for")),
        source=doc.get("source", ""),
    )


def _levels_from(
    name: str, doc: Mapping[str, Any], thresholds: Mapping[str, Any], *, partial: bool
) -> list[Level]:
    levels = []
    for entry in doc["levels"]:
        value = thresholds.get(entry["key"], entry.get("threshold"))
        if value is None:
            if partial:
                continue
            raise LevelConfigError(f"{name}: no threshold for level {entry['key']}")
        levels.append(Level(entry["key"], float(value), entry.get("vi", ""), entry.get("en", "")))
    return levels


def water_level_spec(metadata: Mapping[str, Any]) -> LevelSpec:
    """Flood levels of one station from its metadata `alarm_levels: {bd1, bd2, bd3}`.

    A station may publish only some levels (Xẻo Rô officially has only BĐ II); the ones
    given are used. `alarm_margin` in the metadata overrides the default margin.
    """
    doc = config()["detectors"]["water_level"]
    thresholds = metadata.get(doc["metadata_key"])
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise LevelConfigError(f"station has no {doc['metadata_key']} in its metadata")
    levels = _levels_from("water_level", doc, thresholds, partial=True)
    if not levels:
        raise LevelConfigError(f"{doc['metadata_key']} has none of bd1, bd2, bd3")
    return _spec("water_level", doc, levels, metadata)


def salinity_spec(metadata: Mapping[str, Any] | None = None) -> LevelSpec:
    """Salinity watch/warning levels; a station may override them in its metadata."""
    metadata = metadata or {}
    doc = config()["detectors"]["salinity"]
    overrides = metadata.get(doc["metadata_key"]) or {}
    return _spec("salinity", doc, _levels_from("salinity", doc, overrides, partial=False), metadata)


def aqi_spec() -> LevelSpec:
    """AQI alert levels: one per VN_AQI category from 'poor' up, starting at its min."""
    doc = config()["detectors"]["aqi"]
    by_key = {c.key: c for c in aqi_tables().categories}
    levels = [
        Level(key, float(by_key[key].min), by_key[key].vi, by_key[key].en, by_key[key].rgb)
        for key in doc["categories"]
    ]
    return _spec("aqi", doc, levels, {})


@dataclass(frozen=True, slots=True)
class StuckRule:
    duration: timedelta
    tolerance: float = 0.0


@dataclass(frozen=True, slots=True)
class RateRule:
    change: float  # positive: a rise of at least this; negative: a fall
    window: timedelta


def stuck_rule(metric: str) -> StuckRule | None:
    entry = config()["checks"]["stuck"].get(metric)
    if entry is None:
        return None
    return StuckRule(parse_duration(entry["for"]), float(entry.get("tolerance", 0.0)))


def rate_rule(metric: str) -> RateRule | None:
    entry = config()["checks"]["rate_of_change"].get(metric)
    if entry is None:
        return None
    return RateRule(float(entry["change"]), parse_duration(entry["window"]))
