"""Registering devices and issuing, rotating and revoking their secrets.

The database is the source of truth for device accounts; the broker's password file and
ACL are regenerated from it after every change (`sync_broker`), so a lost broker volume
is repaired by `ioc stack up`. Secrets are returned once and only hashes are stored.

MQTT rotation (see m0013_integrators): without a grace period the device keeps its
username and only its password changes (the old one stops at the broker's reload, which
also disconnects a client still logged in with it); with a grace period the new secret
is a second login `<device_id>~<n>`, and both work until the old one's `expires_at`
(the alert service's `credential-expiry` job then re-syncs the broker).
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

import psycopg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from config.secrets import (
    MQTT_ADMIN_USER,
    MQTT_COMMANDS_USER,
    MQTT_FRIGATE_USER,
    MQTT_INGEST_USER,
)
from config.settings import REPO_ROOT, Settings
from events.bounds import storable_text
from store.connect import connect
from store.device_credentials import (
    add_http_token,
    add_mqtt_credential,
    current_mqtt_username,
    expire_credentials,
    next_mqtt_username,
)
from store.devices import DeviceSpec, insert_device, mqtt_password_hashes, upsert_device

log = logging.getLogger(__name__)

# Device ids become MQTT usernames and topic levels, so they may not hold MQTT
# wildcards, separators, ':' (the password file's separator), '~' (a device's second
# login, see store.device_credentials) or anything a shell or URL would trip on; nor may
# they take a service account's name.
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESERVED_IDS = frozenset(
    {MQTT_INGEST_USER, MQTT_FRIGATE_USER, MQTT_ADMIN_USER, MQTT_COMMANDS_USER, "alerts"}
)
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Mainland Viet Nam and its islands (Trường Sa reaches 117.8°E, 6.9°N), with a margin:
# a swapped lat/lon or a 0,0 from a device without a fix is caught here.
LAT_RANGE = (6.0, 24.0)
LON_RANGE = (102.0, 118.0)
MAX_INTERVAL_S = 7 * 24 * 3600
MAX_METADATA_BYTES = 16 * 1024
MAX_GRACE = timedelta(days=7)
MAX_BULK = 500
GEO_DIR = REPO_ROOT / "api" / "console" / "geo"

Kind = Literal["mqtt", "http", "both"]


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    username: str | None
    password: str | None
    topic: str
    http_token: str | None = None
    previous_expires_at: datetime | None = None


def telemetry_topic(device_id: str) -> str:
    return f"ioc/v1/{device_id}/telemetry"


@lru_cache(maxsize=1)
def province_names() -> frozenset[str]:
    """The 34 provinces since 1 July 2025 and the 63 before (the registry still uses the
    former names, e.g. Kiên Giang), as the console's map names them (name_vi)."""
    names = set()
    for file in ("provinces.geojson", "former_provinces.geojson"):
        with (GEO_DIR / file).open(encoding="utf-8") as f:
            names |= {feature["properties"]["name_vi"] for feature in json.load(f)["features"]}
    return frozenset(unicodedata.normalize("NFC", n) for n in names)


def check_device_id(value: str) -> str:
    if not DEVICE_ID_PATTERN.fullmatch(value):
        raise ValueError(
            "device id is invalid: use letters, digits and . _ - (no '/', '+', '#', ':',"
            " '~' or spaces), starting with a letter or digit, at most 128 characters"
        )
    if value in RESERVED_IDS:
        raise ValueError("device id is reserved for a service account")
    return value


def check_province(value: str) -> str:
    name = unicodedata.normalize("NFC", value.strip())
    if name not in province_names():
        raise ValueError(
            "unknown province: give its Vietnamese name as on the console map, e.g."
            " 'An Giang', 'Kiên Giang', 'Cần Thơ', 'Khánh Hòa'"
        )
    return name


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except ValueError as error:
        raise ValueError("metadata must be plain JSON (no NaN or infinity)") from error
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
    _storable_strings(value)
    return value


def _storable_strings(value: object) -> None:
    # PostgreSQL's jsonb refuses \u0000 anywhere, keys included.
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(str(key))
            _storable_strings(item)
    elif isinstance(value, list):
        for item in value:
            _storable_strings(item)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable_text)]
TypeName = Annotated[str, Field(pattern=TYPE_PATTERN.pattern)]
Latitude = Annotated[float, Field(ge=LAT_RANGE[0], le=LAT_RANGE[1]), AfterValidator(_finite)]
Longitude = Annotated[float, Field(ge=LON_RANGE[0], le=LON_RANGE[1]), AfterValidator(_finite)]
Interval = Annotated[int, Field(ge=1, le=MAX_INTERVAL_S)]
Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata)]
Province = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(check_province)]


class DeviceInput(BaseModel):
    """A device as integrators give it (API body, one row of a bulk file)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=128)]
    type: TypeName = Field(description="air_quality, water_level, salinity, weather, camera…")
    province: Province = Field(description="Vietnamese name, e.g. 'Kiên Giang' or 'An Giang'")
    lat: Latitude
    lon: Longitude
    district: ShortText | None = None
    name: ShortText | None = None
    expected_interval_s: Interval = 60
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_device_id(value)

    def spec(self) -> DeviceSpec:
        return DeviceSpec(**self.model_dump())


class DeviceChanges(BaseModel):
    """A PATCH: only the fields given change (null clears district or name)."""

    model_config = ConfigDict(extra="forbid")

    type: TypeName | None = None
    province: Province | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    district: ShortText | None = None
    name: ShortText | None = None
    expected_interval_s: Interval | None = None
    metadata: Metadata | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        required = {"type", "province", "lat", "lon", "expected_interval_s", "metadata"}
        nulls = sorted(k for k in required if k in given and given[k] is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return given


class DeviceBatch(BaseModel):
    """Devices registered together (API bulk body, a YAML import file), all or nothing."""

    model_config = ConfigDict(extra="forbid")

    devices: Annotated[list[DeviceInput], Field(min_length=1, max_length=MAX_BULK)]


def validate_spec(spec: DeviceSpec) -> DeviceSpec:
    """The spec as DeviceInput checks it (pydantic's ValidationError is a ValueError)."""
    return DeviceInput(**vars(spec)).spec()


def register_device(
    settings: Settings, spec: DeviceSpec, password: str | None = None, actor: str = "cli"
) -> DeviceCredentials:
    """Create or update the device and replace its MQTT password and HTTP token (the old
    ones stop working at once); returns the credentials once — only hashes are stored."""
    check_device_id(spec.id)  # before any I/O, with a message naming what is wrong
    spec = validate_spec(spec)
    with connect(settings) as conn, conn.transaction():
        upsert_device(conn, spec)
        creds = issue(conn, spec.id, "both", None, actor, password)
    sync_broker(settings)
    return creds


def create_device(
    conn: psycopg.Connection, spec: DeviceSpec, actor: str
) -> DeviceCredentials | None:
    """A new device with its first secrets, or None when the id is taken. The caller
    commits and then calls sync_broker."""
    if not insert_device(conn, spec):
        return None
    return issue(conn, spec.id, "both", None, actor)


def issue(
    conn: psycopg.Connection,
    device_id: str,
    kind: Kind,
    grace: timedelta | None,
    actor: str,
    password: str | None = None,
) -> DeviceCredentials:
    """New secrets of `kind` for the device; its live ones stop now (grace None) or at
    now + grace. Returned once."""
    from stack.mosquitto_auth import hash_password

    if grace is not None and not timedelta(0) < grace <= MAX_GRACE:
        raise ValueError(f"grace must be above 0 and at most {MAX_GRACE}")
    ends = datetime.now(UTC) + grace if grace else None
    username = mqtt_password = http_token = None
    if kind in ("mqtt", "both"):
        keep = current_mqtt_username(conn, device_id)
        expire_credentials(conn, device_id, "mqtt", ends)
        username = next_mqtt_username(conn, device_id) if ends else keep
        mqtt_password = password or secrets.token_urlsafe(18)
        add_mqtt_credential(conn, device_id, username, hash_password(mqtt_password), actor)
    if kind in ("http", "both"):
        expire_credentials(conn, device_id, "http", ends)
        http_token = add_http_token(conn, device_id, actor)
    return DeviceCredentials(
        device_id, username, mqtt_password, telemetry_topic(device_id), http_token, ends
    )


def revoke(conn: psycopg.Connection, device_id: str, kind: Kind) -> int:
    """Every live secret of `kind` stops now (the device cannot send until a new one is
    issued); how many."""
    kinds = ("mqtt", "http") if kind == "both" else (kind,)
    return sum(expire_credentials(conn, device_id, k) for k in kinds)


def sync_broker(settings: Settings) -> bool:
    """Rewrite the broker's password file and ACL from the registry and make a local
    broker re-read them (SIGHUP). False when no local broker was told: then it is another
    container's, whose entrypoint notices the changed files within about 2 s
    (deploy/mosquitto/reload-on-change.sh), or not running (it reads both when it
    starts)."""
    from stack import mosquitto
    from stack.mosquitto_auth import sync_accounts

    def registry() -> dict[str, str]:
        with connect(settings) as conn:
            return mqtt_password_hashes(conn)

    sync_accounts(settings, registry)
    return mosquitto.pid(settings) is not None
