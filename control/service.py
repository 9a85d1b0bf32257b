"""The command service: one loop that applies acknowledgements, expires what is late
and sends what is queued. It runs as a thread of `ioc alerts run`.

Several alert services may run; only the one holding the advisory lock talks to the
broker (the MQTT session has one fixed client id, and a second client with that id
would take the session over), the others wait to take over.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from config.secrets import MQTT_COMMANDS_USER, load_secrets
from config.settings import Settings
from control.acks import apply_ack
from control.dispatcher import send_queued
from control.expiry import expire
from control.link import CommandLink, Incoming
from processors.jobs.base import lock_id

log = logging.getLogger(__name__)

LOCK = lock_id("device-commands")
STEP_S = 0.5  # how often queued and expired commands are looked for
STANDBY_S = 5.0
ACKS_PER_STEP = 500

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CommandService:
    def __init__(self, settings: Settings, clock: Clock = _utc_now) -> None:
        self._settings = settings
        self._clock = clock

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self._settings.dsn(), autocommit=True, application_name="ioc-commands"
                ) as conn:
                    if not _try_lock(conn):
                        stop.wait(STANDBY_S)
                        continue
                    self._serve(conn, stop)
            except psycopg.OperationalError as error:
                log.warning("command service: database unavailable: %s", error)
                stop.wait(STANDBY_S)
            except Exception:  # keep commands flowing after a bug in one step
                log.exception("command service failed; restarting it")
                stop.wait(STANDBY_S)

    def _serve(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        secrets = load_secrets(self._settings, create=False)
        link = CommandLink(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            MQTT_COMMANDS_USER,
            secrets.mqtt_commands_password,
        )
        link.start()
        log.info("command service running")
        try:
            next_step = 0.0
            while not stop.is_set():
                self._acks(conn, link, timeout=max(0.0, next_step - time.monotonic()))
                if time.monotonic() >= next_step:
                    expire(conn, self._clock())
                    send_queued(conn, link, self._clock())
                    next_step = time.monotonic() + STEP_S
        finally:
            # Acknowledgements received but not yet committed stay un-acknowledged: the
            # broker sends them again to the next session.
            link.stop()

    def _acks(self, conn: psycopg.Connection, link: CommandLink, timeout: float) -> None:
        try:
            messages: list[Incoming] = [link.incoming.get(timeout=timeout)]
        except queue.Empty:
            return
        while len(messages) < ACKS_PER_STEP:
            try:
                messages.append(link.incoming.get_nowait())
            except queue.Empty:
                break
        for message in messages:
            apply_ack(conn, message, self._clock())
            link.ack(message)


def _try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK,)).fetchone()
    return bool(row and row[0])
