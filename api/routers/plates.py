"""Plate reads: what the cameras read, searched by normalised plate, so `51F-123.45`,
`51F12345` and a two-row read of the same plate are one search. Personal data: for
operators and admins, kept only `plate_retention_days`, and every search (each page)
leaves a row in the access record (store/plate_audit.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api import access_record, pagination
from api.camera_access import PlateUser, ordered
from api.camera_schemas import MAX_PLATE, PlateReadOut
from api.deps import Conn, SettingsDep
from api.errors import problem, responses
from api.snapshot_links import snapshot_url
from events.bounds import Instant, Text
from store import plates
from store.plates import ReadFilter, UnreadablePlate

router = APIRouter(prefix="/api/v1/plates", tags=["cameras"])


@router.get(
    "",
    response_model=list[PlateReadOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def search(
    request: Request,
    response: Response,
    conn: Conn,
    settings: SettingsDep,
    user: PlateUser,
    plate: Annotated[Text, Query(min_length=1, max_length=MAX_PLATE, description="Any spelling")],
    camera: Annotated[Text | None, Query(min_length=1, max_length=128)] = None,
    since: Annotated[Instant | None, Query(description="Read at or after (RFC 3339)")] = None,
    until: Annotated[Instant | None, Query(description="Read before (RFC 3339)")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[PlateReadOut]:
    """The reads of one plate, newest first, one page (see the Link header)."""
    ordered(since, until)
    after = pagination.decode(cursor, (pagination.instant_part, pagination.text_part))
    try:
        norm = plates.plate_key(plate)
    except UnreadablePlate as error:
        raise problem(422, "plate_unreadable") from error
    # The search and its access record commit together: no answer without its row.
    with conn.transaction():
        rows = plates.reads_page(
            conn,
            ReadFilter(plate, camera, since, until),
            after,  # type: ignore[arg-type]
            limit + 1,
        )
        shown = pagination.page(
            request, response, rows, limit, lambda r: (r["time"], r["event_id"])
        )
        access_record.record(
            conn, request, user, "search", norm, camera=camera, since=since, until=until,
            results=len(shown), first_page=cursor is None,
        )  # fmt: skip
    return [
        PlateReadOut(**row, snapshot_url=snapshot_url(row["snapshot"], settings)) for row in shown
    ]
