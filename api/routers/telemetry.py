"""Telemetry of one device: the newest reading per metric, and series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import CurrentUser
from api.deps import Conn
from api.errors import not_found, problem, responses
from api.inputs import DeviceIdPath, Instant, Text
from api.schemas import AqiHour, LatestReading, SeriesOut, SeriesPoint
from store import queries
from store.api_reads import aqi_hours
from store.devices import get_device

router = APIRouter(prefix="/api/v1/devices", tags=["telemetry"])

# The widest window per resolution: enough for any chart, small enough that one request
# cannot make the database read a year of raw readings (so a series is bounded too).
MAX_SPAN = {"raw": timedelta(days=7), "1m": timedelta(days=31), "1h": timedelta(days=400)}
DEFAULT_SPAN = timedelta(hours=24)
# How far back /latest looks: a metric silent for longer is not "latest" on a console.
LATEST_SPAN = timedelta(days=31)
READ = responses(401, 404, 422, 429)


def _known_device(conn: Conn, device_id: str) -> None:
    if get_device(conn, device_id) is None:
        raise not_found("device_not_found", device_id=device_id)


def _window(
    start: datetime | None, end: datetime | None, resolution: str
) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_SPAN
    if end <= start:
        raise problem(422, "end_before_start")
    if end - start > MAX_SPAN[resolution]:
        raise problem(422, "window_too_long", resolution=resolution, days=MAX_SPAN[resolution].days)
    return start, end


@router.get("/{device_id}/latest", response_model=list[LatestReading], responses=READ)
def latest(device_id: DeviceIdPath, conn: Conn, user: CurrentUser) -> list[LatestReading]:
    """The newest reading of each metric the device has sent in the last 31 days (one
    row per metric)."""
    _known_device(conn, device_id)
    rows = queries.latest(conn, device_id, since=datetime.now(UTC) - LATEST_SPAN)
    return [LatestReading.model_validate(row) for row in rows]


@router.get("/{device_id}/series", response_model=SeriesOut, responses=READ)
def series(
    device_id: DeviceIdPath,
    conn: Conn,
    user: CurrentUser,
    metric: Annotated[Text, Query(min_length=1, max_length=64)],
    start: Annotated[Instant | None, Query(description="Default: end - 24 h")] = None,
    end: Annotated[Instant | None, Query(description="Default: now")] = None,
    resolution: Literal["raw", "1m", "1h"] = "raw",
) -> SeriesOut:
    start, end = _window(start, end, resolution)
    _known_device(conn, device_id)
    rows = queries.series(conn, device_id, metric, start, end, resolution)
    return SeriesOut(
        device_id=device_id,
        metric=metric,
        resolution=resolution,
        start=start,
        end=end,
        points=[SeriesPoint.model_validate(row) for row in rows],
    )


@router.get("/{device_id}/aqi", response_model=list[AqiHour], responses=READ)
def aqi_series(
    device_id: DeviceIdPath,
    conn: Conn,
    user: CurrentUser,
    start: Annotated[Instant | None, Query(description="Default: end - 24 h")] = None,
    end: Annotated[Instant | None, Query(description="Default: now")] = None,
) -> list[AqiHour]:
    """Hourly VN_AQI of an air-quality station, with category and colour (hour = start)."""
    start, end = _window(start, end, "1h")
    _known_device(conn, device_id)
    return [AqiHour.model_validate(row) for row in aqi_hours(conn, device_id, start, end)]
