"""Queued commands → the broker (QoS 1, with their remaining time as MQTT message
expiry) → `sent` once the broker acknowledged them.

The rows stay locked (FOR UPDATE SKIP LOCKED) from before the publish until they are
marked sent, so two services never send one command twice at once. A crash between the
broker's PUBACK and the commit leaves the command queued and it is sent again: a device
may see a command twice and must act on its id once (docs/integrators.md)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from control.link import CommandLink
from control.messages import command_payload, command_topic
from store import commands as store

ACTOR = "ioc-commands"
BATCH = 200
PUBACK_WAIT_S = 5.0


def send_queued(conn: psycopg.Connection, link: CommandLink, now: datetime) -> int:
    """Publish what is queued and in time; returns how many the broker took."""
    if not link.connected:
        return 0
    with conn.transaction():
        rows = store.claim_queued(conn, now, BATCH)
        if not rows:
            return 0
        batch = [
            (
                command_topic(row["device_id"]),
                command_payload(row),
                (row["expires_at"] - now).total_seconds(),
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
