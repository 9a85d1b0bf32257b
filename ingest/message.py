"""What a transport hands to the pipeline: the bytes, where they came from, how to ack."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class RawMessage:
    transport: str  # mqtt, kafka, http
    topic: str
    payload: bytes
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Opaque handle the transport needs to acknowledge this message after commit
    # (MQTT message id, Kafka partition/offset); the pipeline never looks inside.
    ack_token: Any = None
