"""Who reads the TAXII server: a consumer with its own name and secret (HTTP Basic, as
TAXII clients log in; `ioc taxii consumers add`), or a CSIRT analyst or admin with their
API token (to see what the national centre sees). Failed logins count against the
client address like the API's tokens (api/limits.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from api.auth import MAX_TOKEN, _authenticate
from api.deps import Conn
from api.taxii.protocol import TaxiiError, acceptable
from store.taxii import Consumer, consumer_for
from store.users import Role, user_for_token

MAX_NAME = 64
STAFF = frozenset({Role.CSIRT, Role.ADMIN})
CHALLENGE = {"WWW-Authenticate": 'Basic realm="taxii"'}

_basic = HTTPBasic(
    auto_error=False, description="A TAXII consumer's name and secret (`ioc taxii consumers add`)"
)
_bearer = HTTPBearer(auto_error=False, description="A csirt or admin token (`ioc users add`)")


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _consumer(request: Request, conn: Conn, basic: HTTPBasicCredentials) -> Consumer:
    limits = request.app.state.rate_limits
    address = _address(request)
    limits.check_address(address)
    name, secret = basic.username, basic.password
    found = None
    if 0 < len(name) <= MAX_NAME and 0 < len(secret) <= MAX_TOKEN and "\x00" not in name + secret:
        found = consumer_for(conn, name, secret)
    if found is None:
        limits.failed(address)
        raise TaxiiError(401, "credentials_invalid", CHALLENGE)
    limits.request(f"taxii:{name}")
    return found


def _staff(request: Request, conn: Conn, token: str) -> Consumer:
    user = _authenticate(request, token, lambda t: user_for_token(conn, t))
    if user.role not in STAFF:
        raise TaxiiError(403, "role_forbidden", role=user.role.value)
    return Consumer(f"user:{user.name}", None)


def caller(
    request: Request,
    conn: Conn,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Consumer:
    if not acceptable(request.headers.get("accept")):
        raise TaxiiError(406, "not_acceptable")
    if basic is not None:
        return _consumer(request, conn, basic)
    if bearer is not None:
        return _staff(request, conn, bearer.credentials)
    raise TaxiiError(401, "credentials_required", CHALLENGE)


Caller = Annotated[Consumer, Depends(caller)]
