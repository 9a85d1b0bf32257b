"""login changes: a notification whenever a device's logins may have stopped being valid.

The API keeps the device HTTP logins it verified for a short while (api/login_cache.py)
instead of asking the database on every camera push. It must forget them the moment a
login is revoked, rotated or expired early, or its device is disabled or deleted, by
whatever path (API, `ioc devices`, an operator's SQL). Triggers cover every path:
statement-level, so a bulk change sends one notification, and a notification is sent
only when its transaction commits (PostgreSQL's NOTIFY is transactional). Inserts send
nothing: a new login makes no remembered one wrong.
"""

from __future__ import annotations

import orjson
import psycopg
from psycopg import sql

from events.alerts import LIVE_CHANNEL
from store.engine import Engine

NAME = "login changes: NOTIFY when device logins or devices change"
TRANSACTIONAL = True
LOGINS_CHANGED = {"kind": "credentials"}

SQL = """
CREATE OR REPLACE FUNCTION device_logins_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify({channel}, {message});
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS logins_changed ON device_credentials;
CREATE TRIGGER logins_changed AFTER UPDATE OR DELETE OR TRUNCATE ON device_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION device_logins_changed();
DROP TRIGGER IF EXISTS logins_changed ON devices;
CREATE TRIGGER logins_changed AFTER UPDATE OF id, disabled_at OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION device_logins_changed();
"""


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    message = orjson.dumps(LOGINS_CHANGED).decode()
    conn.execute(
        sql.SQL(SQL).format(channel=sql.Literal(LIVE_CHANNEL), message=sql.Literal(message))
    )
