"""Read queries. The same SQL runs on TimescaleDB and on plain PostgreSQL: rollups have
the same names and columns on both (continuous aggregates there, tables here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from store.engine import Engine, recorded

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
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Readings or rollup buckets in [start, end), oldest first; at most `limit`."""
    if resolution == "raw":
        return _rows(
            conn,
            "SELECT time, value, quality FROM measurements WHERE device_id = %s"
            " AND metric = %s AND time >= %s AND time < %s ORDER BY time LIMIT %s",
            (device_id, metric, start, end, limit),
        )
    table = _ROLLUP[resolution]  # KeyError for anything else: never interpolated from input
    return _rows(
        conn,
        f"SELECT bucket AS time, avg, min, max, count FROM {table} WHERE device_id = %s"
        " AND metric = %s AND bucket >= %s AND bucket < %s ORDER BY bucket LIMIT %s",
        (device_id, metric, start, end, limit),
    )


def _engine(conn: psycopg.Connection) -> Engine | None:
    """Decided once when the schema was made (store/engine.py), so looked up once per
    database."""
    key = (conn.info.host, conn.info.port, conn.info.dbname)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = recorded(conn)
    return engine


_ENGINES: dict[tuple[str, int, str], Engine | None] = {}

# The newest reading of each metric of every station of a page. A metric's newest
# reading is one descent of the identity index (device_id, metric, time) read backwards,
# and so is the step to the station's next metric (a loose index scan: PostgreSQL has no
# skip scan). Plain PostgreSQL: the step to the next metric has no time bound, or a
# metric silent for longer than the window would be read through its whole history.
# TimescaleDB: every index is per chunk, so each step is bounded to the chunks of the
# window (otherwise it would open every chunk retention keeps, and decompress each).
_FLEET_LATEST = """
WITH page AS (
    SELECT d.id, d.type, d.province, d.name, s.last_seen
    FROM devices d LEFT JOIN device_last_seen s ON s.device_id = d.id
    WHERE ({after}::text IS NULL OR d.id > {after})
      AND ({type}::text IS NULL OR d.type = {type})
      AND ({province}::text IS NULL OR d.province = {province})
    ORDER BY d.id LIMIT {limit}
)
SELECT p.id AS device_id, p.type, p.province, p.name, p.last_seen,
       r.metric, r.time, r.value, r.quality
FROM page p
LEFT JOIN LATERAL (
    WITH RECURSIVE metrics (metric) AS (
        (SELECT m.metric FROM measurements m
         WHERE m.device_id = p.id {step_bound} ORDER BY m.metric DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT m.metric FROM measurements m
                WHERE m.device_id = p.id AND m.metric < x.metric {step_bound}
                ORDER BY m.metric DESC LIMIT 1)
        FROM metrics x WHERE x.metric IS NOT NULL
    )
    SELECT x.metric, l.time, l.value, l.quality
    FROM metrics x
    CROSS JOIN LATERAL (
        SELECT m.time, m.value, m.quality FROM measurements m
        WHERE m.device_id = p.id AND m.metric = x.metric
          AND m.time > p.last_seen - {window} AND m.time <= p.last_seen {chunk_bound}
        ORDER BY m.time DESC LIMIT 1
    ) l
    WHERE x.metric IS NOT NULL AND ({metric}::text IS NULL OR x.metric = {metric})
) r ON true
ORDER BY p.id, r.metric
"""


def fleet_latest(
    conn: psycopg.Connection,
    *,
    window: timedelta,
    after_id: str | None = None,
    device_type: str | None = None,
    province: str | None = None,
    metric: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A page of stations by id (filtered by type and province), each with the newest
    reading of every metric it sent in `window` before its last message
    (device_last_seen), one row per station and metric; a station never heard from has
    one row with metric NULL. Rows of at most `limit` stations."""
    timescale = _engine(conn) is Engine.TIMESCALE
    params: dict[str, Any] = {
        "after": after_id, "type": device_type, "province": province, "metric": metric,
        "limit": limit, "window": window,
    }  # fmt: skip
    bounds = {"step_bound": sql.SQL(""), "chunk_bound": sql.SQL("")}
    if timescale:
        # The lower bound as a value, not a column: TimescaleDB excludes chunks by it
        # before running the query. The page's oldest last message decides it.
        oldest = conn.execute(
            "SELECT min(s.last_seen) FROM (SELECT id FROM devices"
            " WHERE (%(after)s::text IS NULL OR id > %(after)s)"
            " AND (%(type)s::text IS NULL OR type = %(type)s)"
            " AND (%(province)s::text IS NULL OR province = %(province)s)"
            " ORDER BY id LIMIT %(limit)s) d JOIN device_last_seen s ON s.device_id = d.id",
            params,
        ).fetchone()[0]
        if oldest is not None:
            params["since"] = oldest - window
            bound = sql.SQL(
                "AND m.time >= {since} AND m.time > p.last_seen - {window}"
                " AND m.time <= p.last_seen"
            )
            bounds = {"step_bound": bound, "chunk_bound": sql.SQL("AND m.time >= {since}")}
    placeholders = {name: sql.Placeholder(name) for name in params}
    query = sql.SQL(_FLEET_LATEST).format(
        **{k: v.format(**placeholders) for k, v in bounds.items()}, **placeholders
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


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
