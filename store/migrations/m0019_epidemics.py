"""Weekly case counts per commune and disease, and the seasonal baselines to judge them.

- `epidemic_cases`: one row per commune, disease and ISO week (the health department's
  weekly report, or past years loaded as history); a re-sent week replaces its count.
- `epidemic_baselines`: baselines the health department gives as numbers (mean and sd of
  the same ISO week of past years), for communes whose past counts are not loaded; when a
  row exists it wins over the one computed from `epidemic_cases`.

Plain tables on both engines: a province has a few hundred communes, two diseases and 52
weeks a year, a few ten thousand rows a year. Read by the dashboard reader (counts per
commune, no personal data).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.engine import Engine
from store.migrations.m0009_dashboard_reads import READER_ROLE

NAME = "epidemics: weekly case counts per commune and disease, seasonal baselines"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS epidemic_cases (
    commune     text NOT NULL,
    disease     text NOT NULL,
    iso_year    integer NOT NULL CHECK (iso_year BETWEEN 2000 AND 2199),
    iso_week    integer NOT NULL CHECK (iso_week BETWEEN 1 AND 53),
    cases       integer NOT NULL CHECK (cases >= 0),
    source      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (commune, disease, iso_year, iso_week)
);
CREATE TABLE IF NOT EXISTS epidemic_baselines (
    commune   text NOT NULL,
    disease   text NOT NULL,
    iso_week  integer NOT NULL CHECK (iso_week BETWEEN 1 AND 53),
    mean      double precision NOT NULL CHECK (mean >= 0),
    sd        double precision NOT NULL CHECK (sd >= 0),
    years     integer NOT NULL CHECK (years >= 1),
    source    text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (commune, disease, iso_week)
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone():
        for table in ("epidemic_cases", "epidemic_baselines"):
            grant = sql.SQL("GRANT SELECT ON {} TO {}")
            conn.execute(grant.format(sql.Identifier(table), sql.Identifier(READER_ROLE)))
