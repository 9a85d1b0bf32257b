"""The MQTT receiving process: paho's network loop and PUBACKs, nothing else.

Why a process of its own: paho parses every packet in Python. Sharing one interpreter
(one GIL) with decoding and the COPY writes, it left the worker at about half of what
paho alone can receive (docs/performance.md). Here it has a core's worth of GIL to
itself, and the worker process gets back the share it used.

Protocol over a duplex multiprocessing pipe (pickled tuples):
    receiver -> worker: ("up",) | ("down", reason)
                        | ("messages", [(topic, payload, mid, qos, connection)])
    worker -> receiver: ("ack", connection, [mid, ...]) | ("close",)

A packet id means something only on the connection that carried it. After a reconnect
the broker re-sends every unacknowledged message of the session, and numbers new ones
with ids that may equal those of messages the worker still holds from the lost
connection; a PUBACK for one of those, sent on the new connection, would acknowledge
whatever the new connection carries under that id: the re-delivered copy before it is
committed, or a different message altogether. So every message carries the number of
the connection it came on, and acknowledgements for any other connection than the
current one are dropped: the broker has already re-sent those messages on the new
connection, where they are committed again (the writer makes that a no-op) and
acknowledged then (tests/integration/chaos/test_mqtt_reconnect_acks.py).

No-loss rests on the same rules as before the split: the session is persistent
(clean_session=False, fixed client id), messages are QoS 1 with manual_ack, and a PUBACK
leaves only when the worker sends "ack" after its database commit. If the worker dies,
this process sees the pipe close and exits; the broker then re-sends everything
unacknowledged to the next session with this client id.

Bounded: at most `max_buffered` received messages wait here; beyond that on_message
blocks, paho stops reading the socket, and the broker holds the rest. The pipe is
bounded too (a send blocks until the worker reads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.transports.mqtt_client import BulkReceiveClient

log = logging.getLogger(__name__)

# How long the sender waits for more messages before sending what it has: a quarter of
# a batch's latency budget (batching.max_wait_seconds, 0.1 s). At a few hundred messages
# a second 5 ms meant a send, a pickle and a wake-up of the worker per message: at 200
# Frigate messages/s the worker's share went from 0.085 to 0.062 of a core with 25 ms
# (bench/cameras.py, docs/performance.md).
SEND_WAIT_SECONDS = 0.025
MAX_PER_SEND = 2000

Received = tuple[str, bytes, int, int, int]  # topic, payload, mid, qos, connection


@dataclass(frozen=True)
class ReceiverParams:
    host: str
    port: int
    username: str
    password: str
    client_id: str
    subscriptions: list[tuple[str, int]]
    max_buffered: int
    log_level: int = logging.INFO
    # BulkReceiveClient's fast path (mqtt_client.py); False: paho's public API only
    # (on_message, ack()). bench/mqtt_receive.py measures one against the other.
    fast_path: bool = True


class _NoTopicCallbacks:
    """We register no per-topic callbacks, yet paho walks its (empty) topic matcher for
    every message: 11% of the receiving CPU in a profile. Skip the walk (a private
    attribute of paho 2.x, pinned below 3)."""

    def iter_match(self, topic: str) -> tuple[()]:
        return ()

    def __setitem__(self, key: str, value: object) -> None:
        raise TypeError("the receiver registers no per-topic callbacks; they are disabled")


class Receiver:
    def __init__(self, params: ReceiverParams, pipe: Connection) -> None:
        self.params = params
        self.pipe = pipe
        self._send_lock = threading.Lock()
        self._buffer: list[Received] = []
        self._changed = threading.Condition()
        self._closing = threading.Event()
        # Number of the current connection; bumped (under the lock, which acknowledging
        # holds too) as soon as a connection is lost and again before a new one is made.
        self._connection = 0
        self._connection_lock = threading.Lock()
        self.stale_acks = 0
        kind = BulkReceiveClient if params.fast_path else mqtt.Client
        self.client = kind(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=params.client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        self.client.username_pw_set(params.username, params.password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        if isinstance(self.client, BulkReceiveClient):
            self.client.on_publish_fast = self._on_publish
            self.client._on_message_filtered = _NoTopicCallbacks()  # type: ignore[assignment]

    # -- paho thread ---------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason_code: Any, properties: object) -> None:  # fmt: skip
        if getattr(reason_code, "is_failure", False):
            self._send(("down", f"connection refused: {reason_code}"))
            return
        client.subscribe(self.params.subscriptions)
        self._send(("up",))

    def _on_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        self._next_connection()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason_code: object, properties: object) -> None:  # fmt: skip
        # paho calls this after closing the socket and before it reconnects: from here on
        # no acknowledgement of the lost connection is queued (those already queued die
        # with it; paho clears its queue on reconnect).
        self._next_connection()
        if not self._closing.is_set():
            self._send(("down", f"disconnected: {reason_code}"))

    def _next_connection(self) -> None:
        with self._connection_lock:
            self._connection += 1

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        # Packets paho parsed itself (split across reads, or QoS 0). Read on paho's
        # thread, as the connection number is bumped: no lock needed to read it here.
        self._keep((msg.topic, msg.payload, msg.mid, msg.qos, self._connection))

    def _on_publish(self, topic: str, payload: bytes, packet_id: int) -> None:
        self._keep((topic, payload, packet_id, 1, self._connection))

    def _keep(self, item: Received) -> None:
        with self._changed:
            while len(self._buffer) >= self.params.max_buffered and not self._closing.is_set():
                self._changed.wait(0.1)
            self._buffer.append(item)
            if len(self._buffer) == 1:
                self._changed.notify_all()

    # -- sender (main thread) and acknowledger --------------------------------------------------
    def run(self) -> None:
        self.client.connect(self.params.host, self.params.port, keepalive=30)
        self.client.loop_start()
        threading.Thread(target=self._acknowledge, name="mqtt-acks", daemon=True).start()
        try:
            while not self._closing.is_set():
                batch = self._take()
                if batch:
                    self._send(("messages", batch))
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def _take(self) -> list[Received]:
        with self._changed:
            if not self._buffer:
                self._changed.wait(0.1)
            if self._buffer and len(self._buffer) < MAX_PER_SEND:
                # A few more milliseconds fill the send: fewer, larger pickles.
                self._changed.wait(SEND_WAIT_SECONDS)
            batch, self._buffer = self._buffer[:MAX_PER_SEND], self._buffer[MAX_PER_SEND:]
            self._changed.notify_all()
            return batch

    def _acknowledge(self) -> None:
        try:
            while True:
                command = self.pipe.recv()
                if command[0] == "ack":
                    self._ack(command[1], command[2])
                elif command[0] == "close":
                    break
        except (EOFError, OSError):
            log.warning("the ingest worker went away; leaving the broker to re-send")
        self._closing.set()
        with self._changed:
            self._changed.notify_all()

    def _ack(self, connection: int, mids: list[int]) -> None:
        with self._connection_lock:
            if connection == self._connection:
                if isinstance(self.client, BulkReceiveClient):
                    self.client.ack_many(mids)
                else:
                    for mid in mids:
                        self.client.ack(mid, 1)
                return
        self.stale_acks += len(mids)
        log.info(
            "dropped %d acknowledgement(s) of a lost connection (%d in all); the broker"
            " re-sent those messages on the current one",
            len(mids),
            self.stale_acks,
        )

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            with self._send_lock:
                self.pipe.send(message)
        except (BrokenPipeError, OSError):
            self._closing.set()


def receiver_main(params: ReceiverParams, pipe: Connection) -> None:
    """Entry point of the receiving process."""
    logging.basicConfig(
        level=params.log_level, format="%(asctime)s %(levelname)s mqtt-receiver: %(message)s"
    )
    # SIGTERM and Ctrl-C go to the whole process group; the worker decides when this
    # process stops (after its last commit is acknowledged), by closing the pipe.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        Receiver(params, pipe).run()
    except Exception as error:
        log.exception("MQTT receiver failed")
        with contextlib.suppress(OSError):
            pipe.send(("down", f"receiver failed: {error}"))
        os._exit(1)
