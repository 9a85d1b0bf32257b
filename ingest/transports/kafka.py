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

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

from ingest.message import RawMessage

log = logging.getLogger(__name__)

POLL_HEALTH_SECONDS = 30.0


class _Revoke(ConsumerRebalanceListener):
    def __init__(self, on_revoke: Callable[[], None]) -> None:
        self._on_revoke = on_revoke

    def on_partitions_revoked(self, revoked: object) -> None:
        # Commit what we hold while we still own the partitions; after this, another
        # worker starts from our committed offsets.
        log.info("Kafka partitions revoked: %s", revoked)
        self._on_revoke()

    def on_partitions_assigned(self, assigned: object) -> None:
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
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
        )

    def start(self, on_revoke: Callable[[], None]) -> None:
        self._consumer.subscribe(self._topics, listener=_Revoke(on_revoke))

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
        next_offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            next_offsets[tp] = max(next_offsets.get(tp, 0), m.offset + 1)
        if next_offsets:
            self._consumer.commit(
                {tp: OffsetAndMetadata(off, "", -1) for tp, off in next_offsets.items()}
            )

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
        self._consumer.close(autocommit=False)
