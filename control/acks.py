"""A device's acknowledgement → its command `acknowledged` or `failed`, committed
before the MQTT message is acknowledged to the broker (so none is lost in a crash).

The device is the one in the topic: the broker lets a device publish only on its own
`ioc/v1/<id>/commands/ack` (ACL), so an acknowledgement naming another device's command
is ignored. Malformed acknowledgements are logged and dropped: re-delivering them
would not make them readable."""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from control.link import Incoming
from control.messages import AckRejected, ack_device, parse_ack
from store import commands as store

log = logging.getLogger(__name__)


def apply_ack(conn: psycopg.Connection, message: Incoming, now: datetime) -> str | None:
    """The command's state afterwards, or None when the message was dropped."""
    device_id = ack_device(message.topic)
    if device_id is None:
        log.warning("acknowledgement on unexpected topic %r dropped", message.topic[:200])
        return None
    try:
        ack = parse_ack(message.payload)
    except AckRejected as error:
        log.warning("acknowledgement from %s dropped: %s", device_id, error)
        return None
    with conn.transaction():
        state = store.record_ack(conn, ack.id, device_id, ack.ok, ack.result, ack.error, now)
    if state is None:
        log.warning("acknowledgement from %s for unknown command %s dropped", device_id, ack.id)
    return state
