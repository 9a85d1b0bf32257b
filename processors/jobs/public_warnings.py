"""The `public-warnings` job: alert changes → public CAP messages (Alert, Update, Cancel),
signed and stored in the job's transaction (processors/alerts/public/issuer.py).

Runs every few seconds under its own advisory lock, so with several alert services one
issues each message. The policy is read when the alert service builds its jobs (at start
and on `ioc rules reload`); the signing key on the first run (generated if there is none).
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from config.settings import Settings
from processors.alerts.public import issuer, signing
from processors.alerts.public.policy import load_policy

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0


class PublicWarningsJob:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = settings.cap_sender
        self.rules = load_policy()
        self.key: signing.SigningKey | None = None

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        # Loaded on the first run, not at start: a missing or unreadable key is this
        # job's failure (logged each run), not the alert service's.
        self.key = self.key or issuer.signing_key(self.settings)
        issued = issuer.issue_from_alerts(
            conn, now, sender=self.sender, key=self.key, rules=self.rules
        )
        for item in issued:
            log.info(
                "public warning %s %s (incident %s)",
                item.message.msg_type,
                item.message.identifier,
                item.message.incident,
            )
        return len(issued)
