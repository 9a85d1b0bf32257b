"""Stored camera pictures: the image parts ISAPI pushes carried, kept as
content-addressed files (`<sha256>.<ext>`) in `snapshots_path`. A name is its content's
digest, so a file never changes: clients may cache it for good (privately: the picture
may show people), and a repeated request with its ETag answers 304.

Pictures show people and plates: every download, a 304 too (the client shows its copy
again), leaves a row in the access record (store/plate_audit.py) naming the plate when
the picture is a plate read's. A name with no file (404) disclosed nothing and leaves
none."""

from __future__ import annotations

import logging
from pathlib import Path as FilePath
from typing import Annotated

import psycopg
from fastapi import APIRouter, Header, Path, Request, Response

from api import access_record
from api.camera_access import CameraUser
from api.deps import Conn, SettingsDep
from api.errors import not_found, responses
from api.snapshot_links import MEDIA_TYPES, SNAPSHOT_NAME
from store import plate_audit
from store.users import User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/snapshots", tags=["cameras"])

SnapshotName = Annotated[str, Path(pattern=SNAPSHOT_NAME, description="`<sha256>.jpg` or .png")]
CACHE = "private, max-age=31536000, immutable"
# An image is shown, never run: no sniffing into HTML, no script even if it held some.
SAFE = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/{name}",
    response_class=Response,
    responses={
        **responses(401, 403, 404, 422, 429),
        200: {
            "description": "The picture",
            "content": {media: IMAGE for media in MEDIA_TYPES.values()},
            "headers": {
                "ETag": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified: the client's copy (If-None-Match) is this one"},
    },
)
def snapshot(
    name: SnapshotName,
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    user: CameraUser,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    path = _file(settings.snapshots_path, name)
    if path is None:
        raise not_found("snapshot_not_found", name=name)
    etag = f'"{name.partition(".")[0]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE, **SAFE}
    if if_none_match is not None and _matches(if_none_match, etag):
        _record(conn, request, user, name, not_modified=True)
        return Response(status_code=304, headers=headers)
    try:
        data = path.read_bytes()
    except OSError as error:  # removed by the retention job since the check above
        raise not_found("snapshot_not_found", name=name) from error
    _record(conn, request, user, name, not_modified=False)
    return Response(data, media_type=MEDIA_TYPES[name.rpartition(".")[2]], headers=headers)


def _record(
    conn: psycopg.Connection, request: Request, user: User, name: str, *, not_modified: bool
) -> None:
    with conn.transaction():
        plate = plate_audit.snapshot_plate(conn, name)
        access_record.record(
            conn, request, user, "snapshot", plate, snapshot=name, not_modified=not_modified
        )


def _matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _file(directory: FilePath, name: str) -> FilePath | None:
    """The stored file, or None. The name pattern already rules out any path; a file
    that is not a regular file (a link put there by hand) is not served either. Files
    are at most snapshot_max_bytes (ingest/snapshots.py), so they are read whole."""
    path = directory / name
    try:
        return None if path.is_symlink() or not path.is_file() else path
    except OSError as error:  # the store unreadable to the API: a deployment mistake
        log.warning("snapshot store %s: %s", directory, error)
        return None
