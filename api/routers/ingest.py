"""HTTP ingest: POST /api/v1/ingest/telemetry (a device, with its own HTTP token) and
POST /api/v1/ingest/{route} (routes configured in deploy/ingest/routes.yaml `http:`).

The answer comes after the transaction holding the request's items has committed, so a
2xx means stored: 200 when every item was stored or was a duplicate, 207 when at least
one was rejected (its reason and dead letter id are in the body). The pipeline behind
it is ingest.http (same decoders, writer, detectors and dead letters as MQTT and Kafka).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
import psycopg
from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import POOL_WAIT_SECONDS, pool_of
from api.errors import ApiProblem, problem, responses
from api.limits import RateLimits
from api.login_cache import LoginCache
from config.settings import Settings, get_settings
from events.bounds import storable_text
from ingest.decode import Decoded
from ingest.http import items as http_items
from ingest.http.group import Busy, Failed, GroupCommitter, Unavailable, measurements_copy
from ingest.routes import HttpRoute, RoutesConfig, TopicRouter, load_routes
from store.device_credentials import http_login
from store.users import User, user_for_token

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])

MAX_TOKEN = 256
# A request whose group has not committed by then is answered 503; it may still commit,
# and a repeat is answered 'duplicate' for what did.
COMMIT_TIMEOUT_SECONDS = 30.0

_bearer = HTTPBearer(
    auto_error=False,
    description="A device's HTTP token (`http_token` from `ioc devices add` or the device"
    " API), or, on routes that allow it, an API user's token",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class IngestItem(BaseModel):
    index: int
    status: Literal["stored", "duplicate", "rejected"]
    reason: str | None = None
    dead_letter_id: str | None = None


class IngestAnswer(BaseModel):
    """Per item, in the order sent: stored, duplicate (stored already), or rejected
    (kept as a dead letter with its reason)."""

    received: int
    stored: int
    duplicate: int
    rejected: int
    items: list[IngestItem]


INGEST_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestAnswer, "description": "every item stored or a duplicate"},
    207: {"model": IngestAnswer, "description": "at least one item rejected (see items)"},
    **responses(401, 403, 413, 415, 422, 429, 503),
}
_JSON_BODY = {"type": "string", "format": "binary"}


class IngestService:
    """Per API process: the routes and the group committer, made on first use (rule
    packs load then, not when an API process that never ingests starts)."""

    def __init__(self, settings: Settings) -> None:
        self.config: RoutesConfig = load_routes(settings.routes_file)
        self.max_bytes = self.config.limits.max_message_bytes
        self.telemetry_routers = {
            name: http_items.telemetry_router(name)
            for name in (http_items.NATIVE, http_items.SENML)
        }
        self.routes_router: TopicRouter = http_items.routes_router(self.config.http)

        def connect() -> psycopg.Connection:
            return psycopg.connect(settings.dsn(), application_name="ioc-api-ingest")

        def processor() -> Any:
            from processors.catalog import build_runner

            return build_runner(settings)

        http = self.config.http
        self.committer = GroupCommitter(
            connect,
            processor,
            http.max_batch_items,
            http.max_queued_items,
            http.linger_seconds,
            http.linger_by_format,
        )


_service_lock = threading.Lock()


def ingest_service(request: Request) -> IngestService:
    state = request.app.state
    with _service_lock:
        if getattr(state, "ingest", None) is None:
            state.ingest = IngestService(get_settings())
        return state.ingest


def close(state: Any) -> None:
    """At shutdown: commit what is queued (called by the app's lifespan)."""
    service = getattr(state, "ingest", None)
    if service is not None:
        service.committer.close()


# -- who is posting ---------------------------------------------------------------------


def _unauthorized(code: str) -> ApiProblem:
    return problem(401, code, headers={"WWW-Authenticate": "Bearer"})


def _usable(token: str) -> bool:
    if len(token) > MAX_TOKEN:
        return False
    try:
        storable_text(token)
    except ValueError:
        return False
    return True


def lookup_credential(request: Request, token: str, users: bool) -> str | User | None:
    """The device (id) or, when `users`, the API user holding the token. A device's
    login is remembered for a while (api/login_cache.py)."""
    logins: LoginCache = request.app.state.logins
    generation = logins.generation()
    try:
        with pool_of(request).connection(timeout=POOL_WAIT_SECONDS) as conn:
            login = http_login(conn, token)
            if login is not None:
                logins.remember(token, login, generation)
                return login.device_id
            return user_for_token(conn, token) if users else None
    except PoolTimeout as error:
        raise problem(503, "database_unavailable") from error


async def verified_login(request: Request, token: str, users: bool) -> str | User | None:
    """lookup_credential, without leaving the event loop for a login verified lately."""
    remembered = request.app.state.logins.device_for(token)
    if remembered is not None:
        return remembered
    return await run_in_threadpool(lookup_credential, request, token, users)


async def _identify(request: Request, credentials: Credentials, users: bool) -> str | User:
    """Failed tokens are counted per client address as for API users (api/limits.py);
    a valid one counts against its own request rate."""
    token = credentials.credentials if credentials else ""
    if not token:
        raise _unauthorized("token_required")
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    found = await verified_login(request, token, users) if _usable(token) else None
    if found is None:
        limits.failed(address)
        raise _unauthorized("token_invalid")
    limits.request(token)
    return found


def _allowed(route: HttpRoute, who: str | User) -> bool:
    if isinstance(who, User):
        return who.role.value in route.roles
    return route.devices


# -- the pipeline -------------------------------------------------------------------------


Prepared = tuple[list[Decoded], bytes]


async def commit_items(
    service: IngestService, decoded: list[Decoded], copy: bytes | None = None
) -> list[http_items.ItemResult]:
    try:
        future = service.committer.submit(decoded, copy)
    except Busy as error:
        retry = str(error.retry_after)
        raise problem(
            503, "ingest_busy", headers={"Retry-After": retry}, retry_after=retry
        ) from error
    except Unavailable as error:
        raise problem(503, "database_unavailable") from error
    try:
        # asyncio.timeout, not wait_for: wait_for wraps the future in a task of its own,
        # 4 % of the event loop's CPU per ISAPI push (py-spy at 200 pushes/s).
        async with asyncio.timeout(COMMIT_TIMEOUT_SECONDS):
            return await asyncio.wrap_future(future)
    except TimeoutError as error:
        raise problem(
            503, "ingest_timeout", headers={"Retry-After": "5"}, seconds=COMMIT_TIMEOUT_SECONDS
        ) from error
    except Unavailable as error:
        raise problem(503, "database_unavailable", headers={"Retry-After": "5"}) from error
    except Failed as error:
        # A fault of the server's own (logged with its reason by the committer): the
        # sender keeps the data and repeats it later, as after a 503 for the database.
        retry = str(error.retry_after)
        raise problem(
            503, "ingest_failed", headers={"Retry-After": retry}, retry_after=retry
        ) from error


async def _unusable_body(
    service: IngestService, body: bytes, topic: str, format_name: str, error: Exception
) -> ApiProblem:
    """The whole body kept as one dead letter, then a 422 naming it."""
    reason = getattr(error, "reason", str(error))
    letter = http_items.body_dead_letter(body, topic, format_name, reason, datetime.now(UTC))
    (result,) = await commit_items(service, [letter])
    return problem(
        422, "ingest_body_unusable", reason=result.reason, dead_letter_id=result.dead_letter_id
    )


def answer_items(results: list[http_items.ItemResult]) -> Response:
    body = http_items.summary(results)
    status = 207 if body["rejected"] else 200
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _too_many(error: http_items.TooManyItems) -> ApiProblem:
    return problem(413, "ingest_too_many_items", count=error.count, limit=error.limit)


# -- routes -------------------------------------------------------------------------------


@router.post(
    "/telemetry",
    responses=INGEST_ANSWERS,
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Native JSON (application/json): one record"
            ' {"ts": ..., "<metric>": <number>, ...} or an array of them; SenML'
            " (application/senml+json): a pack (RFC 8428). The device is the token's.",
            "content": {
                "application/json": {"schema": _JSON_BODY},
                "application/senml+json": {"schema": _JSON_BODY},
            },
        }
    },
)
async def post_telemetry(request: Request, credentials: Credentials) -> Response:
    """A device's batch of readings, one item per record."""
    device_id = await _identify(request, credentials, users=False)
    assert isinstance(device_id, str)
    format_name = http_items.telemetry_format(request.headers.get("content-type"))
    if format_name is None:
        raise problem(415, "ingest_media_type")
    body = await request.body()
    service = ingest_service(request)
    topic = http_items.telemetry_topic(device_id)
    split = http_items.native_items if format_name == http_items.NATIVE else http_items.senml_items

    def prepare() -> Prepared:
        found = split(body, device_id, service.config.http.max_items)
        decoded = http_items.decode_items(
            found, topic, format_name, service.telemetry_routers[format_name],
            service.max_bytes, datetime.now(UTC),
        )  # fmt: skip
        return decoded, measurements_copy(decoded)

    try:
        decoded, copy = await run_in_threadpool(prepare)
    except http_items.BodyUnusable as error:
        if not body.strip():
            raise problem(422, "ingest_body_empty") from None
        raise await _unusable_body(service, body, topic, format_name, error) from None
    except http_items.TooManyItems as error:
        raise _too_many(error) from None
    return answer_items(await commit_items(service, decoded, copy))


@router.post(
    "/{route}",
    responses={**INGEST_ANSWERS, **responses(404)},
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Per route (deploy/ingest/routes.yaml): lines (text/plain, one"
            " item per line) or a JSON array (application/json, one item per element)",
            "content": {
                "text/plain": {"schema": _JSON_BODY},
                "application/json": {"schema": _JSON_BODY},
            },
        }
    },
)
async def post_route(
    request: Request,
    credentials: Credentials,
    route: Annotated[str, Path(max_length=63, description="A route name from routes.yaml")],
) -> Response:
    """A batch for a configured route (log lines, alert records …)."""
    who = await _identify(request, credentials, users=True)
    service = ingest_service(request)
    found_route = service.config.http.route(route)
    if found_route is None:
        raise problem(404, "ingest_route_not_found", route=route[:63])
    if not _allowed(found_route, who):
        name = f"role {who.role.value}" if isinstance(who, User) else "a device token"
        raise problem(403, "ingest_forbidden", who=name, route=found_route.name)
    device_id = who if isinstance(who, str) else None
    topic = http_items.route_topic(found_route, device_id)
    body = await request.body()

    def prepare() -> Prepared:
        limit = service.config.http.max_items
        if found_route.items == "lines":
            found = http_items.line_items(body, limit)
        else:
            found = http_items.json_array_items(body, limit)
        if not found:
            raise http_items.BodyUnusable("the body holds no items")
        decoded = http_items.decode_items(
            found, topic, found_route.format, service.routes_router, service.max_bytes,
            datetime.now(UTC),
        )  # fmt: skip
        return decoded, measurements_copy(decoded)

    try:
        decoded, copy = await run_in_threadpool(prepare)
    except http_items.BodyUnusable as error:
        if not body.strip():
            raise problem(422, "ingest_body_empty") from None
        raise await _unusable_body(service, body, topic, found_route.format, error) from None
    except http_items.TooManyItems as error:
        raise _too_many(error) from None
    return answer_items(await commit_items(service, decoded, copy))
