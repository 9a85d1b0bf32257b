"""Registering a device: its row in the registry and its own MQTT account.

The database is the source of truth for device accounts; the broker's password file is
regenerated from it, so a lost broker volume is repaired by `ioc stack up`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from config.secrets import MQTT_ADMIN_USER, MQTT_FRIGATE_USER, MQTT_INGEST_USER
from config.settings import Settings
from store.connect import connect
from store.devices import DeviceSpec, mqtt_password_hashes, upsert_device

# Device ids become MQTT usernames and topic levels, so they may not hold MQTT
# wildcards, separators, ':' (the password file's separator) or anything a shell or URL
# would trip on; nor may they take a service account's name.
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESERVED_IDS = frozenset({MQTT_INGEST_USER, MQTT_FRIGATE_USER, MQTT_ADMIN_USER, "alerts"})


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    username: str
    password: str
    topic: str


def telemetry_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/telemetry"


def register_device(
    settings: Settings, spec: DeviceSpec, password: str | None = None
) -> DeviceCredentials:
    """Create or update the device and (re)set its MQTT password; returns the credentials
    once — only a hash is stored."""
    from stack.mosquitto_auth import hash_password, sync_accounts

    if not DEVICE_ID_PATTERN.fullmatch(spec.id):
        raise ValueError(
            f"device id {spec.id!r} is invalid: use letters, digits and . _ - "
            "(no '/', '+', '#', ':' or spaces), at most 128 characters"
        )
    if spec.id in RESERVED_IDS:
        raise ValueError(f"device id {spec.id!r} is reserved for a service account")
    password = password or secrets.token_urlsafe(18)
    with connect(settings) as conn:
        upsert_device(conn, spec, hash_password(password))
        conn.commit()
        hashes = mqtt_password_hashes(conn)
    sync_accounts(settings, hashes)
    return DeviceCredentials(spec.id, spec.id, password, telemetry_topic(spec.id))
