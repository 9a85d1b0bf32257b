"""The air-quality job's storage: hourly means from readings, the AQI series it keeps.

Hourly means are computed from the readings themselves, not from measurements_1h. A
station that buffered its readings through an outage sends hours that are already
behind a continuous aggregate's watermark; on TimescaleDB those hours stay out of the
rollup until its next policy run (an hour later for measurements_1h), and the job,
which computes each hour once, would have computed them from nothing. One station's
window is a few thousand rows found through measurements_identity (device_id, metric,
time), so reading them is cheap on either engine. The same SQL runs on both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from events.models import Quality
from store.jsonb import jsonb

# GOOD and SUSPECT readings enter the means; BAD ones never reach the AQI (the rollups
# use the same rule).
USABLE_QUALITY = int(Quality.BAD)
# date_bin with a UTC origin: whole UTC hours whatever the session's time zone.
_HOUR_BIN = "date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"

Series = dict[str, list[tuple[datetime, float]]]


@dataclass(frozen=True)
class StationProgress:
    device_id: str
    last_done: datetime | None  # the newest hour in aqi_hourly
    first_reading: datetime | None  # the first usable reading since the horizon


@dataclass(frozen=True)
class AqiRow:
    aqi: int | None
    category: str | None
    colour: str | None
    dominant: str | None
    sub_indices: dict[str, object]
    inputs: dict[str, object] | None = None


def station_progress(
    conn: psycopg.Connection, metrics: Sequence[str], horizon: datetime
) -> list[StationProgress]:
    """Devices heard from since the horizon, with their AQI progress and first air
    reading (None for devices that measure no air metric)."""
    rows = conn.execute(
        "SELECT s.device_id,"
        " (SELECT max(hour) FROM aqi_hourly a WHERE a.device_id = s.device_id),"
        " (SELECT min(time) FROM measurements m WHERE m.device_id = s.device_id"
        f"  AND m.metric = ANY(%s) AND m.time >= %s AND m.quality < {USABLE_QUALITY})"
        " FROM device_last_seen s WHERE s.last_seen >= %s ORDER BY s.device_id",
        (list(metrics), horizon, horizon),
    ).fetchall()
    return [StationProgress(*row) for row in rows]


def hourly_means(
    conn: psycopg.Connection,
    device_id: str,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
) -> Series:
    """Mean of each metric per UTC hour in [start, end), oldest first."""
    series: Series = defaultdict(list)
    for metric, hour, mean in conn.execute(
        f"SELECT metric, {_HOUR_BIN} AS hour, avg(value) FROM measurements"
        " WHERE device_id = %s AND metric = ANY(%s) AND time >= %s AND time < %s"
        f" AND quality < {USABLE_QUALITY} GROUP BY metric, hour ORDER BY metric, hour",
        (device_id, list(metrics), start, end),
    ):
        series[metric].append((hour, float(mean)))
    return dict(series)


def store_hour(conn: psycopg.Connection, device_id: str, hour: datetime, row: AqiRow) -> None:
    conn.execute(
        "INSERT INTO aqi_hourly (device_id, hour, aqi, category, colour, dominant,"
        " sub_indices, inputs) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (device_id, hour) DO UPDATE SET aqi = excluded.aqi,"
        " category = excluded.category, colour = excluded.colour,"
        " dominant = excluded.dominant, sub_indices = excluded.sub_indices,"
        " inputs = excluded.inputs, computed_at = now()",
        (device_id, hour, row.aqi, row.category, row.colour, row.dominant,
         jsonb(row.sub_indices), jsonb(row.inputs or {})),
    )  # fmt: skip


def store_day(conn: psycopg.Connection, device_id: str, day: date, row: AqiRow) -> None:
    conn.execute(
        "INSERT INTO aqi_daily (device_id, day, aqi, category, colour, dominant, sub_indices,"
        " inputs) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, day) DO UPDATE"
        " SET aqi = excluded.aqi, category = excluded.category, colour = excluded.colour,"
        " dominant = excluded.dominant, sub_indices = excluded.sub_indices,"
        " inputs = excluded.inputs, computed_at = now()",
        (device_id, day, row.aqi, row.category, row.colour, row.dominant,
         jsonb(row.sub_indices), jsonb(row.inputs or {})),
    )  # fmt: skip
