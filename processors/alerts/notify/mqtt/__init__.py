"""MQTT channel: one QoS 1 message per alert on ioc/v1/alerts/<domain>."""

from processors.alerts.notify.mqtt.notifier import MqttNotifier

NOTIFIER = MqttNotifier

__all__ = ["NOTIFIER"]
