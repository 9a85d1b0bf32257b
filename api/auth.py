"""Bearer tokens → users, and what each role may see and do.

Roles:
- viewer:   reads devices, telemetry and the environment, camera and health alerts;
- operator: also acknowledges, resolves, annotates and silences environment, camera and
            health alerts, and reads and acts on watch-listed plate alerts (domain
            plates: personal data, operators and admins only);
- csirt:    reads everything but plate alerts, and acts on security alerts (and reads
            security events);
- integrator: connects equipment: creates, changes, disables and deletes devices and
            issues, rotates and revokes their secrets; reads dead letters and replays them;
            reads telemetry and health alerts;
- admin:    everything.

A security or plate alert the caller may not see answers 404 like a missing one, so its
existence does not leak; a resource the role may not use at all answers 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import PoolTimeout

from api.deps import POOL_WAIT_SECONDS, Conn, pool_of
from api.errors import problem
from api.limits import RateLimits
from events.alerts import VISIBLE_TO, Domain
from events.bounds import storable_text
from store.users import Role, User, user_for_token

MAX_TOKEN = 256
_bearer = HTTPBearer(auto_error=False, description="Token from `ioc users add`")

# Who may change an alert (acknowledge, resolve, add notes) or silence its domain.
ACTS_ON: Mapping[Domain, frozenset[Role]] = {
    Domain.SECURITY: frozenset({Role.CSIRT, Role.ADMIN}),
    Domain.ENVIRONMENT: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.CAMERA: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.HEALTH: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.PLATES: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.PESTS: frozenset({Role.OPERATOR, Role.ADMIN}),
    Domain.EPIDEMICS: frozenset({Role.OPERATOR, Role.ADMIN}),
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


def _unauthorized(code: str) -> Exception:
    return problem(401, code, headers={"WWW-Authenticate": "Bearer"})


def _limits(request: Request) -> RateLimits:
    return request.app.state.rate_limits


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authenticate(request: Request, token: str, lookup: Callable[[str], User | None]) -> User:
    """The token's user, counting failures per address and requests per token."""
    if not token:
        raise _unauthorized("token_required")
    limits = _limits(request)
    address = _address(request)
    limits.check_address(address)
    # Tokens are random and stored hashed: anything longer than a token is not one.
    user = lookup(token) if len(token) <= MAX_TOKEN and _storable(token) else None
    if user is None:
        limits.failed(address)
        raise _unauthorized("token_invalid")
    limits.request(token)
    return user


def _storable(token: str) -> bool:
    try:
        storable_text(token)
    except ValueError:
        return False
    return True


def current_user(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    token = credentials.credentials if credentials else ""
    return _authenticate(request, token, lambda t: user_for_token(conn, t))


CurrentUser = Annotated[User, Depends(current_user)]


def stream_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(
            max_length=MAX_TOKEN,
            description="For EventSource, which cannot send headers; only on the stream",
        ),
    ] = None,
) -> User:
    """Like current_user, but also takes `?access_token=`, and gives its connection
    back at once: a stream lasts hours and must not hold a pooled connection."""
    token = credentials.credentials if credentials else (access_token or "")

    def lookup(presented: str) -> User | None:
        try:
            with pool_of(request).connection(timeout=POOL_WAIT_SECONDS) as conn:
                return user_for_token(conn, presented)
        except PoolTimeout as error:
            raise problem(503, "database_unavailable") from error

    return _authenticate(request, token, lookup)


StreamUser = Annotated[User, Depends(stream_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = frozenset(roles)

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise problem(403, "role_forbidden", role=user.role.value, needs=_names(allowed))
        return user

    return check


def _names(roles: Iterable[Role]) -> str:
    return " or ".join(sorted(r.value for r in roles))


def forbid_action(user: User, domain: str) -> Exception:
    return problem(403, "action_forbidden", role=user.role.value, domain=domain)


# Device registry writes and device secrets (api/routers/devices.py).
ManagesDevices = Annotated[User, Depends(require_roles(Role.ADMIN, Role.INTEGRATOR))]
