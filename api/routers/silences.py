"""Silences: mute notifications for matching alerts for a while (alerts still record).

A silence is scoped by its `domain = …` matchers. Matchers are all required, so one
`domain = environment` matcher confines a silence to environment alerts: that is what an
operator or the CSIRT must include, for a domain they act on. Only an admin may create a
silence without one (it mutes every domain). Security-scoped silences are shown only to
roles that see security alerts; unscoped ones to everybody, whose alerts they mute.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.alert_reads import get_silence
from api.auth import CurrentUser, acting_domains, may_see
from api.deps import Conn
from api.errors import not_found, problem
from api.schemas import SilenceOut
from processors.alerts.silences import (
    Matcher,
    SilenceSpec,
    create_silence,
    expire_silence,
    list_silences,
)
from store.users import Role, User

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])


def _scope(matchers: list[Any]) -> set[str]:
    """The domains a silence is confined to; empty = every domain."""
    parsed = [m if isinstance(m, Matcher) else Matcher.model_validate(m) for m in matchers]
    return {m.value for m in parsed if m.name == "domain" and m.op == "="}


def _visible(user: User, silence: Mapping[str, Any]) -> bool:
    scope = _scope(silence["matchers"])
    return not scope or any(may_see(user.role, d) for d in scope)


def _may_manage(user: User, matchers: list[Any]) -> bool:
    if user.role is Role.ADMIN:
        return True
    return bool(_scope(matchers) & set(acting_domains(user.role)))


def _forbidden(user: User) -> Exception:
    domains = sorted(acting_domains(user.role))
    if not domains:
        return problem(
            403,
            f"Vai trò {user.role.value} không được tạo hay gỡ lệnh tạm tắt thông báo",
            f"role {user.role.value} may not manage silences",
        )
    allowed = " | ".join(domains)
    return problem(
        403,
        f"Vai trò {user.role.value} chỉ được tạo/gỡ lệnh tạm tắt thông báo"
        f" có điều kiện domain = {allowed}",
        f"role {user.role.value} may only manage silences with a matcher domain = {allowed}",
    )


def _out(row: Mapping[str, Any]) -> SilenceOut:
    return SilenceOut(**row, active=row["ends_at"] > datetime.now(UTC))


@router.get("", response_model=list[SilenceOut])
def silences(
    conn: Conn,
    user: CurrentUser,
    include_expired: Annotated[bool, Query()] = False,
) -> list[SilenceOut]:
    rows = list_silences(conn, include_expired=include_expired)
    return [_out(row) for row in rows if _visible(user, row)]


@router.post("", response_model=SilenceOut, status_code=status.HTTP_201_CREATED)
def create(spec: SilenceSpec, conn: Conn, user: CurrentUser) -> SilenceOut:
    if not _may_manage(user, spec.matchers):
        raise _forbidden(user)
    with conn.transaction():
        row = create_silence(conn, spec, user.name)
    assert row is not None  # INSERT … RETURNING always returns the row
    return _out(row)


@router.delete("/{silence_id}", response_model=SilenceOut)
def expire(silence_id: uuid.UUID, conn: Conn, user: CurrentUser) -> SilenceOut:
    """End a silence now. It is kept, with who ended it, for the record."""
    row = get_silence(conn, silence_id)
    if row is None or not _visible(user, row):
        raise not_found(f"lệnh tạm tắt thông báo {silence_id}", f"silence {silence_id}")
    if not _may_manage(user, row["matchers"]):
        raise _forbidden(user)
    with conn.transaction():
        ended = expire_silence(conn, str(silence_id), user.name)
    if ended is None:
        raise problem(
            409, "Lệnh tạm tắt thông báo này đã kết thúc", "this silence has already ended"
        )
    return _out(ended)
