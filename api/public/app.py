"""`public_app`: the citizen- and business-facing API, mounted at /public by api.app.

A FastAPI application of its own, so its OpenAPI document (`/public/openapi.json`, docs
at `/public/docs`) lists only what is public: nothing of the private API's operations,
roles or schemas reaches it. It shares the parent's state (the database pool, the rate
limiter), so the parent's lifespan opens and closes what it uses.

Routers: the open datasets and the catalogue page (`api/public/opendata.py`:
`/public/v1/...`, `/public/`) and the CAP warnings feed (`api/public/warnings_feed.py`).
A router module of this package is added with one line in `ROUTER_MODULES`.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import State

from api import errors
from config.settings import Settings, get_settings

TITLE = "IOC open data / Dữ liệu mở"
VERSION = "1.0.0"


# Modules of this package with a `router`, included in this order. The warnings feed
# (api/public/warnings_feed.py) joins with one line: "warnings_feed",
ROUTER_MODULES: tuple[str, ...] = (
    "opendata",
    "catalogue",
    "warnings_feed",
)  # fmt: skip


def _routers() -> list[APIRouter]:
    return [importlib.import_module(f"api.public.{name}").router for name in ROUTER_MODULES]


def create_public_app(settings: Settings | None = None, state: State | None = None) -> FastAPI:
    """The public app; `state` is the parent's (pool, rate limits), shared by mounting."""
    settings = settings or get_settings()
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=(
            "Dữ liệu mở về môi trường và cảnh báo công cộng, không cần mã truy cập."
            " Open environmental data and public warnings, no token needed."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    if state is not None:
        app.state = state
    from api.public import opendata

    opendata.configure(app, settings)
    errors.install(app)
    for router in _routers():
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the problem schema the error responses refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema["servers"] = [{"url": "/public"}]
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = errors.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
    return app.openapi_schema
