"""Read plates are personal data: delete them, and the pictures ISAPI pushes carried,
once they are older than `plate_retention_days`.

Plate reads: on TimescaleDB whole one-day chunks past the cutoff are dropped first (no
row-by-row delete for a backlog), then the rows left before the cutoff are deleted in
bounded batches (store/plates.py); plain PostgreSQL deletes rows only. Pictures: files of
the snapshot store (ingest/snapshots.py, content-addressed `<sha256>.<ext>`) last written
before the cutoff; nothing else in the directory is touched. A picture is written once
and then only read, so its modification time is when its push arrived.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from ingest.snapshots import NAME
from store import cameras as camera_store
from store import plates as plate_store

log = logging.getLogger(__name__)

# Checked this often by the alert service (a day's reads are a few minutes' work at most).
CHECK_SECONDS = 600.0


@dataclass(frozen=True)
class Pruned:
    reads: int
    snapshots: int


class PlateRetentionJob:
    def __init__(self, days: int, snapshots: Path) -> None:
        self.keep = timedelta(days=days)
        self.snapshots = snapshots

    def __call__(self, conn: psycopg.Connection, now: datetime) -> Pruned:
        cutoff = now - self.keep
        camera_store.drop_plate_chunks_before(conn, cutoff)
        reads = plate_store.delete_reads_before(conn, cutoff)
        pruned = Pruned(reads, delete_snapshots_before(self.snapshots, cutoff))
        if pruned.reads or pruned.snapshots:
            log.info(
                "plate retention: %d reads and %d pictures older than %s deleted",
                pruned.reads, pruned.snapshots, cutoff.isoformat(),
            )  # fmt: skip
        return pruned


def delete_snapshots_before(directory: Path, cutoff: datetime) -> int:
    """Snapshot-store files last written before `cutoff`; files deleted."""
    if not directory.is_dir():
        return 0
    limit = cutoff.timestamp()
    deleted = 0
    for entry in directory.iterdir():
        if not NAME.fullmatch(entry.name):
            continue
        with contextlib.suppress(FileNotFoundError):  # another service's job got it first
            if entry.stat().st_mtime < limit:
                entry.unlink()
                deleted += 1
    return deleted
