"""Counting-line counts and ANPR segment speeds as readings, one closed minute at a time.

A minute is closed GRACE after its end (late camera events still count). Each counting
line of the camera registry becomes device `<camera>:<line>` with, per minute,
`count_<class>_<in|out>` for every class and `vehicle_count` (every class but person,
both directions), zeros included while the camera is alive: a quiet line is a reading of
0, not a gap. A camera counts as alive for a minute when it was heard from (an event, its
Frigate stats: device_last_seen) no earlier than its expected interval before the
minute's end; for a camera never heard from, or silent since, zeros would be a lie (an
empty road where nobody watches) and there are none, only what was crossed. A line
crossed without being in the registry (a camera's own line rule nobody registered) gets
its non-zero counts. Each ANPR segment becomes
device `<segment id>` with `speed_kmh`, the mean over the plates read at both cameras
whose read at the second camera fell in the minute (no reading when nobody passed: a
speed of 0 would be a jam).

The readings go through the ingest path's BatchWriter and detector runner, so rules
(traffic congestion, rollups, dashboards) treat them like any sensor's. A watermark
(job_watermarks) makes each minute written once; the readings' identity (device,
metric, time) would absorb a repeat anyway.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from pydantic import ValidationError

from events.models import Measurement
from processors.cameras.registry import CLASSES, EMPTY, Registry, load_registry
from store import cameras as camera_store
from store.writer import Batch, BatchProcessor, BatchWriter

log = logging.getLogger(__name__)

JOB = "line-counts"
MINUTE = timedelta(minutes=1)
GRACE = timedelta(seconds=60)
# After an outage, minutes older than this are not filled in (their zeros would be
# guesses about a time nobody watched); a run writes at most MAX_MINUTES, so a long
# backlog is worked off over several runs, each one short.
BACKFILL = timedelta(hours=6)
MAX_MINUTES = 60
DIRECTIONS = ("in", "out")
PERSON = "person"


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class LineCountsJob:
    def __init__(self, registry: Registry, processor: Callable[[], BatchProcessor | None]) -> None:
        self.registry = registry
        self._make_processor = processor
        self._processor: BatchProcessor | None = None
        self._built = False

    @classmethod
    def load(
        cls, registry_path: Path, processor: Callable[[], BatchProcessor | None]
    ) -> LineCountsJob:
        registry = load_registry(registry_path) if registry_path.exists() else EMPTY
        return cls(registry, processor)

    def __call__(self, conn: psycopg.Connection, now: datetime) -> int:
        """Readings written (the job runs inside run_exclusive's transaction)."""
        closed = minute_floor(now - GRACE)
        done = camera_store.watermark(conn, JOB)
        start = closed - MINUTE if done is None else max(done, closed - BACKFILL)
        end = min(closed, start + MAX_MINUTES * MINUTE)
        if start >= end:
            return 0
        readings = self.readings(conn, start, end)
        if readings:
            BatchWriter(conn, self.processor()).write(Batch(measurements=readings))
        camera_store.set_watermark(conn, JOB, end)
        return len(readings)

    def processor(self) -> BatchProcessor | None:
        # Built at first use: the detector runner loads every rule pack.
        if not self._built:
            self._processor, self._built = self._make_processor(), True
        return self._processor

    def readings(self, conn: psycopg.Connection, start: datetime, end: datetime
                 ) -> list[Measurement]:  # fmt: skip
        """The readings of the minutes [start, end)."""
        values = self._line_values(conn, start, end) + self._speed_values(conn, start, end)
        return list(_measurements(values))

    def _line_values(self, conn: psycopg.Connection, start: datetime, end: datetime
                     ) -> list[tuple[datetime, str, str, float]]:  # fmt: skip
        counts = _counts(camera_store.crossing_counts(conn, start, end))
        values: list[tuple[datetime, str, str, float]] = []
        lines = self.registry_lines()
        heard = camera_store.heard(conn, sorted({camera for camera, _ in lines}))
        for minute in _minutes(start, end):
            for camera, point in lines:
                got = counts.get((minute, point))
                if got is None and not _alive(heard.get(camera), minute):
                    continue
                got = got or {}
                values += [(minute, point, m, got.get(m, 0)) for m in _count_metrics()]
        registered = {point for _, point in lines}
        for (minute, point), got in sorted(counts.items()):
            if point not in registered:
                values += [(minute, point, m, v) for m, v in sorted(got.items())]
        return values

    def _speed_values(self, conn: psycopg.Connection, start: datetime, end: datetime
                      ) -> list[tuple[datetime, str, str, float]]:  # fmt: skip
        return [
            (speed.minute, segment_id, "speed_kmh", speed.speed_kmh)
            for segment_id, segment in self.registry.segments.items()
            for speed in camera_store.segment_speeds(
                conn, segment.from_, segment.to, segment.distance_m, start, end
            )
        ]

    def registry_lines(self) -> list[tuple[str, str]]:
        """(camera, `<camera>:<line>`) of every counting line of the registry."""
        return [
            (camera_id, f"{camera_id}:{line}")
            for camera_id, camera in self.registry.cameras.items()
            for line in camera.lines
        ]


def _counts(
    rows: Iterable[camera_store.CrossingCount],
) -> dict[tuple[datetime, str], dict[str, float]]:
    """Per (minute, `<camera>:<line>`): each class's count per direction, and the
    vehicles (every class but person; a class cameras name outside CLASSES too)."""
    counts: dict[tuple[datetime, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        point = counts[(row.minute, f"{row.camera}:{row.line}")]
        if row.label in CLASSES:
            metric = f"count_{row.label}_{row.direction}"
            point[metric] = point.get(metric, 0) + row.count
        if row.label != PERSON:
            point["vehicle_count"] = point.get("vehicle_count", 0) + row.count
    return dict(counts)


def _alive(heard: tuple[datetime, timedelta] | None, minute: datetime) -> bool:
    if heard is None:
        return False
    last_seen, interval = heard
    return last_seen >= minute + MINUTE - interval


def _count_metrics() -> list[str]:
    return [f"count_{c}_{d}" for c in CLASSES for d in DIRECTIONS] + ["vehicle_count"]


def _minutes(start: datetime, end: datetime) -> Iterable[datetime]:
    minute = start
    while minute < end:
        yield minute
        minute += MINUTE


def _measurements(values: Iterable[tuple[datetime, str, str, float]]) -> Iterable[Measurement]:
    for time, device_id, metric, value in values:
        try:
            yield Measurement(time=time, device_id=device_id, metric=metric, value=value)
        except ValidationError:
            # A camera id and line name that together exceed a device id's length.
            log.warning("line counts: %r is no valid device id; skipped", device_id)
