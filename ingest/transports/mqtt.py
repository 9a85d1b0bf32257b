"""MQTT source: QoS 1, persistent session, shared subscription, PUBACK after commit.

No-loss rests on three things working together: a fixed client id with
clean_session=False (the broker keeps our session and queued messages while we are
away), QoS 1 (the broker re-sends until acknowledged) and paho's manual_ack (we send
PUBACK only after the database commit, so a crash before commit means re-delivery).

paho runs in a receiving process of its own (mqtt_receiver.py), which hands messages
over a pipe and sends the PUBACKs this side asks for. The broker's
max_inflight_messages caps unacknowledged messages per client; the receiver's buffer
and the pipe are bounded too, so a slow worker stops paho reading and the broker holds
the rest: that is the backpressure.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.message import RawMessage
from ingest.transports.mqtt_receiver import ReceiverParams, receiver_main

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 15.0
CLOSE_TIMEOUT_SECONDS = 10.0
# The receiving process's fast path (mqtt_client.py); bench/mqtt_receive.py turns it off
# in the workers it starts to measure what it buys.
FAST_PATH = True


class ReceiverGone(ConnectionError):
    """The receiving process exited; its unacknowledged messages go back to the broker."""


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
        self._params = ReceiverParams(
            host=host,
            port=port,
            username=username,
            password=password,
            client_id=client_id,
            subscriptions=[(f"$share/{share_group}/{f}", 1) for f in filters],
            max_buffered=queue_size,
            log_level=logging.getLogger().getEffectiveLevel(),
            fast_path=FAST_PATH,
        )
        self._inbox: deque[RawMessage] = deque()
        self._connected = False
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: multiprocessing.connection.Connection | None = None

    def start(self, on_revoke: Callable[[], None]) -> None:
        # MQTT never takes messages back from a live session; nothing to do on revoke.
        # spawn, not fork: this process already runs threads (metrics server, writers).
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        self._process = context.Process(
            target=receiver_main, args=(self._params, theirs), name="mqtt-receiver", daemon=True
        )
        self._process.start()
        theirs.close()
        self._pipe = ours
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        while not self._connected:
            left = deadline - time.monotonic()
            if left <= 0 or not self._receive(left):
                raise ConnectionError(f"MQTT broker {self._host}:{self._port} did not accept us")
        log.info("MQTT connected, subscribed to %s", [s for s, _ in self._params.subscriptions])

    def poll(self, timeout: float, max_messages: int) -> list[RawMessage]:
        if not self._inbox:
            self._receive(max(timeout, 0.001))
        while len(self._inbox) < max_messages and self._receive(0):
            pass
        take = min(max_messages, len(self._inbox))
        popleft = self._inbox.popleft
        return [popleft() for _ in range(take)]

    def _receive(self, timeout: float) -> bool:
        """Take one message from the receiver if one comes within `timeout`."""
        pipe = self._require_pipe()
        try:
            if not pipe.poll(timeout):
                return False
            message = pipe.recv()
        except (EOFError, OSError) as error:
            self._connected = False
            raise ReceiverGone(
                f"the MQTT receiving process exited (broker {self._host}:{self._port};"
                " its log lines above say why)"
            ) from error
        kind = message[0]
        if kind == "messages":
            now = datetime.now(UTC)
            self._inbox.extend(
                RawMessage(
                    transport="mqtt",
                    topic=topic,
                    payload=payload,
                    received_at=now,
                    ack_token=(connection, mid, qos),
                )
                for topic, payload, mid, qos, connection in message[1]
            )
        elif kind == "up":
            self._connected = True
        elif kind == "down":
            self._connected = False
            log.warning("MQTT %s", message[1])
        return True

    def ack(self, messages: list[RawMessage]) -> None:
        # Subscriptions are QoS 1, so QoS 2 never arrives; QoS 0 needs no ack. A packet id
        # is acknowledged on the connection it came on or not at all: the receiver drops
        # those of a lost connection (mqtt_receiver.py says why).
        by_connection: dict[int, list[int]] = {}
        for m in messages:
            connection, mid, qos = m.ack_token
            if qos == 1:
                by_connection.setdefault(connection, []).append(mid)
        try:
            for connection, mids in by_connection.items():
                self._require_pipe().send(("ack", connection, mids))
        except OSError as error:
            raise ReceiverGone("the MQTT receiving process exited") from error

    def _require_pipe(self) -> multiprocessing.connection.Connection:
        if self._pipe is None:
            raise RuntimeError("MqttSource.start() was not called")
        return self._pipe

    def pending(self) -> int:
        return len(self._inbox)

    def healthy(self) -> bool:
        return self._connected and self._process is not None and self._process.is_alive()

    def close(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError):  # already gone
                self._pipe.send(("close",))
        if self._process is not None:
            self._discard_until_exit(self._process)
        if self._pipe is not None:
            self._pipe.close()

    def _discard_until_exit(self, process: multiprocessing.process.BaseProcess) -> None:
        """Let the receiver finish: it may be blocked sending us messages, which we drop
        (they were never acknowledged, so the broker sends them again)."""
        deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
        pipe = self._pipe
        while process.is_alive() and time.monotonic() < deadline:
            if pipe is None:
                process.join(0.05)
                continue
            try:
                if pipe.poll(0.05):
                    pipe.recv()
            except (EOFError, OSError):
                pipe = None  # closed from its side: it is exiting
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join(1)


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
