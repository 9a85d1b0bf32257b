"""Which dead letters are security data (hidden from integrators), and the replay
engine's pure parts: chunks and letters that cannot be replayed."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.formats.base import known_formats
from ingest.replay import CHUNK_BYTES, CHUNK_LETTERS, as_message, chunks, cut_reason
from store.dead_letters import EQUIPMENT_FORMATS, SECURITY_FORMATS, Filters


def test_every_registered_format_is_placed_once() -> None:
    # A new format must be called equipment or security data on purpose; unplaced, its
    # letters would count as security (hidden from integrators), which is safe but silent.
    assert not EQUIPMENT_FORMATS & SECURITY_FORMATS
    # epidemic_cases is no ingest format: the epidemics route writes its letters itself.
    assert set(known_formats()) | {"epidemic_cases"} == EQUIPMENT_FORMATS | SECURITY_FORMATS


def test_chunks_bound_letters_and_bytes_and_skip_gone_ids() -> None:
    ids = [f"id-{i}" for i in range(250)]
    sizes = {i: 10 for i in ids}
    runs = list(chunks(ids, sizes))
    assert [len(r) for r in runs] == [CHUNK_LETTERS, CHUNK_LETTERS, 50]
    assert [i for r in runs for i in r] == ids

    big = CHUNK_BYTES // 2 + 1
    sizes = {"a": big, "b": big, "c": 1, "huge": CHUNK_BYTES * 2}
    assert list(chunks(["a", "b", "c", "huge", "gone"], sizes)) == [["a"], ["b", "c"], ["huge"]]


def test_a_cut_payload_cannot_be_replayed() -> None:
    row = {"payload": b"x" * 10, "payload_size": 11}
    reason = cut_reason(row)
    assert reason is not None and "only the first 10 of its 11 bytes" in reason
    assert cut_reason({"payload": b"x" * 10, "payload_size": 10}) is None


def test_a_letter_becomes_the_message_it_was() -> None:
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    row = {
        "transport": "kafka", "topic": "seclog.syslog", "payload": memoryview(b"<13>x"),
        "kafka_partition": 3, "kafka_offset": 77, "received_at": at,
    }  # fmt: skip
    message = as_message(row)
    assert (message.transport, message.topic, message.payload) == (
        "kafka",
        "seclog.syslog",
        b"<13>x",
    )
    assert (message.partition, message.offset, message.received_at) == (3, 77, at)


def test_filters_record_what_was_given() -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    assert Filters(topic_prefix="ioc/", since=since, resolved=False).as_json() == {
        "topic_prefix": "ioc/", "since": since.isoformat(), "resolved": False,
    }  # fmt: skip
