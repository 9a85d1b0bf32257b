"""A lean HTTP/1.1 keep-alive client for the benches: h11 over asyncio streams.

Why not httpx (which the tests use): on this project's 2-core machines the bench's own
httpx clients cost ~2.7 ms of CPU per ISAPI push, more than the API they measured, and
they run on the same cores (docs/performance.md, cameras). h11 (the sans-I/O HTTP/1.1
library under httpcore and uvicorn) does the protocol; this module only moves its bytes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

READ_BYTES = 65536
# Under uvicorn's keep-alive timeout (5 s): an idle connection older than this is closed
# here rather than reused as the server closes it.
IDLE_SECONDS = 4.0


class ConnectionLost(Exception):
    """The connection broke before the answer was complete; nothing is known of it."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.protocol = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self) -> bool:
        return self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE

    def close(self) -> None:
        self.writer.close()


class KeepAlivePool:
    """At most `size` connections to one server, reused while the server keeps them."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._host_header = parts.netloc
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        async with self._slots:
            connection = self._reusable() or await self._open()
            try:
                answer = await self._exchange(connection, path, headers, body)
            except (OSError, asyncio.IncompleteReadError, h11.ProtocolError) as error:
                connection.close()
                raise ConnectionLost(repr(error)) from error
            if connection.reusable():
                connection.protocol.start_next_cycle()
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection the server has not closed (as httpx
        does, a closed one is dropped, not tried); None: open one."""
        while self._idle:
            connection = self._idle.pop()
            stale = time.monotonic() - connection.idle_since > IDLE_SECONDS
            if not stale and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def _open(self) -> _Connection:
        try:
            return _Connection(*await asyncio.open_connection(self.host, self.port))
        except OSError as error:
            raise ConnectionLost(repr(error)) from error

    async def _exchange(
        self, connection: _Connection, path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        protocol = connection.protocol
        request = h11.Request(
            method="POST",
            target=path,
            headers=[("Host", self._host_header), ("Content-Length", str(len(body))),
                     *headers.items()],
        )  # fmt: skip
        events = (request, h11.Data(data=body), h11.EndOfMessage())
        connection.writer.write(b"".join(protocol.send(event) or b"" for event in events))
        await connection.writer.drain()
        status, answer_headers, chunks = 0, {}, []
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(READ_BYTES)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, answer_headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise asyncio.IncompleteReadError(b"", None)
