"""The HTTP API: health, the /api/v1 resources and the alert console at /console."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, taxii
from api.bounds import BodyLimit
from api.deps import make_pool
from api.feed import AlertFeed
from api.limits import RateLimits
from api.login_cache import LoginCache
from api.public.app import create_public_app
from api.routers import (
    agencies,
    alerts,
    camera_events,
    cases,
    commands,
    dead_letters,
    devices,
    epidemics,
    exports,
    ingest,
    isapi,
    live,
    me,
    overview,
    plate_access,
    plates,
    reports,
    security,
    silences,
    snapshots,
    telemetry,
    warnings,
    watchlist,
)
from config.settings import Settings, get_settings
from processors.alerts.outbox import Routing

CONSOLE_DIR = Path(__file__).resolve().parent / "console"

# The console shows text from logs and devices: even if some of it slipped into markup,
# this policy lets no inline or foreign script run.
CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _RedactTokens(logging.Filter):
    """The event stream takes `?access_token=` (EventSource cannot send headers); keep
    tokens out of the access log."""

    _token = re.compile(r"(access_token=)[^&\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._token.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactTokens) for f in access.filters):
        access.addFilter(_RedactTokens())


class _ConsoleHeaders:
    """Pure ASGI (not BaseHTTPMiddleware), so the event stream passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(CONSOLE_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, routing: Routing | None = None) -> FastAPI:
    """`routing` (default: the channels file) tells the channels that heard an alert
    fire that a person resolved it."""
    settings = settings or get_settings()
    if routing is None:
        from processors.alerts.channels import channels_path, load_channels

        routing = load_channels(channels_path(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings)
        app.state.feed = AlertFeed(settings.dsn, watchers=(app.state.logins,))
        app.state.feed.start()
        try:
            yield
        finally:
            await app.state.feed.stop()
            await asyncio.to_thread(ingest.close, app.state)
            await asyncio.to_thread(app.state.pool.close)

    app = FastAPI(title="IOC core API", version="0.3.0", lifespan=lifespan)
    app.state.routing = routing
    app.state.rate_limits = RateLimits.from_settings(settings)
    app.state.logins = LoginCache()
    app.add_middleware(_ConsoleHeaders)
    app.add_middleware(
        BodyLimit, max_bytes=settings.api_max_body_bytes, exempt=frozenset({isapi.PATH})
    )
    errors.install(app)
    _redact_access_log()

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the database answers."""
        try:
            with psycopg.connect(settings.dsn(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            return JSONResponse({"status": "unavailable", "database": str(error)}, 503)
        feed = getattr(app.state, "feed", None)
        listening = feed is not None and feed.listening
        return JSONResponse(
            {"status": "ok", "alert_feed": "listening" if listening else "connecting"}
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    # The stream before the alert routes: /alerts/{alert_id} would claim "stream"; the
    # ISAPI push before the ingest routes: /ingest/{route} would claim "isapi". Ingest
    # first of all: a request tries the routes in order until one matches, and devices'
    # and cameras' posts are the most frequent requests (matching past the other routers
    # was 11 % of the API's CPU per ISAPI push, py-spy at 200 pushes/s).
    routers = (
        isapi, ingest, live, alerts, exports, silences, devices, telemetry, security, me, overview
    )  # fmt: skip
    for router in routers:
        app.include_router(router.router)
    app.include_router(dead_letters.router)
    app.include_router(commands.router)
    app.include_router(warnings.router)
    app.include_router(reports.router)
    app.include_router(epidemics.router)
    app.include_router(cases.router)
    app.include_router(taxii.router)
    app.include_router(agencies.router)
    for camera_router in (watchlist, plates, plate_access, camera_events, snapshots):
        app.include_router(camera_router.router)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    # Open data and the warnings feed: no token, an OpenAPI of their own (api/public/).
    app.mount("/public", create_public_app(settings, app.state), name="public")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the problem schema the error responses refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = errors.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
    return app.openapi_schema
