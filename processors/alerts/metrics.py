"""Prometheus metrics of notification delivery.

Labelled by channel name only: names come from channels.yaml, so the series are few.
"""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS_SENT = Counter(
    "ioc_alert_notifications_sent", "Notifications a channel accepted", ["channel"]
)
NOTIFICATIONS_RETRIED = Counter(
    "ioc_alert_notifications_retried", "Failed deliveries scheduled for another try", ["channel"]
)
NOTIFICATIONS_FAILED = Counter(
    "ioc_alert_notifications_failed", "Notifications given up (marked failed)", ["channel"]
)
