"""Queued commands → the broker (QoS 1, with their remaining time as MQTT message
expiry) → `sent` once the broker acknowledged them.

The rows stay locked (FOR UPDATE SKIP LOCKED) from before the publish until they are
marked sent, so two services never send one command twice at once. A crash between the
broker's PUBACK and the commit leaves the command queued and it is sent again: a device
may see a command twice and must act on its id once (docs/integrators.md)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg

from control.link import CommandLink
from control.messages import command_payload, command_topic
from store import commands as store

ACTOR = "ioc-commands"
BATCH = 200
PUBACK_WAIT_S = 5.0
# mosquitto keeps expiry in whole seconds and drops a message only once the second after
# its expiry has begun; one second off, rounded down, makes it drop a command by the
# command's expires_at at the latest (checked on 2.0.11), so it is never delivered late.
# A command with less than MIN_LEFT_S to go is not sent at all: it is about to expire.
BROKER_MARGIN_S = 1
MIN_LEFT_S = 2


def broker_expiry(expires_at: datetime, now: datetime) -> int:
    """Seconds for the MQTT Message Expiry Interval; below 1 means do not send."""
    return math.floor((expires_at - now).total_seconds()) - BROKER_MARGIN_S


def send_queued(conn: psycopg.Connection, link: CommandLink, now: datetime) -> int:
    """Publish what is queued and in time; returns how many the broker took."""
    if not link.connected:
        return 0
    with conn.transaction():
        rows = store.claim_queued(conn, now + timedelta(seconds=MIN_LEFT_S), BATCH)
        if not rows:
            return 0
        batch = [
            (
                command_topic(row["device_id"]),
                command_payload(row),
                broker_expiry(row["expires_at"], now),
            )
            for row in rows
        ]
        outcome = link.publish(batch, PUBACK_WAIT_S)
        sent = {
            row["id"]: {"broker": published.reason}
            for row, published in zip(rows, outcome, strict=True)
            if published.taken
        }
        return store.mark_sent(conn, sent, now, ACTOR) if sent else 0
