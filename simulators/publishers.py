"""Sending to the real brokers: one MQTT client per account, one Kafka producer.

Neither sender raises on broker trouble. A message's fate is reported once through its
`done` callback (None when acknowledged, else why not) or, when it could not even be
handed over, as the returned reason; connection-level trouble goes to `report`. The
runner turns all three into counts on the progress display and keeps going.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from kafka.errors import KafkaError
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from simulators.messages import Outgoing
from simulators.progress import Stats

Done = Callable[[str | None], None]
Report = Callable[[str], None]

# paho publishing QoS 1 manages ~550 msg/s here and silently drops past ~65k queued
# messages, so each client keeps a small window and waits for PUBACKs beyond it.
MAX_INFLIGHT = 50
ACK_WAIT_S = 5.0
KAFKA_RETRY_S = 10.0


class MqttSender:
    """A paho client for one MQTT account with a bounded window of unacknowledged QoS 1
    messages.

    MQTT v5, because mosquitto then says *why* it refuses a publish (PUBACK reason
    "Not authorized" when the ACL denies the topic); with v3.1.1 a denied QoS 1 message is
    acknowledged as if delivered and the loss would go unseen (both checked against
    mosquitto 2.0.11). paho 2.2 drops the connection after a refused PUBACK and
    reconnects; messages still in the window are re-sent then.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        report: Report,
        max_inflight: int = MAX_INFLIGHT,
    ) -> None:
        self.username = username
        self._host, self._port = host, port
        self._report = report
        self._max = max_inflight
        self._cond = threading.Condition()
        self._pending: dict[int, Done] = {}
        self._early: dict[int, str | None] = {}
        self._connected = False
        # Client id = account name, as a real device would connect.
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=username,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(username, password)
        client.max_inflight_messages_set(max_inflight)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def start(self) -> None:
        # connect_async: an unreachable broker is retried by paho's loop, not raised here.
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Whether the broker accepted the connection within `timeout` seconds. Callers
        that must not lose a message wait for it: before the first CONNACK only the
        first window of messages can be queued, the rest are refused."""
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    def publish(self, topic: str, payload: bytes, done: Done) -> str | None:
        refused = self._wait_for_room()
        if refused:
            return refused
        info = self._client.publish(topic, payload, qos=1)
        # NO_CONN still queues a QoS 1 message; paho sends it after reconnecting.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return f"{self.username}: publish refused: {mqtt.error_string(info.rc)}"
        with self._cond:
            acked_early = info.mid in self._early
            reason = self._early.pop(info.mid, None)
            if not acked_early:
                self._pending[info.mid] = done
        if acked_early:
            done(reason)
        return None

    def _wait_for_room(self) -> str | None:
        with self._cond:
            if len(self._pending) < self._max:
                return None
            if not self._connected:
                return f"{self.username}: not connected, {self._max} messages already queued"
            if self._cond.wait_for(lambda: len(self._pending) < self._max, ACK_WAIT_S):
                return None
        return f"{self.username}: no PUBACK within {ACK_WAIT_S:.0f} s ({self._max} in flight)"

    def close(self, timeout: float) -> None:
        """Wait up to `timeout` for outstanding PUBACKs, then disconnect. Without a
        connection no PUBACK can come, so there is nothing to wait for."""
        with self._cond:
            self._cond.wait_for(lambda: not self._pending or not self._connected, timeout)
            left, self._pending = self._pending, {}
        self._client.disconnect()
        self._client.loop_stop()
        for done in left.values():
            done(f"{self.username}: no PUBACK before shutdown")

    # --- paho callbacks (paho's network thread) --------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        with self._cond:
            self._connected = not reason_code.is_failure
            self._cond.notify_all()
        if reason_code.is_failure:
            self._report(f"{self.username}: connection refused: {reason_code}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._report(f"{self.username}: cannot reach MQTT broker at {self._host}:{self._port}")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: Any, properties: Any) -> None:  # fmt: skip
        with self._cond:
            self._connected = False
            self._cond.notify_all()
        if reason_code.is_failure:
            self._report(f"{self.username}: disconnected: {reason_code}")

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        reason = f"PUBACK {reason_code}" if reason_code.is_failure else None
        with self._cond:
            done = self._pending.pop(mid, None)
            if done is None:
                # The PUBACK beat publish() back to the caller; publish() collects it.
                self._early[mid] = reason
            self._cond.notify_all()
        if done is not None:
            done(reason)


class KafkaSender:
    """One KafkaProducer (acks=all) created in the background and re-tried while the
    broker is away, so an absent Kafka never stalls the MQTT streams."""

    def __init__(self, bootstrap: str, report: Report) -> None:
        self._bootstrap = bootstrap
        self._report = report
        self._producer: KafkaProducer | None = None
        self._connecting: threading.Thread | None = None
        self._last_attempt = float("-inf")
        self._last_error = "connecting"

    def start(self, wait_s: float) -> None:
        """Begin connecting; wait up to wait_s so a healthy start fails no message."""
        self._ensure_producer()
        if self._connecting is not None:
            self._connecting.join(wait_s)

    def send(self, topic: str, key: bytes | None, value: bytes, done: Done) -> str | None:
        producer = self._ensure_producer()
        if producer is None:
            return f"Kafka {self._bootstrap} not available: {self._last_error}"
        try:
            future = producer.send(topic, key=key, value=value)
        except KafkaError as error:
            return f"Kafka send: {_describe(error)}"
        future.add_callback(lambda _metadata: done(None))
        future.add_errback(lambda error: done(f"Kafka: {_describe(error)}"))
        return None

    def close(self, timeout: float) -> None:
        """Flush what is buffered (deliveries still report through their callbacks)."""
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as error:
            self._report(f"Kafka flush: {_describe(error)}")
        self._producer.close(timeout=timeout)

    def _ensure_producer(self) -> KafkaProducer | None:
        if self._producer is not None:
            return self._producer
        busy = self._connecting is not None and self._connecting.is_alive()
        if not busy and time.monotonic() - self._last_attempt >= KAFKA_RETRY_S:
            self._last_attempt = time.monotonic()
            self._connecting = threading.Thread(
                target=self._connect, name="kafka-connect", daemon=True
            )
            self._connecting.start()
        return None

    def _connect(self) -> None:
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id="ioc-simulator",
                acks="all",
                # Batching a few milliseconds costs nothing at simulator rates and keeps
                # the request count down when the rate is high.
                linger_ms=20,
                bootstrap_timeout_ms=5000,
                max_block_ms=5000,  # never hold the pacing loop longer than this
                request_timeout_ms=10000,
                delivery_timeout_ms=30000,
            )
        except KafkaError as error:
            self._last_error = _describe(error)
            self._report(f"Kafka {self._bootstrap}: {self._last_error}")


class HttpSender:
    """Posts as devices do over HTTP (ISAPI pushes): one client, Basic credentials per
    device (username = device id, password = its HTTP token). Synchronous: cameras push
    one event at a time and wait for the answer, and so does this."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)
        self._auth: dict[str, tuple[str, str]] = {}
        self._bearer: dict[str, str] = {}

    def add(self, device_id: str, token: str) -> None:
        self._auth[device_id] = (device_id, token)

    def add_bearer(self, sender: str, token: str) -> None:
        """An API user's token (e.g. the health department's, posting case reports)."""
        self._bearer[sender] = token

    def post(self, message: Outgoing, done: Done) -> str | None:
        auth = self._auth.get(message.sender)
        bearer = self._bearer.get(message.sender)
        if auth is None and bearer is None:
            return f"no HTTP token for {message.sender}"
        headers = {"Content-Type": message.content_type or "application/xml"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            answer = self._client.post(
                message.topic, content=message.payload, headers=headers, auth=auth
            )
        except httpx.HTTPError as error:
            return f"HTTP {self._client.base_url}: {type(error).__name__}: {error}"
        done(None if answer.is_success else f"HTTP {answer.status_code}: {answer.text[:200]}")
        return None

    def close(self, timeout: float = 0.0) -> None:
        self._client.close()


def _describe(error: BaseException) -> str:
    # kafka-python's messages often start with the class name already.
    text, name = str(error), type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}".rstrip(": ")


def send(
    message: Outgoing,
    stats: Stats,
    mqtt_senders: Mapping[str, MqttSender],
    kafka: KafkaSender | None,
    http: HttpSender | None = None,
) -> None:
    """One message to its broker, by the sender's own account; counted in `stats` as sent
    now and as acknowledged or failed when the broker answers."""
    stats.sent(message.stream)
    done = partial(_count_outcome, stats, message.stream)
    if message.transport == "mqtt":
        sender = mqtt_senders.get(message.sender)
        error = (
            sender.publish(message.topic, message.payload, done)
            if sender
            else f"no MQTT account for {message.sender}"
        )
    elif message.transport == "http":
        error = http.post(message, done) if http else "no HTTP sender"
    else:
        assert kafka is not None
        error = kafka.send(message.topic, message.key, message.payload, done)
    if error:
        stats.failed(message.stream, error)


def _count_outcome(stats: Stats, stream: str, error: str | None) -> None:
    if error is None:
        stats.acked(stream)
    else:
        stats.failed(stream, error)
