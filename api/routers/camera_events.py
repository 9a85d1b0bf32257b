"""Camera events: what Frigate, Hikvision cameras and ONVIF systems reported, one row
per event (updated in place as its messages arrive), with the reference and link of its
snapshot. For operators, the CSIRT and admins (api/camera_access.py says why)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api import pagination
from api.camera_access import CameraUser, bounded_range
from api.camera_schemas import CameraEventOut
from api.deps import Conn, SettingsDep
from api.errors import responses
from api.snapshot_links import snapshot_url
from events.bounds import Instant, Text
from store.camera_reads import EventFilter, events_page

router = APIRouter(prefix="/api/v1/camera-events", tags=["cameras"])


@router.get(
    "",
    response_model=list[CameraEventOut],
    responses={**responses(401, 403, 422, 429), 200: {"headers": pagination.LINK_HEADER}},
)
def list_events(
    request: Request,
    response: Response,
    conn: Conn,
    settings: SettingsDep,
    user: CameraUser,
    camera: Annotated[Text | None, Query(min_length=1, max_length=128)] = None,
    type: Annotated[
        str | None,
        Query(
            pattern="^[a-z][a-z0-9_]{0,63}$",
            description="object, review, motion, line_crossing, intrusion, region_entrance,"
            " region_exit, tamper, video_loss, anpr",
        ),
    ] = None,
    since: Annotated[
        Instant | None, Query(description="Started at or after; default: a day before until")
    ] = None,
    until: Annotated[Instant | None, Query(description="Started before; default: now")] = None,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> list[CameraEventOut]:
    """Newest first, one page (see the Link header); the range is at most 31 days."""
    start, end = bounded_range(since, until)
    after = pagination.decode(cursor, (pagination.instant_part, pagination.text_part))
    rows = events_page(
        conn,
        EventFilter(start, end, camera, type),
        after,  # type: ignore[arg-type]
        limit + 1,
    )
    shown = pagination.page(request, response, rows, limit, lambda r: (r["time"], r["event_id"]))
    return [
        CameraEventOut(**row, snapshot_url=snapshot_url(row["snapshot"], settings)) for row in shown
    ]
