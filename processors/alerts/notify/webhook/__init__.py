"""Webhook channel: a signed JSON POST per group (see signature.py for receivers)."""

from processors.alerts.notify.webhook.notifier import WebhookNotifier
from processors.alerts.notify.webhook.signature import sign, verify_signature

NOTIFIER = WebhookNotifier

__all__ = ["NOTIFIER", "sign", "verify_signature"]
