"""The access record of plate data: who searched which plate, read or changed the watch
list, or downloaded a camera picture, and when (Decree 13/2023/NĐ-CP asks that the
processing of personal data be logged and attributable).

One plain table on both engines: a row per person's request, a few thousand a day at
most, read by time range or by plate. Rows are written in the transaction of the read or
change they record (store/plate_audit.py).

Append-only. The API, the CLI and the alert service share one database role, which owns
its tables, so no privilege split can keep that role from UPDATE or DELETE. A trigger
refuses UPDATE and TRUNCATE always, and DELETE except of rows older than the cutoff the
pruning job declares in its own transaction (`SET LOCAL ioc.plate_access_prune_before`):
a guard against mistakes and stray statements, not against someone who may drop
triggers. A deployment that needs more gives the table to another role and grants the
application only INSERT and SELECT.

Not granted to the dashboard reader: the log names plates and people.

`plate_reads (snapshot)`: a downloaded picture is recorded with the plate read it shows,
found by this index (the picture's name is all the request carries).
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "plate access log (append-only), plate reads by snapshot"
# The index on plate_reads is created on every chunk of the hypertable; in one
# transaction so a half-made migration leaves nothing behind.
TRANSACTIONAL = True

ACTIONS = ("search", "watchlist_add", "watchlist_remove", "watchlist_read", "snapshot")

SQL = """
CREATE TABLE IF NOT EXISTS plate_access_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    role       text NOT NULL,
    action     text NOT NULL CHECK (action IN ({actions})),
    plate_norm text,
    detail     jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
CREATE INDEX IF NOT EXISTS plate_access_log_at ON plate_access_log (at);
CREATE INDEX IF NOT EXISTS plate_access_log_plate ON plate_access_log (plate_norm, at);

CREATE OR REPLACE FUNCTION plate_access_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    cutoff text := current_setting('ioc.plate_access_prune_before', true);
BEGIN
    -- Nested: OLD is unassigned in the TRUNCATE (statement) trigger.
    IF TG_OP = 'DELETE' AND coalesce(cutoff, '') <> '' THEN
        IF OLD.at < cutoff::timestamptz THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'plate_access_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only the pruning job deletes rows past their retention';
END
$$;
DROP TRIGGER IF EXISTS append_only ON plate_access_log;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON plate_access_log
    FOR EACH ROW EXECUTE FUNCTION plate_access_log_append_only();
DROP TRIGGER IF EXISTS no_truncate ON plate_access_log;
CREATE TRIGGER no_truncate BEFORE TRUNCATE ON plate_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION plate_access_log_append_only();

CREATE INDEX IF NOT EXISTS plate_reads_snapshot ON plate_reads (snapshot)
    WHERE snapshot IS NOT NULL;
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    del engine  # a plain table on both engines
    # The action names are constants of this module, never input.
    conn.execute(SQL.format(actions=", ".join(f"'{a}'" for a in ACTIONS)))
