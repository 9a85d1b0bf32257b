"""The access record of plate data, for admins: who searched which plate, read or
changed the watch list, or downloaded a camera picture (store/plate_audit.py). The
record itself names plates and people, so only admins read it, by time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api import pagination
from api.auth import require_roles
from api.camera_access import ordered
from api.camera_schemas import MAX_PLATE
from api.deps import Conn
from api.errors import problem, responses
from events.bounds import Instant, Text
from store import plate_audit
from store.plates import UnreadablePlate, plate_key
from store.users import Role, User

router = APIRouter(prefix="/api/v1/plates/access-log", tags=["cameras"])
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]

DEFAULT_SPAN = timedelta(days=30)
# A year answers "who looked at this plate since …" for most inquiries; the (at) and
# (plate_norm, at) indexes keep a page's walk within the range.
MAX_SPAN = timedelta(days=366)


class AccessOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="`api:<user>` or `cli:<os user>`")
    role: str = Field(description="The API role, or `cli`")
    action: plate_audit.Action
    plate_norm: str | None = Field(description="The normalised plate; null for a whole list")
    detail: dict[str, Any] = Field(
        description="Filters, result count, snapshot name, client address, …"
    )


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or datetime.now(UTC)
    start = since or end - DEFAULT_SPAN
    ordered(start, end)
    if end - start > MAX_SPAN:
        raise problem(422, "time_range_too_long", days=MAX_SPAN.days)
    return start, end


@router.get(
    "",
    response_model=list[AccessOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def access_log(
    request: Request,
    response: Response,
    conn: Conn,
    user: AdminUser,
    actor: Annotated[
        Text | None, Query(min_length=1, max_length=128, description="e.g. api:nguyen.van.a")
    ] = None,
    plate: Annotated[
        Text | None, Query(min_length=1, max_length=MAX_PLATE, description="Any spelling")
    ] = None,
    action: plate_audit.Action | None = None,
    since: Annotated[
        Instant | None, Query(description="At or after; default: 30 days before until")
    ] = None,
    until: Annotated[Instant | None, Query(description="Before; default: now")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[dict[str, Any]]:
    """Newest first, one page (see the Link header); the range is at most 366 days."""
    start, end = _range(since, until)
    after = pagination.decode(cursor, (pagination.instant_part, pagination.int_part))
    try:
        norm = None if plate is None else plate_key(plate)
    except UnreadablePlate as error:
        raise problem(422, "plate_unreadable") from error
    rows = plate_audit.page(
        conn,
        plate_audit.LogFilter(start, end, actor, norm, action),
        after,  # type: ignore[arg-type]
        limit + 1,
    )
    return pagination.page(request, response, rows, limit, lambda r: (r["at"], r["id"]))
