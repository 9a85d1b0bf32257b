"""alert_history.note_en: the English of a note the system writes.

Notes the system writes (the signal's summary when an alert fires, escalates or
resolves; how many channels a re-notification reached) are stored Vietnamese-first in
`note`, with the English beside it in `note_en`, the way alerts keep title_vi/title_en.
NULL means the note has one language: an operator's own words, shown as typed, or a
system note written before this migration (in English then), still readable as it is.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "English beside the Vietnamese of system notes in alert history"
TRANSACTIONAL = True

# Nullable without a default: PostgreSQL adds it without rewriting the table.
SQL = "ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS note_en text"


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
