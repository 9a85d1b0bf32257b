"""MQTT source: QoS 1, persistent session, shared subscription, PUBACK after commit.

No-loss rests on three things working together: a fixed client id with
clean_session=False (the broker keeps our session and queued messages while we are
away), QoS 1 (the broker re-sends until acknowledged) and paho's manual_ack (we send
PUBACK only after the database commit, so a crash before commit means re-delivery).
The broker's max_inflight_messages caps unacknowledged messages per client, which also
bounds this process's queue: that is the backpressure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.message import RawMessage
from ingest.transports.mqtt_client import BulkReceiveClient

log = logging.getLogger(__name__)


class _NoTopicCallbacks:
    def iter_match(self, topic: str) -> tuple[()]:
        return ()

    def __setitem__(self, key: str, value: object) -> None:
        raise TypeError("MqttSource uses on_message only; per-topic callbacks are disabled")


class MqttSource:
    transport = "mqtt"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str,
        share_group: str,
        filters: Sequence[str],
        queue_size: int = 25_000,
    ) -> None:
        self._host, self._port = host, port
        self._subscriptions = [(f"$share/{share_group}/{f}", 1) for f in filters]
        # A deque, not queue.Queue: its lock-free append/popleft cost a fraction of the
        # Queue's condition variables at 10k+ messages/s. Bounded all the same: when the
        # worker falls behind, on_message waits, paho stops reading the socket and the
        # broker holds the rest (persisted) instead of this process.
        self._inbox: deque[RawMessage] = deque()
        self._inbox_limit = queue_size
        self._wakeup = threading.Event()
        self._closing = False
        self._connected = threading.Event()
        self._client = BulkReceiveClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        # We register no per-topic callbacks, yet paho walks its (empty) topic matcher
        # for every message: 11% of the worker's CPU in a profile. Skip the walk. This
        # touches a private attribute of paho 2.x (pinned <3 in pyproject.toml).
        self._client._on_message_filtered = _NoTopicCallbacks()  # type: ignore[assignment]

    def start(self, on_revoke: Callable[[], None]) -> None:
        # MQTT never takes messages back from a live session; nothing to do on revoke.
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(15):
            raise ConnectionError(f"MQTT broker {self._host}:{self._port} did not accept us")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason_code: object, properties: object) -> None:  # fmt: skip
        if getattr(reason_code, "is_failure", False):
            log.error("MQTT connection refused: %s", reason_code)
            return
        client.subscribe(self._subscriptions)
        self._connected.set()
        log.info("MQTT connected, subscribed to %s", [s for s, _ in self._subscriptions])

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason_code: object, properties: object) -> None:  # fmt: skip
        self._connected.clear()
        log.warning("MQTT disconnected: %s", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        raw = RawMessage(
            transport="mqtt",
            topic=msg.topic,
            payload=msg.payload,
            received_at=datetime.now(UTC),
            ack_token=(msg.mid, msg.qos),
        )
        while len(self._inbox) >= self._inbox_limit and not self._closing:
            time.sleep(0.005)
        self._inbox.append(raw)
        self._wakeup.set()

    def poll(self, timeout: float, max_messages: int) -> list[RawMessage]:
        if not self._inbox:
            self._wakeup.clear()
            if not self._inbox:  # re-check: a message may have landed before clear()
                self._wakeup.wait(max(timeout, 0.001))
        take = min(max_messages, len(self._inbox))
        popleft = self._inbox.popleft
        return [popleft() for _ in range(take)]

    def ack(self, messages: list[RawMessage]) -> None:
        # Subscriptions are QoS 1, so QoS 2 never arrives; QoS 0 needs no ack.
        self._client.ack_many(m.ack_token[0] for m in messages if m.ack_token[1] == 1)

    def pending(self) -> int:
        return len(self._inbox)

    def healthy(self) -> bool:
        return self._connected.is_set()

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()


def forget_session(host: str, port: int, username: str, password: str, client_id: str) -> None:
    """Delete a worker's persistent session on the broker (connect once with
    clean_session=True). For a worker retired for good: its session would otherwise stay
    in the share group and keep receiving, and queuing, its share of messages."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(username, password)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(host, port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise ConnectionError(f"MQTT broker {host}:{port} did not accept {username}")
    finally:
        client.disconnect()
        client.loop_stop()
