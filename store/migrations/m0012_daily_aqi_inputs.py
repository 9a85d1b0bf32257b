"""aqi_daily.inputs: the day's statistics its AQI was computed from.

The 24-hour means and the day's highest hourly means (processors/environment/aqi.py,
daily columns), as aqi_hourly keeps its hour's concentrations. The environment dashboard
draws them against the QCVN 05:2023 limits for ranges over 7 days: one value a station
a day instead of every hour and a rolling window over it (at 60 stations a month took
180-700 ms p95, docs/performance.md). Days computed before this migration have none.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "the statistics each daily AQI was computed from"
TRANSACTIONAL = True

# A constant default: PostgreSQL adds the column without rewriting the table.
SQL = "ALTER TABLE aqi_daily ADD COLUMN IF NOT EXISTS inputs jsonb NOT NULL DEFAULT '{}'::jsonb"


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
