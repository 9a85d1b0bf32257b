"""One PostgreSQL LISTEN per API process, fanned out to every open event stream.

The alert manager and the lifecycle functions `pg_notify(LIVE_CHANNEL, …)` in the
transaction of each change, so a message arrives only for committed changes; revoking a
user sends {"kind": "revoked", "user_id"} on the same channel (store/users.py). One
listening connection serves all streams (a connection per browser tab would exhaust
the database's connection limit long before the API's).

Notifications sent while the listener is reconnecting are lost to it, and a stream that
reads too slowly loses messages too; in both cases its subscribers get a `resync`
message, meaning "reload the list", instead of a silent gap.

Besides streams, watchers: something in the process that must hear of one kind of
message (the login cache, api/login_cache.py: {"kind": "credentials"}) and whether the
feed is listening at all, since while it is not such messages are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import psycopg
from psycopg import sql

from events.alerts import LIVE_CHANNEL

log = logging.getLogger(__name__)

CHANNEL = LIVE_CHANNEL
# With the pid, an operator (or a test) can tell which API process a listener belongs to.
APPLICATION_NAME = f"ioc-api-listen-{os.getpid()}"
QUEUE_SIZE = 256
RESYNC: dict[str, Any] = {"kind": "resync"}
_MAX_BACKOFF = 30.0
PROBE_SECONDS = 60.0


class Watcher(Protocol):
    kind: str

    def notified(self, message: dict[str, Any]) -> None: ...

    def listening(self, on: bool) -> None: ...


class AlertFeed:
    def __init__(self, dsn: Callable[[], str], watchers: tuple[Watcher, ...] = ()) -> None:
        self._dsn = dsn
        self._watchers = {watcher.kind: watcher for watcher in watchers}
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._tell_watchers(False)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, message: dict[str, Any]) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # The reader is behind: what it missed is replaced by one "reload".
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    def _dispatch(self, payload: str) -> None:
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("ignoring a %s notification that is not JSON", CHANNEL)
            return
        kind = message.get("kind") if isinstance(message, dict) else None
        watcher = self._watchers.get(kind) if isinstance(kind, str) else None
        if watcher is not None:
            watcher.notified(message)
            return
        if isinstance(message, dict) and message.get("kind") == "revoked":
            if isinstance(message.get("user_id"), int):
                self._publish(message)
            return
        if not isinstance(message, dict) or "id" not in message or "domain" not in message:
            log.warning("ignoring a %s notification without id and domain", CHANNEL)
            return
        self._publish(message)

    async def _run(self) -> None:
        backoff = 1.0
        reconnecting = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn(), autocommit=True, application_name=APPLICATION_NAME
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self._listening.set()
                    self._tell_watchers(True)
                    backoff = 1.0
                    if reconnecting:
                        self._publish(RESYNC)
                    log.info("listening on %s", CHANNEL)
                    while True:
                        async for notify in conn.notifies(timeout=PROBE_SECONDS):
                            self._dispatch(notify.payload)
                        # A quiet channel and a dead link look alike; asking tells them
                        # apart (a half-open TCP connection would otherwise wait forever).
                        await conn.execute("SELECT 1")
            except Exception as error:
                # Whatever went wrong (database down, secrets unreadable), the feed must
                # outlive it: streams wait for it, and it comes back with a resync.
                log.warning("alert feed: %s; reconnecting in %.0f s", error, backoff)
            self._listening.clear()
            self._tell_watchers(False)
            reconnecting = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _tell_watchers(self, on: bool) -> None:
        for watcher in self._watchers.values():
            watcher.listening(on)
