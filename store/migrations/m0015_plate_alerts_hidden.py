"""Watch-listed plate alerts are not the dashboards' to read.

An alert of the personal-data domains (events.alerts.PERSONAL_DATA: `plates`, a
watch-listed vehicle seen, its plate in the title, summary and values) is for operators
and admins through the API only. The shipped panels never ask for one, but Grafana's
login reads `alerts` whole for them (migration 9), and anyone who can write a query in
Grafana (an editor, Explore) would read plates through it. So row security on `alerts`
hides those rows from `ioc_dashboard_reader` and its members, and on `alert_history` the
rows of alerts it cannot see (an operator's note may quote the plate).

Row security binds every role but the tables' owner (the application's role, which made
them) and roles with BYPASSRLS. A permissive policy for everybody keeps every other role
reading and writing as before (a deployment whose application role is not the owner);
the reader's restrictive policies narrow only what it reads. `device_overview` runs as
its owner, so a camera's state may still reflect an open hit's severity: no text.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.engine import Engine
from store.migrations.m0009_dashboard_reads import READER_ROLE

NAME = "plate alerts hidden from the dashboard reader (row security)"
TRANSACTIONAL = True

# events.alerts.PERSONAL_DATA as this migration hid it: a later personal-data domain needs
# a new migration that replaces the policy, since a shipped migration never changes
# (tests/unit/test_plate_domain.py fails until then).
HIDDEN_DOMAINS = ("plates",)

POLICIES = """
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_history ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS everyone ON alerts;
CREATE POLICY everyone ON alerts FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS everyone ON alert_history;
CREATE POLICY everyone ON alert_history FOR ALL TO PUBLIC USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS no_personal_data ON alerts;
CREATE POLICY no_personal_data ON alerts AS RESTRICTIVE FOR SELECT TO {reader}
    USING (domain <> ALL ({hidden}::text[]));
-- Evaluated as the reader, so the subquery sees only the alerts the reader may see.
DROP POLICY IF EXISTS of_visible_alerts ON alert_history;
CREATE POLICY of_visible_alerts ON alert_history AS RESTRICTIVE FOR SELECT TO {reader}
    USING (EXISTS (SELECT 1 FROM alerts a WHERE a.id = alert_history.alert_id));
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    del engine  # plain tables on both engines (migration 3)
    statements = sql.SQL(POLICIES).format(
        reader=sql.Identifier(READER_ROLE), hidden=sql.Literal(list(HIDDEN_DOMAINS))
    )
    conn.execute(statements)
