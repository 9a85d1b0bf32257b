"""Commands past their expiry, queued or sent, → `expired` (with a history row). The
broker drops them too (MQTT message expiry), so an offline device that reconnects later
never receives them; an acknowledgement arriving afterwards is recorded, not applied."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg

from control.dispatcher import ACTOR
from store import commands as store


def expire(conn: psycopg.Connection, now: datetime) -> list[uuid.UUID]:
    with conn.transaction():
        return store.expire_due(conn, now, ACTOR)
