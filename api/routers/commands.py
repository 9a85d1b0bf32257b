"""Commands down to devices: ask (operator, admin), list a device's, show one with its
history (operator, admin, integrator).

A request is checked against control/commands.yaml (is the command allowed for the
device's type, do the params match its schema, is the expiry within its limit) before
anything is stored; the command service (control/) then sends what is queued. So a
refused command never reaches the broker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api import pagination
from api.auth import require_roles
from api.deps import Conn
from api.errors import ApiProblem, FieldError, not_found, responses
from api.inputs import DeviceIdPath
from config.yaml_loader import ConfigErrors
from control.catalog import Catalog, Refused, default_catalog
from store import commands as store
from store.devices import device_exists
from store.users import Role, User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["commands"])

# The broker's expiry is whole seconds with a margin (control/dispatcher.py): a command
# needs a few seconds to be worth sending.
MIN_EXPIRY_S = 5
MAX_EXPIRY_S = 30 * 86400
HISTORY_SHOWN = 100

Sender = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.ADMIN))]
Reader = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.ADMIN, Role.INTEGRATOR))]
State = Literal["queued", "sent", "acknowledged", "failed", "expired"]


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str = Field(min_length=1, max_length=64, examples=["set_interval"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"seconds": 300}])
    expires_in_seconds: int | None = Field(
        default=None,
        ge=MIN_EXPIRY_S,
        le=MAX_EXPIRY_S,
        description="How long the command may wait for the device (default and limit "
        "per command in control/commands.yaml)",
    )


class CommandOut(BaseModel):
    id: uuid.UUID
    device_id: str
    command: str
    params: dict[str, Any]
    state: State
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None


class CommandChange(BaseModel):
    at: datetime
    state: State
    actor: str = Field(description="The user who asked, ioc-commands, or the device")
    detail: dict[str, Any]


class CommandDetail(CommandOut):
    history: list[CommandChange] = Field(description=f"The first {HISTORY_SHOWN} changes")


def _device_type(conn: Conn, device_id: str) -> str:
    row = store.device_for_command(conn, device_id)
    if row is None:
        raise not_found("device_not_found", device_id=device_id)
    return str(row["type"])


def _catalog() -> Catalog:
    try:
        return default_catalog()
    except ConfigErrors as errors:
        # A broken commands.yaml refuses every command, with the reason in the log.
        log.error("control/commands.yaml cannot be loaded:\n%s", errors)
        raise ApiProblem(503, "commands_unavailable") from None


def _refused(refusal: Refused) -> ApiProblem:
    errors = [FieldError(loc=["body", *e.loc], msg=e.msg, type=e.type) for e in refusal.errors]
    return ApiProblem(422, refusal.code, errors=errors or None, **refusal.params)


@router.post(
    "/devices/{device_id}/commands",
    response_model=CommandOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(400, 401, 403, 404, 413, 422, 429, 503),
)
def send_command(
    device_id: DeviceIdPath,
    body: CommandIn,
    conn: Conn,
    user: Sender,
) -> CommandOut:
    """Queue a command for the device; it is sent when the command service next runs
    (within a second) and followed by state: queued → sent → acknowledged / failed, or
    expired."""
    device_type = _device_type(conn, device_id)
    try:
        expiry = _catalog().check(device_type, body.command, body.params, body.expires_in_seconds)
    except Refused as refusal:
        raise _refused(refusal) from None
    now = datetime.now(UTC)
    with conn.transaction():
        row = store.create_command(
            conn,
            device_id,
            body.command,
            body.params,
            user.name,
            now,
            now + timedelta(seconds=expiry),
        )
    return CommandOut.model_validate(row)


@router.get(
    "/devices/{device_id}/commands",
    response_model=list[CommandOut],
    responses={**responses(401, 403, 404, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def device_commands(
    request: Request,
    response: Response,
    device_id: DeviceIdPath,
    conn: Conn,
    user: Reader,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[CommandOut]:
    """Newest first, one page (see the Link header for the next). Commands outlive their
    device: a deleted device's are still listed; 404 only for an id that is neither a
    device nor was ever sent a command."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.uuid_part))
    rows = store.commands_page(conn, device_id, after, limit + 1)  # type: ignore[arg-type]
    if not rows and after is None and not device_exists(conn, device_id):
        raise not_found("device_not_found", device_id=device_id)
    shown = pagination.page(request, response, rows, limit, lambda r: (r["requested_at"], r["id"]))
    return [CommandOut.model_validate(row) for row in shown]


@router.get(
    "/commands/{command_id}",
    response_model=CommandDetail,
    responses=responses(401, 403, 404, 422, 429),
)
def command(
    command_id: uuid.UUID,
    conn: Conn,
    user: Reader,
) -> CommandDetail:
    row = store.get_command(conn, command_id)
    if row is None:
        raise not_found("command_not_found", command_id=command_id)
    history = store.command_history(conn, command_id, HISTORY_SHOWN)
    return CommandDetail(**row, history=[CommandChange(**h) for h in history])
