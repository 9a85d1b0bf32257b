"""Devices: the registry as every role may read it (never credentials)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api import pagination
from api.auth import CurrentUser
from api.deps import Conn
from api.errors import not_found, responses
from api.inputs import DeviceIdPath
from api.schemas import DeviceOut
from store.api_reads import devices_page
from store.devices import get_device

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


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
) -> list[DeviceOut]:
    """By id, one page (see the Link header for the next)."""
    after = pagination.decode(cursor, (pagination.text_part,))
    rows = devices_page(conn, after[0] if after else None, limit + 1)
    shown = pagination.page(request, response, rows, limit, lambda r: (r["id"],))
    return [DeviceOut.model_validate(row) for row in shown]


@router.get("/{device_id}", response_model=DeviceOut, responses=responses(401, 404, 422, 429))
def device(device_id: DeviceIdPath, conn: Conn, user: CurrentUser) -> DeviceOut:
    row = get_device(conn, device_id)
    if row is None:
        raise not_found("device_not_found", device_id=device_id)
    return DeviceOut.model_validate(row)
