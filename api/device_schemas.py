"""Bodies of the device endpoints: the registry as read, and what integrators send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.http.isapi import camera_login
from ingest.provisioning import (
    MAX_GRACE,
    DeviceBatch,
    DeviceChanges,
    DeviceCredentials,
    DeviceInput,
    Kind,
)

DeviceState = Literal["ok", "late", "offline", "unknown", "disabled"]

__all__ = ["DeviceChanges", "DeviceInput"]


class DeviceOut(BaseModel):
    """A device as every role may read it: never its secrets. `state`: disabled; offline
    (an open health.offline alert); unknown (never heard from); late (silent for over 2
    expected intervals); ok."""

    id: str
    type: str
    province: str
    district: str | None
    name: str | None
    lat: float
    lon: float
    expected_interval_s: int
    metadata: dict[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    disabled_at: datetime | None = None
    last_seen: datetime | None = None
    state: DeviceState = "unknown"


class CredentialsOut(BaseModel):
    """Shown once: only hashes are kept. The fields of a kind not issued are null."""

    device_id: str
    mqtt_username: str | None
    mqtt_password: str | None
    topic: str
    http_token: str | None
    previous_expires_at: datetime | None = Field(
        description="When the secrets this replaced stop working (null: they already did)"
    )
    broker_reloaded: bool = Field(
        description="The local broker re-read its accounts; false: it runs elsewhere"
        " (docker-compose: see docs) or is stopped, and reads them when it starts"
    )
    # Cameras only (type camera, with an HTTP token): the Hikvision ISAPI push.
    isapi_url: str | None = Field(
        default=None, description="Cameras: the URL to set as the camera's alarm server"
    )
    http_username: str | None = Field(
        default=None, description="Cameras: the push's HTTP Basic username (the device id)"
    )
    http_password: str | None = Field(
        default=None, description="Cameras: the push's HTTP Basic password (the HTTP token)"
    )

    @classmethod
    def of(
        cls, creds: DeviceCredentials, reloaded: bool, api_base_url: str | None = None
    ) -> CredentialsOut:
        """`api_base_url` for a camera: adds its ISAPI push URL and login."""
        camera = (
            camera_login(api_base_url, creds.device_id, creds.http_token) if api_base_url else {}
        )
        return cls(
            device_id=creds.device_id,
            mqtt_username=creds.username,
            mqtt_password=creds.password,
            topic=creds.topic,
            http_token=creds.http_token,
            previous_expires_at=creds.previous_expires_at,
            broker_reloaded=reloaded,
            **camera,
        )


class DeviceCreated(BaseModel):
    device: DeviceOut
    credentials: CredentialsOut


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = "both"
    # Strict: JSON false or "10" is not a number of seconds (schemathesis: false was 0).
    grace_seconds: Annotated[
        int,
        Field(
            strict=True,
            ge=0,
            le=int(MAX_GRACE.total_seconds()),
            description="0: the old secret stops at once; else it works this much longer",
        ),
    ] = 0


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = "both"


class RevokeOut(BaseModel):
    device_id: str
    revoked: int
    broker_reloaded: bool


class CredentialOut(BaseModel):
    """One secret's record (never the secret or its hash)."""

    id: int
    kind: Literal["mqtt", "http"]
    username: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    live: bool


BulkIn = DeviceBatch


class BulkOut(BaseModel):
    """All or nothing: every device was created, each with its credentials."""

    created: int
    credentials: list[CredentialsOut]
