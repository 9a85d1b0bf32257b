"""Which local (UTC+7) days a report covers: a day; an ISO week (Monday to Sunday) that
holds the date; a calendar month that holds it. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from config.timezone import LOCAL_TZ
from store.reports import Window

PeriodKind = Literal["day", "week", "month"]
PERIODS: tuple[PeriodKind, ...] = ("day", "week", "month")
KIND_VI = {"day": "ngày", "week": "tuần", "month": "tháng"}


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first: date  # first local day
    end: date  # the day after the last

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    def window(self) -> Window:
        return Window(
            start=datetime.combine(self.first, time(), LOCAL_TZ),
            end=datetime.combine(self.end, time(), LOCAL_TZ),
            day_from=self.first,
            day_to=self.end,
            bucket="hour" if self.kind == "day" else "day",
        )

    @property
    def title_vi(self) -> str:
        if self.kind == "day":
            return f"ngày {self.first:%d/%m/%Y}"
        if self.kind == "week":
            week = self.first.isocalendar()
            return (
                f"tuần {week.week:02d}/{week.year} (từ {self.first:%d/%m} đến {self.last:%d/%m/%Y})"
            )
        return f"tháng {self.first:%m/%Y}"

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.first.isoformat()}"


def period_of(kind: PeriodKind, day: date) -> Period:
    if kind == "day":
        return Period(kind, day, day + timedelta(days=1))
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=7))
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(kind, first, following)


def last_closed(kind: PeriodKind, now: datetime) -> Period:
    """The newest period of this kind that has ended, by the local clock."""
    today = now.astimezone(LOCAL_TZ).date()
    current = period_of(kind, today)
    return period_of(kind, current.first - timedelta(days=1))
