"""How an open dataset is answered: JSON or CSV with its licence and attribution, an
ETag and Cache-Control, from a small server-side cache, after the per-address limit.

The cache is a few lines by hand (no cache library is a dependency, and this one needs
only a TTL per entry and a size bound): answers are keyed by the dataset and its
*resolved* parameters (a default time range already turned into instants), so every
client asking the same question within the TTL gets the same bytes and the same ETag,
and the database is asked once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote

import orjson
from fastapi import Request
from limits import RateLimitItem, parse
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.responses import Response

from api.limit_storage import SweptMemoryStorage
from api.limits import RateLimits
from api.public.config import OpenDataConfig

Format = Literal["json", "csv"]
CATALOGUE_PATH = "/public/"
_CSV_MEDIA = "text/csv; charset=utf-8"
_JSON_MEDIA = "application/json"


@dataclass
class PublicLimits(RateLimits):
    """The API's limits plus requests per client address for the public datasets (no
    token to count by). The address is the TCP peer's, or the one a trusted proxy
    reports (`IOC_API_TRUSTED_PROXIES`, applied by uvicorn before the app sees it)."""

    public_requests: RateLimitItem = field(default_factory=lambda: parse("120/minute"))

    @classmethod
    def around(cls, base: RateLimits | None, rate: str) -> PublicLimits:
        limiter = base.limiter if base else SlidingWindowCounterRateLimiter(SweptMemoryStorage())
        auth = base.auth_failures if base else parse("20/minute")
        token = base.token_requests if base else parse("600/minute")
        return cls(auth, token, limiter, parse(rate))

    def check_public(self, address: str) -> None:
        if not self.limiter.hit(self.public_requests, "public", address):
            raise self._refuse("public_rate_limited", self.public_requests, "public", address)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Answer:
    body: bytes
    media_type: str
    etag: str
    max_age: int
    filename: str


class AnswerCache:
    """Rendered answers by key, each for its own number of seconds; at most `size`
    answers and `max_bytes` of bodies (a 5,000-row answer is about a megabyte)."""

    def __init__(
        self, size: int, max_bytes: int = 64 << 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: tuple[Any, ...], make: Callable[[], Answer]) -> Answer:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        # Made outside the lock: a slow query must not hold up other datasets' hits.
        answer = make()
        if self._size and answer.max_age > 0 and len(answer.body) <= self._max_bytes:
            with self._lock:
                self._put(key, now + answer.max_age, answer)
        return answer

    def _put(self, key: tuple[Any, ...], expires: float, answer: Answer) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1].body)
        self._entries[key] = (expires, answer)
        self._bytes += len(answer.body)
        while len(self._entries) > self._size or self._bytes > self._max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)

    @property
    def bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def licence_block(config: OpenDataConfig) -> dict[str, Any]:
    lic = config.licence
    return {
        "licence": {"id": lic.id, "name": lic.name, "name_en": lic.name_en, "url": str(lic.url)},
        "attribution": config.attribution_vi,
        "attribution_en": config.attribution_en,
        "publisher": {
            "name": config.publisher.name_vi,
            "name_en": config.publisher.name_en,
            "url": str(config.publisher.url),
        },
        "catalogue": CATALOGUE_PATH,
    }


def render_json(
    config: OpenDataConfig,
    dataset: str,
    query: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    truncated: bool,
) -> bytes:
    document = {
        "dataset": dataset,
        **licence_block(config),
        "query": {k: _plain(v) for k, v in query.items() if v is not None},
        "count": len(rows),
        "truncated": truncated,
        "data": list(rows),
    }
    return orjson.dumps(document)


def render_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A header row, then one row per record; the licence travels in the Link header
    (a comment line would break CSV readers, and '#' starts an AQI colour)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _plain(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def make_answer(
    config: OpenDataConfig,
    *,
    dataset: str,
    fmt: Format,
    query: Mapping[str, Any],
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    truncated: bool,
    max_age: int,
) -> Answer:
    if fmt == "csv":
        body, media = render_csv(columns, rows), _CSV_MEDIA
    else:
        body, media = render_json(config, dataset, query, rows, truncated), _JSON_MEDIA
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Answer(body, media, etag, max_age, f"{dataset}.{fmt}")


def link_header(config: OpenDataConfig) -> str:
    """The licence (with the attribution as its RFC 8187 title) and the catalogue."""
    title = quote(f"{config.licence.id}. {config.attribution_vi}", safe="")
    return (
        f"<{config.licence.url}>; rel=\"license\"; title*=UTF-8''{title},"
        f' <{CATALOGUE_PATH}>; rel="describedby"'
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


def respond(request: Request, config: OpenDataConfig, answer: Answer) -> Response:
    headers = {
        "ETag": answer.etag,
        "Cache-Control": f"public, max-age={answer.max_age}",
        "Link": link_header(config),
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if _matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    if answer.media_type == _CSV_MEDIA:
        headers["Content-Disposition"] = f'inline; filename="{answer.filename}"'
    return Response(answer.body, media_type=answer.media_type, headers=headers)
