"""The health department's weekly case reports, simulated: counts per commune, disease
and ISO week as pure functions of (commune, disease, week, seed), CSV as the API and
`ioc epidemics import` take it.

Seasons as the Mekong Delta's surveillance shows them: dengue rises with the rainy
season (peak around ISO week 36, late August-September, low in March); hand-foot-mouth
disease has a smaller spring peak (weeks 12-18) and a larger one when schools reopen
(weeks 38-46). A commune's weekly count is Poisson around its seasonal mean (drawn by
hashing, so a week's count never changes between runs). Ordinary weeks stay within the
baseline; an outbreak is a scenario's (simulators/scenarios/ninhkieu-dengue-outbreak.yaml).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from simulators.signals import unit_hash

# Mean cases a commune reports in a week: (low season, peak), and the peak's ISO weeks.
SEASONS: dict[str, tuple[float, float, tuple[float, ...]]] = {
    "dengue": (0.6, 3.0, (36.0,)),
    "hfmd": (0.4, 1.6, (15.0, 42.0)),
}
SEASON_WIDTH_WEEKS = 6.0


@dataclass(frozen=True)
class WeekRow:
    commune: str
    disease: str
    iso_year: int
    iso_week: int
    cases: int

    @property
    def week(self) -> str:
        return f"{self.iso_year}-W{self.iso_week:02d}"


def seasonal_mean(disease: str, iso_week: int) -> float:
    low, peak, centres = SEASONS[disease]
    bump = max(
        math.exp(-0.5 * (((iso_week - c + 26) % 52 - 26) / SEASON_WIDTH_WEEKS) ** 2)
        for c in centres
    )
    return low + (peak - low) * bump


def poisson(mean: float, u: float) -> int:
    """The Poisson(mean) count whose cumulative probability first reaches u (inverse
    transform; means here are small, so the loop is short)."""
    k, p = 0, math.exp(-mean)
    total = p
    while total < u and k < 1000:
        k += 1
        p *= mean / k
        total += p
    return k


def week_count(commune: str, disease: str, iso_year: int, iso_week: int, seed: int) -> int:
    u = unit_hash(seed, "cases", commune, disease, iso_year, iso_week)
    return poisson(seasonal_mean(disease, iso_week), u)


def weeks_before(today: date, count: int) -> list[tuple[int, int]]:
    """The `count` complete ISO weeks before `today`'s week, oldest first."""
    monday = today - timedelta(days=today.isoweekday() - 1)
    out = []
    for back in range(count, 0, -1):
        iso = (monday - timedelta(weeks=back)).isocalendar()
        out.append((iso.year, iso.week))
    return out


def year_weeks(year: int) -> list[tuple[int, int]]:
    return [(year, w) for w in range(1, date(year, 12, 28).isocalendar().week + 1)]


def report_rows(
    communes: Sequence[str],
    diseases: Sequence[str],
    weeks: Iterable[tuple[int, int]],
    seed: int,
) -> list[WeekRow]:
    return [
        WeekRow(c, d, y, w, week_count(c, d, y, w, seed))
        for y, w in weeks
        for c in communes
        for d in diseases
    ]


def report_csv(rows: Iterable[WeekRow]) -> bytes:
    lines = ["commune,disease,week,cases"]
    lines += [f"{r.commune},{r.disease},{r.week},{r.cases}" for r in rows]
    return ("\n".join(lines) + "\n").encode()
