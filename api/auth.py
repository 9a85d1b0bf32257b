"""Bearer tokens → users, and what each role may see and do.

Roles:
- viewer:   reads devices, telemetry and non-security alerts;
- operator: also acknowledges, resolves, annotates and silences environment, camera and
            health alerts;
- csirt:    reads everything, and acts on security alerts (and reads security events);
- admin:    everything.

A security alert the caller may not see answers 404 like a missing one, so its existence
does not leak; a resource the role may not use at all answers 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import PoolTimeout

from api.deps import POOL_WAIT_SECONDS, Conn, pool_of
from api.errors import problem
from events.alerts import VISIBLE_TO, Domain
from store.users import Role, User, user_for_token

_bearer = HTTPBearer(auto_error=False, description="Token from `ioc users add`")

# Who may change an alert (acknowledge, resolve, add notes) or silence its domain.
ACTS_ON: Mapping[Domain, frozenset[Role]] = {
    Domain.SECURITY: frozenset({Role.CSIRT, Role.ADMIN}),
    Domain.ENVIRONMENT: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.CAMERA: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.HEALTH: frozenset({Role.OPERATOR, Role.ADMIN}),
}


def visible_domains(role: Role) -> frozenset[Domain]:
    return frozenset(d for d, roles in VISIBLE_TO.items() if role in roles)


def _domain(text: str) -> Domain | None:
    try:
        return Domain(text)
    except ValueError:
        return None


def may_see(role: Role, domain: str) -> bool:
    # An unknown domain is hidden: a new kind of alert is shown only once someone has
    # said who may see it.
    known = _domain(domain)
    return known is not None and role in VISIBLE_TO.get(known, frozenset())


def may_act(role: Role, domain: str) -> bool:
    known = _domain(domain)
    return known is not None and role in ACTS_ON.get(known, frozenset())


def acting_domains(role: Role) -> frozenset[Domain]:
    return frozenset(d for d, roles in ACTS_ON.items() if role in roles)


def _unauthorized(vi: str, en: str) -> Exception:
    return problem(401, vi, en, headers={"WWW-Authenticate": "Bearer"})


def _authenticate(conn_user: User | None, presented: bool) -> User:
    if not presented:
        raise _unauthorized("Cần mã truy cập (Bearer token)", "a bearer token is required")
    if conn_user is None:
        raise _unauthorized(
            "Mã truy cập không hợp lệ hoặc đã bị thu hồi", "invalid or revoked token"
        )
    return conn_user


def current_user(
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    token = credentials.credentials if credentials else ""
    user = user_for_token(conn, token) if token else None
    return _authenticate(user, bool(token))


CurrentUser = Annotated[User, Depends(current_user)]


def stream_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(description="For EventSource, which cannot send headers; only on the stream"),
    ] = None,
) -> User:
    """Like current_user, but also takes `?access_token=`, and gives its connection
    back at once: a stream lasts hours and must not hold a pooled connection."""
    token = credentials.credentials if credentials else (access_token or "")
    user = None
    if token:
        try:
            with pool_of(request).connection(timeout=POOL_WAIT_SECONDS) as conn:
                user = user_for_token(conn, token)
        except PoolTimeout as error:
            raise problem(
                503, "Cơ sở dữ liệu đang bận hoặc không kết nối được", "database unavailable"
            ) from error
    return _authenticate(user, bool(token))


StreamUser = Annotated[User, Depends(stream_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise problem(
                403,
                f"Vai trò {user.role.value} không được phép thao tác này",
                f"role {user.role.value} may not do this (needs {_names(allowed)})",
            )
        return user

    return check


def _names(roles: Iterable[Role]) -> str:
    return " or ".join(sorted(r.value for r in roles))


def forbid_action(user: User, domain: str) -> Exception:
    return problem(
        403,
        f"Vai trò {user.role.value} không được xử lý cảnh báo thuộc lĩnh vực {domain}",
        f"role {user.role.value} may not act on {domain} alerts",
    )
