"""One error shape for the whole API: RFC 9457 problem details.

Every 4xx/5xx answer is `application/problem+json`:
`{"type", "title", "status", "detail", "instance", "code"}`, plus `errors` (field, message,
kind; never the value sent) when the input did not validate. Titles and details come
from the catalog `messages.yaml`, in Vietnamese unless the request's Accept-Language
prefers English. `type` is `urn:ioc:problem:<code>`: the same in both languages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
import psycopg
import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)

CATALOG_FILE = Path(__file__).resolve().parent / "messages.yaml"
MEDIA_TYPE = "application/problem+json"
Language = Literal["vi", "en"]
DEFAULT_LANGUAGE: Language = "vi"
# A field error's message is cut here: pydantic's messages are short, but a regular
# expression's compile error may quote the pattern.
MAX_MESSAGE = 200
MAX_ERRORS = 20


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details (`code` names the problem; `errors` for invalid input)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[FieldError] | None = None


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    with CATALOG_FILE.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


class ApiProblem(Exception):
    """Raised by routes and dependencies; rendered by the app's handler."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[FieldError] | None = None,
        **params: object,
    ) -> None:
        if code not in catalog()["problems"]:
            raise KeyError(f"problem {code!r} is not in {CATALOG_FILE.name}")
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        self.params = params


def problem(
    status: int, code: str, headers: Mapping[str, str] | None = None, **params: object
) -> ApiProblem:
    return ApiProblem(status, code, headers=headers, **params)


def language(accept_language: str | None) -> Language:
    """The preferred of vi and en by Accept-Language (q-values honoured); vi by default."""
    best: tuple[float, Language] = (0.0, DEFAULT_LANGUAGE)
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("vi", "en"):
            continue
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        # Earlier entries win ties, as a client lists them in order of preference.
        score = quality - index * 1e-6
        if score > best[0]:
            best = (score, primary)  # type: ignore[assignment]
    return best[1]


def render(
    lang: Language,
    instance: str,
    status: int,
    code: str,
    params: Mapping[str, object] | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    texts = catalog()
    title = texts["titles"].get(status, texts["titles"][500 if status >= 500 else 400])
    body: dict[str, Any] = {
        "type": f"urn:ioc:problem:{code}",
        "title": title[lang],
        "status": status,
        "detail": texts["problems"][code][lang].format(**(params or {})),
        "instance": instance,
        "code": code,
    }
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={**(headers or {}), "Content-Language": lang, "Vary": "Accept-Language"},
    )


def render_for(request: Request, error: ApiProblem) -> Response:
    return render(
        language(request.headers.get("accept-language")),
        request.url.path,
        error.status,
        error.code,
        error.params,
        error.errors,
        error.headers,
    )


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic's errors without `input` and `ctx`: an answer never echoes what was sent."""
    return [
        FieldError(
            loc=[p if isinstance(p, int) else str(p)[:MAX_MESSAGE] for p in e.get("loc", ())],
            msg=str(e.get("msg", ""))[:MAX_MESSAGE],
            type=str(e.get("type", "")),
        )
        for e in list(raw)[:MAX_ERRORS]
    ]


def _where(errors: Sequence[FieldError]) -> str:
    fields = sorted({".".join(str(p) for p in e.loc) for e in errors})
    shown = ", ".join(fields[:5])
    return shown + (f" (+{len(fields) - 5})" if len(fields) > 5 else "")


def install(app: FastAPI) -> None:
    """Every error the app can raise answers as a problem."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, error: ApiProblem) -> Response:
        return render_for(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        errors = field_errors(error.errors())
        return render_for(
            request, ApiProblem(422, "invalid_request", errors=errors, fields=_where(errors))
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        if error.status_code == 404:
            found = ApiProblem(404, "route_not_found", headers=headers)
        elif error.status_code == 405:
            found = ApiProblem(405, "method_not_allowed", headers=headers, method=request.method)
        elif error.status_code == 400:
            # FastAPI's answer to a body it cannot read (not UTF-8, cut short).
            found = ApiProblem(400, "body_unreadable", headers=headers)
        else:
            found = ApiProblem(
                error.status_code, "http_error", headers=headers, http_status=error.status_code
            )
        return render_for(request, found)

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, error: psycopg.OperationalError) -> Response:
        return render_for(request, ApiProblem(503, "database_unavailable"))

    @app.exception_handler(psycopg.DataError)
    async def data_error(request: Request, error: psycopg.DataError) -> Response:
        # A safety net: values are validated before they reach SQL. Logged, because
        # reaching here means a validator is missing.
        log.warning("database refused a value on %s: %s", request.url.path, error)
        reason = (error.diag.message_primary or type(error).__name__)[:MAX_MESSAGE]
        return render_for(request, ApiProblem(422, "value_rejected", reason=reason))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return render_for(request, ApiProblem(500, "internal_error"))


def not_found(code: str, **params: object) -> ApiProblem:
    return ApiProblem(404, code, **params)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problems an operation can answer with."""
    ref = {"$ref": "#/components/schemas/Problem"}
    titles = catalog()["titles"]
    return {
        status: {
            "description": titles[status]["en"],
            "content": {MEDIA_TYPE: {"schema": ref}},
        }
        for status in sorted(statuses)
    }
