"""Publish each alert of a group to `ioc/v1/alerts/<domain>` at QoS 1.

MQTT v5, not 3.1.1: mosquitto acknowledges a publish its ACL refuses with a silent
PUBACK under 3.1.1, but with reason code "Not authorized" under v5. Only v5 lets a
refused publish count as a failure instead of a delivery. send() returns after every
PUBACK arrived with a success code.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, ClassVar

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import Field, field_validator

from config.secret_ref import SecretMissing, SecretRef
from config.secrets import MQTT_INGEST_USER
from events.alerts import Domain
from processors.alerts.notify.base import DeliveryError, Notification, NotifierConfig, Payload

if TYPE_CHECKING:
    from config.settings import Settings

# PUBACK reason codes that are configuration, not weather: not authorized (the ACL),
# topic name invalid, payload format invalid. Retrying cannot help.
_PERMANENT = frozenset({0x87, 0x90, 0x99})


class MqttConfig(NotifierConfig):
    host: str | None = None  # default: the process settings' mqtt_host
    port: int | None = Field(default=None, gt=0, lt=65536)
    username: str = MQTT_INGEST_USER
    # Default: the ioc-ingest account's service secret, for that account only.
    password: SecretRef | None = None
    topic_prefix: str = "ioc/v1/alerts"
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("topic_prefix")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if not value or any(c in value for c in "+#\0") or value.endswith("/"):
            raise ValueError("a topic without wildcards or a trailing '/'")
        return value


def resolve_password(config: MqttConfig, app: Settings) -> str:
    if config.password is not None:
        return config.password.resolve(app)
    if config.username == MQTT_INGEST_USER:
        return SecretRef(setting="mqtt_ingest_password").resolve(app)
    raise SecretMissing(f"MQTT password for {config.username!r} missing: set password")


def topic_for(prefix: str, alert: Payload) -> str:
    # Domain() refuses anything but the known domains, so no payload can pick its topic.
    return f"{prefix}/{Domain(alert['domain']).value}"


def _properties(payload: Payload) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = "application/json"
    properties.UserProperty = [("notification_id", str(payload["notification_id"]))]
    return properties


class MqttNotifier:
    kind: ClassVar[str] = "mqtt"
    Config: ClassVar[type[NotifierConfig]] = MqttConfig

    def __init__(self, name: str, config: MqttConfig, app: Settings) -> None:
        self.name = name
        self._config = config
        self._host = config.host or app.mqtt_host
        self._port = config.port or app.mqtt_port
        self._timeout = config.timeout_seconds
        self._connected = threading.Event()
        self._refused: str | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._client = self._make_client(name, resolve_password(config, app))
        self._started = False

    def _make_client(self, name: str, password: str) -> mqtt.Client:
        # A unique client id: two dispatchers with the same id would take turns kicking
        # each other off the broker.
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"ioc-notify-{name}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(self._config.username, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        return client

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason_code: ReasonCode, properties: object) -> None:  # fmt: skip
        if reason_code.is_failure:
            self._refused = str(reason_code)
            return
        self._refused = None
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason_code: object, properties: object) -> None:  # fmt: skip
        self._connected.clear()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int,
                    reason_code: ReasonCode, properties: object) -> None:  # fmt: skip
        self._acks[mid] = reason_code

    def _ensure_connected(self) -> None:
        if not self._started:
            try:
                self._client.connect(self._host, self._port, keepalive=30)
            except OSError as error:
                raise DeliveryError(
                    f"MQTT {self._host}:{self._port}: {error}", retryable=True
                ) from error
            self._client.loop_start()
            self._started = True
        if not self._connected.wait(self._timeout):
            reason = self._refused or "no CONNACK"
            raise DeliveryError(f"MQTT {self._host}:{self._port}: {reason}", retryable=True)

    def send(self, notification: Notification) -> None:
        try:
            topics = [topic_for(self._config.topic_prefix, a) for a in notification.alerts]
        except (KeyError, ValueError) as error:
            raise DeliveryError(
                f"alert without a known domain: {error}", retryable=False
            ) from error
        self._ensure_connected()
        self._acks.clear()
        infos = [
            self._client.publish(topic, orjson.dumps(p), qos=1, properties=_properties(p))
            for topic, p in zip(topics, notification.payloads, strict=True)
        ]
        deadline = time.monotonic() + self._timeout
        for topic, info in zip(topics, infos, strict=True):
            self._await_puback(topic, info, deadline)

    def _await_puback(self, topic: str, info: mqtt.MQTTMessageInfo, deadline: float) -> None:
        try:
            info.wait_for_publish(max(deadline - time.monotonic(), 0.0))
        except (RuntimeError, ValueError) as error:
            raise DeliveryError(f"MQTT publish to {topic}: {error}", retryable=True) from error
        if not info.is_published():
            raise DeliveryError(f"MQTT publish to {topic}: no PUBACK in time", retryable=True)
        code = self._acks.pop(info.mid, None)
        if code is not None and code.is_failure:
            retryable = code.value not in _PERMANENT
            raise DeliveryError(f"MQTT publish to {topic} refused: {code}", retryable=retryable)

    def close(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False
