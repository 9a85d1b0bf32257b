"""BulkReceiveClient: paho's protocol handling over a buffered socket, checked against
raw MQTT bytes on a real socket pair (mosquitto itself is in the integration tests)."""

from __future__ import annotations

import socket
import struct
import tomllib
from importlib.metadata import version
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.transports.mqtt_client import READ_CHUNK, BufferedSocket, BulkReceiveClient

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(
    topic: str, payload: bytes, mid: int, qos: int = 1, dup: bool = False, retain: bool = False
) -> bytes:
    """MQTT 3.1.1 PUBLISH."""
    name = topic.encode()
    body = struct.pack("!H", len(name)) + name + (struct.pack("!H", mid) if qos else b"") + payload
    first = 0x30 | qos << 1 | (0x08 if dup else 0) | (0x01 if retain else 0)
    return bytes([first]) + remaining_length(len(body)) + body


class Harness:
    """A connected BulkReceiveClient whose socket's far end the test writes to."""

    def __init__(self, fast: bool) -> None:
        self.client = BulkReceiveClient(
            CallbackAPIVersion.VERSION2, client_id="t", protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )  # fmt: skip
        self.received: list[tuple[str, bytes, int]] = []
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload, m.mid))
        self.fast_path: list[int] = []  # ids the fast path handled
        if fast:
            self.client.on_publish_fast = self._fast
        ours, self.broker = socket.socketpair()
        ours.setblocking(False)
        self.client._sock = BufferedSocket(ours)  # what _create_socket returns on connect
        self.client._state = mqtt._ConnectionState.MQTT_CS_CONNECTED

    def _fast(self, topic: str, payload: bytes, mid: int) -> None:
        self.received.append((topic, payload, mid))
        self.fast_path.append(mid)

    def feed(self, data: bytes) -> None:
        self.broker.sendall(data)

    def read_all(self) -> None:
        for _ in range(10_000):
            before = len(self.received)
            self.client.loop_read()
            if len(self.received) == before and not self.client._sock.pending():
                return

    def close(self) -> None:
        if self.client._sock is not None:  # paho drops it when the connection is lost
            self.client._sock.close()
        self.broker.close()


@pytest.fixture(params=[False, True], ids=["paho-path", "fast-path"])
def harness(request: pytest.FixtureRequest) -> Harness:
    h = Harness(fast=request.param)
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


@settings(max_examples=80, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30),
    fast=st.booleans(),
)
def test_packets_split_anywhere_across_reads_arrive_whole(cuts: list[int], fast: bool) -> None:
    h = Harness(fast)
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


def test_the_fast_path_takes_whole_qos1_publishes_and_leaves_the_rest_to_paho() -> None:
    h = Harness(fast=True)
    try:
        h.feed(
            publish_packet("a/b", b"1", 7, dup=True)
            + publish_packet("c", b"2", 0, qos=0)  # QoS 0: paho's path
            + publish_packet("d", b"3", 9, retain=True)
            + publish_packet("e/\u00e9", "ví dụ".encode(), 10)
        )
        h.read_all()
        assert h.received == [
            ("a/b", b"1", 7), ("c", b"2", 0), ("d", b"3", 9), ("e/\u00e9", "ví dụ".encode(), 10)
        ]  # fmt: skip
        assert h.fast_path == [7, 9, 10]
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
    results = [harness.client.loop_read() for _ in range(3)]
    assert harness.received == [("a", b"x", 1)]  # the packet before the close arrives
    assert mqtt.MQTT_ERR_CONN_LOST in results


# -- what the fast path refuses, and what it depends on --------------------------------
def test_a_qos1_publish_with_packet_id_0_closes_the_connection_undelivered() -> None:
    h = Harness(fast=True)
    try:
        h.feed(publish_packet("a", b"ok", 5) + publish_packet("b", b"bad", 0))
        results = [h.client.loop_read() for _ in range(2)]
        assert h.received == [("a", b"ok", 5)]  # the packet before it, nothing after
        assert mqtt.MQTT_ERR_PROTOCOL in results
        assert h.client._sock is None  # closed; paho reconnects and the broker re-sends
    finally:
        h.close()


@pytest.mark.parametrize(
    "length_bytes",
    [
        bytes([0x80, 0x80, 0x80, 0x80, 0x01]),  # five bytes: MQTT allows four
        bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
        bytes([0x80, 0x80, 0x80, 0x80]),  # the fourth byte says "more follows"
    ],
)
def test_a_remaining_length_over_four_bytes_closes_the_connection(
    harness: Harness, length_bytes: bytes
) -> None:
    harness.feed(publish_packet("a", b"ok", 1) + bytes([0x32]) + length_bytes + b"\0" * 64)
    results = [harness.client.loop_read() for _ in range(3)]
    assert harness.received == [("a", b"ok", 1)]
    assert mqtt.MQTT_ERR_PROTOCOL in results
    assert harness.client._sock is None


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=64))
def test_any_bytes_after_a_publish_never_raise_out_of_the_read_loop(garbage: bytes) -> None:
    """Whatever follows (truncated or malformed packets of any kind), loop_read returns a
    paho result code: an exception here would kill the receiving thread."""
    h = Harness(fast=True)
    try:
        h.feed(publish_packet("a", b"ok", 1) + garbage)
        for _ in range(4):
            if h.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                break
        assert h.received[0] == ("a", b"ok", 1)
    finally:
        h.close()


def test_the_client_refuses_mqtt_5() -> None:
    with pytest.raises(ValueError, match=r"MQTT 3\.1\.1 packets only"):
        BulkReceiveClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)


def test_paho_is_the_minor_version_the_fast_path_was_tested_against() -> None:
    """The fast path reads paho internals; pyproject.toml pins this minor version. Moving
    the pin means re-running this file, the MQTT integration tests and
    bench/mqtt_receive.py, then changing the version here."""
    assert version("paho-mqtt").split(".")[:2] == ["2", "2"]
    pin = next(d for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
               if d.startswith("paho-mqtt"))  # fmt: skip
    assert pin == "paho-mqtt>=2.2,<2.3"


def test_the_private_parts_of_paho_the_fast_path_uses_exist() -> None:
    client = BulkReceiveClient(CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    for method in ("_create_socket", "_packet_read", "_loop_rc_handle", "_packet_queue"):
        assert callable(getattr(mqtt.Client, method)), method
    for attribute in ("_sock", "_in_packet", "_msgtime_mutex", "_last_bytes_received",
                      "_on_message_filtered"):  # fmt: skip
        assert hasattr(client, attribute), attribute
    assert "command" in client._in_packet
    assert hasattr(client._on_message_filtered, "iter_match")
