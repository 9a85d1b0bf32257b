"""Kafka channel: one record per alert on ioc.alerts, keyed by fingerprint."""

from processors.alerts.notify.kafka.notifier import KafkaNotifier

NOTIFIER = KafkaNotifier

__all__ = ["NOTIFIER"]
