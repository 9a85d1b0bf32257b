"""One raw message -> canonical events or a dead letter. Pure apart from logging a
decoder's bug: no network, no database."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError

from config.agencies import enrich_security
from events.buglog import BugLog
from events.models import DeadLetter, Event
from events.text import ELLIPSIS, clean_text, validation_reason
from ingest.formats.base import DecodeError
from ingest.message import RawMessage
from ingest.routes import TopicRouter

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 2000
# A dead letter's topic is indexed (dead_letters_topic), and PostgreSQL refuses a b-tree
# entry over 2,704 bytes with an error psycopg files under OperationalError, which the
# committers retry as a lost connection: one publisher's 8 KB topic stalled the worker.
# 512 characters are at most 2,048 bytes of UTF-8; no route's topic comes near.
MAX_TOPIC_CHARS = 512
# A bug's own message can be huge (a repr of the whole payload); the reason keeps its start.
MAX_BUG_MESSAGE_CHARS = 300


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
    except Exception as error:  # a decoder bug costs its message only, never worker or batch
        return reject(message, format_name, decoder_bug_reason(format_name, error))
    if not events:
        return reject(message, format_name, f"{format_name}: message holds no events")
    # The agency of each security event (config/agencies.py), here rather than in the
    # decoders so every format, HTTP ingest and replays get it the same way.
    return Decoded(message, format_name, enrich_security(events, message.topic))


def reject(message: RawMessage, format_name: str | None, reason: str) -> Decoded:
    """The message as a dead letter with its reason (also used when the database refuses
    a message that decoded)."""
    topic = message.topic
    if len(topic) > MAX_TOPIC_CHARS:
        reason = f"{reason} (topic of {len(topic)} characters, kept cut to {MAX_TOPIC_CHARS})"
        topic = topic[: MAX_TOPIC_CHARS - 1] + ELLIPSIS
    letter = DeadLetter(
        transport=message.transport,
        topic=topic,
        payload=message.payload,
        payload_size=len(message.payload),
        reason=clean_text(reason)[:MAX_REASON_CHARS],
        format=format_name,
        partition=message.partition,
        offset=message.offset,
        received_at=message.received_at,
    )
    return Decoded(message, format_name, [], letter)


def decoder_bug_reason(format_name: str | None, error: Exception) -> str:
    """The dead letter's reason for an exception a decoder did not turn into a
    DecodeError; logs its traceback (rate-limited) so the bug gets noticed."""
    _bug_log.report(format_name, error)
    return f"decoder error in {format_name}: {bug_text(error)}"


def bug_text(error: BaseException) -> str:
    """`<exception type>: <message>` of a bug for a dead letter's reason, the message cut
    at MAX_BUG_MESSAGE_CHARS."""
    try:
        text = str(error)
    except Exception:  # an exception whose __str__ fails is still one message's problem
        text = "<unprintable>"
    if len(text) > MAX_BUG_MESSAGE_CHARS:
        text = text[: MAX_BUG_MESSAGE_CHARS - 1] + "…"
    return f"{type(error).__name__}: {text}"


def new_bug_log() -> BugLog:
    return BugLog(log, "decoder bug in format", "message dead-lettered")


_bug_log = new_bug_log()
