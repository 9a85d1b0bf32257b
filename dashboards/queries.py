"""SQL snippets shared by the panels.

Every query runs on TimescaleDB and on plain PostgreSQL: the same table and view names
exist on both (store/migrations), and nothing calls a TimescaleDB-only function.
Grafana's `$__timeGroup` is avoided on purpose: the data source is declared TimescaleDB
(jsonData.timescaledb), so Grafana expands it to `time_bucket(...)`, which plain
PostgreSQL does not have. `date_bin` (PostgreSQL 14+) buckets on both.

Rollups by range: a panel over a long range must not scan raw `measurements`. Grafana has
no "table by range" switch, so a series query is three UNION ALL branches, each guarded
by a condition on the range's width that is a constant once Grafana has put the range in
(`'…'::timestamptz - '…'::timestamptz` folds at planning): PostgreSQL turns the two
branches not wanted into `One-Time Filter: false` and never opens their tables.
  - range ≤ 1 day: raw readings (every reading, quality < 2 as the rollups count),
  - range ≤ 7 days: `measurements_1m` (at most 10,080 buckets a series),
  - longer: `measurements_1h` (30 days = 720 buckets a series).
The bucket is Grafana's `$__interval` but never finer than the source's own bucket.
"""

from __future__ import annotations

RAW_MAX = "1 day"
MINUTE_MAX = "7 days"

RANGE = "($__timeTo()::timestamptz - $__timeFrom()::timestamptz)"
# Grafana's interval as a PostgreSQL interval ($__interval_ms is an integer).
INTERVAL = "make_interval(secs => $__interval_ms / 1000.0)"
ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def bucket(column: str, floor: str | None = None) -> str:
    width = INTERVAL if floor is None else f"greatest({INTERVAL}, INTERVAL '{floor}')"
    return f"date_bin({width}, {column}, {ORIGIN})"


def series_by_range(where: str, series: str = "coalesce(d.name, d.id)") -> str:
    """Mean value per bucket and series over the range, from raw readings or a rollup
    (unordered: wrap it in `ordered`, alone or after a UNION ALL).

    `where` filters `m` (device_id, metric) and may use `d` (devices); `series` names
    each line. Columns: time, metric (the series name Grafana shows), value.
    """
    return f"""
SELECT t AS "time", series AS metric, value
FROM (
    -- range <= {RAW_MAX}: raw readings
    SELECT {bucket("m.time")} AS t, {series} AS series, avg(m.value) AS value
    FROM measurements m
    JOIN devices d ON d.id = m.device_id
    WHERE {RANGE} <= INTERVAL '{RAW_MAX}'
      AND $__timeFilter(m.time) AND m.quality < 2
      AND {where}
    GROUP BY 1, 2
    UNION ALL
    -- {RAW_MAX} < range <= {MINUTE_MAX}: the minute rollup
    SELECT {bucket("m.bucket", "1 minute")}, {series},
           sum(m.avg * m.count) / sum(m.count)
    FROM measurements_1m m
    JOIN devices d ON d.id = m.device_id
    WHERE {RANGE} > INTERVAL '{RAW_MAX}' AND {RANGE} <= INTERVAL '{MINUTE_MAX}'
      AND $__timeFilter(m.bucket)
      AND {where}
    GROUP BY 1, 2
    UNION ALL
    -- range > {MINUTE_MAX}: the hour rollup
    SELECT {bucket("m.bucket", "1 hour")}, {series},
           sum(m.avg * m.count) / sum(m.count)
    FROM measurements_1h m
    JOIN devices d ON d.id = m.device_id
    WHERE {RANGE} > INTERVAL '{MINUTE_MAX}'
      AND $__timeFilter(m.bucket)
      AND {where}
    GROUP BY 1, 2
) s
"""


def ordered(sql: str) -> str:
    """Grafana's time_series format wants rows sorted by time."""
    return f"{sql.rstrip()}\nORDER BY 1, 2\n"
