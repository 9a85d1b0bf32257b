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
from store.device_credentials import add_http_token, add_mqtt_credential, expire_credentials
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
    http_token: str | None = None


def telemetry_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/telemetry"


def register_device(
    settings: Settings, spec: DeviceSpec, password: str | None = None, actor: str = "cli"
) -> DeviceCredentials:
    """Create or update the device and replace its MQTT password and HTTP token (the old
    ones stop working at once); returns the credentials once — only hashes are stored."""
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
        upsert_device(conn, spec)
        for kind in ("mqtt", "http"):
            expire_credentials(conn, spec.id, kind)
        add_mqtt_credential(conn, spec.id, spec.id, hash_password(password), actor)
        http_token = add_http_token(conn, spec.id, actor)
        conn.commit()
        hashes = mqtt_password_hashes(conn)
    sync_accounts(settings, hashes)
    return DeviceCredentials(spec.id, spec.id, password, telemetry_topic(spec.id), http_token)
