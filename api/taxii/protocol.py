"""TAXII 2.1 on the wire: media types, error messages, timestamps, paging tokens and
match filters (pure, apart from the route class that turns every error of a TAXII route
into a TAXII error message).

Errors are TAXII error messages (`title`, `description`, `http_status`, `error_code`) as
`application/taxii+json;version=2.1`, as the spec asks, not the API's problem details:
TAXII clients read these. Texts are in messages.yaml beside this file, Vietnamese unless
Accept-Language prefers English (api/errors.language).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import yaml
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiProblem, language

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
MESSAGES_FILE = Path(__file__).resolve().parent / "messages.yaml"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_MATCH_VALUES = 100
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,249}$")
_STIX_ID = re.compile(
    r"^[a-z0-9][a-z0-9-]{0,249}--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
VERSION_WORDS = frozenset({"last", "first", "all"})


class TaxiiResponse(Response):
    media_type = TAXII_MEDIA

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    with MESSAGES_FILE.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


class TaxiiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        headers: Mapping[str, str] | None = None,
        **params: object,
    ) -> None:
        if code not in messages()["errors"]:
            raise KeyError(f"TAXII error {code!r} is not in {MESSAGES_FILE.name}")
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.params = params

    def response(self, request: Request) -> Response:
        lang = language(request.headers.get("accept-language"))
        texts = messages()
        titles = texts["titles"]
        title = titles.get(self.status, titles[500 if self.status >= 500 else 400])[lang]
        body = {
            "title": title,
            "description": texts["errors"][self.code][lang].format(**self.params),
            "error_code": self.code,
            "http_status": str(self.status),
        }
        headers = {**self.headers, "Content-Language": lang, "Vary": "Accept-Language"}
        return TaxiiResponse(body, status_code=self.status, headers=headers)


def _from_api_problem(error: ApiProblem) -> TaxiiError:
    if error.status == 429:
        return TaxiiError(429, "too_many_requests", error.headers, **error.params)
    if error.status == 401:
        return TaxiiError(401, "credentials_invalid", error.headers)
    if error.status == 503:
        return TaxiiError(503, "unavailable", error.headers)
    return TaxiiError(error.status, "http_error", error.headers, status=error.status)


def _from_http(error: StarletteHTTPException) -> TaxiiError:
    headers = dict(error.headers or {})
    if error.status_code == 401:
        return TaxiiError(401, "credentials_invalid", {"WWW-Authenticate": "Basic", **headers})
    return TaxiiError(error.status_code, "http_error", headers, status=error.status_code)


def _validation(error: RequestValidationError) -> TaxiiError:
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in error.errors()})
    return TaxiiError(400, "invalid_parameter", field=", ".join(fields[:5])[:200] or "?")


class TaxiiRoute(APIRoute):
    """Every error of a TAXII route answers as a TAXII error message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except TaxiiError as error:
                return error.response(request)
            except ApiProblem as error:
                return _from_api_problem(error).response(request)
            except RequestValidationError as error:
                return _validation(error).response(request)
            except StarletteHTTPException as error:
                return _from_http(error).response(request)

        return route


# ---- negotiation ----------------------------------------------------------------------


def acceptable(accept: str | None) -> bool:
    """Whether an Accept header admits TAXII 2.1 JSON (absent, */*, application/*,
    application/taxii+json with no version or version=2.1)."""
    if not accept or not accept.strip():
        return True
    for part in accept.split(","):
        kind, *params = (p.strip().lower() for p in part.split(";"))
        options = dict(p.partition("=")[::2] for p in params)
        if options.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if kind in ("*/*", "application/*"):
            return True
        if kind == "application/taxii+json" and options.get("version", "2.1") == "2.1":
            return True
    return False


# ---- timestamps -----------------------------------------------------------------------


def timestamp(moment: datetime) -> str:
    """TAXII's timestamp: UTC, microseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TaxiiError(400, "invalid_timestamp", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # TAXII timestamps are UTC
    if not 1 <= moment.astimezone(UTC).year <= 9998:
        raise TaxiiError(400, "invalid_timestamp", field=field)
    return moment


# ---- paging ---------------------------------------------------------------------------


def next_token(date_added: datetime, object_id: str) -> str:
    raw = orjson.dumps([timestamp(date_added), object_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_next(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        stamp, object_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise TaxiiError(400, "invalid_next") from None
    if not isinstance(stamp, str) or not isinstance(object_id, str):
        raise TaxiiError(400, "invalid_next")
    if not _STIX_ID.fullmatch(object_id):
        raise TaxiiError(400, "invalid_next")
    try:
        return parse_timestamp(stamp, "next"), object_id
    except TaxiiError:
        raise TaxiiError(400, "invalid_next") from None


def page_size(limit: int | None) -> int:
    """The spec lets a server give fewer than asked: above MAX_LIMIT, MAX_LIMIT."""
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise TaxiiError(400, "invalid_parameter", field="limit")
    return min(limit, MAX_LIMIT)


# ---- match filters --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    ids: Sequence[str] | None = None
    types: Sequence[str] | None = None
    versions: Sequence[datetime] | None = None  # None: any
    spec_ok: bool = True  # False: no object can match match[spec_version]


def _values(text: str | None, field: str) -> list[str] | None:
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or len(values) > MAX_MATCH_VALUES:
        raise TaxiiError(400, "invalid_parameter", field=field)
    return values


def valid_object_id(text: str) -> str:
    """A path's object id: `type--UUID`, else 400."""
    if not _STIX_ID.fullmatch(text):
        raise TaxiiError(400, "invalid_parameter", field="object_id")
    return text


def parse_match(
    ids: str | None = None,
    types: str | None = None,
    versions: str | None = None,
    spec_versions: str | None = None,
) -> Match:
    id_list = _values(ids, "match[id]")
    if id_list is not None and not all(_STIX_ID.fullmatch(v) for v in id_list):
        raise TaxiiError(400, "invalid_parameter", field="match[id]")
    type_list = _values(types, "match[type]")
    if type_list is not None and not all(_TYPE.fullmatch(v) for v in type_list):
        raise TaxiiError(400, "invalid_parameter", field="match[type]")
    version_list = _values(versions, "match[version]")
    stamps: list[datetime] | None = None
    # One version of each object is kept, so last, first and all each name it.
    if version_list is not None and not VERSION_WORDS.intersection(version_list):
        stamps = [parse_timestamp(v, "match[version]") for v in version_list]
    spec_list = _values(spec_versions, "match[spec_version]")
    return Match(id_list, type_list, stamps, spec_list is None or "2.1" in spec_list)
