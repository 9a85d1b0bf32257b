"""Devices: the registry, readable by every role (never secrets), and managed by the
`admin` and `integrator` roles: create, change, disable, delete, and the devices'
MQTT/HTTP secrets (issued once, stored hashed; see ingest.provisioning)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

import psycopg
from fastapi import APIRouter, Query, Request, Response

from api import pagination
from api.auth import CurrentUser, ManagesDevices
from api.deps import Conn, SettingsDep
from api.device_schemas import (
    BulkIn,
    BulkOut,
    CredentialOut,
    CredentialsOut,
    DeviceChanges,
    DeviceCreated,
    DeviceInput,
    DeviceOut,
    DeviceState,
    RevokeIn,
    RevokeOut,
    RotateIn,
)
from api.errors import not_found, problem, responses
from api.inputs import DeviceIdPath, Instant, Text
from config.settings import Settings
from ingest import provisioning
from stack.processes import StackError
from store import devices as registry
from store.device_credentials import credentials_of

log = logging.getLogger(__name__)
CAMERA_TYPE = "camera"
router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

WRITE = responses(401, 403, 404, 422, 429)
# With a JSON body: unreadable (400) or too large (413) too.
WITH_BODY = responses(400, 401, 403, 404, 413, 422, 429)


@router.get(
    "",
    response_model=list[DeviceOut],
    responses={**responses(401, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def devices(
    request: Request,
    response: Response,
    conn: Conn,
    user: CurrentUser,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
    province: Annotated[Text | None, Query(max_length=100)] = None,
    type: Annotated[Text | None, Query(max_length=64)] = None,
    state: DeviceState | None = None,
    last_seen_before: Annotated[Instant | None, Query(description="RFC 3339")] = None,
    last_seen_after: Annotated[Instant | None, Query(description="RFC 3339")] = None,
) -> list[DeviceOut]:
    """By id, one page (see the Link header for the next), filtered."""
    after = pagination.decode(cursor, (pagination.text_part,))
    where = registry.DeviceFilter(province, type, state, last_seen_before, last_seen_after)
    rows = registry.devices_page(conn, where, after[0] if after else None, limit + 1)
    shown = pagination.page(request, response, rows, limit, lambda r: (r["id"],))
    return [DeviceOut.model_validate(row) for row in shown]


@router.get("/{device_id}", response_model=DeviceOut, responses=responses(401, 404, 422, 429))
def device(device_id: DeviceIdPath, conn: Conn, user: CurrentUser) -> DeviceOut:
    return _device_out(conn, device_id)


@router.post(
    "",
    status_code=201,
    response_model=DeviceCreated,
    responses=responses(400, 401, 403, 409, 413, 422, 429),
)
def create(
    body: DeviceInput, conn: Conn, settings: SettingsDep, user: ManagesDevices
) -> DeviceCreated:
    """Register a device (or camera: type `camera`); its MQTT login and HTTP token are
    in the answer, once."""
    with conn.transaction():
        creds = provisioning.create_device(conn, body.spec(), f"api:{user.name}")
    if creds is None:
        raise problem(409, "device_exists", device_id=body.id)
    reloaded = _sync(settings)
    return DeviceCreated(
        device=_device_out(conn, body.id),
        credentials=CredentialsOut.of(creds, reloaded, _camera_base(settings, body.type)),
    )


@router.post("/bulk", status_code=201, response_model=BulkOut, responses=WITH_BODY | responses(409))
def bulk(body: BulkIn, conn: Conn, settings: SettingsDep, user: ManagesDevices) -> BulkOut:
    """Register up to 500 devices at once, all or nothing: one invalid or taken id and
    none is created (the problem names them)."""
    ids = [d.id for d in body.devices]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise problem(422, "duplicate_device_ids", ids=_few(repeated))
    actor = f"api:{user.name}"
    with conn.transaction():
        taken = registry.existing_ids(conn, ids)
        if taken:
            raise problem(409, "devices_exist", count=len(taken), ids=_few(sorted(taken)))
        issued = [provisioning.create_device(conn, d.spec(), actor) for d in body.devices]
    reloaded = _sync(settings)
    return BulkOut(
        created=len(issued),
        credentials=[
            CredentialsOut.of(c, reloaded, _camera_base(settings, d.type))
            for c, d in zip(issued, body.devices, strict=True)
            if c is not None
        ],
    )


@router.patch("/{device_id}", response_model=DeviceOut, responses=WITH_BODY)
def update(
    device_id: DeviceIdPath, body: DeviceChanges, conn: Conn, user: ManagesDevices
) -> DeviceOut:
    """Change the fields given (the id cannot change: it is the device's login)."""
    try:
        changes = body.changes()
    except ValueError as error:
        raise problem(422, "invalid_change", reason=str(error)) from error
    if changes and not registry.update_device(conn, device_id, changes):
        raise not_found("device_not_found", device_id=device_id)
    return _device_out(conn, device_id)


@router.post("/{device_id}/disable", response_model=DeviceOut, responses=WRITE)
def disable(
    device_id: DeviceIdPath, conn: Conn, settings: SettingsDep, user: ManagesDevices
) -> DeviceOut:
    """Its logins leave the broker (a connected session is closed) and its HTTP token
    stops; its secrets come back with `enable`."""
    return _set_disabled(conn, settings, device_id, True)


@router.post("/{device_id}/enable", response_model=DeviceOut, responses=WRITE)
def enable(
    device_id: DeviceIdPath, conn: Conn, settings: SettingsDep, user: ManagesDevices
) -> DeviceOut:
    return _set_disabled(conn, settings, device_id, False)


@router.delete("/{device_id}", status_code=204, responses=WRITE)
def delete(
    device_id: DeviceIdPath, conn: Conn, settings: SettingsDep, user: ManagesDevices
) -> Response:
    """The device and its secrets; its readings and alerts stay as history."""
    if not registry.delete_device(conn, device_id):
        raise not_found("device_not_found", device_id=device_id)
    _sync(settings)
    return Response(status_code=204)


@router.get("/{device_id}/credentials", response_model=list[CredentialOut], responses=WRITE)
def credentials(device_id: DeviceIdPath, conn: Conn, user: ManagesDevices) -> list[CredentialOut]:
    """Every secret the device had, newest first: when made, by whom, when it ends."""
    _exists(conn, device_id)
    return [CredentialOut.model_validate(row) for row in credentials_of(conn, device_id)]


@router.post("/{device_id}/credentials/rotate", response_model=CredentialsOut, responses=WITH_BODY)
def rotate(
    device_id: DeviceIdPath,
    body: RotateIn,
    conn: Conn,
    settings: SettingsDep,
    user: ManagesDevices,
) -> CredentialsOut:
    """New secrets of `kind`, shown once. The old ones stop at once, or after
    `grace_seconds` (then the new MQTT login is `<device_id>~<n>`)."""
    grace = timedelta(seconds=body.grace_seconds) if body.grace_seconds else None
    with conn.transaction():
        _exists(conn, device_id, lock=True)
        creds = provisioning.issue(conn, device_id, body.kind, grace, f"api:{user.name}")
    return CredentialsOut.of(creds, _sync(settings))


@router.post("/{device_id}/credentials/revoke", response_model=RevokeOut, responses=WITH_BODY)
def revoke(
    device_id: DeviceIdPath,
    body: RevokeIn,
    conn: Conn,
    settings: SettingsDep,
    user: ManagesDevices,
) -> RevokeOut:
    """Every live secret of `kind` stops now; the device needs a rotation to send again."""
    with conn.transaction():
        _exists(conn, device_id, lock=True)
        count = provisioning.revoke(conn, device_id, body.kind)
    return RevokeOut(device_id=device_id, revoked=count, broker_reloaded=_sync(settings))


def _set_disabled(
    conn: psycopg.Connection, settings: Settings, device_id: str, on: bool
) -> DeviceOut:
    if not registry.set_disabled(conn, device_id, on):
        raise not_found("device_not_found", device_id=device_id)
    _sync(settings)
    return _device_out(conn, device_id)


def _exists(conn: psycopg.Connection, device_id: str, lock: bool = False) -> None:
    if not registry.device_exists(conn, device_id, lock):
        raise not_found("device_not_found", device_id=device_id)


def _device_out(conn: psycopg.Connection, device_id: str) -> DeviceOut:
    row = registry.device_with_state(conn, device_id)
    if row is None:
        raise not_found("device_not_found", device_id=device_id)
    return DeviceOut.model_validate(row)


def _sync(settings: Settings) -> bool:
    """Tell the broker; the change is committed whatever happens here, and the next sync
    (any change, `ioc stack sync-accounts`, a broker start) carries it."""
    try:
        return provisioning.sync_broker(settings)
    except (OSError, psycopg.Error, RuntimeError, StackError) as error:
        log.warning("device accounts committed but not synced to the broker: %s", error)
        return False


def _camera_base(settings: Settings, device_type: str) -> str | None:
    """The API's public address for a camera's answer (its ISAPI push URL), else None."""
    return settings.api_base_url if device_type == CAMERA_TYPE else None


def _few(ids: list[str], shown: int = 10) -> str:
    more = f" (+{len(ids) - shown})" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
