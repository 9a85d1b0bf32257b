"""What the worker needs from a transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ingest.message import RawMessage


class Source(Protocol):
    transport: str

    def start(self, on_revoke: Callable[[], None]) -> None:
        """Connect and subscribe. on_revoke is called while the worker's thread waits in
        poll() (Kafka: on the client's IO thread) when the source is about to lose
        messages it handed out, so the worker can commit them first."""

    def poll(self, timeout: float, max_messages: int) -> list[RawMessage]: ...

    def ack(self, messages: list[RawMessage]) -> None:
        """Tell the source these messages are committed and need not be sent again."""

    def healthy(self) -> bool: ...

    def close(self) -> None: ...
