"""What dashboards read: one view of each device's current state, and a read-only role.

`device_overview` is the single definition of a device's "current state" that the Grafana
wall and the console's map both colour by, so the two can never disagree:
'offline' (an open health.offline alert) wins; otherwise the worst open alert's severity;
'ok' when seen and nothing above info is open; 'unknown' when never seen. Security alerts
do not colour a device: they belong to the SOC desk, and a viewer allowed only the
environment would otherwise see a marker turn red with no alert to show. The AQI shown is
the station's latest hourly index of the last 3 hours: an older one would paint a station
green that has simply stopped reporting.

`ioc_dashboard_reader` is the group role Grafana's login belongs to. It reads what
dashboards show and nothing else: no API users, no device secrets (column grants on
`devices`, so a secret column added later is unreadable until someone grants it), no
dead-letter payloads, no notification bodies. Security events are granted whole: a column
grant on a compressed hypertable fails (TimescaleDB propagates grants to the compressed
table, whose columns differ), and the SOC desk reads the events' ECS fields anyway.

Creating a role needs CREATEROLE, which the app's own role does not have in a hardened
deployment: the local stack creates it as an administrator first (stack.postgres), and
this migration only creates it itself when it may (docker-compose's owner may).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from store.engine import Engine

NAME = "device overview view and the dashboard reader role"
# A GRANT on a hypertable rewrites every chunk's privileges and can meet a TimescaleDB
# policy job ("tuple concurrently deleted"): store.migrate runs the migration again.
TRANSACTIONAL = True
READER_ROLE = "ioc_dashboard_reader"

DEVICE_OVERVIEW = """
CREATE OR REPLACE VIEW device_overview AS
WITH open_alerts AS (
    SELECT labels ->> 'device_id' AS device_id,
           count(*)::integer AS open_alerts,
           max(severity) FILTER (WHERE rule <> 'health.offline') AS worst_severity,
           bool_or(rule = 'health.offline') AS offline
    FROM alerts
    WHERE status <> 'resolved' AND labels ? 'device_id' AND domain <> 'security'
    GROUP BY 1
), latest_aqi AS (
    SELECT DISTINCT ON (device_id) device_id, hour, aqi, category, colour
    FROM aqi_hourly
    WHERE aqi IS NOT NULL AND hour > now() - INTERVAL '3 hours'
    ORDER BY device_id, hour DESC
)
SELECT d.id AS device_id, d.name, d.type, d.province, d.district, d.lat, d.lon,
       d.expected_interval_s, s.last_seen,
       coalesce(a.offline, false) AS offline,
       q.aqi, q.category AS aqi_category, q.colour AS aqi_colour, q.hour AS aqi_hour,
       coalesce(a.open_alerts, 0) AS open_alerts,
       a.worst_severity,
       CASE
           WHEN coalesce(a.offline, false) THEN 'offline'
           WHEN a.worst_severity = 4 THEN 'critical'
           WHEN a.worst_severity = 3 THEN 'high'
           WHEN a.worst_severity = 2 THEN 'medium'
           WHEN a.worst_severity = 1 THEN 'low'
           WHEN s.last_seen IS NULL THEN 'unknown'
           ELSE 'ok'
       END AS state
FROM devices d
LEFT JOIN device_last_seen s ON s.device_id = d.id
LEFT JOIN open_alerts a ON a.device_id = d.id
LEFT JOIN latest_aqi q ON q.device_id = d.id
"""

# Whole tables and views the dashboards read.
READABLE = (
    "measurements", "measurements_1m", "measurements_1h", "camera_events", "security_events",
    "alerts",
    "alert_history", "aqi_hourly", "aqi_daily", "device_last_seen", "device_overview",
    "schema_migrations", "schema_engine",
)  # fmt: skip
# Tables with something a dashboard must not see: only these columns.
READABLE_COLUMNS = {
    "devices": (
        "id", "type", "province", "district", "name", "lat", "lon",
        "expected_interval_s", "metadata", "created_at", "updated_at",
    ),
    "dead_letters": (
        "id", "received_at", "transport", "topic", "kafka_partition", "kafka_offset",
        "format", "reason", "payload_size", "payload_sha256",
    ),
    "outbox": (
        "id", "notification_id", "alert_id", "channel", "kind", "created_at", "due_at",
        "status", "attempts", "sent_at",
    ),
}  # fmt: skip
PLAIN_ONLY = ("rollup_watermarks",)


def upgrade(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute(DEVICE_OVERVIEW)
    ensure_reader_role(conn)
    role = sql.Identifier(READER_ROLE)
    tables = READABLE + (PLAIN_ONLY if engine is Engine.POSTGRES else ())
    for table in tables:
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), role))
    for table, columns in READABLE_COLUMNS.items():
        columns_sql = sql.SQL(", ").join(map(sql.Identifier, columns))
        grant = sql.SQL("GRANT SELECT ({}) ON {} TO {}")
        conn.execute(grant.format(columns_sql, sql.Identifier(table), role))


def ensure_reader_role(conn: psycopg.Connection) -> None:
    found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,))
    if found.fetchone():
        return
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(READER_ROLE)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RuntimeError(
            f"role {READER_ROLE} does not exist and this login may not create it; as a"
            f" database administrator run: CREATE ROLE {READER_ROLE} NOLOGIN; then migrate"
            " again"
        ) from exc
