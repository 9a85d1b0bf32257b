"""Means that VN_AQI and QCVN 05 are defined on, built from raw readings.

Pure functions over lists of (time, value) pairs. Times must be timezone-aware (every
Measurement is). Hourly buckets are labelled by the START of the hour, [h, h+1): a
station that stamps a pre-averaged hour with its END time must be shifted by the caller.

Quality: a (time, value, quality) triple with Quality.BAD is dropped here, so that a
BAD reading can never reach the AQI whichever path the data took.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from statistics import fmean

from config.timezone import LOCAL_TZ
from events.models import Measurement, Quality

from .aqi import NOWCAST_HOURS, DailyInputs, tables

Point = tuple[datetime, float]
Reading = tuple[datetime, float] | tuple[datetime, float, Quality]

HOUR = timedelta(hours=1)


def hour_start(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"{t.isoformat()} has no timezone")
    # UTC+7 is a whole-hour offset, so UTC hour boundaries are local hour boundaries too.
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def points_from_measurements(
    measurements: Iterable[Measurement], metric: str, *, allow_suspect: bool = True
) -> list[Point]:
    """(time, value) of one metric's usable readings: BAD always dropped, SUSPECT optional."""
    worst = Quality.SUSPECT if allow_suspect else Quality.GOOD
    return [(m.time, m.value) for m in measurements if m.metric == metric and m.quality <= worst]


def _usable(readings: Iterable[Reading]) -> Iterable[Point]:
    for reading in readings:
        if len(reading) == 3 and reading[2] >= Quality.BAD:
            continue
        yield reading[0], reading[1]


def hourly_means(readings: Iterable[Reading], *, min_count: int = 1) -> list[Point]:
    """Mean per clock hour, sorted; hours with fewer than `min_count` usable readings are
    left out (a gap, not a zero)."""
    buckets: dict[datetime, list[float]] = {}
    for t, value in _usable(readings):
        buckets.setdefault(hour_start(t), []).append(value)
    return [(h, fmean(vs)) for h, vs in sorted(buckets.items()) if len(vs) >= min_count]


def rolling_means(hourly: Iterable[Point], *, hours: int = 8, min_count: int = 6) -> list[Point]:
    """Running means over `hours` consecutive hours, labelled by the window's last hour.

    A window is emitted for every hour from the first to the last input hour that has at
    least `min_count` values in it, so a missing hour does not break the series.
    """
    by_hour = {hour_start(t): v for t, v in hourly}
    if not by_hour:
        return []
    out: list[Point] = []
    end, last = min(by_hour), max(by_hour)
    while end <= last:
        window = [by_hour.get(end - i * HOUR) for i in range(hours)]
        values = [v for v in window if v is not None]
        if len(values) >= min_count:
            out.append((end, fmean(values)))
        end += HOUR
    return out


def nowcast_hours(hourly: Iterable[Point], at: datetime) -> list[float | None]:
    """c1..c12 for NowCast: c1 is the hour containing `at`, None where an hour is missing."""
    by_hour = {hour_start(t): v for t, v in hourly}
    current = hour_start(at)
    return [by_hour.get(current - i * HOUR) for i in range(NOWCAST_HOURS)]


def day_hours(day: date, tz: timezone = LOCAL_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    return start, start + timedelta(days=1)


def _in_day(hourly: Iterable[Point], start: datetime, end: datetime) -> list[float]:
    return [v for t, v in hourly if start <= hour_start(t) < end]


def daily_inputs(
    hourly: Mapping[str, Sequence[Point]], day: date, tz: timezone = LOCAL_TZ
) -> DailyInputs:
    """The statistics of `day` for daily_aqi from hourly means keyed by metric name.

    O3 8h windows END within the day, so pass the previous evening's hours too if the
    first windows of the day should count.
    """
    start, end = day_hours(day, tz)
    t = tables()

    def pm_mean(metric: str) -> float | None:
        values = _in_day(hourly.get(metric, ()), start, end)
        return fmean(values) if len(values) >= t.pm_24h_min_hours else None

    def day_max(metric: str) -> float | None:
        values = _in_day(hourly.get(metric, ()), start, end)
        return max(values) if values else None

    o3_8h = rolling_means(hourly.get("o3", ()), hours=8, min_count=t.o3_8h_min_hours)
    o3_8h_day = _in_day(o3_8h, start, end)
    return DailyInputs(
        pm25_24h=pm_mean("pm25"),
        pm10_24h=pm_mean("pm10"),
        o3_max_1h=day_max("o3"),
        o3_max_8h=max(o3_8h_day) if o3_8h_day else None,
        no2_max_1h=day_max("no2"),
        so2_max_1h=day_max("so2"),
        co_max_1h=day_max("co"),
    )
