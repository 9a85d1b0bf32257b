"""What camera detectors derive, stored: line crossings and plate reads; the watch list
as the plate-watch rule reads it; the per-minute counts and ANPR segment speeds the
line-count job turns into readings; the job's watermark.

Crossings and reads are written in the transaction of the camera events they come from
(processors/cameras/records.py), so their identities make re-delivery a no-op:
a crossing is (event id, line, time), a plate read (event id, time) — one row per pass
(a Frigate tracked object, an ISAPI ANPR push), keeping its best-scored read. The watch
list's own upkeep (add, remove, list) and plate search are store/plates.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from events.camera_records import LineCrossing, PlateRead
from store.engine import Engine, recorded

# An ANPR pair further apart than the segment's length at this speed is not one trip (the
# vehicle stopped on the way); one faster than the upper one is a misread plate.
SLOWEST_TRIP_KMH = 3.0
FASTEST_TRIP_KMH = 250.0


@dataclass(frozen=True)
class WatchEntry:
    plate_norm: str
    plate: str  # as it was entered
    reason: str
    added_by: str | None
    added_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class CrossingCount:
    minute: datetime
    camera: str
    line: str
    label: str
    direction: str
    count: int


@dataclass(frozen=True)
class SegmentSpeed:
    minute: datetime  # of the read at the segment's second camera
    speed_kmh: float  # mean over the minute's pairs
    pairs: int


def insert_crossings(conn: psycopg.Connection, crossings: Sequence[LineCrossing]) -> int:
    """Crossings new to the database (a re-delivered one is already there)."""
    if not crossings:
        return 0
    columns = list(zip(*(
        (c.time, c.camera, c.line, c.direction, c.label, c.event_id, c.source)
        for c in crossings
    ), strict=True))  # fmt: skip
    return conn.execute(
        "INSERT INTO line_crossings (time, camera, line, direction, label, event_id, source)"
        " SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],"
        " %s::text[], %s::text[], %s::text[])"
        " ON CONFLICT (event_id, line, time) DO NOTHING",
        [list(column) for column in columns],
    ).rowcount


def store_plate_reads(conn: psycopg.Connection, reads: Sequence[PlateRead]) -> list[PlateRead]:
    """Store each pass's best-scored read; returns the reads that made a pass's stored
    plate new (a new pass, or a better read of another plate), the ones to match
    against the watch list. A better read of the same plate is stored and not
    returned: its pass was matched already (one alert per pass)."""
    best = _best_per_pass(reads)
    if not best:
        return []
    stored = _stored_reads(conn, best)
    changed = [r for r in best if _changes_plate(r, stored.get((r.event_id, r.time)))]
    columns = list(zip(*(
        (r.time, r.camera, r.plate, r.plate_norm, r.score, r.direction, r.vehicle_type,
         r.event_id, r.snapshot, r.source)
        for r in best
    ), strict=True))  # fmt: skip
    conn.execute(
        "INSERT INTO plate_reads (time, camera, plate, plate_norm, score, direction,"
        " vehicle_type, event_id, snapshot, source)"
        " SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],"
        " %s::real[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
        " ON CONFLICT (event_id, time) DO UPDATE SET camera = excluded.camera,"
        " plate = excluded.plate, plate_norm = excluded.plate_norm, score = excluded.score,"
        " direction = coalesce(excluded.direction, plate_reads.direction),"
        " vehicle_type = coalesce(excluded.vehicle_type, plate_reads.vehicle_type),"
        " snapshot = coalesce(excluded.snapshot, plate_reads.snapshot),"
        " source = excluded.source, ingested_at = now()"
        " WHERE coalesce(excluded.score, -1) > coalesce(plate_reads.score, -1)",
        [list(column) for column in columns],
    )
    return changed


def watch_hits(
    conn: psycopg.Connection, reads: Iterable[PlateRead]
) -> list[tuple[PlateRead, WatchEntry]]:
    """The reads whose normalised plate has an active (unexpired) watch-list entry."""
    reads = [r for r in reads if r.plate_norm]
    if not reads:
        return []
    rows = conn.execute(
        "SELECT plate_norm, plate, reason, added_by, added_at, expires_at FROM plate_watchlist"
        " WHERE plate_norm = ANY(%s::text[]) AND (expires_at IS NULL OR expires_at > now())",
        (sorted({r.plate_norm for r in reads}),),
    ).fetchall()
    entries = {row[0]: WatchEntry(*row) for row in rows}
    return [(r, entries[r.plate_norm]) for r in reads if r.plate_norm in entries]


def crossing_counts(
    conn: psycopg.Connection, start: datetime, end: datetime
) -> list[CrossingCount]:
    """Crossings per minute, camera, line, class and direction in [start, end)."""
    rows = conn.execute(
        "SELECT date_trunc('minute', time) AS minute, camera, line, label, direction, count(*)"
        " FROM line_crossings WHERE time >= %s AND time < %s"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        (start, end),
    ).fetchall()
    return [CrossingCount(*row) for row in rows]


def segment_speeds(
    conn: psycopg.Connection,
    first: str,
    second: str,
    distance_m: float,
    start: datetime,
    end: datetime,
) -> list[SegmentSpeed]:
    """Per minute of [start, end), the mean speed of the plates read at `second` whose
    latest read at `first` lies within a plausible trip before (SLOWEST/FASTEST_TRIP_KMH),
    minute by the read at `second`. Unreadable plates (empty normalised form) pair with
    nothing."""
    longest = timedelta(hours=distance_m / 1000 / SLOWEST_TRIP_KMH)
    shortest = timedelta(hours=distance_m / 1000 / FASTEST_TRIP_KMH)
    rows = conn.execute(
        "SELECT date_trunc('minute', b.time) AS minute,"
        " avg(%(km)s / (extract(epoch FROM b.time - a.time) / 3600)), count(*)"
        " FROM plate_reads b"
        " CROSS JOIN LATERAL (SELECT p.time FROM plate_reads p"
        "   WHERE p.plate_norm = b.plate_norm AND p.camera = %(first)s"
        "   AND p.time < b.time AND p.time >= b.time - %(longest)s"
        "   ORDER BY p.time DESC LIMIT 1) a"
        " WHERE b.camera = %(second)s AND b.time >= %(start)s AND b.time < %(end)s"
        " AND b.plate_norm <> '' AND b.time - a.time >= %(shortest)s"
        " GROUP BY 1 ORDER BY 1",
        {
            "km": distance_m / 1000, "first": first, "second": second, "longest": longest,
            "shortest": shortest, "start": start, "end": end,
        },
    ).fetchall()  # fmt: skip
    return [SegmentSpeed(minute, float(speed), pairs) for minute, speed, pairs in rows]


def drop_plate_chunks_before(conn: psycopg.Connection, cutoff: datetime) -> int:
    """TimescaleDB: drop the plate-read chunks wholly before `cutoff` (chunks dropped;
    the rows of the chunk the cutoff falls in are store.plates.delete_reads_before's).
    Plain PostgreSQL has no chunks: 0."""
    if recorded(conn) is not Engine.TIMESCALE:
        return 0
    return len(
        conn.execute(
            "SELECT drop_chunks('plate_reads'::regclass, older_than => %s::timestamptz)",
            (cutoff,),
        ).fetchall()
    )


# A camera that is no registered device is expected this often (the devices default).
DEFAULT_INTERVAL = timedelta(seconds=60)


def heard(
    conn: psycopg.Connection, camera_ids: Sequence[str]
) -> dict[str, tuple[datetime, timedelta]]:
    """Of these cameras, the ones ever heard from: when last, and how often they are
    expected to be heard (their device's expected interval)."""
    if not camera_ids:
        return {}
    rows = conn.execute(
        "SELECT s.device_id, s.last_seen, d.expected_interval_s FROM device_last_seen s"
        " LEFT JOIN devices d ON d.id = s.device_id WHERE s.device_id = ANY(%s::text[])",
        (list(camera_ids),),
    ).fetchall()
    return {
        camera: (seen, DEFAULT_INTERVAL if every is None else timedelta(seconds=every))
        for camera, seen, every in rows
    }


def watermark(conn: psycopg.Connection, job: str) -> datetime | None:
    row = conn.execute("SELECT through FROM job_watermarks WHERE job = %s", (job,)).fetchone()
    return row[0] if row else None


def set_watermark(conn: psycopg.Connection, job: str, through: datetime) -> None:
    conn.execute(
        "INSERT INTO job_watermarks (job, through) VALUES (%s, %s)"
        " ON CONFLICT (job) DO UPDATE SET through = excluded.through",
        (job, through),
    )


def _best_per_pass(reads: Iterable[PlateRead]) -> list[PlateRead]:
    best: dict[tuple[str, datetime], PlateRead] = {}
    for read in reads:
        key = (read.event_id, read.time)
        kept = best.get(key)
        if kept is None or _score(read) > _score(kept):
            best[key] = read
    return list(best.values())


def _stored_reads(
    conn: psycopg.Connection, reads: Sequence[PlateRead]
) -> dict[tuple[str, datetime], tuple[str, float | None]]:
    """(plate_norm, score) of the stored reads of these passes; `time = ANY` lets
    TimescaleDB exclude chunks while planning, the pair filter is exact in Python."""
    keys = {(r.event_id, r.time) for r in reads}
    rows = conn.execute(
        "SELECT event_id, time, plate_norm, score FROM plate_reads"
        " WHERE time = ANY(%s::timestamptz[]) AND event_id = ANY(%s::text[])",
        (sorted({k[1] for k in keys}), sorted({k[0] for k in keys})),
    ).fetchall()
    return {(e, t): (norm, score) for e, t, norm, score in rows if (e, t) in keys}


def _changes_plate(read: PlateRead, before: tuple[str, float | None] | None) -> bool:
    """A new pass, or a better read that reads another plate."""
    if before is None:
        return True
    plate_norm, score = before
    return _score(read) > _score_of(score) and read.plate_norm != plate_norm


def _score(read: PlateRead) -> float:
    return _score_of(read.score)


def _score_of(score: float | None) -> float:
    return -1.0 if score is None else score
