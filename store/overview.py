"""Reads behind the console's overview: each device's current state (the
`device_overview` view, the one definition Grafana's wall colours by too) and the open
alerts counted by domain and severity. Both are bounded: a province has hundreds of
devices, not millions, and the cap keeps one request from shipping a registry gone wild."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

DEVICE_COLUMNS = (
    "device_id, name, type, province, district, lat, lon, expected_interval_s, last_seen,"
    " offline, aqi, aqi_category, aqi_colour, aqi_hour, open_alerts, worst_severity, state"
)


def device_states(conn: psycopg.Connection, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` devices by province and id, with their current state."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {DEVICE_COLUMNS} FROM device_overview ORDER BY province, device_id LIMIT %s",
            (limit,),
        )
        return cur.fetchall()


def device_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM devices").fetchone()
    return int(row[0]) if row else 0


def open_alert_counts(
    conn: psycopg.Connection, domains: Collection[str]
) -> list[tuple[str, int, int]]:
    """(domain, severity, count) of the alerts not yet resolved, in the given domains."""
    rows = conn.execute(
        "SELECT domain, severity, count(*) FROM alerts"
        " WHERE status IN ('firing', 'acknowledged') AND domain = ANY(%s)"
        " GROUP BY domain, severity",
        (list(domains),),
    ).fetchall()
    return [(str(domain), int(severity), int(count)) for domain, severity, count in rows]
