"""BulkReceiveClient: paho's protocol handling over a buffered socket, checked against
raw MQTT bytes on a real socket pair (mosquitto itself is in the integration tests)."""

from __future__ import annotations

import socket
import struct

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.transports.mqtt_client import READ_CHUNK, BufferedSocket, BulkReceiveClient


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """MQTT 3.1.1 PUBLISH, QoS 1."""
    name = topic.encode()
    body = struct.pack("!H", len(name)) + name + struct.pack("!H", mid) + payload
    return bytes([0x32]) + remaining_length(len(body)) + body


class Harness:
    """A connected BulkReceiveClient whose socket's far end the test writes to."""

    def __init__(self) -> None:
        self.client = BulkReceiveClient(
            CallbackAPIVersion.VERSION2, client_id="t", protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )  # fmt: skip
        self.received: list[tuple[str, bytes, int]] = []
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload, m.mid))
        ours, self.broker = socket.socketpair()
        ours.setblocking(False)
        self.client._sock = BufferedSocket(ours)  # what _create_socket returns on connect
        self.client._state = mqtt._ConnectionState.MQTT_CS_CONNECTED

    def feed(self, data: bytes) -> None:
        self.broker.sendall(data)

    def read_all(self) -> None:
        for _ in range(10_000):
            before = len(self.received)
            self.client.loop_read()
            if len(self.received) == before and not self.client._sock.pending():
                return

    def close(self) -> None:
        self.client._sock.close()
        self.broker.close()


@pytest.fixture
def harness() -> Harness:
    h = Harness()
    yield h
    h.close()


def test_many_packets_from_one_read_all_arrive_in_order(harness: Harness) -> None:
    messages = [(f"ioc/v1/d{i}/telemetry", f'{{"n":{i}}}'.encode(), i + 1) for i in range(500)]
    harness.feed(b"".join(publish_packet(t, p, m) for t, p, m in messages))
    harness.read_all()
    assert harness.received == messages


def test_a_packet_larger_than_the_read_buffer_is_reassembled(harness: Harness) -> None:
    big = bytes(range(256)) * (3 * READ_CHUNK // 256)
    harness.feed(
        publish_packet("a", b"x", 1) + publish_packet("b", big, 2) + publish_packet("c", b"y", 3)
    )
    harness.read_all()
    assert harness.received == [("a", b"x", 1), ("b", big, 2), ("c", b"y", 3)]


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30))
def test_packets_split_anywhere_across_reads_arrive_whole(cuts: list[int]) -> None:
    h = Harness()
    try:
        messages = [(f"t/{i}", bytes([i]) * (i * 7 % 90), i + 1) for i in range(40)]
        stream = b"".join(publish_packet(t, p, m) for t, p, m in messages)
        position = 0
        for cut in cuts:  # deliver the stream in pieces of these sizes, reading in between
            h.feed(stream[position : position + cut])
            position += cut
            h.read_all()
        h.feed(stream[position:])
        h.read_all()
        assert h.received == messages
    finally:
        h.close()


def test_ack_many_writes_one_puback_per_message_id(harness: Harness) -> None:
    harness.client.ack_many([1, 2, 65535])
    harness.client.loop_write()
    harness.broker.settimeout(2)
    assert harness.broker.recv(64) == bytes.fromhex("40020001400200024002ffff")


def test_a_closed_connection_is_reported_as_lost(harness: Harness) -> None:
    harness.feed(publish_packet("a", b"x", 1))
    harness.broker.close()
    assert harness.client.loop_read() == mqtt.MQTT_ERR_SUCCESS  # the packet in the buffer
    assert harness.received == [("a", b"x", 1)]
    assert harness.client._packet_read() == mqtt.MQTT_ERR_CONN_LOST
