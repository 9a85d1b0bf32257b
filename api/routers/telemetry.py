"""Telemetry of one device: the newest reading per metric, and series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import CurrentUser
from api.deps import Conn
from api.errors import not_found, problem
from api.schemas import LatestReading, SeriesOut, SeriesPoint
from store import queries
from store.devices import get_device

router = APIRouter(prefix="/api/v1/devices", tags=["telemetry"])

# The widest window per resolution: enough for any chart, small enough that one request
# cannot make the database read a year of raw readings.
MAX_SPAN = {"raw": timedelta(days=7), "1m": timedelta(days=31), "1h": timedelta(days=400)}
DEFAULT_SPAN = timedelta(hours=24)


def _known_device(conn: Conn, device_id: str) -> None:
    if get_device(conn, device_id) is None:
        raise not_found(f"thiết bị {device_id}", f"device {device_id}")


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise problem(
            400,
            f"Thời điểm {name} cần có múi giờ, ví dụ 2026-11-24T08:00:00+07:00",
            f"{name} needs a timezone offset, e.g. 2026-11-24T08:00:00+07:00",
        )
    return value


@router.get("/{device_id}/latest", response_model=list[LatestReading])
def latest(device_id: str, conn: Conn, user: CurrentUser) -> list[LatestReading]:
    _known_device(conn, device_id)
    return [LatestReading.model_validate(row) for row in queries.latest(conn, device_id)]


@router.get("/{device_id}/series", response_model=SeriesOut)
def series(
    device_id: str,
    conn: Conn,
    user: CurrentUser,
    metric: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[datetime | None, Query(description="Default: end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="Default: now")] = None,
    resolution: Literal["raw", "1m", "1h"] = "raw",
) -> SeriesOut:
    end = _aware(end, "end") or datetime.now(UTC)
    start = _aware(start, "start") or end - DEFAULT_SPAN
    if end <= start:
        raise problem(400, "end phải sau start", "end must be after start")
    if end - start > MAX_SPAN[resolution]:
        raise problem(
            400,
            f"Khoảng thời gian quá dài cho độ phân giải {resolution}"
            f" (tối đa {MAX_SPAN[resolution].days} ngày)",
            f"window too long for resolution {resolution}"
            f" (at most {MAX_SPAN[resolution].days} days); use a coarser resolution",
        )
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


@router.get("/{device_id}/aqi")
def aqi_series(
    device_id: str,
    conn: Conn,
    user: CurrentUser,
    start: Annotated[datetime | None, Query(description="Default: end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="Default: now")] = None,
) -> list[dict[str, object]]:
    """Hourly VN_AQI of an air-quality station, with category and colour (hour = start)."""
    _known_device(conn, device_id)
    end = _aware(end, "end") or datetime.now(UTC)
    start = _aware(start, "start") or end - DEFAULT_SPAN
    if end <= start or end - start > MAX_SPAN["1h"]:
        raise problem(400, "Khoảng thời gian không hợp lệ", "start/end span is invalid")
    rows = conn.execute(
        "SELECT hour, aqi, category, colour, dominant, sub_indices FROM aqi_hourly"
        " WHERE device_id = %s AND hour >= %s AND hour < %s ORDER BY hour",
        (device_id, start, end),
    ).fetchall()
    names = ("hour", "aqi", "category", "colour", "dominant", "sub_indices")
    return [dict(zip(names, row, strict=True)) for row in rows]
