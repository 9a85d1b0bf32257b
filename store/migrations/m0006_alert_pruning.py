"""Indexes for pruning alerts by policy and for paging lists newest first.

The alert service deletes resolved alerts, history and ended silences past their
periods (store/alert_pruning.py): each delete finds its oldest rows by an index instead
of scanning. The alert and silence lists are keyset pages in (time, id) order.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "indexes for alert pruning and keyset pages"
TRANSACTIONAL = True

SQL = """
CREATE INDEX IF NOT EXISTS alerts_resolved_at ON alerts (resolved_at) WHERE status = 'resolved';
CREATE INDEX IF NOT EXISTS alerts_updated_page ON alerts (updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS alert_history_at ON alert_history (at);
CREATE INDEX IF NOT EXISTS silences_page ON silences (starts_at DESC, id DESC);
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
