"""VN_AQI (Decision 1459/QĐ-TCMT): sub-indices, NowCast, hourly and daily AQI.

The numbers live in aqi_tables.yaml; this module only implements the method. Inputs are
means in µg/m³ that the caller built from GOOD/SUSPECT readings only (see averaging.py):
a BAD reading must never reach these functions.

Rounding: sub-indices are computed as floats and rounded half-up to an integer (after
rounding to 9 decimals, so that float noise such as 109.49999999999999 does not decide
the result). The decision's own worked examples are not consistent with any single rule
(NO2 118.7 → 60 needs ceiling, NO2 130.8 → 65 needs rounding); half-up is the ordinary
reading of "làm tròn" and matches every example but NO2 118.7 (59 instead of 60).

Above the top breakpoint (printed as "≥" in the decision) the sub-index is capped at 500:
the scale ends there and an unbounded number would only mislead the public display.
O3 8h has no breakpoint above 400 µg/m³; there the 8h sub-index is not defined and the
decision uses the 1h value instead.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from config.yaml_loader import load_data

TABLES_FILE = Path(__file__).with_name("aqi_tables.yaml")

AQI_CAP = 500
NOWCAST_HOURS = 12
# Gases whose hourly AQI uses the 1h mean; key = metric name, value = breakpoint column.
HOURLY_GASES: Mapping[str, str] = {"o3": "o3_1h", "co": "co", "so2": "so2", "no2": "no2"}
PM_METRICS = ("pm25", "pm10")


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    min: int
    max: int
    vi: str
    en: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class AqiTables:
    source: str
    index: tuple[float, ...]
    breakpoints: Mapping[str, tuple[float, ...]]
    categories: tuple[Category, ...]
    o3_8h_min_hours: int
    pm_24h_min_hours: int


@cache
def tables() -> AqiTables:
    """The VN_AQI tables, read and checked once per process."""
    return parse_tables(load_data(TABLES_FILE))


def parse_tables(doc: Mapping[str, Any]) -> AqiTables:
    index = tuple(float(v) for v in doc["index"])
    breakpoints = {k: tuple(float(v) for v in col) for k, col in doc["breakpoints"].items()}
    for key, column in breakpoints.items():
        # A typo that breaks the ordering would silently give wrong sub-indices.
        if len(column) > len(index) or any(a >= b for a, b in pairwise(column)):
            raise ValueError(f"breakpoints for {key} must be ascending and fit the index")
    categories = tuple(
        Category(c["key"], c["min"], c["max"], c["vi"], c["en"], tuple(c["rgb"]))
        for c in doc["categories"]
    )
    done = doc["completeness"]
    return AqiTables(
        source=doc["source"],
        index=index,
        breakpoints=breakpoints,
        categories=categories,
        o3_8h_min_hours=int(done["o3_8h_min_hours"]),
        pm_24h_min_hours=int(done["pm_24h_min_hours"]),
    )


def round_aqi(value: float) -> int:
    """Half-up rounding, insensitive to float noise (see module docstring)."""
    return math.floor(round(value, 9) + 0.5)


def sub_index(column: str, concentration: float) -> float | None:
    """Linear interpolation between consecutive breakpoints of `column` (µg/m³).

    Returns None only where the decision defines no value (O3 8h above 400 µg/m³).
    """
    if concentration < 0 or not math.isfinite(concentration):
        raise ValueError(f"{column}: concentration {concentration} is not a valid mean")
    t = tables()
    bps = t.breakpoints[column]
    if concentration >= bps[-1]:
        top = t.index[len(bps) - 1]
        if concentration == bps[-1] or top == AQI_CAP:
            return min(top, AQI_CAP)
        return None
    i = bisect_right(bps, concentration) - 1
    slope = (t.index[i + 1] - t.index[i]) / (bps[i + 1] - bps[i])
    return slope * (concentration - bps[i]) + t.index[i]


def category_for(aqi: int) -> Category:
    for category in tables().categories:
        if category.min <= aqi <= category.max:
            return category
    raise ValueError(f"AQI {aqi} is outside 0..{AQI_CAP}")


def nowcast(hours: Sequence[float | None]) -> float | None:
    """NowCast over hourly means c1..c12 (c1 = current hour; None = missing hour).

    Uses the normalised form Σ w^(i-1)·c_i / Σ w^(i-1) over the hours present, so a missing
    hour has weight 0 instead of pulling the result towards zero.
    """
    c = list(hours[:NOWCAST_HOURS])
    if sum(v is not None for v in c[:3]) < 2:
        return None
    present = [v for v in c if v is not None]
    c_max = max(present)
    # All-zero hours: any weight gives 0; avoid dividing by zero.
    w_star = min(present) / c_max if c_max > 0 else 1.0
    w = 0.5 if w_star <= 0.5 else w_star
    weights = [(w**i, v) for i, v in enumerate(c) if v is not None]
    return sum(wi * v for wi, v in weights) / sum(wi for wi, _ in weights)


@dataclass(frozen=True, slots=True)
class AqiResult:
    """One hourly or daily AQI. `aqi` is None (with `reason`) when it cannot be computed."""

    kind: Literal["hourly", "daily"]
    aqi: int | None
    dominant: str | None  # breakpoint column: pm25, pm10, o3_1h, o3_8h, no2, so2, co
    sub_indices: dict[str, int]
    concentrations: dict[str, float]  # the value each sub-index was computed from
    category: str | None = None
    name_vi: str | None = None
    name_en: str | None = None
    colour: tuple[int, int, int] | None = None
    reason: str | None = None
    # Pollutants present in the input but left out, with why (e.g. NowCast data gap).
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["colour"] = list(self.colour) if self.colour else None
        return out


def _result(
    kind: Literal["hourly", "daily"],
    concentrations: Mapping[str, float],
    skipped: dict[str, str],
) -> AqiResult:
    raw = {k: sub_index(k, c) for k, c in concentrations.items()}
    for key, value in raw.items():
        if value is None:
            skipped[key] = f"{concentrations[key]} µg/m³ is above the {key} table"
    scored = {k: v for k, v in raw.items() if v is not None}
    used = {k: concentrations[k] for k in scored}
    subs = {k: round_aqi(v) for k, v in scored.items()}
    if not any(k in subs for k in PM_METRICS):
        reason = "VN_AQI needs PM2.5 or PM10 (Decision 1459/QĐ-TCMT)"
        return AqiResult(kind, None, None, subs, used, reason=reason, skipped=skipped)
    dominant = max(scored, key=lambda k: scored[k])
    aqi = subs[dominant]
    cat = category_for(aqi)
    return AqiResult(
        kind, aqi, dominant, subs, used, cat.key, cat.vi, cat.en, cat.rgb, skipped=skipped
    )


def hourly_aqi(
    means_1h: Mapping[str, float | None],
    pm_hours: Mapping[str, Sequence[float | None]] | None = None,
) -> AqiResult:
    """Hourly AQI from 1h means of o3/co/so2/no2 and 12 hourly means (c1 first) of PM.

    Keys are canonical metric names; other metrics are ignored.
    """
    misplaced = [m for m in PM_METRICS if means_1h.get(m) is not None]
    if misplaced:
        # Hourly PM must go through NowCast; silently using a 1h mean would be wrong.
        raise ValueError(f"pass {misplaced} as pm_hours (NowCast), not as 1h means")
    concentrations = {
        column: value
        for metric, column in HOURLY_GASES.items()
        if (value := means_1h.get(metric)) is not None
    }
    skipped: dict[str, str] = {}
    for metric, hours in (pm_hours or {}).items():
        if metric not in PM_METRICS:
            continue
        value = nowcast(hours)
        if value is None:
            skipped[metric] = "NowCast needs at least 2 of the last 3 hourly means"
        else:
            concentrations[metric] = value
    return _result("hourly", concentrations, skipped)


@dataclass(frozen=True, slots=True)
class DailyInputs:
    """The day's statistics that daily VN_AQI uses, all µg/m³."""

    pm25_24h: float | None = None
    pm10_24h: float | None = None
    o3_max_1h: float | None = None
    o3_max_8h: float | None = None
    no2_max_1h: float | None = None
    so2_max_1h: float | None = None
    co_max_1h: float | None = None


_DAILY_COLUMNS = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "o3_max_1h": "o3_1h",
    "o3_max_8h": "o3_8h",
    "no2_max_1h": "no2",
    "so2_max_1h": "so2",
    "co_max_1h": "co",
}


def daily_aqi(inputs: DailyInputs) -> AqiResult:
    """Daily AQI. O3 counts as the larger of its 1h and 8h sub-indices, which is what
    taking the maximum over all columns does; the 8h one is skipped above 400 µg/m³."""
    concentrations = {
        column: value
        for name, column in _DAILY_COLUMNS.items()
        if (value := getattr(inputs, name)) is not None
    }
    skipped: dict[str, str] = {}
    o3_8h = concentrations.get("o3_8h")
    if o3_8h is not None and o3_8h > tables().breakpoints["o3_8h"][-1]:
        del concentrations["o3_8h"]
        skipped["o3_8h"] = f"max 8h mean {o3_8h} µg/m³ > 400: the 1h value is used"
    return _result("daily", concentrations, skipped)
