"""The device registry: what may send, where it stands, how often it should speak."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.device_credentials import live_mqtt_accounts

# A device is late once it has been silent for this many expected intervals (one missed
# send is jitter, not news) and offline when the health.offline rule says so (3 by
# default, an open alert); the console and the Grafana wall colour by device_overview.
LATE_AFTER_INTERVALS = 2
STATES = ("ok", "late", "offline", "unknown", "disabled")
UPDATABLE = frozenset(
    {"type", "province", "district", "name", "lat", "lon", "expected_interval_s", "metadata"}
)

_STATE = f"""CASE
    WHEN d.disabled_at IS NOT NULL THEN 'disabled'
    WHEN coalesce(o.offline, false) THEN 'offline'
    WHEN o.last_seen IS NULL THEN 'unknown'
    WHEN o.last_seen < now() - make_interval(secs => d.expected_interval_s
        * {LATE_AFTER_INTERVALS}) THEN 'late'
    ELSE 'ok' END"""
_SELECT = f"""SELECT d.id, d.type, d.province, d.district, d.name, d.lat, d.lon,
    d.expected_interval_s, d.metadata, d.created_at, d.updated_at, d.disabled_at,
    o.last_seen, {_STATE} AS state
FROM devices d LEFT JOIN device_overview o ON o.device_id = d.id"""


@dataclass(frozen=True)
class DeviceSpec:
    id: str
    type: str
    province: str
    lat: float
    lon: float
    district: str | None = None
    name: str | None = None
    expected_interval_s: int = 60
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceFilter:
    province: str | None = None
    type: str | None = None
    state: str | None = None
    last_seen_before: datetime | None = None
    last_seen_after: datetime | None = None


def _values(spec: DeviceSpec) -> tuple[object, ...]:
    return (
        spec.id,
        spec.type,
        spec.province,
        spec.district,
        spec.name,
        spec.lat,
        spec.lon,
        spec.expected_interval_s,
        Jsonb(spec.metadata),
    )


_INSERT = (
    "INSERT INTO devices (id, type, province, district, name, lat, lon,"
    " expected_interval_s, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def upsert_device(conn: psycopg.Connection, spec: DeviceSpec) -> None:
    """The device's registry row; its secrets are in store.device_credentials."""
    conn.execute(
        _INSERT + " ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
        " province = excluded.province, district = excluded.district, name = excluded.name,"
        " lat = excluded.lat, lon = excluded.lon,"
        " expected_interval_s = excluded.expected_interval_s, metadata = excluded.metadata,"
        " updated_at = now()",
        _values(spec),
    )


def insert_device(conn: psycopg.Connection, spec: DeviceSpec) -> bool:
    """False when the id is taken (nothing changed)."""
    cur = conn.execute(_INSERT + " ON CONFLICT (id) DO NOTHING", _values(spec))
    return cur.rowcount == 1


def existing_ids(conn: psycopg.Connection, ids: list[str]) -> set[str]:
    rows = conn.execute("SELECT id FROM devices WHERE id = ANY(%s)", (ids,)).fetchall()
    return {str(r[0]) for r in rows}


def update_device(conn: psycopg.Connection, device_id: str, changes: Mapping[str, Any]) -> bool:
    """Set the given registry fields; False when there is no such device."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    sets = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes]
    values = [Jsonb(v) if name == "metadata" else v for name, v in changes.items()]
    query = sql.SQL("UPDATE devices SET {}, updated_at = now() WHERE id = %s").format(
        sql.SQL(", ").join(sets)
    )
    return conn.execute(query, (*values, device_id)).rowcount == 1


def set_disabled(conn: psycopg.Connection, device_id: str, disabled: bool) -> bool:
    """Disable (keeping an earlier disabled_at) or enable; False when no such device."""
    cur = conn.execute(
        "UPDATE devices SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now())"
        " END, updated_at = now() WHERE id = %s",
        (disabled, device_id),
    )
    return cur.rowcount == 1


def device_exists(conn: psycopg.Connection, device_id: str, lock: bool = False) -> bool:
    """With lock, the row stays locked to the end of the transaction: that orders
    concurrent credential changes of one device (usernames, live rows)."""
    sql = "SELECT 1 FROM devices WHERE id = %s" + (" FOR UPDATE" if lock else "")
    return conn.execute(sql, (device_id,)).fetchone() is not None


def delete_device(conn: psycopg.Connection, device_id: str) -> bool:
    """Its row and secrets go; its readings and alerts stay as history."""
    return conn.execute("DELETE FROM devices WHERE id = %s", (device_id,)).rowcount == 1


def mqtt_password_hashes(conn: psycopg.Connection) -> dict[str, str]:
    """Live device MQTT logins (username → hash) for the broker's password file."""
    return {a.username: a.password_hash for a in live_mqtt_accounts(conn)}


def get_device(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    """The registry row alone (cheap: telemetry reads ask it on every request)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, type, province, district, name, lat, lon, expected_interval_s,"
            " metadata, created_at, updated_at, disabled_at FROM devices WHERE id = %s",
            (device_id,),
        )
        return cur.fetchone()


def device_with_state(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    """The registry row with its last reading and state (see STATES)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_SELECT + " WHERE d.id = %s", (device_id,))
        return cur.fetchone()


def devices_page(
    conn: psycopg.Connection, where: DeviceFilter, after_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Devices by id from after `after_id`, filtered (keyset: every page costs the same)."""
    query = (
        f"SELECT * FROM ({_SELECT}) s WHERE (%(after)s::text IS NULL OR id > %(after)s)"
        " AND (%(province)s::text IS NULL OR province = %(province)s)"
        " AND (%(type)s::text IS NULL OR type = %(type)s)"
        " AND (%(state)s::text IS NULL OR state = %(state)s)"
        " AND (%(before)s::timestamptz IS NULL OR last_seen < %(before)s)"
        " AND (%(since)s::timestamptz IS NULL OR last_seen >= %(since)s)"
        " ORDER BY id LIMIT %(limit)s"
    )
    params = {
        "after": after_id,
        "province": where.province,
        "type": where.type,
        "state": where.state,
        "before": where.last_seen_before,
        "since": where.last_seen_after,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def list_devices(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, type, province, district, name, lat, lon, expected_interval_s,"
            " metadata, disabled_at FROM devices ORDER BY id"
        )
        return cur.fetchall()
