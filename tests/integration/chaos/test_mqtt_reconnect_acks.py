"""Fault 6: the worker's MQTT connection cut while it holds received, uncommitted
batches. Acknowledgements belong to the connection that delivered the message.

After a reconnect, mosquitto re-sends every unacknowledged message of the session, with
its packet id, and numbers new messages again; a PUBACK for a message of the previous
connection, sent on the new one, acknowledges whatever the new connection carries under
that id: a re-delivered copy (whose own PUBACK then comes twice) or a different message
not committed yet (lost if the worker dies next). The worker's receiving process talks
to mosquitto here through a tap that forwards every byte unchanged, reads the packets
going each way, and cuts the connection while the worker holds received, uncommitted
batches.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest

from tests.integration.harness import count, mosquitto_pub, wait_for
from tests.integration.harness import telemetry as _telemetry

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

PUBLISH, PUBACK = 3, 4


@dataclass
class Connection:
    number: int
    client: socket.socket
    broker: socket.socket
    delivered: int = 0  # QoS 1 PUBLISH packets the broker sent on it
    outstanding: dict[int, bytes] = field(default_factory=dict)  # packet id -> payload
    acked: set[int] = field(default_factory=set)
    outstanding_at_cut: dict[int, bytes] = field(default_factory=dict)
    payloads: dict[int, set[bytes]] = field(default_factory=dict)  # every one, per id


def packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the whole MQTT packets (first byte, body) off the front of `buffer`."""
    taken = []
    while len(buffer) >= 2:
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(buffer):
                return taken
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(buffer) < index + length:
            return taken
        taken.append((buffer[0], bytes(buffer[index : index + length])))
        del buffer[: index + length]
    return taken


class MqttTap:
    """A TCP relay between one MQTT client and the broker that checks, per connection,
    that every PUBACK the client sends acknowledges a message the broker delivered on
    that same connection and that was not acknowledged yet."""

    def __init__(self, broker: tuple[str, int]) -> None:
        self.broker = broker
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections: list[Connection] = []
        self.violations: list[str] = []
        self.events: list[str] = []  # connections opened and closed, for failure messages
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            broker = socket.create_connection(self.broker)
            with self.lock:
                conn = Connection(len(self.connections) + 1, client, broker)
                self.connections.append(conn)
                self.events.append(f"connection {conn.number} opened")
            threading.Thread(
                target=self._relay, args=(conn, broker, client, True), daemon=True
            ).start()
            threading.Thread(
                target=self._relay, args=(conn, client, broker, False), daemon=True
            ).start()

    def _relay(
        self, conn: Connection, source: socket.socket, sink: socket.socket, down: bool
    ) -> None:
        buffer = bytearray()
        try:
            while data := source.recv(65536):
                buffer += data
                for first, body in packets(buffer):
                    self._inspect(conn, first, body, down)
                sink.sendall(data)
        except OSError as error:
            self.events.append(f"connection {conn.number}, {'down' if down else 'up'}: {error}")
        self.events.append(f"connection {conn.number} closed ({'broker' if down else 'client'})")
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _inspect(self, conn: Connection, first: int, body: bytes, down: bool) -> None:
        kind, qos = first >> 4, (first >> 1) & 3
        with self.lock:
            if down and kind == PUBLISH and qos == 1:
                topic_end = 2 + int.from_bytes(body[:2])
                packet_id = int.from_bytes(body[topic_end : topic_end + 2])
                conn.delivered += 1
                conn.outstanding[packet_id] = body[topic_end + 2 :]
                conn.payloads.setdefault(packet_id, set()).add(body[topic_end + 2 :])
                conn.acked.discard(packet_id)
            elif not down and kind == PUBACK:
                self._check_ack(conn, int.from_bytes(body[:2]))

    def _check_ack(self, conn: Connection, packet_id: int) -> None:
        if conn.outstanding.pop(packet_id, None) is not None:
            conn.acked.add(packet_id)
            return
        earlier = [c.number for c in self.connections if packet_id in c.outstanding_at_cut]
        why = (
            "acknowledged once already on this connection"
            if packet_id in conn.acked
            else "never delivered on this connection"
        )
        self.violations.append(
            f"PUBACK {packet_id} on connection {conn.number}: {why}"
            f" (outstanding on connection(s) {earlier} when they were cut)"
        )

    def current(self) -> Connection | None:
        with self.lock:
            return self.connections[-1] if self.connections else None

    def cut(self) -> Connection:
        """Drop the current connection, both ways, as a network failure would."""
        with self.lock:
            conn = self.connections[-1]
            conn.outstanding_at_cut = dict(conn.outstanding)
        for sock in (conn.client, conn.broker):
            with contextlib.suppress(OSError):  # already closed from its side
                sock.shutdown(socket.SHUT_RDWR)
        return conn

    def reused_ids(self, old: Connection, new: Connection) -> int:
        """Packet ids outstanding on `old` at its cut that `new` carried with a different
        payload: the broker numbering new messages with ids the worker still holds."""
        with self.lock:
            return sum(
                1
                for packet_id, payload in old.outstanding_at_cut.items()
                if new.payloads.get(packet_id, {payload}) - {payload}
            )

    def close(self) -> None:
        self.listener.close()


def _publish(settings, creds, per_device: int, offset: int) -> None:
    threads = [
        threading.Thread(
            target=mosquitto_pub,
            args=(settings, c.username, c.password, c.topic, _telemetry(per_device, offset)),
        )
        for c in creds
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_acks_of_a_cut_connection_never_go_out_on_the_next(
    settings, db, routes, devices, workers, monkeypatch
):
    creds = devices(5)
    worker_id = f"ack-{uuid.uuid4().hex[:6]}"
    # The session exists (and queues for the worker) once the worker has run once.
    assert workers(routes, worker_id, "mqtt").stop() == 0
    # 5,000 queued: fewer than the worker takes in before it stops reading (three batches
    # of 2,000), so its receiving process is idle, not blocked on a full pipe, when the
    # connection is cut, and reconnects at once.
    _publish(settings, creds, per_device=1000, offset=0)
    tap = MqttTap((settings.mqtt_host, settings.mqtt_port))
    monkeypatch.setenv("IOC_MQTT_PORT", str(tap.port))  # read by the worker at start
    try:
        # Hold the worker's first commit on a table lock: it then holds every message it
        # received, uncommitted and unacknowledged, when its connection is cut.
        with psycopg.connect(settings.dsn()) as holder:
            holder.execute("LOCK TABLE measurements IN SHARE MODE")
            workers(routes, worker_id, "mqtt")
            first = tap.current()
            assert first is not None
            assert wait_for(lambda: first.delivered >= 5_000, timeout=60), first.delivered
            assert not first.acked, "a commit went through the lock; the test proves nothing"
            assert tap.current() is first, tap.events
            tap.cut()
            # The receiving process reconnects by itself; the broker re-sends the session's
            # unacknowledged messages on the new connection.
            assert wait_for(lambda: tap.current() is not first, timeout=30)
            second = tap.current()
            assert wait_for(lambda: second.delivered >= 5_000, timeout=60), second.delivered
            holder.rollback()
        # New messages after the reconnect: the broker numbers them on the new session.
        _publish(settings, creds, per_device=1000, offset=1000)
        assert wait_for(lambda: count(db, "measurements") >= 20_000, timeout=180)
        wait_for(lambda: False, timeout=3)  # let the last acknowledgements go out
        print(
            f"connection {first.number}: {first.delivered} delivered,"
            f" {len(first.outstanding_at_cut)} outstanding at the cut, ids"
            f" {min(first.payloads)}-{max(first.payloads)}; connection {second.number}:"
            f" {second.delivered} delivered, ids {min(second.payloads)}-{max(second.payloads)};"
            f" ids of the cut connection the"
            f" next one reused for other messages: {tap.reused_ids(first, second)}"
        )
        assert tap.violations == [], (
            f"{len(tap.violations)} PUBACKs outside their connection; first ones:"
            f" {tap.violations[:5]}"
        )
        assert count(db, "measurements") == 20_000  # 10,000 messages x 2 metrics
        assert count(db, "dead_letters") == 0
    finally:
        tap.close()
