"""E-mail channel: one UTF-8 mail per group, Vietnamese first (see render.py)."""

from processors.alerts.notify.email.notifier import EmailNotifier

NOTIFIER = EmailNotifier

__all__ = ["NOTIFIER"]
