"""The device registry: what may send, where it stands, how often it should speak."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.device_credentials import live_mqtt_accounts


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


def upsert_device(conn: psycopg.Connection, spec: DeviceSpec) -> None:
    """The device's registry row; its secrets are in store.device_credentials."""
    conn.execute(
        "INSERT INTO devices (id, type, province, district, name, lat, lon,"
        " expected_interval_s, metadata)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET type = excluded.type, province = excluded.province,"
        " district = excluded.district, name = excluded.name, lat = excluded.lat,"
        " lon = excluded.lon, expected_interval_s = excluded.expected_interval_s,"
        " metadata = excluded.metadata,"
        " updated_at = now()",
        (
            spec.id,
            spec.type,
            spec.province,
            spec.district,
            spec.name,
            spec.lat,
            spec.lon,
            spec.expected_interval_s,
            Jsonb(spec.metadata),
        ),
    )


def mqtt_password_hashes(conn: psycopg.Connection) -> dict[str, str]:
    """Live device MQTT logins (username → hash) for the broker's password file."""
    return {a.username: a.password_hash for a in live_mqtt_accounts(conn)}


def get_device(conn: psycopg.Connection, device_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, type, province, district, name, lat, lon, expected_interval_s,"
            " metadata, created_at, updated_at FROM devices WHERE id = %s",
            (device_id,),
        )
        return cur.fetchone()


def list_devices(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, type, province, district, name, lat, lon, expected_interval_s,"
            " metadata FROM devices ORDER BY id"
        )
        return cur.fetchall()
