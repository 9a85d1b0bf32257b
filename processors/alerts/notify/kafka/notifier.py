"""Produce each alert of a group to `ioc.alerts`, keyed by the alert's fingerprint.

The key sends every update of one alert to one partition, so a consumer (the SOC's
SIEM) reads an alert's fired → escalated → resolved in order. acks='all' and the
producer's idempotence (kafka-python's default) mean an acknowledged record is on every
in-sync replica and an internal retry does not write it twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import orjson
from kafka import KafkaProducer
from kafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from pydantic import Field

from processors.alerts.notify.base import DeliveryError, Notification, NotifierConfig

if TYPE_CHECKING:
    from kafka.producer.future import FutureRecordMetadata

    from config.settings import Settings

# kafka-python marks most errors not "retriable", connection trouble included; for a
# notification only these are permanent, everything else is worth another try later.
_PERMANENT = (
    InvalidTopicError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)


class KafkaConfig(NotifierConfig):
    bootstrap_servers: str | None = None  # default: the process settings' Kafka address
    topic: str = Field(default="ioc.alerts", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    timeout_seconds: float = Field(default=30.0, gt=0)


class KafkaNotifier:
    kind: ClassVar[str] = "kafka"
    Config: ClassVar[type[NotifierConfig]] = KafkaConfig

    def __init__(self, name: str, config: KafkaConfig, app: Settings) -> None:
        self.name = name
        self._topic = config.topic
        self._bootstrap = config.bootstrap_servers or app.kafka_bootstrap
        self._timeout = config.timeout_seconds
        self._producer: KafkaProducer | None = None

    def _ensure_producer(self) -> KafkaProducer:
        # Built on first use: the constructor contacts the broker, and a broker that is
        # down must become a retry of this group, not an error of the whole dispatcher.
        if self._producer is None:
            timeout_ms = int(self._timeout * 1000)
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=f"ioc-notify-{self.name}",
                    acks="all",
                    linger_ms=0,
                    max_block_ms=timeout_ms,
                    request_timeout_ms=min(timeout_ms, 30_000),
                    delivery_timeout_ms=timeout_ms + 1000,
                )
            except KafkaError as error:
                where = f"Kafka {self._bootstrap}"
                raise DeliveryError(f"{where}: {error!r}", retryable=True) from error
        return self._producer

    def send(self, notification: Notification) -> None:
        producer = self._ensure_producer()
        futures: list[FutureRecordMetadata] = []
        try:
            for payload in notification.payloads:
                futures.append(
                    producer.send(
                        self._topic,
                        key=str(payload["alert"]["fingerprint"]).encode(),
                        value=orjson.dumps(payload),
                        headers=[("notification_id", str(payload["notification_id"]).encode())],
                    )
                )
            producer.flush(timeout=self._timeout)
            for future in futures:
                future.get(timeout=self._timeout)
        except KafkaError as error:
            retryable = not isinstance(error, _PERMANENT)
            raise DeliveryError(f"Kafka {self._topic}: {error!r}", retryable=retryable) from error

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout)
            self._producer = None
