"""Security events for the CSIRT (the raw material behind security alerts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import require_roles
from api.deps import Conn
from api.errors import problem
from api.schemas import SecurityEventOut
from store import queries
from store.users import Role, User

router = APIRouter(prefix="/api/v1/security", tags=["security"])

CsirtUser = Annotated[User, Depends(require_roles(Role.CSIRT, Role.ADMIN))]


@router.get("/events", response_model=list[SecurityEventOut])
def events(
    conn: Conn,
    user: CsirtUser,
    source_ip: Annotated[IPv4Address | IPv6Address | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="Default: 24 hours ago")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SecurityEventOut]:
    if since is not None and since.tzinfo is None:
        raise problem(400, "since cần có múi giờ", "since needs a timezone offset, e.g. +07:00")
    since = since or datetime.now(UTC) - timedelta(hours=24)
    ip = None if source_ip is None else str(source_ip)
    rows = queries.security_events(conn, since, source_ip=ip, limit=limit)
    return [SecurityEventOut.from_row(row) for row in rows]
