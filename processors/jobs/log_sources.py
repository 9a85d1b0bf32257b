"""The alert service's `log-sources` job: when each log source of the agency inventory
was last heard from, and `security.log_source_silent` for those quiet too long (it
resolves on the run after the source speaks again). processors/agencies/silent.py
decides; store/agencies.py reads and records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg

from config.agencies import Inventory
from processors.agencies.silent import silent_signals
from processors.alerts.manager import AlertManager
from store import agencies as store

CHECK_SECONDS = 60.0


class LogSourcesJob:
    def __init__(self, manager: AlertManager, inventory: Inventory) -> None:
        self.manager = manager
        self.inventory = inventory

    @classmethod
    def load(cls, manager: AlertManager, path: Path) -> LogSourcesJob:
        return cls(manager, Inventory.load(path))

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        sources = self.inventory.sources
        seen = store.newest_seen(conn, list(sources), now)
        store.store_seen(
            conn, {s: (sources[s][0].id, at) for s, at in seen.items() if s in sources}, now
        )
        signals = silent_signals(self.inventory, seen, store.open_silent(conn), now)
        return len(self.manager.apply(conn, signals))
