"""POST /api/v1/ingest/isapi: Hikvision cameras' event push (ISAPI "HTTP listening").

Authentication is HTTP Basic, which is what a camera's alarm-server settings can send:
username = the camera's device id, password = that device's HTTP token (`ioc devices add
--type camera` prints both as http_username / http_password, with the URL). Failures
count against the client address like every other failed token (api/limits.py).

Who gets a dead letter: only a camera that authenticated. A request without valid
credentials is answered 401 and its body is neither read nor stored: anyone can reach
this URL, and keeping anonymous bodies would let anyone fill the database (the 401s are
rate-limited per address and logged by the access log).

The body bounds itself (api/bounds.py leaves this path alone): it may hold images up to
`snapshot_max_bytes` each, more than the API's 1 MiB, and is read only after the camera
authenticated. Then, as the other HTTP ingest routes (ingest/http/): the XML is decoded
by ingest.decode as a message on `http/isapi/<camera>`, its image saved to the snapshot
store (the event keeps `isapi:<sha256>.<ext>`), and the event committed by the group
committer with the detectors; the answer comes after the commit. Statuses: 200 stored;
400 malformed (broken XML or multipart, cut off), 413 too large, 415 other Content-Type,
422 well-formed but unusable (e.g. an eventType no rule reads) — each with a dead letter
whose id and reason the problem names; 503 when the database is away (the camera
re-sends; writing is idempotent). Never a 500 for what a camera sends.
"""

from __future__ import annotations

import binascii
import logging
from base64 import b64decode
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from api.errors import ApiProblem, problem, responses
from api.limits import RateLimits
from api.routers.ingest import (
    INGEST_ANSWERS,
    IngestService,
    answer_items,
    commit_items,
    ingest_service,
    verified_login,
)
from config.settings import get_settings
from events.models import CameraEvent
from ingest import snapshots
from ingest.decode import Decoded, decode
from ingest.http import isapi as push_body
from ingest.http import items as http_items
from ingest.message import RawMessage

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
PATH = push_body.PATH
REALM = 'Basic realm="ioc-isapi", charset="UTF-8"'
MAX_CREDENTIAL = 256
# Room for the XML, two pictures (ANPR: the scene and the plate crop) and the multipart
# framing; a larger body is refused (413) once that much has been read.
FRAMING_BYTES = 64 * 1024


def body_limit(service: IngestService) -> int:
    return service.max_bytes + 2 * get_settings().snapshot_max_bytes + FRAMING_BYTES


def _unauthorized(code: str) -> ApiProblem:
    return problem(401, code, headers={"WWW-Authenticate": REALM})


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, param = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not param.strip():
        return None
    try:
        text = b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ("", "")  # presented but unreadable: a failed attempt
    username, separator, password = text.partition(":")
    return (username, password) if separator else ("", "")


async def _camera(request: Request) -> str:
    """The device id whose login this is. A presented, wrong login counts as a failed
    authentication of the client address; past the limit, even a right one is refused."""
    credentials = _basic(request)
    if credentials is None:
        raise _unauthorized("isapi_credentials_required")
    username, password = credentials
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    usable = 0 < len(password) <= MAX_CREDENTIAL and 0 < len(username) <= MAX_CREDENTIAL
    found = await verified_login(request, password, False) if usable else None
    if found is None or found != username:
        limits.failed(address)
        raise _unauthorized("isapi_credentials_invalid")
    limits.request(password)
    return username


async def _read(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise push_body.Refused(413, f"body larger than {limit} bytes", bytes(body[:limit]))
    return bytes(body)


async def _refuse(service: IngestService, letter: Decoded, status: int) -> ApiProblem:
    """Keep the refused push as a dead letter (committed), then the problem naming it."""
    (result,) = await commit_items(service, [letter])
    code = {400: "isapi_malformed", 413: "isapi_too_large", 415: "isapi_media_type"}
    return problem(
        status,
        code.get(status, "isapi_unusable"),
        reason=result.reason,
        dead_letter_id=result.dead_letter_id,
    )


def _attach_snapshot(decoded: Decoded, push: push_body.Push, directory: str) -> None:
    """Save the push's picture and point its event at it. A picture that cannot be kept
    (not JPEG/PNG, disk full) costs the reference only, never the event."""
    image = push.snapshot_image()
    if image is None:
        return
    settings = get_settings()
    try:
        reference = snapshots.save(
            settings.snapshots_path, bytes(image.data), settings.snapshot_max_bytes
        )
    except snapshots.NotAnImage as error:
        note = {"snapshot_refused": f"{image.name or 'image part'}: {error}"}
        decoded.events = [_with(e, attributes={**e.attributes, **note}) for e in decoded.events]
        return
    except OSError as error:
        log.warning("snapshot store %s: %s; event kept without its picture", directory, error)
        return
    decoded.events = [_with(e, snapshot=reference) for e in decoded.events]


def _with(event: object, **changes: object) -> CameraEvent:
    assert isinstance(event, CameraEvent)
    return event.model_copy(update=changes)


@router.post(
    "/isapi",
    responses={**INGEST_ANSWERS, **responses(400)},
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Hikvision EventNotificationAlert (application/xml or"
            " text/xml), or multipart/form-data / multipart/mixed with the XML part and"
            " JPEG or PNG image parts. HTTP Basic: username = the camera's device id,"
            " password = its HTTP token.",
            "content": {
                "application/xml": {"schema": {"type": "string", "format": "binary"}},
                "text/xml": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {"schema": {"type": "string", "format": "binary"}},
                "multipart/mixed": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
async def post_isapi(request: Request) -> Response:
    """One event pushed by a Hikvision camera (motion, line crossing, intrusion, region
    entrance/exit, tamper, video loss, ANPR), answered after it is committed."""
    camera = await _camera(request)
    service = ingest_service(request)
    topic = push_body.topic(camera)
    received = datetime.now(UTC)
    content_type = request.headers.get("content-type")
    settings = get_settings()

    try:
        body = await _read(request, body_limit(service))
        push = push_body.split(content_type, body, service.max_bytes, settings.snapshot_max_bytes)
    except ClientDisconnect:
        return Response(status_code=400)  # the camera went away mid-body: no one to tell
    except push_body.Refused as refused:
        letter = http_items.body_dead_letter(
            refused.payload, topic, push_body.FORMAT, refused.reason, received
        )
        raise await _refuse(service, letter, refused.status) from None
    # Decoded here, on the event loop: it is CPU work either way (a worker thread holds
    # the GIL as well), and the trip to the thread pool cost more than the decoding of
    # a push (docs/performance.md, cameras). Only a picture goes to a thread, to be
    # written and synced to disk without stalling the loop.
    message = RawMessage(http_items.TRANSPORT, topic, push.xml, received_at=received)
    decoded = decode(message, push_body.router(), service.max_bytes)
    if decoded.dead_letter is None and push.snapshot_image() is not None:
        await run_in_threadpool(_attach_snapshot, decoded, push, str(settings.snapshots_path))
    if decoded.dead_letter is not None:
        status = push_body.status_of(decoded.dead_letter.reason)
        raise await _refuse(service, decoded, status) from None
    return answer_items(await commit_items(service, [decoded]))
