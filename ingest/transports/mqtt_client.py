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
- `ack_many` queues the PUBACKs of a whole committed batch as one write.

Written by hand because no maintained library does this: paho has no buffered reader
or batch acknowledgement, and the design card names paho. It touches paho internals
(`_create_socket`, `_packet_read`, `_packet_queue`, `_loop_rc_handle`), which is why
pyproject.toml pins paho-mqtt below 3; tests/unit/test_mqtt_client.py checks the
framing against a real socket pair, and the integration tests run it against
mosquitto.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK = 64 * 1024
# Return to select() now and then even while the buffer still holds packets, so that
# PUBACKs waiting to go out and the keep-alive are not starved by a long backlog.
MAX_PACKETS_PER_READ = 1000
PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")


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

    def pending(self) -> int:
        waiting = len(self._buffer) - self._position
        inner = getattr(self._sock, "pending", None)  # a TLS socket's own buffer
        return waiting + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BulkReceiveClient(mqtt.Client):
    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(MAX_PACKETS_PER_READ):
            sock = self._sock
            if sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN or not sock.pending():
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Iterable[int]) -> None:
        """PUBACK every message id in `mids` with one queued write (QoS 1 only)."""
        packet = b"".join(_PUBACK_PACKET.pack(PUBACK, 2, mid) for mid in mids)
        if packet:
            self._packet_queue(PUBACK, packet, 0, 0)
