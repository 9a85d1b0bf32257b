"""Public warnings: one row per issued CAP message (processors/alerts/public/).

A row is never changed: an Update or a Cancel is a new row of the same `incident` (the
identifier of the episode's first message) that references every earlier one. `alert_id`
is the alert the message was made from (NULL for a warning issued by hand); the alert may
be pruned later, the message stays (no foreign key). `level` and `alert_version` record
what the message said about its alert, so the issuing job knows whether the alert has
changed since. `cap_xml` is the signed document exactly as served.

Open data (api/public/opendata.py) reads it through store/public_warnings.py.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "public warnings (issued CAP messages)"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS public_warnings (
    identifier    text PRIMARY KEY,
    incident      text NOT NULL,
    alert_id      uuid,
    msg_type      text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    status        text NOT NULL CHECK (status IN ('Actual', 'Test', 'Exercise')),
    kind          text NOT NULL,
    level         text,
    severity      text NOT NULL,
    province      text NOT NULL DEFAULT '',
    district      text NOT NULL DEFAULT '',
    headline_vi   text NOT NULL,
    headline_en   text NOT NULL,
    sent          timestamptz NOT NULL,
    expires       timestamptz NOT NULL,
    manual        boolean NOT NULL DEFAULT false,
    reason        text,
    issued_by     text,
    alert_version timestamptz,
    cap_xml       text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The feed and open data: newest messages, per incident, per place.
CREATE INDEX IF NOT EXISTS public_warnings_sent ON public_warnings (sent DESC);
CREATE INDEX IF NOT EXISTS public_warnings_incident ON public_warnings (incident, sent DESC);
CREATE INDEX IF NOT EXISTS public_warnings_alert ON public_warnings (alert_id, sent DESC)
    WHERE alert_id IS NOT NULL;
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    del engine  # a plain table on both engines
    conn.execute(SQL)
