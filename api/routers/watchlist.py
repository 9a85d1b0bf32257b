"""The plate watch list: a plate read by any camera, in any spelling, that matches an
active entry raises a `camera.plate_watch` alert. Operators and admins keep it; every
entry says why and who added it, and every read or change of it leaves a row in the
access record (store/plate_audit.py) in its transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api import access_record, pagination
from api.camera_access import PlateUser
from api.camera_schemas import MAX_PLATE, WatchEntryOut, WatchIn
from api.deps import Conn
from api.errors import not_found, problem, responses
from events.bounds import Text
from store import plate_audit, plates
from store.plates import UnreadablePlate

router = APIRouter(prefix="/api/v1/watchlist", tags=["cameras"])

PlatePath = Annotated[Text, Path(min_length=1, max_length=MAX_PLATE)]
ONE = responses(401, 403, 404, 422, 429)


def _entry(row: dict[str, object]) -> WatchEntryOut:
    return WatchEntryOut.model_validate(row)


@router.get(
    "",
    response_model=list[WatchEntryOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def list_entries(
    request: Request,
    response: Response,
    conn: Conn,
    user: PlateUser,
    active: Annotated[
        bool | None, Query(description="true: unexpired entries only; false: expired only")
    ] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[WatchEntryOut]:
    """By normalised plate, one page (see the Link header for the next)."""
    after = pagination.decode(cursor, (pagination.text_part,))
    with conn.transaction():
        rows = plates.watch_page(conn, active, after[0] if after else None, limit + 1)
        shown = pagination.page(request, response, rows, limit, lambda r: (r["plate_norm"],))
        # The list shows every plate on it: one row for the page, no single plate.
        access_record.record(
            conn, request, user, "watchlist_read", None, list=True, active=active,
            results=len(shown), first_page=cursor is None,
        )  # fmt: skip
    return [_entry(row) for row in shown]


@router.post(
    "",
    status_code=201,
    response_model=WatchEntryOut,
    responses={
        **responses(400, 401, 403, 413, 422, 429),
        200: {
            "model": WatchEntryOut,
            "description": "The plate was listed already: its entry was replaced",
        },
    },
)
def add_entry(
    body: WatchIn, request: Request, response: Response, conn: Conn, user: PlateUser
) -> WatchEntryOut:
    """Watch a plate (201), or replace the entry of a plate listed already in any
    spelling (200): the reason, who and when are the new ones."""
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise problem(422, "watch_expiry_past")
    try:
        with conn.transaction():
            row, created = plates.watch(
                conn, body.plate, body.reason, f"api:{user.name}", body.expires_at
            )
            access_record.record(
                conn, request, user, "watchlist_add", row["plate_norm"], created=created,
                reason=body.reason, expires_at=body.expires_at,
            )  # fmt: skip
    except UnreadablePlate as error:
        raise problem(422, "plate_unreadable") from error
    if not created:
        response.status_code = 200
    return _entry(row)


@router.get("/{plate}", response_model=WatchEntryOut, responses=ONE)
def get_entry(plate: PlatePath, request: Request, conn: Conn, user: PlateUser) -> WatchEntryOut:
    """The entry of the plate, in any spelling."""
    try:
        norm = plates.plate_key(plate)
    except UnreadablePlate as error:
        raise problem(422, "plate_unreadable") from error
    # "Not on the list" is an answer about a plate too: recorded like a found entry.
    with conn.transaction():
        row = plates.watched(conn, plate)
        access_record.record(conn, request, user, "watchlist_read", norm, found=row is not None)
    if row is None:
        raise not_found("watch_entry_not_found", plate=plate)
    return _entry(row)


@router.delete("/{plate}", status_code=204, responses=ONE)
def remove_entry(plate: PlatePath, request: Request, conn: Conn, user: PlateUser) -> Response:
    """Stop watching the plate (any spelling of it)."""
    try:
        norm = plates.plate_key(plate)
    except UnreadablePlate as error:
        raise problem(422, "plate_unreadable") from error
    with conn.transaction():
        removed = plates.unwatch(conn, plate)
        access_record.record(
            conn, request, user, "watchlist_remove", norm, **plate_audit.removal(removed)
        )
    if removed is None:
        raise not_found("watch_entry_not_found", plate=plate)
    return Response(status_code=204)
