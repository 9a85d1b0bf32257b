"""Devices silent for N × their expected interval get an offline alert; it resolves when
they are heard from again (the next run after data returns)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from processors.alerts.manager import AlertManager
from processors.environment.engine import RuleBook
from processors.environment.engine.model import NoDataRule
from processors.health.offline import offline_signals
from store import alerts as alert_store


class OfflineJob:
    def __init__(self, manager: AlertManager, book: RuleBook) -> None:
        self.manager = manager
        self.rules = [r for r in book.of_kind("no_data") if isinstance(r, NoDataRule)]

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        if not self.rules:
            return 0
        devices = [
            (device_id, interval, last_seen, {"name": name} if name else {})
            for device_id, interval, last_seen, name in conn.execute(
                "SELECT d.id, d.expected_interval_s, s.last_seen, d.name FROM devices d"
                " JOIN device_last_seen s ON s.device_id = d.id ORDER BY d.id"
            )
        ]
        raised = 0
        for rule in self.rules:
            open_offline = alert_store.open_label_values(conn, rule.id, "device_id")
            signals = offline_signals(devices, open_offline, now, rule)
            raised += len(self.manager.apply(conn, signals))
        return raised
