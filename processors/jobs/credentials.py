"""The end of a rotation's grace period: the old MQTT login must leave the broker.

A secret stops being live when its `expires_at` passes (every query checks), but the
broker only knows its password file, so something has to rewrite that file and reload
the broker then. This job notices grace periods that ended since its last run and
re-syncs (at start it syncs once: ends it may have missed while nobody ran it).
The broker is reached as `ioc devices` reaches it (ingest.provisioning.sync_broker):
locally by SIGHUP to the stack's mosquitto; under docker-compose the alert service has
no access to the broker's container, see docs/integrators.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import psycopg

from config.settings import Settings
from ingest.provisioning import sync_broker
from store.device_credentials import grace_ends_since

log = logging.getLogger(__name__)

# How often the alert service looks: a grace period ends at most this late at the broker.
CHECK_SECONDS = 15.0


class CredentialExpiryJob:
    def __init__(self, settings: Settings, sync: Callable[[], object] | None = None) -> None:
        self.sync = sync or (lambda: sync_broker(settings))
        self.checked_until: datetime | None = None
        self.started = False

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        db_now, ended = grace_ends_since(conn, self.checked_until)
        first = not self.started
        if ended or first:
            self.sync()
            if ended:
                log.info("%d MQTT grace period(s) ended: broker accounts re-synced", ended)
        self.checked_until, self.started = db_now, True
        return ended
