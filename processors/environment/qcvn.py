"""QCVN 05:2023/BTNMT exceedance checks; the limits are data in qcvn05_2023.yaml.

Limits change over time (PM2.5 24h: 50 → 45 µg/m³ from 2026-01-01), so every check takes
the date the averaging period belongs to: the local day of a 24h mean, the day the 1h or
8h window ends, any day of the year for an annual mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from config.yaml_loader import load_data

LIMITS_FILE = Path(__file__).with_name("qcvn05_2023.yaml")


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    valid_from: date | None = None


@dataclass(frozen=True, slots=True)
class Standard:
    source: str
    periods: tuple[str, ...]
    limits: Mapping[str, Mapping[str, tuple[Limit, ...]]]  # pollutant -> period -> limits

    def limit(self, pollutant: str, period: str, on: date) -> Limit | None:
        if period not in self.periods:
            raise ValueError(f"unknown averaging period {period!r}; use one of {self.periods}")
        in_force = [
            lim
            for lim in self.limits.get(pollutant, {}).get(period, ())
            if lim.valid_from is None or lim.valid_from <= on
        ]
        return max(in_force, key=lambda lim: lim.valid_from or date.min, default=None)


@cache
def standard() -> Standard:
    """QCVN 05:2023/BTNMT, read and checked once per process."""
    return parse_standard(load_data(LIMITS_FILE))


def parse_standard(doc: Mapping[str, Any]) -> Standard:
    periods = tuple(doc["periods"])
    limits: dict[str, dict[str, tuple[Limit, ...]]] = {}
    for pollutant, by_period in doc["limits"].items():
        unknown = set(by_period) - set(periods)
        if unknown:
            raise ValueError(f"{pollutant}: unknown periods {sorted(unknown)}")
        limits[pollutant] = {
            period: tuple(Limit(float(e["value"]), _as_date(e.get("valid_from"))) for e in entries)
            for period, entries in by_period.items()
        }
    return Standard(doc["source"], periods, limits)


def _as_date(value: date | str | None) -> date | None:
    # YAML gives a date for 2026-01-01 but a string if someone quotes it.
    return date.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Exceedance:
    pollutant: str
    period: str
    mean: float
    limit: float
    ratio: float  # mean / limit; > 1 means exceeded
    exceeded: bool
    on: date
    limit_valid_from: date | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["on"] = self.on.isoformat()
        out["limit_valid_from"] = self.limit_valid_from and self.limit_valid_from.isoformat()
        return out


def assess(pollutant: str, period: str, mean: float, on: date) -> Exceedance | None:
    """Compare a mean with the limit in force on `on`; None if QCVN 05 sets no such limit."""
    std = standard()
    limit = std.limit(pollutant, period, on)
    if limit is None:
        return None
    return Exceedance(
        pollutant=pollutant,
        period=period,
        mean=mean,
        limit=limit.value,
        ratio=mean / limit.value,
        exceeded=mean > limit.value,
        on=on,
        limit_valid_from=limit.valid_from,
        source=std.source,
    )


def exceedance(pollutant: str, period: str, mean: float, on: date) -> Exceedance | None:
    """The exceedance if the mean is above the limit in force on `on`, else None."""
    result = assess(pollutant, period, mean, on)
    return result if result is not None and result.exceeded else None
