"""reports: the archive of built leadership reports (processors/reports/).

One row per (period, first local day of the period): building a report again replaces
its row, so a rebuild after late data never leaves two versions to choose from. The row
keeps the PDF and the HTML as sent and `figures`, every query's rows the report was
drawn from (store/reports.py names them), so a figure can be checked later even after
the data it came from has passed its retention. Small: one row a day, a week, a month.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "reports archive"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS reports (
    id             bigserial PRIMARY KEY,
    period         text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    period_start   date NOT NULL,
    period_end     date NOT NULL CHECK (period_end > period_start),
    built_at       timestamptz NOT NULL DEFAULT now(),
    pdf            bytea NOT NULL,
    html           text NOT NULL,
    figures        jsonb NOT NULL DEFAULT '{}'::jsonb,
    delivered_at   timestamptz,
    delivery_error text,
    UNIQUE (period, period_start)
);
CREATE INDEX IF NOT EXISTS reports_recent ON reports (period, period_start DESC);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
