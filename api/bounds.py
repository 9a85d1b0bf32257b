"""The request body limit, enforced on the bytes that arrive.

Content-Length is checked first (a declared oversize body is refused before it is read),
but not trusted: the body is read here, chunked or not, and refused as soon as it passes
the limit, before any route parses it. What was read is then handed to the app as it
came. Bodies are small (the API takes notes and silences), so holding one in memory up
to the limit costs little.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import language, render


class BodyLimit:
    """`exempt`: paths whose route bounds its own body (the ISAPI push, with pictures,
    reads its body only after the camera authenticated: api/routers/isapi.py)."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, headers)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees it as it would have
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, headers)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        response = render(
            language(headers.get("accept-language")),
            scope["path"],
            413,
            "body_too_large",
            {"limit": self.max_bytes},
            # The rest of the body is not read: the connection cannot be reused.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
