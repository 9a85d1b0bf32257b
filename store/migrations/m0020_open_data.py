"""Open data: views of the public columns, and a role that may read those views only.

The public API (`/public/v1/`, api/public/) reads as `ioc_public_reader`: each of its
transactions starts with `SET LOCAL ROLE ioc_public_reader` (store/open_data.py). The role
has SELECT on the `open_*` views below and nothing else, so no public query, however
wrong, can read API users, device secrets, security events, camera events, plates, alerts
or dead letters. The views run with their owner's rights (the application's role), so
the reader needs nothing on the tables under them; a column added to a table later stays
private until a migration adds it to a view.

- `open_stations`: a device's id, name, type, province, district and coordinates (never
  `metadata`, which may name internal hosts, or any credential column);
- `open_aqi_hourly`, `open_aqi_daily`: the index, category, colour and dominant pollutant
  (not the inputs the job keeps for auditing);
- `open_water_hourly`: the hourly rollup of water level and salinity only;
- `public_warnings` (migration 18, the CAP feed's messages), whose rows are published
  anyway, when it exists; the API answers only its public fields (not who issued a
  warning by hand, nor the reason given).

Which device types and stations are open is configuration (api/public/open_data.yaml),
applied by the queries. The application's role must be a member of the reader role to
switch to it: the local stack makes the role as the administrator and grants it
(stack.postgres); here the role is made and granted only when this login may (as
docker-compose's owner may), else the error says what an administrator must run.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.engine import Engine

NAME = "open data views and the public reader role"
TRANSACTIONAL = True
PUBLIC_ROLE = "ioc_public_reader"
OPEN_WATER_METRICS = ("waterLevel", "salinity")

VIEWS = {
    "open_stations": (
        "SELECT id, name, type, province, district, lat, lon FROM devices"
    ),
    "open_aqi_hourly": (
        "SELECT device_id, hour, aqi, category, colour, dominant FROM aqi_hourly"
    ),
    "open_aqi_daily": (
        "SELECT device_id, day, aqi, category, colour, dominant FROM aqi_daily"
    ),
    "open_water_hourly": (
        "SELECT bucket AS hour, device_id, metric, avg AS mean, min, max, count"
        " FROM measurements_1h WHERE metric IN ('waterLevel', 'salinity')"
    ),
}  # fmt: skip
# Published as a whole when present (migration 18 makes it).
PUBLISHED_TABLES = ("public_warnings",)


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    del engine  # the same views on both engines (measurements_1h has one name on both)
    ensure_public_role(conn)
    role = sql.Identifier(PUBLIC_ROLE)
    for view, select in VIEWS.items():
        conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS " + select).format(sql.Identifier(view)))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(view), role))
    for table in PUBLISHED_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), role))


def ensure_public_role(conn: psycopg.Connection) -> None:
    """The role exists and this login may switch to it (member), or a clear error."""
    role = sql.Identifier(PUBLIC_ROLE)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PUBLIC_ROLE,)).fetchone()
    member = (
        exists
        and conn.execute(
            "SELECT pg_has_role(current_user, %s, 'MEMBER')", (PUBLIC_ROLE,)
        ).fetchone()[0]
    )
    if member:
        return
    try:
        with conn.transaction():
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role))
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RuntimeError(
            f"role {PUBLIC_ROLE} is missing or this login is not a member of it, and this"
            " login may not change that; as a database administrator run:"
            f" CREATE ROLE {PUBLIC_ROLE} NOLOGIN; GRANT {PUBLIC_ROLE} TO <the app's role>;"
            " then migrate again"
        ) from exc
