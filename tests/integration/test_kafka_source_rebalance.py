"""Kafka rebalance while a worker holds uncommitted messages: the revoked worker stores
and commits what it holds before its partitions move, so the new owner starts after it.

Two real SourceWorkers (in this process, on threads, as `ioc ingest` runs them) in one
consumer group on the real broker (Tansu) and database. Batches wait far longer than
the test (max_wait), so whatever a worker has polled stays held and uncommitted until a
revoke or the stop flushes it. A joins first and takes all partitions; B joins while A
holds the first part (A's revoke), then A leaves while B holds its share of the second
part (B's revoke). kafka-python 3 runs the revoke callback on its IO thread, where a
blocking offset commit raises; that once stopped the worker's Kafka source."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from config.settings import Settings
from ingest.message import RawMessage
from ingest.routes import load_routes
from ingest.runner import build_workers
from ingest.worker import SourceWorker
from tests.integration.harness import (
    count,
    create_topics,
    make_routes,
    produce,
    sshd_failures,
    wait_for,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4
PART = 200  # messages per part of the stream
JOIN_TIMEOUT = 120  # Tansu takes about 23 s to complete a join


class Observed:
    """A worker on a thread of its own, with what its source handed out and what it
    acknowledged recorded on the way through (the real source does the work)."""

    def __init__(self, worker: SourceWorker, stop: threading.Event) -> None:
        self.worker = worker
        self.stop = stop
        self.polled: list[tuple[int, int]] = []
        self.acked: list[tuple[int, int]] = []
        source = worker.source
        poll, ack = source.poll, source.ack

        def recording_poll(timeout: float, max_messages: int) -> list[RawMessage]:
            messages = poll(timeout, max_messages)
            self.polled.extend((m.partition or 0, m.offset or 0) for m in messages)
            return messages

        def recording_ack(messages: list[RawMessage]) -> None:
            self.acked.extend((m.partition or 0, m.offset or 0) for m in messages)
            ack(messages)

        source.poll = recording_poll  # type: ignore[method-assign]
        source.ack = recording_ack  # type: ignore[method-assign]
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=JOIN_TIMEOUT)
        assert not self.thread.is_alive(), "worker did not stop"


def start_worker(settings: Settings, routes_path: Path, name: str) -> Observed:
    stop = threading.Event()
    (worker,) = build_workers(settings, load_routes(routes_path), ["kafka"], name, stop)
    return Observed(worker, stop)


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset of every partition (a consumer that never
    subscribes does not join the group). Compared with what was read, not with the
    broker's end offsets: Tansu reports the last record batch's base offset + 1."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        consumer.close(autocommit=False)


def test_revoke_commits_held_messages_once_and_keeps_the_source_running(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    routes = make_routes(tmp_path, max_messages=100_000, max_wait=3600)
    topic = routes.syslog_topic
    create_topics(settings, [topic, routes.suricata_topic], partitions=PARTITIONS)
    produce(settings, sshd_failures(topic, PART, host="first"))

    a = start_worker(settings, routes.path, f"reb-a-{uuid.uuid4().hex[:6]}")
    b: Observed | None = None
    try:
        assert wait_for(lambda: len(a.polled) == PART, timeout=JOIN_TIMEOUT), "A got nothing"
        assert not a.acked and count(db, "security_events") == 0, "A did not hold the batch"

        b = start_worker(settings, routes.path, f"reb-b-{uuid.uuid4().hex[:6]}")
        # A's revoke: what it holds is stored and acknowledged before B is assigned.
        assert wait_for(lambda: a.worker.failed is not None or len(a.acked) == PART,
                        timeout=JOIN_TIMEOUT)  # fmt: skip
        assert a.worker.failed is None, f"A's source stopped on the revoke: {a.worker.failed!r}"
        assert count(db, "security_events") == PART

        produce(settings, sshd_failures(topic, PART, host="second"))
        # Both hold a share of the second part (two partitions each).
        assert wait_for(
            lambda: len(a.polled) + len(b.polled) == 2 * PART and b.polled and len(a.polled) > PART,
            timeout=JOIN_TIMEOUT,
        ), f"second part not split between A and B: A {len(a.polled) - PART}, B {len(b.polled)}"
        assert not b.acked, "B acknowledged before any flush"

        a.finish()  # A flushes its share, leaves: B's revoke while B holds its share
        assert a.worker.failed is None, repr(a.worker.failed)
        assert wait_for(lambda: b.worker.failed is not None or len(b.acked) == len(b.polled),
                        timeout=JOIN_TIMEOUT)  # fmt: skip
        assert b.worker.failed is None, f"B's source stopped on the revoke: {b.worker.failed!r}"
    finally:
        a.finish()
        if b is not None:
            b.finish()

    assert b.worker.failed is None, repr(b.worker.failed)
    acks = Counter(a.acked + b.acked)
    assert len(acks) == 2 * PART, f"{2 * PART - len(acks)} messages never acknowledged"
    assert [k for k, n in acks.items() if n > 1] == [], "acknowledged twice"
    assert len(a.polled) + len(b.polled) == 2 * PART, "a message was read twice"
    assert count(db, "security_events") == 2 * PART
    assert count(db, "dead_letters") == 0
    read: dict[int, set[int]] = {p: set() for p in range(PARTITIONS)}
    for partition, offset in a.polled + b.polled:
        read[partition].add(offset)
    # Each partition read from its start with no gap, and its committed offset just past
    # the last message read: nothing left behind for a later reader.
    assert {p: len(o) for p, o in read.items() if o} == {
        p: max(o) + 1 for p, o in read.items() if o
    }
    assert committed_offsets(settings, routes.kafka_group, topic) == {
        p: len(offsets) for p, offsets in read.items()
    }
