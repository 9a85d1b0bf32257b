"""agencies: when each log source was last heard from, and the lookups of agency data.

- `log_source_seen`: one row per log source of the inventory (deploy/security/
  agencies.yaml) once it has been heard from: its agency and the newest event time seen.
  The alert service's `log-sources` job keeps it (processors/jobs/log_sources.py) and
  raises `security.log_source_silent` from it; the per-agency summary lists it.
- `security_events_log_source`: the events of one log source, newest first, for that
  job's "newest event since the last check" (an index probe per source, never a scan of
  the recent events). Partial: events no log source claims do not pay for it on insert.
  The agency itself is no column: it is `ecs->'organization'->>'id'`, set on the way in
  (ingest/decode.py), so the batch writer's COPY is unchanged. A summary reads one
  agency's events of a bounded window through the time index.
- `alerts_agency`: open security alerts per agency, for the summary.
"""

from __future__ import annotations

import psycopg

from store.engine import Engine

NAME = "agencies: log sources last heard, agency lookups"
TRANSACTIONAL = True

SQL = """
CREATE TABLE IF NOT EXISTS log_source_seen (
    source_id  text PRIMARY KEY,
    agency_id  text NOT NULL,
    last_seen  timestamptz NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS security_events_log_source
    ON security_events (((ecs -> 'labels' ->> 'log_source')), time DESC)
    WHERE (ecs -> 'labels' ->> 'log_source') IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerts_agency
    ON alerts ((labels ->> 'agency'), status)
    WHERE domain = 'security';
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(SQL)
