"""Silences: mute notifications for matching alerts for a while (alerts still record).

A silence is scoped by its `domain = …` matchers. Matchers are all required, so one
`domain = environment` matcher confines a silence to environment alerts: that is what an
operator or the CSIRT must include, for a domain they act on. Only an admin may create a
silence without one (it mutes every domain). Security-scoped silences are shown only to
roles that see security alerts; unscoped ones to everybody, whose alerts they mute.

Every alert change is matched against every active silence, so their number is capped
(MAX_ACTIVE) as well as their size (processors/alerts/silences.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from api import pagination
from api.auth import CurrentUser, acting_domains, visible_domains
from api.deps import Conn
from api.errors import not_found, problem, responses
from api.schemas import SilenceOut
from processors.alerts.silences import Matcher, SilenceSpec
from store import silences as store
from store.users import Role, User

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

MAX_ACTIVE = 1000


def _scope(matchers: list[Any]) -> set[str]:
    """The domains a silence is confined to; empty = every domain."""
    # Stored matchers are read as they are, not re-validated: one stored before today's
    # limits must still be listed and ended.
    plain = [m.model_dump() if isinstance(m, Matcher) else m for m in matchers]
    return {
        str(m.get("value")) for m in plain if m.get("name") == "domain" and m.get("op", "=") == "="
    }


def _visible(user: User, silence: Mapping[str, Any]) -> bool:
    scope = _scope(silence["matchers"])
    return not scope or bool(scope & {d.value for d in visible_domains(user.role)})


def _may_manage(user: User, matchers: list[Any]) -> bool:
    if user.role is Role.ADMIN:
        return True
    return bool(_scope(matchers) & set(acting_domains(user.role)))


def _forbidden(user: User) -> Exception:
    domains = sorted(acting_domains(user.role))
    if not domains:
        return problem(403, "silences_forbidden", role=user.role.value)
    return problem(
        403, "silences_scope_forbidden", role=user.role.value, domains=" | ".join(domains)
    )


def _out(row: Mapping[str, Any]) -> SilenceOut:
    return SilenceOut(**row, active=row["ends_at"] > datetime.now(UTC))


@router.get(
    "",
    response_model=list[SilenceOut],
    responses={**responses(401, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def silences(
    request: Request,
    response: Response,
    conn: Conn,
    user: CurrentUser,
    include_expired: Annotated[bool, Query()] = False,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[SilenceOut]:
    """Latest start first, one page (see the Link header for the next)."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.uuid_part))
    rows = store.silences_page(
        conn,
        sorted(d.value for d in visible_domains(user.role)),
        include_expired=include_expired,
        after=after,  # type: ignore[arg-type]
        limit=limit + 1,
    )
    shown = pagination.page(request, response, rows, limit, lambda r: (r["starts_at"], r["id"]))
    return [_out(row) for row in shown]


@router.post(
    "",
    response_model=SilenceOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(400, 401, 403, 409, 413, 422, 429),
)
def create(spec: SilenceSpec, conn: Conn, user: CurrentUser) -> SilenceOut:
    if not _may_manage(user, spec.matchers):
        raise _forbidden(user)
    with conn.transaction():
        if store.count_active(conn) >= MAX_ACTIVE:
            raise problem(409, "too_many_silences", limit=MAX_ACTIVE)
        row = store.create_silence(
            conn,
            [m.model_dump() for m in spec.matchers],
            spec.starts_at,
            spec.ends_at,
            user.name,
            spec.reason,
        )
    return _out(row)


@router.delete(
    "/{silence_id}", response_model=SilenceOut, responses=responses(401, 403, 404, 409, 422, 429)
)
def expire(silence_id: uuid.UUID, conn: Conn, user: CurrentUser) -> SilenceOut:
    """End a silence now. It is kept, with who ended it, for the record."""
    row = store.get_silence(conn, silence_id)
    if row is None or not _visible(user, row):
        raise not_found("silence_not_found", silence_id=silence_id)
    if not _may_manage(user, row["matchers"]):
        raise _forbidden(user)
    with conn.transaction():
        ended = store.expire_silence(conn, str(silence_id), user.name)
    if ended is None:
        raise problem(409, "silence_ended")
    return _out(ended)
