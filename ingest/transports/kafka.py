"""Kafka source: one consumer group, offsets committed only after the database commit.

Per-key state in later stages relies on Kafka's keyed partitioning: producers key
security logs by source address, so one address always lands on one partition and so
on one worker of the group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.future import Future
from kafka.structs import OffsetAndMetadata

from ingest.message import RawMessage

log = logging.getLogger(__name__)

POLL_HEALTH_SECONDS = 30.0
# How long a worker that died (SIGKILL, power loss) keeps its partitions before the
# group takes them back. kafka-python 3 defaults to 45 s; its heartbeats come from the
# client's IO thread, not from poll(), so a busy worker is not mistaken for a dead one
# at 10 s (heartbeats every 3 s). A restarted worker got its partitions after 45 s + a
# rebalance or two, over 90 s on the chaos test's loaded machine.
SESSION_TIMEOUT_MS = 10_000


class _Revoke(AsyncConsumerRebalanceListener):
    """Hands partitions over only after what the worker holds of them is stored and its
    offsets committed, so the next owner starts exactly where this worker stopped.

    kafka-python 3 calls the listener on the client's IO thread while the worker's
    thread waits inside poll(), so the worker's state is not touched by two threads at
    once; but a blocking consumer call here cannot complete (it would wait for the very
    thread running it). So the listener is async: the worker's flush (which waits only
    for PostgreSQL) runs here, its acknowledgements are collected, not committed, and
    the commit is awaited with commit_async, which the IO loop can complete."""

    def __init__(self, source: KafkaSource, on_revoke: Callable[[], None]) -> None:
        self._source = source
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("Kafka partitions revoked: %s", revoked)
        offsets = self._source.flush_held(self._on_revoke, revoked)
        if not offsets:
            return
        try:
            await self._source.commit_async(offsets)
        except KafkaError as error:
            # Stored already; the next owner reads them again and the store's identities
            # make that a no-op. Raising would stop this worker's source for good.
            log.warning("offset commit on revoke failed (%s); %s re-read", error, offsets)

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        # The group has already given these to another member: commit nothing, but
        # store what is held so nothing of them is acknowledged later under a new
        # assignment; the new owner reads them again from the last committed offset.
        log.warning("Kafka partitions lost: %s; held messages will be re-read", lost)
        self._source.flush_held(self._on_revoke, set())

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("Kafka partitions assigned: %s", assigned)


class KafkaSource:
    transport = "kafka"

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        client_id: str,
        topics: Sequence[str],
        max_poll_records: int,
    ) -> None:
        self._topics = list(topics)
        self._last_poll = float("-inf")
        # While the worker flushes for a revoke: the offsets its acknowledgements reach,
        # committed by the listener once the flush is done (see _Revoke).
        self._collecting: dict[TopicPartition, int] | None = None
        self._closing = False
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            session_timeout_ms=SESSION_TIMEOUT_MS,
        )

    def start(self, on_revoke: Callable[[], None]) -> None:
        self._consumer.subscribe(self._topics, listener=_Revoke(self, on_revoke))

    def poll(self, timeout: float, max_messages: int) -> list[RawMessage]:
        records = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_messages)
        self._last_poll = time.monotonic()
        now = datetime.now(UTC)
        return [
            RawMessage(
                transport="kafka",
                topic=r.topic,
                payload=r.value if r.value is not None else b"",
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                received_at=now,
            )
            for batch in records.values()
            for r in batch
        ]

    def ack(self, messages: list[RawMessage]) -> None:
        next_offsets = _next_offsets(messages)
        if self._collecting is not None:
            for tp, offset in next_offsets.items():
                self._collecting[tp] = max(self._collecting.get(tp, 0), offset)
            return
        owned = self._consumer.assignment()
        if not_owned := next_offsets.keys() - owned:
            # Never expected (a revoke flushes everything held first); committing for a
            # partition another member owns could move its offset back.
            log.warning("not committing offsets of partitions not owned: %s", not_owned)
        offsets = _commit_request({tp: o for tp, o in next_offsets.items() if tp in owned})
        if offsets:
            self._consumer.commit(offsets)

    def flush_held(
        self, flush: Callable[[], None], owned: set[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Run the worker's flush, collecting its acknowledgements instead of
        committing them; the offsets to commit for the partitions in `owned`."""
        if self._closing:
            # The worker flushed (or failed) before closing: nothing more to acknowledge.
            return {}
        self._collecting = {}
        try:
            flush()
            collected = self._collecting
        finally:
            self._collecting = None
        if not_owned := collected.keys() - owned:
            log.warning("held messages of partitions not owned will be re-read: %s", not_owned)
        return _commit_request({tp: o for tp, o in collected.items() if tp in owned})

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> Future:
        return self._consumer.commit_async(offsets)

    def lag(self) -> dict[tuple[str, int], int]:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        ends = self._consumer.end_offsets(assigned)
        return {(tp.topic, tp.partition): ends[tp] - self._consumer.position(tp) for tp in assigned}

    def pending(self) -> int:
        return 0

    def healthy(self) -> bool:
        # A poll that returned recently means the group coordinator and brokers answer;
        # a worker with no partitions assigned (more workers than partitions) is healthy.
        return time.monotonic() - self._last_poll < POLL_HEALTH_SECONDS and bool(
            self._consumer.subscription()
        )

    def close(self) -> None:
        self._closing = True
        self._consumer.close(autocommit=False)


def _next_offsets(messages: list[RawMessage]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last of `messages` (what a commit records)."""
    next_offsets: dict[TopicPartition, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        next_offsets[tp] = max(next_offsets.get(tp, 0), m.offset + 1)
    return next_offsets


def _commit_request(offsets: dict[TopicPartition, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
