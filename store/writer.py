"""Write one batch of canonical events in one transaction.

Measurements and security events are first COPYed straight into their table under a
savepoint: almost every batch is new, and that is the cheapest way in (PostgreSQL spends
less than half of what staging and upserting the same rows cost; docs/performance.md). A batch
holding anything already stored fails on the table's identity index; the savepoint rolls
that attempt back and the batch takes the idempotent path instead: COPY into a
session-local staging table, then INSERT … SELECT … ON CONFLICT. Either way a
re-delivered batch adds nothing, which is what lets transports acknowledge only after
commit and still replay safely after a crash. Camera events, which update in place,
always take the staged path: a row keeps the newest moment its messages described
(`frame_time`), so a late or re-delivered older message never overwrites a newer state,
and an ended event stays ended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import orjson
import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from events.ids import stable_id
from events.models import CameraEvent, DeadLetter, Event, Measurement, SecurityEvent

T = TypeVar("T")

# A dead letter keeps the first MiB of its payload (with the full size and hash); the
# broker's own message_size_limit bounds what can arrive at all.
MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024

# A camera event in this state is over; later messages about it must not reopen it.
ENDED = "end"

# After a batch was found to hold re-delivered rows, this many batches go straight to the
# staged path: re-deliveries come in runs (a worker restart replays its whole
# unacknowledged window), and each failed direct attempt is wasted work.
STAGED_AFTER_CONFLICT = 16

_STAGING = {
    "stage_measurements": "measurements",
    "stage_camera_events": "camera_events",
    "stage_security_events": "security_events",
}

MEASUREMENT_COLUMNS = ("time", "device_id", "metric", "value", "quality")
# camera_events.plate is not written: a read plate is personal data and lives only in
# plate_reads, which has a retention period (migration 14).
CAMERA_COLUMNS = (
    "time", "event_id", "source", "camera", "event_type", "state", "label", "score",
    "top_score", "zones", "end_time", "has_snapshot", "false_positive", "attributes",
    "frame_time", "snapshot",
)  # fmt: skip
SECURITY_COLUMNS = (
    "time", "event_id", "dataset", "category", "action", "outcome", "severity", "source_ip",
    "source_port", "destination_ip", "destination_port", "user_name", "host_name",
    "process_name", "observer_vendor", "observer_product", "rule_id", "rule_name",
    "technique_ids", "message", "ecs", "raw",
)  # fmt: skip


@dataclass
class Batch:
    measurements: list[Measurement] = field(default_factory=list)
    camera_events: list[CameraEvent] = field(default_factory=list)
    security_events: list[SecurityEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # The measurements as COPY text, if render() was called: the ingest worker renders
    # on its polling thread, so the writer thread (the one that waits for PostgreSQL)
    # only sends bytes.
    measurements_copy: bytes | None = None

    def render(self) -> None:
        self.measurements_copy = render_measurements(self.measurements)

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, Measurement):
                self.measurements.append(event)
            elif isinstance(event, CameraEvent):
                self.camera_events.append(event)
            else:
                self.security_events.append(event)

    def __len__(self) -> int:
        return (
            len(self.measurements)
            + len(self.camera_events)
            + len(self.security_events)
            + len(self.dead_letters)
        )


@dataclass(frozen=True)
class WriteResult:
    """Rows new to the database; re-delivered rows are not counted."""

    measurements: int = 0
    camera_events: int = 0
    security_events: int = 0
    dead_letters: int = 0
    # The events new to the database, the very objects of the batch written; set when the
    # writer has a processor or was asked to report them (the HTTP path answers per item
    # from it). Measurements and security events: first of each when the batch carried
    # one twice. Camera events: every message that moved its row on (see
    # fresh_camera_messages), in frame-time order.
    fresh: Batch | None = field(default=None, compare=False, repr=False)


def render_measurements(rows: list[Measurement]) -> bytes:
    """Measurements as PostgreSQL COPY text, columns MEASUREMENT_COLUMNS.

    Written by hand (psycopg formats row by row only inside an open COPY): no field
    needs COPY's backslash escapes, because a Measurement's device id and metric name
    match patterns without tab, newline, carriage return or backslash (events/models.py),
    its value is a finite float and its time an aware datetime."""
    return "".join(
        [f"{m.time.isoformat()}\t{m.device_id}\t{m.metric}\t{m.value!r}\t{int(m.quality)}\n"
         for m in rows]
    ).encode()  # fmt: skip


class BatchProcessor(Protocol):
    """Runs inside the write transaction on the events new to the database (a
    re-delivered event is not passed again), so what it derives commits with the data."""

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None: ...


def dead_letter_id(letter: DeadLetter) -> str:
    """Kafka messages have a position, which identifies them exactly; MQTT messages do not,
    so the same bytes on the same topic count as the same message."""
    if letter.offset is not None:
        return stable_id(letter.transport, letter.topic, letter.partition, letter.offset)
    return stable_id(letter.transport, letter.topic, letter.payload)


class BatchWriter:
    def __init__(
        self,
        conn: psycopg.Connection,
        processor: BatchProcessor | None = None,
        *,
        report_new: bool = False,
    ) -> None:
        self.conn = conn
        self.processor = processor
        self.report_new = report_new
        self._fresh: Batch | None = None
        self._staged_left = 0
        with conn.transaction():
            for stage, table in _STAGING.items():
                conn.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {stage}"
                    f" (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )

    def write(self, batch: Batch) -> WriteResult:
        with self.conn.transaction():
            track = self.processor is not None or self.report_new
            self._fresh = Batch() if track else None
            self._staged_left = max(0, self._staged_left - 1)
            result = WriteResult(
                measurements=self._measurements(batch.measurements, batch.measurements_copy),
                camera_events=self._camera_events(batch.camera_events),
                security_events=self._security_events(batch.security_events),
                dead_letters=self._dead_letters(batch.dead_letters),
                fresh=self._fresh,
            )
            if self.processor is not None and self._fresh is not None:
                self.processor.process(self.conn, self._fresh)
            return result

    def _copy(
        self, target: str, columns: Sequence[str], rows: Iterable[Sequence[object]] | bytes
    ) -> None:
        """COPY rows into a table; `rows` may be COPY text rendered already."""
        cols = ", ".join(columns)
        with self.conn.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
            if isinstance(rows, bytes):
                copy.write(rows)
                return
            for row in rows:
                copy.write_row(row)

    def _copy_if_all_new(
        self, stage: str, columns: Sequence[str], rows: Sequence[Sequence[object]] | bytes
    ) -> bool:
        """COPY straight into the table behind `stage`; False (and nothing written) if
        any row was there already or came twice."""
        if self._staged_left:
            return False
        try:
            with self.conn.transaction():
                self._copy(_STAGING[stage], columns, rows)
        except errors.UniqueViolation:
            self._staged_left = STAGED_AFTER_CONFLICT
            return False
        return True

    def _insert_from_stage(
        self, stage: str, columns: Sequence[str], conflict: str, returning: str = ""
    ) -> tuple[int, set[tuple[object, ...]]]:
        """Rows inserted, and (when `returning` names key columns and a processor is set)
        the keys of the rows that were new, so the processor sees each event once."""
        table = _STAGING[stage]
        cols = ", ".join(columns)
        tail = f" RETURNING {returning}" if returning and self._fresh is not None else ""
        cur = self.conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}{tail}"
        )
        return cur.rowcount, set(cur.fetchall()) if tail else set()

    def _measurements(self, rows: list[Measurement], rendered: bytes | None = None) -> int:
        if not rows:
            return 0
        text = rendered if rendered is not None else render_measurements(rows)
        if self._copy_if_all_new("stage_measurements", MEASUREMENT_COLUMNS, text):
            if self._fresh is not None:
                self._fresh.measurements = rows
            return len(rows)
        self._copy("stage_measurements", MEASUREMENT_COLUMNS, text)
        count, new = self._insert_from_stage(
            "stage_measurements",
            MEASUREMENT_COLUMNS,
            "ON CONFLICT (device_id, metric, time) DO NOTHING",
            returning="device_id, metric, time",
        )
        if self._fresh is not None:
            self._fresh.measurements = _first_of_each(
                rows, lambda m: (m.device_id, m.metric, m.time), new
            )
        return count

    def _camera_events(self, rows: list[CameraEvent]) -> int:
        if not rows:
            return 0
        latest = latest_per_event(rows)
        if self._fresh is not None:
            stored = self._stored_camera_versions(latest)
            self._fresh.camera_events = fresh_camera_messages(rows, stored)
        self._copy("stage_camera_events", CAMERA_COLUMNS, map(_camera_row, latest))
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in CAMERA_COLUMNS if c not in ("time", "event_id")
        )
        # The same order as latest_per_event and fresh_camera_messages: an ended row never
        # changes; an 'end' always ends it; otherwise only a newer moment moves it on
        # (frame_time is NULL on rows written before migration 14).
        count, _ = self._insert_from_stage(
            "stage_camera_events",
            CAMERA_COLUMNS,
            f"ON CONFLICT (event_id, time) DO UPDATE SET {updates}, updated_at = now()"
            f" WHERE camera_events.state <> '{ENDED}' AND (excluded.state = '{ENDED}'"
            " OR camera_events.frame_time IS NULL"
            " OR excluded.frame_time > camera_events.frame_time)",
        )
        return count

    def _stored_camera_versions(
        self, latest: list[CameraEvent]
    ) -> dict[tuple[str, datetime], tuple[datetime | None, str]]:
        """(frame_time, state) of the stored rows of these events, read inside the write
        transaction before the upsert. `time = ANY` lets TimescaleDB exclude chunks while
        planning; the pair filter is exact in Python. Not locked: one event's messages go
        through one writer (a batch is split by topic), and the upsert locks the rows."""
        keys = {(e.event_id, e.time) for e in latest}
        found = self.conn.execute(
            "SELECT event_id, time, frame_time, state FROM camera_events"
            " WHERE time = ANY(%s::timestamptz[]) AND event_id = ANY(%s::text[])",
            (sorted({k[1] for k in keys}), sorted({k[0] for k in keys})),
        ).fetchall()
        return {(e, t): (f, st) for e, t, f, st in found if (e, t) in keys}

    def _security_events(self, rows: list[SecurityEvent]) -> int:
        if not rows:
            return 0
        table_rows = [_security_row(e) for e in rows]
        if self._copy_if_all_new("stage_security_events", SECURITY_COLUMNS, table_rows):
            if self._fresh is not None:
                self._fresh.security_events = rows
            return len(rows)
        self._copy("stage_security_events", SECURITY_COLUMNS, table_rows)
        count, new = self._insert_from_stage(
            "stage_security_events",
            SECURITY_COLUMNS,
            "ON CONFLICT (event_id, time) DO NOTHING",
            returning="event_id, time",
        )
        if self._fresh is not None:
            self._fresh.security_events = _first_of_each(rows, lambda e: (e.event_id, e.time), new)
        return count

    def _dead_letters(self, letters: list[DeadLetter]) -> int:
        if not letters:
            return 0
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (id, received_at, transport, topic, kafka_partition,"
                " kafka_offset, format, reason, payload, payload_size, payload_sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                [_dead_letter_row(letter) for letter in letters],
            )
            return cur.rowcount


def _first_of_each(
    rows: Iterable[T], key: Callable[[T], tuple[object, ...]], new: set[tuple[object, ...]]
) -> list[T]:
    """The rows whose key the INSERT reported new, once each (a batch may carry the same
    message twice; the database kept one)."""
    kept = []
    for row in rows:
        k = key(row)
        if k in new:
            new.discard(k)
            kept.append(row)
    return kept


def frame_of(event: CameraEvent) -> datetime:
    """The moment a message describes; a decoder that had none gives the event's start."""
    return event.frame_time or event.time


def latest_per_event(rows: Iterable[CameraEvent]) -> list[CameraEvent]:
    """One row per event (one INSERT may not touch a row twice): the first 'end' if the
    batch ends the event, else the message of the newest moment (the later one of a tie)
    — the same order the upsert's WHERE applies across batches."""
    latest: dict[tuple[str, datetime], CameraEvent] = {}
    for event in rows:
        key = (event.event_id, event.time)
        kept = latest.get(key)
        if kept is None or (
            kept.state != ENDED and (event.state == ENDED or frame_of(event) >= frame_of(kept))
        ):
            latest[key] = event
    return list(latest.values())


def fresh_camera_messages(
    rows: Sequence[CameraEvent],
    stored: Mapping[tuple[str, datetime], tuple[datetime | None, str]],
) -> list[CameraEvent]:
    """The messages new to the database, for the detectors: per event, none if its stored
    row had ended; else each moment newer than the stored row's once (the first message
    of it), up to the batch's 'end', which comes last. All of them, not only the newest:
    line crossing follows the path. Ordered by moment (an 'end' after an update of the
    same moment)."""
    by_event: dict[tuple[str, datetime], list[CameraEvent]] = {}
    for event in rows:
        by_event.setdefault((event.event_id, event.time), []).append(event)
    fresh: list[CameraEvent] = []
    for key, messages in by_event.items():
        stored_frame, stored_state = stored.get(key, (None, ""))
        if stored_state == ENDED:
            continue
        end = next((m for m in messages if m.state == ENDED), None)
        seen: set[datetime] = set()
        for message in sorted((m for m in messages if m.state != ENDED), key=frame_of):
            frame = frame_of(message)
            if frame in seen or (stored_frame is not None and frame <= stored_frame):
                continue
            if end is not None and frame >= frame_of(end):
                break
            seen.add(frame)
            fresh.append(message)
        if end is not None:
            fresh.append(end)
    fresh.sort(key=lambda m: (frame_of(m), m.state == ENDED))
    return fresh


def _camera_row(e: CameraEvent) -> tuple[object, ...]:
    return (
        e.time, e.event_id, e.source, e.camera, e.event_type, e.state, e.label, e.score,
        e.top_score, list(e.zones), e.end_time, e.has_snapshot, e.false_positive,
        Jsonb(e.attributes, dumps=_dumps), frame_of(e), e.snapshot,
    )  # fmt: skip


def _security_row(e: SecurityEvent) -> tuple[object, ...]:
    return (
        e.time, e.event_id, e.dataset, list(e.category), e.action, e.outcome, e.severity,
        e.source_ip, e.source_port, e.destination_ip, e.destination_port, e.user_name,
        e.host_name, e.process_name, e.observer_vendor, e.observer_product, e.rule_id,
        e.rule_name, list(e.technique_ids), e.message, Jsonb(e.ecs, dumps=_dumps), e.raw,
    )  # fmt: skip


def _dead_letter_row(letter: DeadLetter) -> tuple[object, ...]:
    return (
        dead_letter_id(letter),
        letter.received_at,
        letter.transport,
        letter.topic,
        letter.partition,
        letter.offset,
        letter.format,
        letter.reason,
        letter.payload[:MAX_DEAD_LETTER_PAYLOAD],
        letter.payload_size or len(letter.payload),
        hashlib.sha256(letter.payload).hexdigest(),
    )


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
