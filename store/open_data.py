"""The open datasets' SQL, read as `ioc_public_reader` (migration 20).

Every query runs in a transaction that first switches to the public reader role
(`SET LOCAL ROLE`), which may SELECT the `open_*` views and nothing else: a query that
named a private table or column by mistake fails with "permission denied" instead of
publishing it. The views (owned by the application's role) hold only public columns;
which stations and datasets are open is configuration (api/public/open_data.yaml),
applied here as the `scope` of each query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from store.migrations.m0020_open_data import PUBLIC_ROLE

T = TypeVar("T")
# A public query that takes longer than this is cut (a 4xx/5xx, never a stuck worker).
STATEMENT_TIMEOUT = "5s"


@dataclass(frozen=True)
class Scope:
    """The open stations: of these types, minus the private ones."""

    types: tuple[str, ...]
    private: tuple[str, ...] = ()


@contextmanager
def public_reader(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A transaction run as the public reader role, bounded in time."""
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {PUBLIC_ROLE}")
        conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        yield conn


def as_public(conn: psycopg.Connection, read: Callable[[psycopg.Connection], T]) -> T:
    with public_reader(conn):
        return read(conn)


_OPEN = "s.type = ANY(%(types)s) AND s.id <> ALL(%(private)s)"


def _params(scope: Scope, **more: Any) -> dict[str, Any]:
    return {"types": list(scope.types), "private": list(scope.private), **more}


def stations(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    station_type: str | None = None,
    province: str | None = None,
) -> list[dict[str, Any]]:
    sql = (
        "SELECT s.id, s.name, s.type, s.province, s.district, s.lat, s.lon"
        f" FROM open_stations s WHERE {_OPEN}"
        " AND (%(type)s::text IS NULL OR s.type = %(type)s)"
        " AND (%(province)s::text IS NULL OR s.province = %(province)s)"
        " ORDER BY s.province, s.id"
    )
    params = _params(scope, type=station_type, province=province)
    return _rows(conn, sql, params)


def station_is_open(conn: psycopg.Connection, scope: Scope, station: str) -> bool:
    row = conn.execute(
        f"SELECT 1 FROM open_stations s WHERE s.id = %(id)s AND {_OPEN}",
        _params(scope, id=station),
    ).fetchone()
    return row is not None


def _series_filter(alias: str) -> str:
    """The series' station is open, and matches the optional station/province filter."""
    return (
        f"{alias}.device_id IN (SELECT s.id FROM open_stations s WHERE {_OPEN}"
        " AND (%(station)s::text IS NULL OR s.id = %(station)s)"
        " AND (%(province)s::text IS NULL OR s.province = %(province)s))"
    )


def aqi_hourly(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    start: datetime,
    end: datetime,
    limit: int,
    station: str | None = None,
    province: str | None = None,
) -> list[dict[str, Any]]:
    """Hours in [start, end), by station then hour; at most `limit` rows."""
    sql = (
        "SELECT a.device_id AS station, a.hour, a.aqi, a.category, a.colour, a.dominant"
        f" FROM open_aqi_hourly a WHERE {_series_filter('a')}"
        " AND a.hour >= %(start)s AND a.hour < %(end)s"
        " ORDER BY a.device_id, a.hour LIMIT %(limit)s"
    )
    params = _params(scope, station=station, province=province, start=start, end=end)
    return _rows(conn, sql, {**params, "limit": limit})


def aqi_daily(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    start: date,
    end: date,
    limit: int,
    station: str | None = None,
    province: str | None = None,
) -> list[dict[str, Any]]:
    """Days in [start, end] (local days), by station then day; at most `limit` rows."""
    sql = (
        "SELECT a.device_id AS station, a.day, a.aqi, a.category, a.colour, a.dominant"
        f" FROM open_aqi_daily a WHERE {_series_filter('a')}"
        " AND a.day >= %(start)s AND a.day <= %(end)s"
        " ORDER BY a.device_id, a.day LIMIT %(limit)s"
    )
    params = _params(scope, station=station, province=province, start=start, end=end)
    return _rows(conn, sql, {**params, "limit": limit})


def water_hourly(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    limit: int,
    station: str | None = None,
    province: str | None = None,
) -> list[dict[str, Any]]:
    """Hourly mean/min/max of the open water metrics, by station, metric, hour."""
    sql = (
        "SELECT w.device_id AS station, w.metric, w.hour, w.mean, w.min, w.max, w.count"
        f" FROM open_water_hourly w WHERE {_series_filter('w')}"
        " AND w.metric = ANY(%(metrics)s) AND w.hour >= %(start)s AND w.hour < %(end)s"
        " ORDER BY w.device_id, w.metric, w.hour LIMIT %(limit)s"
    )
    params = _params(scope, station=station, province=province, start=start, end=end)
    return _rows(conn, sql, {**params, "metrics": list(metrics), "limit": limit})


def _rows(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()  # type: ignore[arg-type]
