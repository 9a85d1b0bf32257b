"""Devices: the registry as every role may read it (never credentials)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentUser
from api.deps import Conn
from api.errors import not_found
from api.schemas import DeviceOut
from store.devices import get_device, list_devices

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.get("", response_model=list[DeviceOut])
def devices(conn: Conn, user: CurrentUser) -> list[DeviceOut]:
    return [DeviceOut.model_validate(row) for row in list_devices(conn)]


@router.get("/{device_id}", response_model=DeviceOut)
def device(device_id: str, conn: Conn, user: CurrentUser) -> DeviceOut:
    row = get_device(conn, device_id)
    if row is None:
        raise not_found(f"thiết bị {device_id}", f"device {device_id}")
    return DeviceOut.model_validate(row)
