"""Seasonal baselines: mean and standard deviation of the same ISO weeks of past years.

The "endemic channel" of surveillance practice: for week W of year Y, the counts of weeks
W-a .. W+a of years Y-n .. Y-1 are pooled, and a week above mean + k·sd is unusual.
Weeks are moved by date (the Monday of the week ± 7 days), so a 53-week year and the
turn of the year take care of themselves. Missing weeks are left out (unknown, not 0).
Hand-written: a few lines of `statistics`, no library does ISO-week pooling.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True)
class Baseline:
    mean: float
    sd: float
    years: int  # past years that had data
    source: str  # "history" (computed) or "loaded"

    def line(self, k: float) -> float:
        return self.mean + k * self.sd


def same_weeks(year: int, week: int, past_year: int, around: int) -> list[tuple[int, int]]:
    """The ISO weeks of `past_year` around week `week` (clipped to a real week)."""
    last = date(past_year, 12, 28).isocalendar().week  # 52 or 53
    centre = date.fromisocalendar(past_year, min(week, last), 1)
    out = []
    for shift in range(-around, around + 1):
        iso = (centre + timedelta(weeks=shift)).isocalendar()
        out.append((iso.year, iso.week))
    return out


def seasonal_baseline(
    history: Mapping[tuple[int, int], float],
    year: int,
    week: int,
    *,
    years: int,
    around: int,
    min_years: int,
) -> Baseline | None:
    """Baseline of (year, week) from `history` {(iso_year, iso_week): cases}; None when
    fewer than `min_years` past years have any of the weeks."""
    values: list[float] = []
    with_data = 0
    for past in range(year - years, year):
        found = [history[w] for w in same_weeks(year, week, past, around) if w in history]
        if found:
            with_data += 1
            values += found
    if with_data < min_years or not values:
        return None
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return Baseline(statistics.fmean(values), sd, with_data, "history")


def parse_baselines(
    records: Iterable[Mapping[str, Any]], communes: Collection[str], diseases: Collection[str]
) -> tuple[list[tuple[str, str, int, float, float, int]], list[str]]:
    """Rows (commune, disease, week, mean, sd, years) of a baselines CSV, and the problems
    ("row N: why"); a file with any problem is loaded not at all by the CLI."""
    rows: list[tuple[str, str, int, float, float, int]] = []
    problems: list[str] = []
    for number, record in enumerate(records, start=1):
        try:
            commune = str(record.get("commune") or "").strip()
            disease = str(record.get("disease") or "").strip().lower()
            if commune not in communes:
                raise ValueError(f"unknown commune {commune[:60]!r}")
            if disease not in diseases:
                raise ValueError(f"unknown disease {disease[:40]!r}")
            week, years = int(record["week"]), int(record["years"])
            mean, sd = float(record["mean"]), float(record["sd"])
            if not 1 <= week <= 53 or years < 1:
                raise ValueError("week must be 1-53 and years at least 1")
            if not (math.isfinite(mean) and math.isfinite(sd)) or mean < 0 or sd < 0:
                raise ValueError("mean and sd must be numbers >= 0")
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"row {number}: {error}")
            continue
        rows.append((commune, disease, week, mean, sd, years))
    return rows, problems
