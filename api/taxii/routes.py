"""The TAXII 2.1 endpoints (OASIS TAXII 2.1, sections 4-5), read-only.

    /taxii2/                                             discovery
    /taxii2/csirt/                                       the API root
    /taxii2/csirt/collections/                           collections the caller may read
    /taxii2/csirt/collections/{id}/                      one (by id or alias)
    /taxii2/csirt/collections/{id}/objects/              envelope: limit, next, added_after,
                                                         match[id|type|version|spec_version]
    /taxii2/csirt/collections/{id}/objects/{object}/     one object (its versions: one)
    /taxii2/csirt/collections/{id}/objects/{object}/versions/
    /taxii2/csirt/collections/{id}/manifest/

Objects are the STIX 2.1 objects of the cases marked shared whose TLP is at most the
collection's ceiling, brought up to date before each read (processors/taxii/publish.py).
Pages run in (date_added, id) order; `next` is where the page stopped, so a page never
repeats or skips an object while objects are being added.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Query, Request

from api.deps import Conn, SettingsDep
from api.taxii.auth import Caller
from api.taxii.protocol import (
    STIX_MEDIA,
    TAXII_MEDIA,
    Match,
    TaxiiError,
    TaxiiResponse,
    TaxiiRoute,
    next_token,
    page_size,
    parse_match,
    parse_next,
    parse_timestamp,
    timestamp,
    valid_object_id,
)
from processors.alerts.exports.stix import soc_identity
from processors.taxii import publish, tlp
from store import taxii as store
from store.taxii import Collection, Consumer, ObjectQuery

log = logging.getLogger(__name__)

PREFIX = "/taxii2"
_COLLECTION_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$|^[0-9a-fA-F-]{36}$")
API_ROOT = "csirt"
ROOT_PATH = f"/{API_ROOT}"
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_ERROR = {
    "description": "TAXII error message",
    "content": {
        TAXII_MEDIA: {
            "schema": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "error_code": {"type": "string"},
                    "http_status": {"type": "string"},
                },
                "required": ["title"],
            }
        }
    },
}
_OK = {"description": "TAXII resource", "content": {TAXII_MEDIA: {"schema": _ANY_OBJECT}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _OK,
    **{status: _ERROR for status in (400, 401, 403, 404, 406, 429, 503)},
}

router = APIRouter(
    prefix=PREFIX,
    tags=["taxii"],
    route_class=TaxiiRoute,
    default_response_class=TaxiiResponse,
    responses=RESPONSES,
)

CollectionId = Annotated[
    str,
    Path(
        max_length=100,
        description="The collection's id (a UUID) or alias",
        examples=["incidents"],
    ),
]
ObjectId = Annotated[
    str,
    Path(
        max_length=300,
        description="A STIX id, type--UUID",
        examples=["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
    ),
]
AddedAfter = Annotated[
    str | None,
    Query(max_length=64, description="Only objects added after this time (RFC 3339)"),
]
Limit = Annotated[int | None, Query(ge=1, le=10**9, description="Page size (at most 1000)")]
Next = Annotated[str | None, Query(max_length=512, description="From a previous page's next")]
MatchId = Annotated[str | None, Query(alias="match[id]", max_length=8000)]
MatchType = Annotated[str | None, Query(alias="match[type]", max_length=2000)]
MatchVersion = Annotated[str | None, Query(alias="match[version]", max_length=4000)]
MatchSpec = Annotated[str | None, Query(alias="match[spec_version]", max_length=200)]


def _root_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}{ROOT_PATH}/"


@router.get("/", summary="TAXII discovery")
def discovery(request: Request, caller: Caller, settings: SettingsDep) -> TaxiiResponse:
    root = _root_url(request)
    return TaxiiResponse(
        {
            "title": f"TAXII — {settings.soc_name}",
            "description": (
                "Sự cố CSIRT tỉnh chia sẻ với Trung tâm giám sát quốc gia (STIX 2.1)."
                " Incidents the provincial CSIRT shares with the national centre."
            ),
            "contact": settings.cap_sender,
            "default": root,
            "api_roots": [root],
        }
    )


@router.get(f"{ROOT_PATH}/", summary="TAXII API root")
def api_root(caller: Caller, settings: SettingsDep) -> TaxiiResponse:
    return TaxiiResponse(
        {
            "title": f"CSIRT — {settings.soc_name}",
            "description": "Sự cố đã chia sẻ / Shared incidents",
            "versions": [TAXII_MEDIA],
            "max_content_length": settings.api_max_body_bytes,
        }
    )


def _resource(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA],
    }


@router.get(f"{ROOT_PATH}/collections/", summary="TAXII collections")
def collections(caller: Caller, conn: Conn) -> TaxiiResponse:
    readable = [c for c in store.list_collections(conn) if caller.may_read(c.alias)]
    return TaxiiResponse({"collections": [_resource(c) for c in readable]} if readable else {})


def _collection(conn: psycopg.Connection, caller: Consumer, key: str) -> Collection:
    # Only an alias or a UUID reaches the database (no NUL, no undecodable bytes).
    found = store.find_collection(conn, key) if _COLLECTION_KEY.fullmatch(key) else None
    if found is None or not caller.may_read(found.alias):
        raise TaxiiError(404, "collection_not_found")
    return found


@router.get(f"{ROOT_PATH}/collections/{{collection_id}}/", summary="A TAXII collection")
def collection(collection_id: CollectionId, caller: Caller, conn: Conn) -> TaxiiResponse:
    return TaxiiResponse(_resource(_collection(conn, caller, collection_id)))


def _sync(conn: psycopg.Connection, settings: SettingsDep) -> None:
    # A failure to publish must not stop the reading of what is published.
    try:
        publish.sync(conn, soc_identity(settings.soc_name, settings.soc_province))
    except psycopg.Error as error:
        log.warning("TAXII: shared cases not published before a read: %s", error)


def _query(
    collection: Collection,
    match: Match,
    added_after: str | None,
    limit: int | None,
    next_: str | None,
) -> ObjectQuery:
    return ObjectQuery(
        ceiling=tlp.rank(collection.tlp_ceiling),
        added_after=parse_timestamp(added_after, "added_after") if added_after else None,
        after=parse_next(next_) if next_ else None,
        types=match.types,
        ids=match.ids,
        versions=match.versions,
        limit=page_size(limit),
    )


def _version(row: dict[str, Any]) -> str:
    document = row.get("object") or {}
    return str(
        document.get("modified")
        or document.get("created")
        or row.get("modified_text")
        or row.get("created_text")
        or timestamp(row["date_added"])
    )


def _page(
    conn: psycopg.Connection, query: ObjectQuery, match: Match, *, with_objects: bool
) -> tuple[list[dict[str, Any]], bool, dict[str, str]]:
    if not match.spec_ok:
        return [], False, {}
    rows, more = store.objects_page(conn, query, with_objects=with_objects)
    headers = {}
    if rows:
        headers["X-TAXII-Date-Added-First"] = timestamp(rows[0]["date_added"])
        headers["X-TAXII-Date-Added-Last"] = timestamp(rows[-1]["date_added"])
    return rows, more, headers


def _envelope(rows: list[dict[str, Any]], more: bool, key: str, items: list[Any]) -> dict:
    if not rows:
        return {}
    body: dict[str, Any] = {"more": more}
    if more:
        body["next"] = next_token(rows[-1]["date_added"], rows[-1]["id"])
    body[key] = items
    return body


@router.get(f"{ROOT_PATH}/collections/{{collection_id}}/objects/", summary="TAXII objects")
def objects(
    collection_id: CollectionId,
    caller: Caller,
    conn: Conn,
    settings: SettingsDep,
    added_after: AddedAfter = None,
    limit: Limit = None,
    next: Next = None,
    match_id: MatchId = None,
    match_type: MatchType = None,
    match_version: MatchVersion = None,
    match_spec_version: MatchSpec = None,
) -> TaxiiResponse:
    found = _collection(conn, caller, collection_id)
    match = parse_match(match_id, match_type, match_version, match_spec_version)
    query = _query(found, match, added_after, limit, next)
    _sync(conn, settings)
    rows, more, headers = _page(conn, query, match, with_objects=True)
    body = _envelope(rows, more, "objects", [r["object"] for r in rows])
    return TaxiiResponse(body, headers=headers)


@router.get(
    f"{ROOT_PATH}/collections/{{collection_id}}/objects/{{object_id}}/",
    summary="A TAXII object",
)
def one_object(
    collection_id: CollectionId,
    object_id: ObjectId,
    caller: Caller,
    conn: Conn,
    settings: SettingsDep,
    added_after: AddedAfter = None,
    limit: Limit = None,
    next: Next = None,
    match_version: MatchVersion = None,
    match_spec_version: MatchSpec = None,
) -> TaxiiResponse:
    found = _collection(conn, caller, collection_id)
    match = parse_match(valid_object_id(object_id), None, match_version, match_spec_version)
    query = _query(found, match, added_after, limit, next)
    rows, more, headers = _object_page(conn, settings, found, object_id, query, match, True)
    body = _envelope(rows, more, "objects", [r["object"] for r in rows])
    return TaxiiResponse(body, headers=headers)


def _object_page(
    conn: psycopg.Connection,
    settings: SettingsDep,
    found: Collection,
    object_id: str,
    query: ObjectQuery,
    match: Match,
    with_objects: bool,
) -> tuple[list[dict[str, Any]], bool, dict[str, str]]:
    """One object's page (its versions, or them with the objects); 404 when the object
    is not in the collection under its ceiling."""
    _sync(conn, settings)
    if not _exists(conn, found, object_id):
        raise TaxiiError(404, "object_not_found")
    return _page(conn, query, match, with_objects=with_objects)


def _exists(conn: psycopg.Connection, found: Collection, object_id: str) -> bool:
    rows, _ = store.objects_page(
        conn, ObjectQuery(ceiling=tlp.rank(found.tlp_ceiling), ids=[object_id], limit=1),
        with_objects=False,
    )  # fmt: skip
    return bool(rows)


@router.get(
    f"{ROOT_PATH}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
    summary="A TAXII object's versions",
)
def versions(
    collection_id: CollectionId,
    object_id: ObjectId,
    caller: Caller,
    conn: Conn,
    settings: SettingsDep,
    added_after: AddedAfter = None,
    limit: Limit = None,
    next: Next = None,
    match_spec_version: MatchSpec = None,
) -> TaxiiResponse:
    found = _collection(conn, caller, collection_id)
    match = parse_match(valid_object_id(object_id), None, None, match_spec_version)
    query = _query(found, match, added_after, limit, next)
    rows, more, headers = _object_page(conn, settings, found, object_id, query, match, False)
    body = _envelope(rows, more, "versions", [_version(r) for r in rows])
    return TaxiiResponse(body, headers=headers)


@router.get(f"{ROOT_PATH}/collections/{{collection_id}}/manifest/", summary="TAXII manifest")
def manifest(
    collection_id: CollectionId,
    caller: Caller,
    conn: Conn,
    settings: SettingsDep,
    added_after: AddedAfter = None,
    limit: Limit = None,
    next: Next = None,
    match_id: MatchId = None,
    match_type: MatchType = None,
    match_version: MatchVersion = None,
    match_spec_version: MatchSpec = None,
) -> TaxiiResponse:
    found = _collection(conn, caller, collection_id)
    match = parse_match(match_id, match_type, match_version, match_spec_version)
    query = _query(found, match, added_after, limit, next)
    _sync(conn, settings)
    rows, more, headers = _page(conn, query, match, with_objects=False)
    items = [
        {
            "id": r["id"],
            "date_added": timestamp(r["date_added"]),
            "version": _version(r),
            "media_type": STIX_MEDIA,
        }
        for r in rows
    ]
    return TaxiiResponse(_envelope(rows, more, "objects", items), headers=headers)
