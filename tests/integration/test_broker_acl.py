"""Acceptance 4: a device may publish only under its own topic."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from config.secrets import MQTT_ADMIN_USER, load_secrets

pytestmark = pytest.mark.integration


def _client(settings, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"acl-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(username, password)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    assert connected.wait(10), f"{username} could not connect"
    return client


def _publish_result(client: mqtt.Client, topic: str) -> int:
    """The PUBACK reason code: MQTT v5 brokers say 135 (not authorized) when the ACL denies."""
    codes: list[int] = []
    done = threading.Event()

    def on_publish(c, userdata, mid, reason_code, properties):
        codes.append(reason_code.value)
        done.set()

    client.on_publish = on_publish
    client.publish(topic, b'{"ts": 1764000000, "pm25": 1}', qos=1)
    assert done.wait(10), "no PUBACK"
    return codes[0]


def test_device_cannot_publish_under_another_devices_topic(settings, devices):
    alice, bob = devices(2)
    admin = _client(settings, MQTT_ADMIN_USER, load_secrets(settings).mqtt_admin_password)
    seen: list[str] = []
    admin.on_message = lambda c, u, msg: seen.append(msg.topic)
    admin.subscribe("ioc/v1/#", qos=1)
    time.sleep(0.5)

    client = _client(settings, alice.username, alice.password)
    assert _publish_result(client, bob.topic) == 135  # refused: not authorized
    assert _publish_result(client, alice.topic) == 0  # own topic accepted
    time.sleep(1)
    assert alice.topic in seen
    assert bob.topic not in seen, "the broker delivered a message published under a foreign topic"
    client.disconnect()
    admin.disconnect()


def test_wrong_password_is_refused(settings, devices):
    (device,) = devices(1)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set(device.username, device.password + "x")
    codes: list[int] = []
    done = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: (codes.append(rc.value), done.set())
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    assert done.wait(10)
    client.loop_stop()
    assert codes[0] in (134, 135)  # bad user name or password / not authorized
