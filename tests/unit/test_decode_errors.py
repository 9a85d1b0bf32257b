"""A decoder's bug (an exception other than DecodeError) dead-letters its message only:
the reason names the format and the exception, the messages around it still decode, the
traceback is logged once per format and exception type per interval, and Ctrl-C and
SystemExit still stop the process."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
import pytest

from events import buglog
from events.models import Event
from ingest import decode as decode_module
from ingest.decode import MAX_BUG_MESSAGE_CHARS, MAX_TOPIC_CHARS, Decoded, decode, reject
from ingest.formats import base
from ingest.formats.base import get_decoder
from ingest.message import RawMessage
from ingest.routes import TopicRouter

FORMAT = "test_crashy"
TOPIC = "ioc/v1/dev-1/telemetry"
MAX_BYTES = 65536
TS = "2026-11-24T08:00:00+07:00"


def crashy(message: RawMessage) -> Sequence[Event]:
    """ioc_telemetry with planted bugs, chosen by a marker field in the payload."""
    bug = orjson.loads(message.payload).get("bug") if message.payload.startswith(b"{") else None
    if bug == "index":
        return [[][0]]  # the kind of slip a decoder makes on an odd payload
    if bug == "long":
        raise ValueError("could not convert " + "x" * 10_000)
    if bug == "unprintable":
        raise Unprintable
    if bug == "interrupt":
        raise KeyboardInterrupt
    if bug == "exit":
        raise SystemExit(3)
    return get_decoder("ioc_telemetry")(message)


class Unprintable(RuntimeError):
    def __str__(self) -> str:
        raise TypeError("no text")


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> TopicRouter:
    # The registry has no public unregister; setitem undoes the entry after the test.
    monkeypatch.setitem(base._REGISTRY, FORMAT, crashy)
    return TopicRouter({"ioc/v1/+/telemetry": FORMAT}, wildcard=True)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fixed monotonic clock and a fresh rate limiter for the traceback log."""
    now = [1000.0]
    monkeypatch.setattr(buglog.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(decode_module, "_bug_log", decode_module.new_bug_log())
    return now


def message(fields: dict[str, object]) -> RawMessage:
    return RawMessage("mqtt", TOPIC, orjson.dumps({"ts": TS, **fields}))


def run(router: TopicRouter, messages: list[RawMessage]) -> list[Decoded]:
    # As the worker decodes what one poll returned.
    return [decode(m, router, MAX_BYTES) for m in messages]


def test_a_decoder_bug_dead_letters_its_message_and_the_batch_goes_on(
    router: TopicRouter, clock: list[float]
) -> None:
    batch = [message({"pm25": i}) for i in range(5)]
    batch[2] = message({"pm25": 99, "bug": "index"})
    results = run(router, batch)

    letter = results[2].dead_letter
    assert letter is not None
    assert letter.reason == "decoder error in test_crashy: IndexError: list index out of range"
    assert letter.format == FORMAT
    assert letter.payload == batch[2].payload
    assert results[2].events == []
    for i in (0, 1, 3, 4):
        assert results[i].dead_letter is None
        assert [(e.metric, e.value) for e in results[i].events] == [("pm25", float(i))]


def test_the_reason_is_bounded(router: TopicRouter, clock: list[float]) -> None:
    (result,) = run(router, [message({"bug": "long"})])
    assert result.dead_letter is not None
    reason = result.dead_letter.reason
    prefix = "decoder error in test_crashy: ValueError: could not convert xxx"
    assert reason.startswith(prefix)
    assert reason.endswith("…")
    assert len(reason) == len("decoder error in test_crashy: ValueError: ") + MAX_BUG_MESSAGE_CHARS


def test_an_exception_without_text_still_gives_a_reason(
    router: TopicRouter, clock: list[float]
) -> None:
    (result,) = run(router, [message({"bug": "unprintable"})])
    assert result.dead_letter is not None
    assert result.dead_letter.reason == "decoder error in test_crashy: Unprintable: <unprintable>"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "test_crashy: no metric besides 'ts'"),
        ({"pm25": "high"}, "test_crashy: field 'pm25': value 'high' is not a number"),
    ],
)
def test_a_decoders_own_rejection_keeps_its_reason(
    router: TopicRouter, clock: list[float], fields: dict[str, object], reason: str
) -> None:
    (result,) = run(router, [message(fields)])
    assert result.dead_letter is not None
    assert result.dead_letter.reason == reason


def test_invalid_json_is_a_rejection_not_a_bug(router: TopicRouter, clock: list[float]) -> None:
    (result,) = run(router, [RawMessage("mqtt", TOPIC, b"[1, 2")])
    assert result.dead_letter is not None
    assert result.dead_letter.reason.startswith("test_crashy: ")
    assert "decoder error" not in result.dead_letter.reason


@pytest.mark.parametrize(("bug", "kind"), [("interrupt", KeyboardInterrupt), ("exit", SystemExit)])
def test_interrupt_and_exit_are_not_swallowed(
    router: TopicRouter, clock: list[float], bug: str, kind: type[BaseException]
) -> None:
    with pytest.raises(kind):
        run(router, [message({"pm25": 1}), message({"bug": bug})])


def test_the_traceback_is_logged_once_per_format_and_type_per_interval(
    router: TopicRouter, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ingest.decode")

    def logged() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "ingest.decode"]

    run(router, [message({"bug": "index"}) for _ in range(3)])
    (first,) = logged()
    assert first.exc_info is not None and first.exc_info[0] is IndexError
    assert "decoder bug in format test_crashy: IndexError" in first.getMessage()

    run(router, [message({"bug": "long"})])  # another bug: its own traceback
    assert [r.exc_info[0] for r in logged() if r.exc_info] == [IndexError, ValueError]

    clock[0] += buglog.INTERVAL_SECONDS
    run(router, [message({"bug": "index"})])
    last = logged()[-1]
    assert len(logged()) == 3
    assert last.exc_info is not None and last.exc_info[0] is IndexError
    assert "2 more like it" in last.getMessage()


def test_a_topic_too_long_to_index_is_cut_and_the_reason_says_so() -> None:
    topic = "frigate/" + "é" * 5000  # 10 KB of UTF-8: over PostgreSQL's b-tree entry
    letter = reject(RawMessage("mqtt", topic, b"{}"), None, "no format for the topic")
    dead = letter.dead_letter
    assert dead is not None
    assert len(dead.topic) == MAX_TOPIC_CHARS and dead.topic.endswith("…")
    assert dead.topic.startswith("frigate/éé")
    assert len(dead.topic.encode()) < 2704
    assert dead.reason == (
        f"no format for the topic (topic of {len(topic)} characters, kept cut to 512)"
    )
    short = reject(RawMessage("mqtt", "frigate/events", b"{}"), None, "x").dead_letter
    assert short is not None and short.topic == "frigate/events" and short.reason == "x"
