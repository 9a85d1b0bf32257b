"""The one local time zone constant agrees with the tz database wherever it is used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from config.timezone import LOCAL_TZ, LOCAL_TZ_NAME


def test_fixed_offset_matches_the_tz_database_since_1976() -> None:
    named = ZoneInfo(LOCAL_TZ_NAME)
    moment = datetime(1976, 1, 1, tzinfo=UTC)
    while moment.year < 2100:
        assert moment.astimezone(LOCAL_TZ).utcoffset() == moment.astimezone(named).utcoffset()
        moment += timedelta(days=53, hours=5)  # lands on every month and many hours


def test_local_midnight_is_17_utc_the_day_before() -> None:
    assert datetime(2026, 11, 24, tzinfo=LOCAL_TZ).astimezone(UTC) == datetime(
        2026, 11, 23, 17, tzinfo=UTC
    )
