"""Plates and names out of camera events, and out of the dashboards' reach.

Plates are personal data (Decree 13/2023/NĐ-CP) and live only in `plate_reads`, which
the plate-retention job empties after 30 days. Camera events are kept 180 days, and rows
written before migration 14 still hold the plate in `plate` and in `attributes`
(Frigate's `recognized_license_plate` and its score), and Frigate's `sub_label` /
a review's `sub_labels` can be a plate or a recognised face's name. This migration:

- clears them from the stored rows: `plate` NULL, those attribute keys removed;
- takes `camera_events` from `ioc_dashboard_reader` and gives it the view
  `camera_events_public`: every column but `plate` and `attributes`. A column grant would
  say the same, but TimescaleDB 2.28 copies a hypertable's grants to its compressed
  table, whose columns differ, and refuses a column grant on a table with compression
  enabled (`column "time" of relation "_compressed_hypertable_N" does not exist`, even
  before any chunk is compressed), so a view owned by the application's role is the one
  form both engines take. It runs with its owner's rights, so the reader needs nothing on
  the table; a column added to camera_events later stays unreadable until a migration
  adds it to the view.

Clearing works in windows, each its own transaction, so no statement holds more than one
window's rows: TimescaleDB chunk by chunk (camera events have 7-day chunks, compressed
after 7 days), plain PostgreSQL 7-day windows of `time` (its BRIN index). A compressed
chunk is updated in place (DML on compressed chunks decompresses only the batches that
hold a matching row, `enable_dml_decompression_tuple_filtering`); TimescaleDB refuses a
transaction that decompresses more than 100,000 rows by default, so a window lifts that
bound for itself, and the chunk is compressed again at once rather than left half
compressed until the policy comes round. 200,000 rows (26 compressed chunks, a third with
plates, a third with sub_label) took 2.5-6 s to clear and 0.4-0.7 s to recompress on the
shared 2-core test machine; running it again, 0.1 s (plain PostgreSQL: 2.1 s, then 0.5 s).
A window is looked at first and left alone when nothing in it needs clearing, so running
the migration again writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from store.engine import Engine
from store.migrations.m0009_dashboard_reads import READER_ROLE

NAME = "camera events: plates and names cleared, plate and attributes hidden from dashboards"
# Each window commits on its own (a crash half-way is finished by running again: cleared
# rows no longer match), and compress_chunk must run outside the window's transaction.
TRANSACTIONAL = False

VIEW = "camera_events_public"
# Every column of camera_events but `plate` and `attributes`.
PUBLIC_COLUMNS = (
    "time", "event_id", "source", "camera", "event_type", "state", "label", "score",
    "top_score", "zones", "end_time", "has_snapshot", "false_positive", "ingested_at",
    "updated_at", "frame_time", "snapshot",
)  # fmt: skip
# Attribute keys that can hold a plate or a person's name.
PERSONAL_KEYS = (
    "recognized_license_plate", "recognized_license_plate_score", "sub_label", "sub_labels",
)  # fmt: skip
PLAIN_WINDOW = timedelta(days=7)

_VIEW_SQL = "CREATE OR REPLACE VIEW {view} AS SELECT {columns} FROM camera_events"
_MATCH = "(plate IS NOT NULL OR attributes ?| {keys})"
_WINDOW = "time >= %(start)s AND time < %(end)s"


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    with conn.transaction():
        _hide_from_reader(conn)
    for start, end, chunk in _windows(conn, engine):
        if _clear(conn, start, end, engine) and chunk is not None:
            conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))


def _hide_from_reader(conn: psycopg.Connection) -> None:
    reader, view = sql.Identifier(READER_ROLE), sql.Identifier(VIEW)
    columns = sql.SQL(", ").join(map(sql.Identifier, PUBLIC_COLUMNS))
    conn.execute(sql.SQL(_VIEW_SQL).format(view=view, columns=columns))
    conn.execute(sql.SQL("REVOKE ALL ON camera_events FROM {}").format(reader))
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(view, reader))


def _windows(
    conn: psycopg.Connection, engine: Engine
) -> Iterator[tuple[datetime, datetime, str | None]]:
    """(start, end, the compressed chunk to compress again after clearing, if any)."""
    if engine is Engine.TIMESCALE:
        rows = conn.execute(
            "SELECT range_start, range_end, format('%I.%I', chunk_schema, chunk_name),"
            " is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'camera_events'"
            " ORDER BY range_start"
        ).fetchall()
        for start, end, chunk, compressed in rows:
            yield start, end, chunk if compressed else None
        return
    first, last = conn.execute("SELECT min(time), max(time) FROM camera_events").fetchone()
    while first is not None and first <= last:
        yield first, first + PLAIN_WINDOW, None
        first += PLAIN_WINDOW


def _clear(conn: psycopg.Connection, start: datetime, end: datetime, engine: Engine) -> int:
    """Clear one window in its own transaction; the rows changed."""
    match = sql.SQL(_MATCH).format(keys=sql.Literal(list(PERSONAL_KEYS)))
    where = sql.SQL(" AND ").join([sql.SQL(_WINDOW), match])
    bounds = {"start": start, "end": end}
    with conn.transaction():
        # Looking is cheap and writes nothing; an UPDATE that matches no row still
        # decompresses the batches it cannot rule out (192,422 of 200,000 rows, tried).
        found = conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM camera_events WHERE {})").format(where), bounds
        ).fetchone()
        if not (found and found[0]):
            return 0
        if engine is Engine.TIMESCALE:
            conn.execute("SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0")
        update = sql.SQL(
            "UPDATE camera_events SET plate = NULL, attributes = attributes - {keys}::text[]"
            " WHERE {where}"
        ).format(keys=sql.Literal(list(PERSONAL_KEYS)), where=where)
        return conn.execute(update, bounds).rowcount
