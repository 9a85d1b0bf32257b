"""Telemetry: one device's newest reading per metric and its series, and the newest
readings of every station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from api import pagination
from api.auth import CurrentUser
from api.deps import Conn
from api.errors import not_found, problem, responses
from api.inputs import DeviceIdPath, Instant, Text
from api.schemas import AqiHour, LatestReading, SeriesOut, StationLatest
from store import queries
from store.api_reads import aqi_hours
from store.devices import get_device

# Paths in full: the device routes sit under /devices, the fleet's under /telemetry.
router = APIRouter(tags=["telemetry"])
DEVICES = "/api/v1/devices"

Resolution = Literal["raw", "1m", "1h"]
# The widest window per resolution: enough for any chart, small enough that one request
# cannot make the database read a year of raw readings (so a series is bounded too).
MAX_SPAN = {"raw": timedelta(days=7), "1m": timedelta(days=31), "1h": timedelta(days=400)}
# Without a resolution the range chooses it, as the dashboards do (docs/dashboards.md):
# raw readings up to a day, minutes up to a week, hours beyond.
AUTO: tuple[tuple[timedelta, Resolution], ...] = (
    (timedelta(days=1), "raw"),
    (timedelta(days=7), "1m"),
)
# The most points one answer holds: a week of minutes (so 1m and 1h always fit their
# automatic ranges; raw readings of a device sending faster than once a minute may not).
MAX_POINTS = 10_080
DEFAULT_SPAN = timedelta(hours=24)
# How far back /latest looks: a metric silent for longer is not "latest" on a console.
LATEST_SPAN = timedelta(days=31)
# The fleet's latest readings: what a station sent in the day before its last message
# (a metric silent for longer while the station reports others has a broken sensor,
# which the health alerts tell; it is not a current value).
FLEET_LATEST_WINDOW = timedelta(days=1)
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


def auto_resolution(span: timedelta) -> Resolution:
    for longest, resolution in AUTO:
        if span <= longest:
            return resolution
    return "1h"


@router.get(DEVICES + "/{device_id}/latest", response_model=list[LatestReading], responses=READ)
def latest(device_id: DeviceIdPath, conn: Conn, user: CurrentUser) -> list[LatestReading]:
    """The newest reading of each metric the device has sent in the last 31 days (one
    row per metric)."""
    _known_device(conn, device_id)
    rows = queries.latest(conn, device_id, since=datetime.now(UTC) - LATEST_SPAN)
    return [LatestReading.model_validate(row) for row in rows]


@router.get(DEVICES + "/{device_id}/series", response_model=SeriesOut, responses=READ)
def series(
    device_id: DeviceIdPath,
    conn: Conn,
    user: CurrentUser,
    metric: Annotated[Text, Query(min_length=1, max_length=64)],
    start: Annotated[Instant | None, Query(description="Default: end - 24 h")] = None,
    end: Annotated[Instant | None, Query(description="Default: now")] = None,
    resolution: Annotated[
        Resolution | None,
        Query(
            description="Default: from the range, raw readings up to 1 day, 1-minute buckets"
            f" up to 7 days, 1-hour beyond; at most {MAX_POINTS} points (see next_start)"
        ),
    ] = None,
) -> Response:
    """Oldest first. The answer's `resolution` says which was used."""
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_SPAN
    chosen = resolution or auto_resolution(end - start)
    start, end = _window(start, end, chosen)
    _known_device(conn, device_id)
    rows = queries.series(conn, device_id, metric, start, end, chosen, limit=MAX_POINTS + 1)
    if len(rows) > MAX_POINTS and resolution is None and chosen == "raw":
        # A device sending faster than once a minute: a day of it as minutes instead.
        chosen = "1m"
        rows = queries.series(conn, device_id, metric, start, end, chosen, limit=MAX_POINTS + 1)
    next_start = rows[MAX_POINTS]["time"] if len(rows) > MAX_POINTS else None
    body = SeriesOut.model_validate(
        {"device_id": device_id, "metric": metric, "resolution": chosen, "start": start,
         "end": end, "points": rows[:MAX_POINTS], "next_start": next_start}
    )  # fmt: skip
    return _json(body.model_dump_json().encode())


def _json(content: bytes, headers: dict[str, str] | None = None) -> Response:
    """The answer serialised once, by pydantic's own serialiser: returned as a model,
    FastAPI would validate it again, turn it into Python objects and encode those (a
    month of hourly points: about a third of the request's time in the API)."""
    return Response(content, media_type="application/json", headers=headers)


@router.get(DEVICES + "/{device_id}/aqi", response_model=list[AqiHour], responses=READ)
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


@router.get(
    "/api/v1/telemetry/latest",
    response_model=list[StationLatest],
    responses={**responses(401, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def fleet_latest(
    request: Request,
    response: Response,
    conn: Conn,
    user: CurrentUser,
    type: Annotated[Text | None, Query(max_length=64, description="Device type")] = None,
    province: Annotated[Text | None, Query(max_length=128)] = None,
    metric: Annotated[Text | None, Query(min_length=1, max_length=64)] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """Every station by id, one page of `limit` stations (see the Link header for the
    next), each with the newest reading of every metric it sent in the day before its
    last message (or only `metric`); a station never heard from has no readings."""
    after = pagination.decode(cursor, (pagination.text_part,))
    rows = queries.fleet_latest(
        conn,
        window=FLEET_LATEST_WINDOW,
        after_id=after[0] if after else None,
        device_type=type,
        province=province,
        metric=metric,
        limit=limit + 1,
    )
    stations = [_station(list(group)) for _, group in groupby(rows, key=lambda r: r["device_id"])]
    shown = pagination.page(request, response, stations, limit, lambda s: (s["device_id"],))
    link = response.headers.get("link")
    return _json(_STATIONS.dump_json(_STATIONS.validate_python(shown)),
                 {"Link": link} if link else None)  # fmt: skip


_STATIONS = TypeAdapter(list[StationLatest])


def _station(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first = rows[0]
    return {
        **{key: first[key] for key in ("device_id", "type", "province", "name", "last_seen")},
        "readings": [r for r in rows if r["metric"] is not None],
    }
