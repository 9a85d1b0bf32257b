"""Commands past their expiry, queued or sent, → `expired` (with a history row). The
broker drops them too (MQTT message expiry), so an offline device that reconnects later
never receives them; an acknowledgement arriving afterwards is recorded, not applied.
Commands of a device disabled or deleted meanwhile fail the same way."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg

from control.dispatcher import ACTOR
from store import commands as store


def expire(conn: psycopg.Connection, now: datetime) -> list[uuid.UUID]:
    with conn.transaction():
        return store.expire_due(conn, now, ACTOR) + store.fail_for_gone_devices(conn, now, ACTOR)
