"""Read queries. The same SQL runs on TimescaleDB and on plain PostgreSQL: rollups have
the same names and columns on both (continuous aggregates there, tables here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

Resolution = Literal["raw", "1m", "1h"]
_ROLLUP = {"1m": "measurements_1m", "1h": "measurements_1h"}


def _rows(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def latest(conn: psycopg.Connection, device_id: str, since: datetime) -> list[dict[str, Any]]:
    """The newest reading since `since` of each metric of a device. The bound is a
    constant so TimescaleDB excludes older chunks when planning: unbounded, the query
    opened every chunk retention keeps (401 at 1-day chunks) and ran out of lock slots
    at 2-hour ones (docs/performance.md, chunk interval)."""
    return _rows(
        conn,
        "SELECT DISTINCT ON (metric) metric, time, value, quality FROM measurements"
        " WHERE device_id = %s AND time >= %s ORDER BY metric, time DESC",
        (device_id, since),
    )


def series(
    conn: psycopg.Connection,
    device_id: str,
    metric: str,
    start: datetime,
    end: datetime,
    resolution: Resolution = "raw",
) -> list[dict[str, Any]]:
    if resolution == "raw":
        return _rows(
            conn,
            "SELECT time, value, quality FROM measurements WHERE device_id = %s"
            " AND metric = %s AND time >= %s AND time < %s ORDER BY time",
            (device_id, metric, start, end),
        )
    table = _ROLLUP[resolution]  # KeyError for anything else: never interpolated from input
    return _rows(
        conn,
        f"SELECT bucket AS time, avg, min, max, count FROM {table} WHERE device_id = %s"
        " AND metric = %s AND bucket >= %s AND bucket < %s ORDER BY bucket",
        (device_id, metric, start, end),
    )


def dead_letters(conn: psycopg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT id, received_at, transport, topic, kafka_partition, kafka_offset, format,"
        " reason, payload_size FROM dead_letters ORDER BY received_at DESC LIMIT %s",
        (limit,),
    )


def security_events(
    conn: psycopg.Connection, since: datetime, source_ip: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT time, event_id, dataset, category, action, outcome, source_ip, user_name,"
        " host_name, rule_name, message FROM security_events WHERE time >= %s"
        " AND (%s::inet IS NULL OR source_ip = %s::inet) ORDER BY time DESC LIMIT %s",
        (since, source_ip, source_ip, limit),
    )


def camera_events(
    conn: psycopg.Connection, since: datetime, camera: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT time, event_id, source, camera, event_type, state, label, top_score, zones,"
        " end_time FROM camera_events WHERE time >= %s AND (%s::text IS NULL OR camera = %s)"
        " ORDER BY time DESC LIMIT %s",
        (since, camera, camera, limit),
    )


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("devices", "measurements", "camera_events", "security_events", "dead_letters")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
