"""Security events for the CSIRT (the raw material behind security alerts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api import pagination
from api.auth import require_roles
from api.deps import Conn
from api.errors import responses
from api.inputs import Instant
from api.schemas import SecurityEventOut
from store.api_reads import security_events_page
from store.users import Role, User

router = APIRouter(prefix="/api/v1/security", tags=["security"])

CsirtUser = Annotated[User, Depends(require_roles(Role.CSIRT, Role.ADMIN))]


@router.get(
    "/events",
    response_model=list[SecurityEventOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def events(
    request: Request,
    response: Response,
    conn: Conn,
    user: CsirtUser,
    source_ip: Annotated[IPv4Address | IPv6Address | None, Query()] = None,
    since: Annotated[Instant | None, Query(description="Default: 24 hours ago")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[SecurityEventOut]:
    """Newest first, one page (see the Link header for the next)."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.text_part))
    since = since or datetime.now(UTC) - timedelta(hours=24)
    rows = security_events_page(
        conn,
        since,
        source_ip=None if source_ip is None else str(source_ip),
        after=after,  # type: ignore[arg-type]
        limit=limit + 1,
    )
    shown = pagination.page(request, response, rows, limit, lambda r: (r["time"], r["event_id"]))
    return [SecurityEventOut.from_row(row) for row in shown]
