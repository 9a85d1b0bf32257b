"""One raw message -> canonical events or a dead letter. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from events.models import DeadLetter, Event
from events.text import clean_text, validation_reason
from ingest.formats.base import DecodeError
from ingest.message import RawMessage
from ingest.routes import TopicRouter

MAX_REASON_CHARS = 2000


@dataclass(slots=True)
class Decoded:
    message: RawMessage
    format: str | None
    events: list[Event]
    dead_letter: DeadLetter | None = None


def decode(message: RawMessage, router: TopicRouter, max_bytes: int) -> Decoded:
    route = router.resolve(message.topic)
    format_name = route[0] if route else None
    size = len(message.payload)
    if route is None:
        return reject(message, None, f"no format is configured for topic {message.topic!r}")
    if size > max_bytes:
        return reject(message, format_name, f"message too large: {size} bytes > {max_bytes}")
    if size == 0:
        return reject(message, format_name, "empty message")
    try:
        events = list(route[1](message))
    except DecodeError as error:
        return reject(message, format_name, f"{format_name}: {error}")
    except ValidationError as error:
        return reject(message, format_name, f"{format_name}: invalid: {validation_reason(error)}")
    if not events:
        return reject(message, format_name, f"{format_name}: message holds no events")
    return Decoded(message, format_name, events)


def reject(message: RawMessage, format_name: str | None, reason: str) -> Decoded:
    """The message as a dead letter with its reason (also used when the database refuses
    a message that decoded)."""
    letter = DeadLetter(
        transport=message.transport,
        topic=message.topic,
        payload=message.payload,
        payload_size=len(message.payload),
        reason=clean_text(reason)[:MAX_REASON_CHARS],
        format=format_name,
        partition=message.partition,
        offset=message.offset,
        received_at=message.received_at,
    )
    return Decoded(message, format_name, [], letter)
