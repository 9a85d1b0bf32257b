"""The open datasets at /public/v1/: stations, hourly and daily VN_AQI, hourly water
level and salinity, active public warnings; JSON or CSV (`?format=csv` or `.csv`).

No token. Every answer carries the licence and attribution (JSON fields; the Link
header, for CSV too), is bounded (time range, rows), rate-limited per client address,
cached (Cache-Control, ETag/304, a short server-side cache) and read through the public
reader role (store/open_data.py). Only what api/public/open_data.yaml opens is served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from psycopg_pool import PoolTimeout
from starlette.responses import Response

from api.deps import POOL_WAIT_SECONDS, pool_of
from api.errors import ApiProblem, responses
from api.inputs import Instant, Text
from api.public.config import OpenDataConfig, cached_config
from api.public.delivery import (
    Answer,
    AnswerCache,
    Format,
    PublicLimits,
    client_address,
    licence_block,
    make_answer,
    respond,
)
from config.settings import Settings
from config.timezone import LOCAL_TZ
from store import open_data

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2199, 12, 31)
# Fields of a public warning that are published (not who issued one by hand, nor why).
WARNING_FIELDS = (
    "identifier", "incident", "msg_type", "status", "kind", "level", "severity", "province",
    "district", "headline_vi", "headline_en", "sent", "expires", "cap_url",
)  # fmt: skip
STATION_FIELDS = ("id", "name", "type", "province", "district", "lat", "lon")
AQI_HOURLY_FIELDS = ("station", "hour", "aqi", "category", "colour", "dominant")
AQI_DAILY_FIELDS = ("station", "day", "aqi", "category", "colour", "dominant")
WATER_FIELDS = ("station", "metric", "unit", "hour", "mean", "min", "max", "count")
UNITS = {"waterLevel": "m", "salinity": "‰"}


@dataclass
class OpenData:
    config: OpenDataConfig
    cache: AnswerCache
    limits: PublicLimits


def configure(app: FastAPI, settings: Settings) -> None:
    """The config, cache and limiter on the app's (shared) state."""
    config = cached_config(settings.open_data_file)
    base = getattr(app.state, "rate_limits", None)
    app.state.open_data = OpenData(
        config, AnswerCache(config.limits.cache_entries, config.limits.cache_megabytes << 20),
        PublicLimits.around(base, config.limits.requests),
    )  # fmt: skip


def opened(request: Request) -> OpenData:
    """The open data context, once this client address is within its rate."""
    state: OpenData = request.app.state.open_data
    state.limits.check_public(client_address(request))
    return state


Open = Annotated[OpenData, Depends(opened)]
Station = Annotated[Text | None, Query(max_length=128, description="station id / mã trạm")]
Province = Annotated[Text | None, Query(max_length=100, description="province / tỉnh")]
FormatQuery = Annotated[Format | None, Query(alias="format", description="json (default) or csv")]
StationType = Annotated[
    Text | None, Query(alias="type", max_length=64, description="station type / loại trạm")
]
Metric = Annotated[Text | None, Query(max_length=64, description="waterLevel or salinity")]
Limit = Annotated[int | None, Query(ge=1, description="rows at most (default and cap: config)")]
From = Annotated[Instant | None, Query(alias="from", description="RFC 3339 with offset")]
To = Annotated[Instant | None, Query(alias="to", description="RFC 3339 with offset, exclusive")]

router = APIRouter(prefix="/v1", tags=["open data / dữ liệu mở"])
_ANSWERS = {
    200: {"description": "JSON or CSV", "content": {"application/json": {}, "text/csv": {}}},
    304: {"description": "Not modified (If-None-Match)"},
    **responses(404, 422, 429),
}


def _dataset_routes(path: str, name: str, summary: str) -> Callable[[Callable[..., Response]], Any]:
    """The same operation at `path` and `path.csv`."""

    def register(handler: Callable[..., Response]) -> Callable[..., Response]:
        router.get(path, operation_id=name, summary=summary, responses=_ANSWERS)(handler)
        router.get(
            path + ".csv", operation_id=f"{name}_csv", summary=f"{summary} (CSV)",
            responses=_ANSWERS,
        )(handler)  # fmt: skip
        return handler

    return register


def _format(request: Request, fmt: Format | None) -> Format:
    return "csv" if request.url.path.endswith(".csv") else (fmt or "json")


def _limit(config: OpenDataConfig, limit: int | None) -> int:
    if limit is None:
        return config.limits.default_rows
    if limit > config.limits.max_rows:
        raise ApiProblem(422, "open_limit_too_large", max_rows=config.limits.max_rows)
    return limit


def hourly_range(
    config: OpenDataConfig, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end): by default the last `hourly_default_hours` up to the current hour's
    end, so the key (and ETag) stays the same within an hour."""
    end = end or now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + HOUR
    start = start or end - timedelta(hours=config.limits.hourly_default_hours)
    if start >= end:
        raise ApiProblem(422, "open_range_reversed")
    if end - start > timedelta(days=config.limits.hourly_max_days):
        raise ApiProblem(422, "open_range_too_wide", days=config.limits.hourly_max_days)
    return start.astimezone(UTC), end.astimezone(UTC)


def daily_range(
    config: OpenDataConfig, start: date | None, end: date | None, now: datetime
) -> tuple[date, date]:
    """[start, end] in local days; by default the last `daily_default_days` to today."""
    for day in (start, end):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ApiProblem(422, "open_date_out_of_range")
    end = end or now.astimezone(LOCAL_TZ).date()
    start = start or end - timedelta(days=config.limits.daily_default_days - 1)
    if start > end:
        raise ApiProblem(422, "open_range_reversed")
    if (end - start).days + 1 > config.limits.daily_max_days:
        raise ApiProblem(422, "open_range_too_wide", days=config.limits.daily_max_days)
    return start, end


def _plain_row(row: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Only the published fields; instants in UTC, measured values to 4 decimals."""
    out: dict[str, Any] = {}
    for name in fields:
        value = row.get(name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        elif isinstance(value, float) and name in ("mean", "min", "max"):
            value = round(value, 4)
        out[name] = value
    return out


def _serve(
    request: Request,
    state: OpenData,
    *,
    dataset_id: str,
    fmt: Format,
    query: dict[str, Any],
    fields: Sequence[str],
    read: Callable[[psycopg.Connection], list[dict[str, Any]]],
    limit: int | None = None,
) -> Response:
    """One dataset answer: from the cache, or read as the public reader and rendered."""
    dataset = state.config.dataset(dataset_id)
    if dataset is None:
        raise ApiProblem(404, "open_dataset_closed", dataset=dataset_id)

    def make() -> Answer:
        rows = _read(request, state, query.get("station"), read)
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return make_answer(
            state.config, dataset=dataset_id, fmt=fmt, query=query, columns=fields,
            rows=[_plain_row(r, fields) for r in rows], truncated=truncated,
            max_age=dataset.cache_seconds,
        )  # fmt: skip

    key = (dataset_id, fmt, tuple(sorted(query.items())))
    return respond(request, state.config, state.cache.get_or_make(key, make))


def _read(
    request: Request,
    state: OpenData,
    station: str | None,
    read: Callable[[psycopg.Connection], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    scope = state.config.scope
    try:
        with (
            pool_of(request).connection(timeout=POOL_WAIT_SECONDS) as conn,
            open_data.public_reader(conn),
        ):
            if station is not None and not open_data.station_is_open(conn, scope, station):
                raise ApiProblem(404, "open_station_not_found", station=station)
            return read(conn)
    except PoolTimeout as error:
        raise ApiProblem(503, "database_unavailable") from error
    except psycopg.errors.InsufficientPrivilege as error:
        # The public reader may not read what this dataset asked for: a grant is missing
        # (a table made after migration 20) or the query reached past the open views.
        log.error("open data read refused by the database: %s", error)
        raise ApiProblem(503, "database_unavailable") from error


@_dataset_routes("/stations", "stations", "Trạm quan trắc / Monitoring stations")
def stations(
    request: Request,
    state: Open,
    fmt: FormatQuery = None,
    kind: StationType = None,
    province: Province = None,
) -> Response:
    scope = state.config.scope
    return _serve(
        request, state, dataset_id="stations", fmt=_format(request, fmt),
        query={"type": kind, "province": province}, fields=STATION_FIELDS,
        read=lambda c: open_data.stations(c, scope, station_type=kind, province=province),
    )  # fmt: skip


@_dataset_routes("/aqi/hourly", "aqi_hourly", "VN_AQI theo giờ / Hourly VN_AQI")
def aqi_hourly(
    request: Request,
    state: Open,
    fmt: FormatQuery = None,
    station: Station = None,
    province: Province = None,
    start: From = None,
    end: To = None,
    limit: Limit = None,
) -> Response:
    rows = _limit(state.config, limit)
    first, last = hourly_range(state.config, start, end, datetime.now(UTC))
    scope = state.config.scope
    return _serve(
        request, state, dataset_id="aqi-hourly", fmt=_format(request, fmt),
        query={"station": station, "province": province, "from": first, "to": last,
               "limit": rows},
        fields=AQI_HOURLY_FIELDS, limit=rows,
        read=lambda c: open_data.aqi_hourly(
            c, scope, start=first, end=last, limit=rows + 1, station=station, province=province
        ),
    )  # fmt: skip


@_dataset_routes("/aqi/daily", "aqi_daily", "VN_AQI theo ngày / Daily VN_AQI")
def aqi_daily(
    request: Request,
    state: Open,
    fmt: FormatQuery = None,
    station: Station = None,
    province: Province = None,
    start: Annotated[date | None, Query(alias="from", description="first day")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, inclusive")] = None,
    limit: Limit = None,
) -> Response:
    rows = _limit(state.config, limit)
    first, last = daily_range(state.config, start, end, datetime.now(UTC))
    scope = state.config.scope
    return _serve(
        request, state, dataset_id="aqi-daily", fmt=_format(request, fmt),
        query={"station": station, "province": province, "from": first, "to": last,
               "limit": rows},
        fields=AQI_DAILY_FIELDS, limit=rows,
        read=lambda c: open_data.aqi_daily(
            c, scope, start=first, end=last, limit=rows + 1, station=station, province=province
        ),
    )  # fmt: skip


@_dataset_routes("/water/hourly", "water_hourly", "Mực nước, độ mặn theo giờ / Hourly water")
def water_hourly(
    request: Request,
    state: Open,
    fmt: FormatQuery = None,
    station: Station = None,
    province: Province = None,
    metric: Metric = None,
    start: From = None,
    end: To = None,
    limit: Limit = None,
) -> Response:
    dataset = state.config.dataset("water-hourly")
    allowed = dataset.metrics if dataset else ()
    if metric is not None and metric not in allowed:
        raise ApiProblem(422, "open_metric_closed", metric=metric[:64], allowed=", ".join(allowed))
    metrics = (metric,) if metric else allowed
    rows = _limit(state.config, limit)
    first, last = hourly_range(state.config, start, end, datetime.now(UTC))
    scope = state.config.scope

    def read(conn: psycopg.Connection) -> list[dict[str, Any]]:
        found = open_data.water_hourly(
            conn, scope, metrics=metrics, start=first, end=last, limit=rows + 1,
            station=station, province=province,
        )  # fmt: skip
        return [{**r, "unit": UNITS.get(r["metric"])} for r in found]

    return _serve(
        request, state, dataset_id="water-hourly", fmt=_format(request, fmt),
        query={"station": station, "province": province, "metric": metric, "from": first,
               "to": last, "limit": rows},
        fields=WATER_FIELDS, limit=rows, read=read,
    )  # fmt: skip


@_dataset_routes("/warnings", "warnings", "Cảnh báo đang có hiệu lực / Active public warnings")
def warnings(
    request: Request,
    state: Open,
    fmt: FormatQuery = None,
    province: Province = None,
    district: Annotated[Text | None, Query(max_length=100, description="district / huyện")] = None,
) -> Response:
    try:
        from store.public_warnings import active_public_warnings
    except ImportError as error:  # the CAP feed's store is not installed
        raise ApiProblem(404, "open_dataset_closed", dataset="warnings") from error
    return _serve(
        request, state, dataset_id="warnings", fmt=_format(request, fmt),
        query={"province": province, "district": district}, fields=WARNING_FIELDS,
        read=lambda c: active_public_warnings(c, province=province, district=district),
    )  # fmt: skip


@router.get("/datasets", operation_id="datasets", summary="Danh mục dữ liệu / Catalogue")
def datasets(state: Open) -> dict[str, Any]:
    """The open datasets, their formats, update frequency and licence."""
    return {**licence_block(state.config), "datasets": catalogue_entries(state.config)}


DATASET_PATHS = {
    "stations": "/public/v1/stations",
    "aqi-hourly": "/public/v1/aqi/hourly",
    "aqi-daily": "/public/v1/aqi/daily",
    "water-hourly": "/public/v1/water/hourly",
    "warnings": "/public/v1/warnings",
}


def catalogue_entries(config: OpenDataConfig) -> list[dict[str, Any]]:
    return [
        {
            **d.model_dump(exclude={"cache_seconds", "metrics"}),
            "formats": ["json", "csv"],
            "json": DATASET_PATHS[d.id],
            "csv": DATASET_PATHS[d.id] + ".csv",
            "cache_seconds": d.cache_seconds,
        }
        for d in config.datasets
    ]


__all__ = ["OpenData", "configure", "router"]
