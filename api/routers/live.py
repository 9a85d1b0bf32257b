"""Live alert changes as Server-Sent Events, for the console.

Events:
- `ready`  — the stream is live; a client (re)loads its list now, so nothing falls
             between its last load and the stream;
- `alert`  — {"id", "domain", "kind", "status"} of a changed alert the caller may see;
             the client fetches /api/v1/alerts/{id} for the rest;
- `resync` — changes may have been missed (database reconnect, slow reader): reload.

EventSource cannot send headers, so this endpoint alone also takes `?access_token=`
(the app's access log redacts it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import anyio
import orjson
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from api.auth import StreamUser, may_see
from api.feed import AlertFeed

router = APIRouter(prefix="/api/v1/alerts", tags=["live"])

PING_SECONDS = 15
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


@router.get("/stream", response_class=EventSourceResponse)
async def stream(request: Request, user: StreamUser) -> EventSourceResponse:
    feed: AlertFeed = request.app.state.feed
    shutdown = anyio.Event()

    async def events() -> AsyncIterator[dict[str, str]]:
        # Subscribed before `ready`, so every change after the client's reload arrives.
        queue = feed.subscribe()
        try:
            await _unless(shutdown, feed.wait_listening())
            if shutdown.is_set():
                return
            yield _event("ready", {"user": user.name, "role": user.role.value})
            while True:
                message = await _unless(shutdown, queue.get())
                if message is None:
                    return
                if message.get("kind") == "resync":
                    yield _event("resync", {})
                elif may_see(user.role, str(message.get("domain"))):
                    yield _event("alert", message)
        finally:
            feed.unsubscribe(queue)

    return EventSourceResponse(
        events(),
        ping=PING_SECONDS,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
