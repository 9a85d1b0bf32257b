"""Live alert changes as Server-Sent Events, for the console.

Events:
- `ready`  — the stream is live; a client (re)loads its list now, so nothing falls
             between its last load and the stream;
- `alert`  — {"id", "domain", "kind", "status"} of a changed alert the caller may see;
             the client fetches /api/v1/alerts/{id} for the rest;
- `resync` — changes may have been missed (database reconnect, slow reader): reload;
- `revoked` — the caller's token was revoked; the stream ends and will not reopen.

A revocation is announced on the feed and ends the user's streams at once; in case that
announcement was missed (the feed was reconnecting), a stream also checks its user after
every `resync` and every REVALIDATE_SECONDS.

EventSource cannot send headers, so this endpoint alone also takes `?access_token=`
(the app's access log redacts it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import anyio
import orjson
import psycopg
from fastapi import APIRouter, Request
from psycopg_pool import PoolTimeout
from sse_starlette import EventSourceResponse

from api.auth import StreamUser, may_see
from api.deps import POOL_WAIT_SECONDS, pool_of
from api.errors import responses
from api.feed import AlertFeed
from store.users import User, is_active

router = APIRouter(prefix="/api/v1/alerts", tags=["live"])

PING_SECONDS = 15
REVALIDATE_SECONDS = 60.0
# What the stream loop sees when no message came for REVALIDATE_SECONDS.
_QUIET: dict[str, Any] = {"kind": "quiet"}
# On shutdown a stream ends itself (a clean end of response) within this time.
SHUTDOWN_GRACE_SECONDS = 2.0

T = TypeVar("T")


async def _unless(shutdown: anyio.Event, waiting: Awaitable[T]) -> T | None:
    """`waiting`'s result, or None as soon as the server shuts down."""
    task = asyncio.ensure_future(waiting)
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stop):
            if not pending.done():
                pending.cancel()
    return None if shutdown.is_set() or not task.done() else task.result()


def _event(name: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": name, "data": orjson.dumps(data).decode()}


async def _next(queue: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(queue.get(), REVALIDATE_SECONDS)
    except TimeoutError:
        return _QUIET


def _still_active(request: Request, user: User) -> bool:
    """Whether the user is still allowed in; True when the database cannot say (a stream
    that is open stays open through a database outage, and is checked again later)."""
    try:
        with pool_of(request).connection(timeout=POOL_WAIT_SECONDS) as conn:
            return is_active(conn, user.id)
    except (PoolTimeout, psycopg.Error):
        return True


@router.get("/stream", response_class=EventSourceResponse, responses=responses(401, 422, 429))
async def stream(request: Request, user: StreamUser) -> EventSourceResponse:
    feed: AlertFeed = request.app.state.feed
    shutdown = anyio.Event()

    async def revoked(message: dict[str, Any]) -> bool:
        kind = message.get("kind")
        if kind == "revoked":
            return message.get("user_id") == user.id
        if kind in ("resync", "quiet"):
            return not await anyio.to_thread.run_sync(_still_active, request, user)
        return False

    async def events() -> AsyncIterator[dict[str, str]]:
        # Subscribed before `ready`, so every change after the client's reload arrives.
        queue = feed.subscribe()
        try:
            await _unless(shutdown, feed.wait_listening())
            if shutdown.is_set():
                return
            yield _event("ready", {"user": user.name, "role": user.role.value})
            while True:
                message = await _unless(shutdown, _next(queue))
                if message is None:
                    return
                if await revoked(message):
                    yield _event("revoked", {})
                    return
                if message.get("kind") == "resync":
                    yield _event("resync", {})
                elif "id" in message and may_see(user.role, str(message.get("domain"))):
                    yield _event("alert", message)
        finally:
            feed.unsubscribe(queue)

    return EventSourceResponse(
        events(),
        ping=PING_SECONDS,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
