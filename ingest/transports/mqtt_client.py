"""paho's MQTT client, tuned for one job: receiving a steady stream of QoS 1 messages.

Stock paho reads a packet with three `recv` calls (command byte, length bytes, body),
goes back to `select` after every packet, and sends each PUBACK with its own `send`
plus a wake-up byte to its loop thread. At ten thousand messages a second those system
calls are most of its cost. This subclass keeps paho's protocol handling and changes
only how bytes move:

- reads go through a 64 KiB user-space buffer (`BufferedSocket`), so one `recv`
  serves many packets;
- `loop_read` handles every packet already in that buffer before returning to
  `select`;
- `ack_many` queues the PUBACKs of a whole committed batch as one write;
- with `on_publish_fast` set, a QoS 1 PUBLISH that lies whole in the buffer is parsed
  right there (fixed header, topic, packet id, payload: MQTT 3.1.1 section 3.3) and
  handed over as plain values, without paho's per-message objects, locks and logging
  calls (10 µs of paho code per message, measured). Everything else, including any
  packet split across reads, takes paho's own path.

Written by hand because no maintained library does this: paho has no buffered reader
or batch acknowledgement, and the design card names paho. What it buys, measured against
paho's public API in the same run: docs/performance.md, "MQTT receive: fast path or
paho's public API" (bench/mqtt_receive.py).

It touches nine private parts of paho (`_create_socket`, `_packet_read`,
`_loop_rc_handle`, `_packet_queue`, `_sock`, `_in_packet`, `_msgtime_mutex`,
`_last_bytes_received`, and `_on_message_filtered` in mqtt_receiver.py), which is why
pyproject.toml pins paho-mqtt to the minor version it was tested against and
tests/unit/test_mqtt_client.py fails on any other, and checks each of them exists. The
fast path parses MQTT 3.1.1 only: the client refuses MQTT 5 (whose PUBLISH carries
properties after the packet id). A QoS 1 PUBLISH with packet id 0 or a remaining length
longer than four bytes is a protocol violation: the connection is closed (MQTT 3.1.1
section 4.8), paho reconnects and the broker re-sends what was not acknowledged.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
# Return to select() now and then even while the buffer still holds packets, so that
# PUBACKs waiting to go out and the keep-alive are not starved by a long backlog.
MAX_PACKETS_PER_READ = 1000
PUBACK = 0x40
# PUBLISH with QoS 1, after masking out DUP (0x08) and RETAIN (0x01).
_PUBLISH_QOS1 = 0x32
_PUBACK_PACKET = struct.Struct("!BBH")


class ProtocolViolation(Exception):
    """The broker sent a packet MQTT 3.1.1 forbids."""


class BufferedSocket:
    """A socket whose `recv` is served from a buffer filled `READ_CHUNK` bytes at a time.

    `pending()` tells paho's loop that buffered bytes are waiting (it is the hook paho
    uses for TLS sockets, which buffer too), so it does not block in `select` while
    packets sit in the buffer. Everything else is passed to the real socket.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        if self._position >= len(self._buffer):
            data = self._sock.recv(max(size, READ_CHUNK))  # BlockingIOError passes up
            if len(data) <= size:
                return data
            self._buffer, self._position = data, 0
        end = self._position + size
        chunk = self._buffer[self._position : end]
        self._position = min(end, len(self._buffer))
        return chunk

    def take_publish(self) -> tuple[bytes, int, bytes] | None:
        """The next packet, if it is a QoS 1 PUBLISH lying whole in the buffer:
        (topic bytes, packet id, payload). Otherwise None, and nothing is consumed.
        Raises ProtocolViolation for a remaining length over four bytes or packet id 0."""
        if self._position >= len(self._buffer) and not self._fill():
            return None
        buffer, start = self._buffer, self._position
        end = len(buffer)
        if end - start < 5 or buffer[start] & 0xF6 != _PUBLISH_QOS1:
            return None
        # Remaining length: 1 to 4 bytes, 7 bits each, least significant first.
        length, shift, index = 0, 0, start + 1
        while True:
            if index - start > 4:
                raise ProtocolViolation("remaining length longer than four bytes")
            if index >= end:
                return None
            byte = buffer[index]
            length |= (byte & 0x7F) << shift
            index += 1
            if not byte & 0x80:
                break
            shift += 7
        if index + length > end or length < 4:
            return None
        topic_length = (buffer[index] << 8) | buffer[index + 1]
        topic_end = index + 2 + topic_length
        if topic_length == 0 or topic_end + 2 > index + length:
            return None  # malformed: paho's path reports it
        packet_id = (buffer[topic_end] << 8) | buffer[topic_end + 1]
        if packet_id == 0:
            raise ProtocolViolation("QoS 1 PUBLISH with packet id 0")
        self._position = index + length
        return (
            buffer[index + 2 : topic_end],
            packet_id,
            buffer[topic_end + 2 : index + length],
        )

    def _fill(self) -> bool:
        try:
            data = self._sock.recv(READ_CHUNK)
        except OSError:  # nothing to read now, or an error paho's own read will report
            return False
        if not data:
            return False  # closed; the next recv says so again, to paho
        self._buffer, self._position = data, 0
        return True

    def pending(self) -> int:
        waiting = len(self._buffer) - self._position
        inner = getattr(self._sock, "pending", None)  # a TLS socket's own buffer
        return waiting + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BulkReceiveClient(mqtt.Client):
    # Called as on_publish_fast(topic, payload, packet_id) for QoS 1 PUBLISH packets
    # taken by the fast path; None leaves every packet to paho (and on_message).
    on_publish_fast: Callable[[str, bytes, int], None] | None = None

    def __init__(self, callback_api_version: CallbackAPIVersion, **options: Any) -> None:
        # Keyword options only, so the protocol cannot slip in positionally unchecked;
        # checked after paho's set-up, which its __del__ expects to have run.
        super().__init__(callback_api_version, **options)
        if options.get("protocol", MQTTProtocolVersion.MQTTv311) == MQTTProtocolVersion.MQTTv5:
            raise ValueError("BulkReceiveClient parses MQTT 3.1.1 packets only, not MQTT 5")

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(MAX_PACKETS_PER_READ):
            sock = self._sock
            if sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            try:
                if self._take_fast(sock):
                    continue
            except ProtocolViolation as error:
                log.error("MQTT protocol violation from the broker (%s); reconnecting", error)
                return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN or not sock.pending():
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _take_fast(self, sock: Any) -> bool:
        """Handle the next packet on the fast path if it qualifies; True if it did."""
        deliver = self.on_publish_fast
        if deliver is None or self._in_packet["command"] != 0:
            return False  # paho is in the middle of a packet: let it finish
        taken = sock.take_publish()
        if taken is None:
            return False
        topic, packet_id, payload = taken
        try:
            name = topic.decode("utf-8")
        except UnicodeDecodeError:
            name = topic.decode("utf-8", "replace")  # brokers refuse such topics anyway
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        deliver(name, payload, packet_id)
        return True

    def ack_many(self, mids: Iterable[int]) -> None:
        """PUBACK every message id in `mids` with one queued write (QoS 1 only)."""
        packet = b"".join(_PUBACK_PACKET.pack(PUBACK, 2, mid) for mid in mids)
        if packet:
            self._packet_queue(PUBACK, packet, 0, 0)
