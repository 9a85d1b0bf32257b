"""Dead letters for people: find rejected messages, read why, take their bytes, and
replay them through today's decoders after a route or format fix.

Who sees what (store/dead_letters.py says which letters are security data): admins and
the CSIRT read every letter; integrators, who connect equipment, read and replay the
letters of equipment formats only, because a security log's raw line (user names,
addresses, attack traffic) is CSIRT material, as security events are. A letter a caller
may not see answers 404, as an alert does. Replaying is for admins and integrators: the
CSIRT reads security letters to investigate; fixing routes and replaying is the
operators of the platform's work.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import pagination
from api.auth import require_roles
from api.deps import Conn, SettingsDep
from api.errors import ApiProblem, FieldError, problem, responses
from api.inputs import Instant, Text
from api.schemas import (
    MAX_REPLAY,
    DeadLetterDetail,
    DeadLetterFilter,
    DeadLetterOut,
    DeadLetterReplayRef,
    ReplayByIds,
    ReplayIn,
    ReplayOut,
)
from store import dead_letters as store
from store.dead_letters import Filters, Scope
from store.users import Role, User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])

Reader = Annotated[User, Depends(require_roles(Role.ADMIN, Role.INTEGRATOR, Role.CSIRT))]
Replayer = Annotated[User, Depends(require_roles(Role.ADMIN, Role.INTEGRATOR))]
LetterId = Annotated[str, Path(min_length=1, max_length=64)]

# Letter ids are UUID-shaped digests (events/ids.py).
LETTER_ID = re.compile(r"[0-9a-f-]{1,64}")
MAX_TOPIC = 512
MAX_REASON_FILTER = 200


def scope_of(user: User) -> Scope:
    return Scope.EQUIPMENT if user.role is Role.INTEGRATOR else Scope.ALL


def _filters(
    transport: Annotated[str | None, Query(pattern="^(mqtt|kafka|http)$")] = None,
    topic: Annotated[Text | None, Query(max_length=MAX_TOPIC, description="Exact")] = None,
    topic_prefix: Annotated[Text | None, Query(min_length=1, max_length=MAX_TOPIC)] = None,
    reason: Annotated[
        Text | None,
        Query(min_length=1, max_length=MAX_REASON_FILTER, description="Substring, any case"),
    ] = None,
    since: Annotated[Instant | None, Query(description="Received at or after")] = None,
    until: Annotated[Instant | None, Query(description="Received before")] = None,
    resolved: Annotated[bool | None, Query(description="Stored by a replay since")] = None,
) -> Filters:
    return Filters(transport, topic, topic_prefix, reason, since, until, resolved)


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get(
    "",
    response_model=list[DeadLetterOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def list_dead_letters(
    request: Request,
    response: Response,
    conn: Conn,
    user: Reader,
    filters: FiltersDep,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[DeadLetterOut]:
    """Newest first (received_at, then id), one page; the Link header names the next."""
    after = pagination.decode(cursor, (pagination.instant_part, pagination.text_part))
    rows = store.page(conn, filters, scope_of(user), after, limit + 1)  # type: ignore[arg-type]
    shown = pagination.page(request, response, rows, limit, lambda r: (r["received_at"], r["id"]))
    return [DeadLetterOut.from_row(row) for row in shown]


@router.post(
    "/replay",
    response_model=ReplayOut,
    responses=responses(400, 401, 403, 404, 413, 422, 429, 503),
)
def replay_dead_letters(
    body: ReplayIn, conn: Conn, user: Replayer, settings: SettingsDep
) -> ReplayOut:
    """Replay the chosen letters with the routes configured now: what decodes is stored
    (idempotently: a letter stored twice adds nothing) and the letter resolved; what
    still fails keeps its row with the new reason. Answers the replay record."""
    from ingest.replay import ReplayConfigError, replay

    ids, selection = _select(conn, body, scope_of(user))
    try:
        report = replay(settings, ids, actor=user.name, selection=selection)
    except ReplayConfigError as error:
        # The deployment's to fix, not the caller's: a 503, never a 500.
        log.warning("dead-letter replay refused: configuration does not load: %s", error)
        raise problem(503, "replay_config_invalid", reason=str(error)[:300]) from None
    record = store.get_replay(conn, report.replay_id)
    assert record is not None
    return ReplayOut(**record)


def _select(conn: Any, body: ReplayIn, scope: Scope) -> tuple[list[str], dict[str, Any]]:
    if isinstance(body, ReplayByIds):
        ordered = store.visible_ids(conn, body.ids, scope)  # oldest first, as they came
        found = set(ordered)
        missing = [i for i, letter_id in enumerate(body.ids) if letter_id not in found]
        if missing:
            errors = [
                FieldError(loc=["body", "ids", i], msg="no such dead letter", type="not_found")
                for i in missing[:20]
            ]
            raise ApiProblem(404, "dead_letters_unknown", errors=errors, count=len(missing))
        return ordered, {"ids": list(dict.fromkeys(body.ids))}
    filters = _from_body(body.filter)
    ids = store.select_ids(conn, filters, scope, body.limit + 1)
    if len(ids) > body.limit:
        raise ApiProblem(422, "replay_too_many", limit=body.limit, max=MAX_REPLAY)
    return ids, {"filter": filters.as_json(), "limit": body.limit}


def _from_body(given: DeadLetterFilter) -> Filters:
    return Filters(
        given.transport,
        given.topic,
        given.topic_prefix,
        given.reason,
        given.since,
        given.until,
        given.resolved,
    )


@router.get(
    "/{dead_letter_id}",
    response_model=DeadLetterDetail,
    responses=responses(401, 403, 404, 422, 429),
)
def get_dead_letter(dead_letter_id: LetterId, conn: Conn, user: Reader) -> DeadLetterDetail:
    """One letter: its reason and where it came from, its bytes (as text when they are
    UTF-8, always as base64) and the replays it took part in."""
    row = _letter(conn, dead_letter_id, user)
    payload = bytes(row["payload"])
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    replays = [DeadLetterReplayRef(**r) for r in store.replays_of(conn, dead_letter_id)]
    return DeadLetterDetail(
        **DeadLetterOut.from_row(row).model_dump(),
        payload_text=text,
        payload_base64=base64.b64encode(payload).decode(),
        replays=replays,
    )


@router.get(
    "/{dead_letter_id}/payload",
    response_class=Response,
    responses={
        **responses(401, 403, 404, 422, 429),
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        },
    },
)
def get_dead_letter_payload(dead_letter_id: LetterId, conn: Conn, user: Reader) -> Response:
    """The kept bytes exactly as they arrived, as a download: never rendered, whatever
    they hold (a payload may be HTML or script sent on purpose)."""
    row = _letter(conn, dead_letter_id, user)
    return Response(
        bytes(row["payload"]),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="dead-letter-{row["id"]}.bin"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Payload-Size": str(row["payload_size"]),
        },
    )


def _letter(conn: Any, dead_letter_id: str, user: User) -> dict[str, Any]:
    row = None
    if LETTER_ID.fullmatch(dead_letter_id):  # anything else names no letter
        row = store.get(conn, dead_letter_id, scope_of(user))
    if row is None:
        raise ApiProblem(404, "dead_letter_not_found", dead_letter_id=dead_letter_id)
    return row
