"""Cameras: the moment a camera event's row describes, its snapshot reference, the line
crossings and plate reads derived from camera events, and the plate watch list.

`camera_events.frame_time` lets the writer keep the newest state of an event when its
messages arrive out of order or twice (store/writer.py). `camera_events.plate` stays for
the rows written before, but nothing writes it any more: a read plate is personal data
and lives only in `plate_reads`, which the alert service empties after
`plate_retention_days` (processors/jobs/plate_retention.py).

TimescaleDB: both derived tables are hypertables with one-day chunks, so the plate
retention job drops whole days (drop_chunks) and deletes rows of one chunk at most, and
line crossings (counted per minute, kept as long as camera events) go by a retention
policy. Not compressed: a DELETE of plate reads must never meet a compressed chunk, and
the per-minute count reads only the newest rows. Plain PostgreSQL: ordinary tables with
a b-tree on time (both are read and deleted by time range).

The dashboard reader may read line crossings (counts are no one's personal data), never
plate reads nor the watch list.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.engine import Engine
from store.migrations.m0009_dashboard_reads import READER_ROLE
from store.retention import DERIVED_RETENTION

NAME = "camera frame time and snapshot, line crossings, plate reads, plate watch list"
# A GRANT on a hypertable can meet a TimescaleDB policy job ("tuple concurrently
# updated"): in one transaction, store.migrate runs the whole migration again.
TRANSACTIONAL = True

CHUNK = "1 day"
HYPERTABLES = ("line_crossings", "plate_reads")

SQL = """
ALTER TABLE camera_events ADD COLUMN IF NOT EXISTS frame_time timestamptz;
ALTER TABLE camera_events ADD COLUMN IF NOT EXISTS snapshot text;

CREATE TABLE IF NOT EXISTS line_crossings (
    time        timestamptz NOT NULL,
    camera      text NOT NULL,
    line        text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    label       text NOT NULL,
    event_id    text NOT NULL,
    source      text NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS line_crossings_identity
    ON line_crossings (event_id, line, time);
CREATE INDEX IF NOT EXISTS line_crossings_line ON line_crossings (camera, line, time DESC);

CREATE TABLE IF NOT EXISTS plate_reads (
    time         timestamptz NOT NULL,
    camera       text NOT NULL,
    plate        text NOT NULL,
    plate_norm   text NOT NULL,
    score        real,
    direction    text,
    vehicle_type text,
    event_id     text NOT NULL,
    snapshot     text,
    source       text NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS plate_reads_identity ON plate_reads (event_id, time);
CREATE INDEX IF NOT EXISTS plate_reads_plate ON plate_reads (plate_norm, time DESC);
CREATE INDEX IF NOT EXISTS plate_reads_camera ON plate_reads (camera, time DESC);

CREATE TABLE IF NOT EXISTS plate_watchlist (
    plate_norm text PRIMARY KEY,
    plate      text NOT NULL,
    reason     text NOT NULL,
    added_by   text,
    added_at   timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);

-- How far a timed job has got (processors/jobs/line_counts.py: the last minute written).
CREATE TABLE IF NOT EXISTS job_watermarks (
    job     text PRIMARY KEY,
    through timestamptz NOT NULL
);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
    if engine is Engine.TIMESCALE:
        for table in HYPERTABLES:
            conn.execute(
                "SELECT create_hypertable(%s::regclass, 'time',"
                " chunk_time_interval => %s::interval, if_not_exists => true)",
                (table, CHUNK),
            )
        for table, keep in DERIVED_RETENTION.items():
            conn.execute(
                "SELECT add_retention_policy(%s::regclass, %s::interval, if_not_exists => true)",
                (table, keep),
            )
    else:
        for table in HYPERTABLES:
            # Identifiers come from the constant above, never from input.
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_time ON {table} (time DESC)")
    conn.execute(
        sql.SQL("GRANT SELECT ON line_crossings TO {}").format(sql.Identifier(READER_ROLE))
    )
