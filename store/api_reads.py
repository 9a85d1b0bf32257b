"""Read queries of the API beside alerts: pages of the device registry and of security
events, and a station's hourly VN_AQI. Pages are keyset pages: the caller passes the
sort key of the previous page's last row, so every page costs the same."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


def _rows(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def security_events_page(
    conn: psycopg.Connection,
    since: datetime,
    *,
    source_ip: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (time, event_id) of the previous page's last."""
    after_time, after_id = after if after else (None, None)
    return _rows(
        conn,
        "SELECT time, event_id, dataset, category, action, outcome, source_ip, user_name,"
        " host_name, rule_name, message FROM security_events WHERE time >= %s"
        " AND (%s::inet IS NULL OR source_ip = %s::inet)"
        " AND (%s::timestamptz IS NULL OR (time, event_id) < (%s::timestamptz, %s::text))"
        " ORDER BY time DESC, event_id DESC LIMIT %s",
        (since, source_ip, source_ip, after_time, after_time, after_id, limit),
    )


def aqi_hours(
    conn: psycopg.Connection, device_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT hour, aqi, category, colour, dominant, sub_indices FROM aqi_hourly"
        " WHERE device_id = %s AND hour >= %s AND hour < %s ORDER BY hour",
        (device_id, start, end),
    )
