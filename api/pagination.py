"""Cursor pagination for every list: `limit` (capped) and an opaque `cursor`.

A list answers with one page as a JSON array; when more rows follow, the answer carries
`Link: <…?cursor=…>; rel="next"` (RFC 8288): the same request with the cursor of the
page's last row. The cursor is that row's sort key, base64url-encoded JSON; it is not a
secret (a client that forges one only moves where its own page starts) but it is
checked, and a malformed one is a 422.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query, Request, Response

from api.errors import ApiProblem
from events.bounds import bounded_instant, storable_text

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_CURSOR = 512

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size (at most {MAX_LIMIT})")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR,
        description="Where the page starts: from the previous answer's Link rel=next",
    ),
]
T = TypeVar("T")

LINK_HEADER = {
    "Link": {
        "description": 'The next page: `<url>; rel="next"` (absent on the last page)',
        "schema": {"type": "string"},
    }
}


def instant_part(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a time")
    return bounded_instant(datetime.fromisoformat(value))


def uuid_part(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError("not an id")
    return uuid.UUID(value)


def text_part(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_CURSOR:
        raise TypeError("not a text")
    return storable_text(value)


def int_part(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise TypeError("not an integer")
    return value


def encode(key: Sequence[object]) -> str:
    raw = orjson.dumps([str(part) if not isinstance(part, int) else part for part in key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, parts: Sequence[Callable[[Any], Any]]) -> tuple[Any, ...] | None:
    """The sort key in `cursor`, each part parsed by its function; None for no cursor."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != len(parts):
            raise ValueError("wrong shape")
        return tuple(parse(value) for parse, value in zip(parts, values, strict=True))
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError) as error:
        raise ApiProblem(422, "invalid_cursor") from error


def page(
    request: Request,
    response: Response,
    rows: list[T],
    limit: int,
    key: Callable[[T], Sequence[object]],
) -> list[T]:
    """The first `limit` rows (the query asked for one more, to know if a page follows),
    with the Link to the next page when there is one."""
    if len(rows) <= limit:
        return rows
    shown = rows[:limit]
    url = request.url.include_query_params(cursor=encode(key(shown[-1])))
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return shown
