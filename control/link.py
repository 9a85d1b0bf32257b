"""The command service's MQTT connection: publishes commands, receives acknowledgements.

MQTT 5, for two reasons: a command carries a Message Expiry Interval, so the broker
drops it from an offline device's queue once it has expired instead of delivering it
late (mosquitto 2.0.11 honours it; tests/integration/test_device_commands.py checks),
and a refused publish comes back as a PUBACK reason code instead of looking delivered.

The session is persistent (fixed client id, clean_start False, a session expiry): an
acknowledgement a device sends while the service is down waits at the broker. Incoming
acknowledgements are acknowledged to the broker (manual_ack) only after the database
commit, by `ack()`, so one in flight at a crash is delivered again.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from control.messages import ACK_FILTER

log = logging.getLogger(__name__)

CLIENT_ID = "ioc-commands"
SESSION_EXPIRY_S = 14 * 86400  # as mosquitto's persistent_client_expiration
MAX_WAITING_ACKS = 10_000  # paho's thread blocks past this; the broker holds the rest


@dataclass(frozen=True)
class Published:
    taken: bool  # the broker acknowledged it (PUBACK reason below 0x80)
    reason: str  # the PUBACK's reason, e.g. "No matching subscribers"


NOT_TAKEN = Published(False, "no PUBACK in time")


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


class CommandLink:
    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self._host, self._port = host, port
        self.incoming: queue.Queue[Incoming] = queue.Queue(MAX_WAITING_ACKS)
        self._cond = threading.Condition()
        self._published: dict[int, Published] = {}
        self._connected = False
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=CLIENT_ID,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self._host, self._port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    def publish(self, batch: list[tuple[str, bytes, int]], timeout: float) -> list[Published]:
        """Publish (topic, payload, message expiry interval in s) at QoS 1 and wait up
        to `timeout` for the broker's PUBACKs."""
        with self._cond:
            self._published.clear()  # left over from a batch that timed out
        mids = []
        for topic, payload, expires_in in batch:
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = max(1, expires_in)
            info = self._client.publish(topic, payload, qos=1, properties=properties)
            mids.append(info.mid if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None)
        with self._cond:
            self._cond.wait_for(
                lambda: all(m is None or m in self._published for m in mids), timeout
            )
            outcome = [self._published.get(m, NOT_TAKEN) if m else NOT_TAKEN for m in mids]
        for published in outcome:
            if not published.taken:
                log.warning("command not taken by the broker: %s", published.reason)
        return outcome

    def ack(self, message: Incoming) -> None:
        self._client.ack(message.mid, message.qos)

    # --- paho callbacks (its network thread) -------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        if reason_code.is_failure:
            log.warning("command link: connection refused: %s", reason_code)
            return
        # The session keeps the subscription; subscribing again is harmless and covers a
        # session the broker forgot.
        client.subscribe(ACK_FILTER, qos=1)
        with self._cond:
            self._connected = True
            self._cond.notify_all()
        log.info("command link connected (session present: %s)", flags.session_present)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: Any, properties: Any) -> None:  # fmt: skip
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int,
                    reason_code: Any, properties: Any) -> None:  # fmt: skip
        with self._cond:
            self._published[mid] = Published(not reason_code.is_failure, str(reason_code))
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.incoming.put(Incoming(message.topic, bytes(message.payload), message.mid, message.qos))
