"""The writing half of a worker: commits decoded batches on threads of their own.

A worker that decodes a batch and then waits for PostgreSQL to write it does one thing
at a time: the database idles while Python decodes, Python idles while the database
writes. With the writes on threads of their own (psycopg releases the GIL while libpq
waits), the next batch is received and decoded while earlier ones are committed.

Several writers, each with its own connection, can commit side by side: one
PostgreSQL backend is one process, so a single connection keeps the database's share of
the work on one core. A batch is then split by `shard_of` (MQTT topic, i.e. device, or
Kafka partition), so a station's readings always go through the same writer, in order,
and two writers never hold one station's detector rows in two open transactions (state
keyed more widely, such as a Sigma correlation by user across sources, is locked row by
row, as it is between workers). A batch counts as committed when every writer has
committed its part.

Bounded: a few batches at most are handed over and not yet committed, so a slow
database makes `offer` say no, the polling thread stops taking messages, and the
broker holds the rest.

Acknowledging is not done here: a Kafka consumer must be used from one thread, so the
committer hands committed batches back (`take_committed`) and the polling thread
acknowledges them. The no-loss rule is unchanged: nothing is acknowledged before the
transaction holding it has committed.

A batch that fails to write for its data is written again message by message, and a
message that still fails becomes a dead letter (`write_each`, shared with HTTP ingest's
group committer): a value the database refuses, and equally any exception that is no
database error at all — a bug meeting one message's data, such as orjson refusing an
integer past 64 bits in an ECS document. Stopping instead would stop the source for
every device, and re-delivery would meet the same bug again. The database being away
is retried and turns nothing into a dead letter.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg.pq import TransactionStatus

from events.buglog import BugLog
from events.text import clean_text
from ingest import metrics
from ingest.decode import Decoded, bug_text, reject
from store.writer import Batch, BatchProcessor, BatchWriter, WriteResult

log = logging.getLogger(__name__)
_bug_log = BugLog(log, "could not write a message of format", "message dead-lettered")

# Errors that mean "this data can never be written", as opposed to "the database is
# unreachable right now". The first kind is isolated to its message and dead-lettered;
# the second is retried forever without acknowledging anything.
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

STOP_RETRIES = 3


def isolates(error: BaseException) -> bool:
    """Whether a failed write is retried message by message, the culprits dead-lettered:
    the database refused a value, or something that is no database error raised (a bug
    meeting one message's data). Not OperationalError (the database away: retried) nor
    the other psycopg errors (a statement or schema fault no message causes: isolating
    would dead-letter every message), nor BaseException (an interpreter shutting down)."""
    if isinstance(error, psycopg.Error):
        return isinstance(error, _DATA_ERRORS)
    return isinstance(error, Exception)


def describe(error: BaseException) -> str:
    """A failed batch write in a log line (the traceback comes with the message that
    still fails alone, see `unwritable`)."""
    if isinstance(error, _DATA_ERRORS):
        return f"rejected by the database: {error}"
    return f"could not be written: {bug_text(error)}"


def unwritable(item: Decoded, error: Exception) -> Decoded:
    """The message as a dead letter saying why it could not be written. A bug's
    traceback is logged (once a minute per format and exception type): the dead letter
    keeps the message for a replay once the bug is fixed."""
    if isinstance(error, _DATA_ERRORS):
        reason = f"database rejected the message: {clean_text(str(error))}"
    else:
        _bug_log.report(item.format, error)
        reason = f"could not be written: {bug_text(error)}"
    return reject(item.message, item.format, reason)


def write_each(
    pending: list[Decoded], writer: Callable[[], BatchWriter], recover: Callable[[], None]
) -> Iterator[WriteResult]:
    """After a batch failed with an error that `isolates`: each message in a transaction
    of its own, through `writer()` (called per write: it may have reconnected), yielding
    each one's result as it commits. A message that fails so is replaced in `pending` by
    its dead letter, which is written in its place, after `recover()` made the
    connection usable again. Anything else propagates: the database away (the caller
    retries, and what committed before counts as written by this batch), or a dead
    letter that cannot be written either (a genuine stop: looping would meet it again)."""
    for index, item in enumerate(pending):
        try:
            result = writer().write(build_batch([item]))
        except Exception as error:
            if not isolates(error):
                raise
            recover()
            pending[index] = unwritable(item, error)
            result = writer().write(build_batch([pending[index]]))
        yield result


def close_writer(writer: BatchWriter | None) -> None:
    """Close a writer's connection, whatever state it is in."""
    if writer is not None:
        with contextlib.suppress(psycopg.Error):
            writer.conn.close()


def usable_writer(writer: BatchWriter | None) -> BatchWriter | None:
    """The writer after a failed write, or None (its connection closed) if the failure
    left its connection unusable (idle_again)."""
    if writer is not None and not idle_again(writer.conn):
        close_writer(writer)
        return None
    return writer


def idle_again(conn: psycopg.Connection) -> bool:
    """After a failed write: whether `conn` is usable for the next one, rolling back what
    the failure left open. BatchWriter.write's transaction block rolls back on the way
    out, so the connection is normally idle already; if the error struck where that could
    not happen, or that rollback failed, it is rolled back here, and a connection in any
    other state (mid-statement, broken) is not to be used again."""
    if conn.closed:
        return False
    status = conn.info.transaction_status
    if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        try:
            conn.rollback()
        except psycopg.Error:
            return False
        status = conn.info.transaction_status
    return status == TransactionStatus.IDLE


def build_batch(pending: list[Decoded]) -> Batch:
    batch = Batch()
    for item in pending:
        if item.dead_letter is not None:
            batch.dead_letters.append(item.dead_letter)
        else:
            batch.add(item.events)
    return batch


class BatchCommit(Protocol):
    def commit(self, pending: list[Decoded], batch: Batch) -> None:
        """Write and commit one batch (`pending` as `batch`, built from it), retrying as
        it sees fit, or raise."""


def prepared(pending: list[Decoded]) -> Batch:
    batch = build_batch(pending)
    batch.render()
    return batch


def shard_of(item: Decoded, shards: int) -> int:
    """Which writer takes this message: all messages of one MQTT topic (one device) or
    one Kafka partition (one set of source addresses) go to the same writer, so two
    writers never hold the same station's detector rows in two open transactions, and
    each station's readings are written in the order they arrived. crc32, not hash():
    the same on every run."""
    message = item.message
    key = message.topic if message.partition is None else f"{message.topic}\0{message.partition}"
    return zlib.crc32(key.encode()) % shards


@dataclass(frozen=True, slots=True)
class Handover:
    """A batch ready for the writers: its messages, and per writer its part as rows."""

    pending: list[Decoded]
    parts: dict[int, tuple[list[Decoded], Batch]]


@dataclass(slots=True)
class _Handed:
    """A batch as the polling thread handed it over, and how many writers still have
    their part of it to commit."""

    pending: list[Decoded]
    parts_left: int


class Committer:
    def __init__(
        self, transport: str, writers: Sequence[BatchCommit], stop: threading.Event
    ) -> None:
        self.transport = transport
        self._stop = stop
        writers = list(writers)
        # One batch being written and one waiting, per writer, so that a writer never
        # idles between two batches ...
        self._max_uncommitted = len(writers) + 1
        # ... and a cap on batches committed and held back behind an earlier one that is
        # not (see take_committed), so memory stays bounded whatever happens.
        self._max_outstanding = 2 * len(writers) + 2
        self._queues: list[deque[tuple[int, list[Decoded], Batch]]] = [deque() for _ in writers]
        self._handed: dict[int, _Handed] = {}  # by sequence number, until given back
        self._next_seq = 0  # sequence number of the next batch handed over
        self._next_out = 0  # sequence number of the next batch to give back
        self._changed = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(
                target=self._run, args=(w, q), name=f"commit-{transport}-{i}", daemon=True
            )
            for i, (w, q) in enumerate(zip(writers, self._queues, strict=True))
        ]
        self.failed: BaseException | None = None

    # -- polling thread side -------------------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def prepare(self, pending: list[Decoded]) -> Handover:
        """Split a batch among the writers and build each part's rows, here on the
        polling thread: the writer threads' work is the bottleneck path (they wait for
        PostgreSQL), so the less Python they run the better."""
        parts = {index: (part, prepared(part)) for index, part in self._split(pending).items()}
        return Handover(pending, parts)

    def offer(self, handover: Handover, timeout: float) -> bool:
        """Hand a prepared batch over if there is room within `timeout`; False if not.

        Room means: fewer uncommitted batches than writers + 1, and fewer than
        `max_outstanding` not yet given back by `take_committed`. The caller
        acknowledges what `take_committed` returns between offers; that is what frees
        room, so it cannot happen here."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.failed is None and not self._has_room():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            self._raise_if_failed()
            seq = self._next_seq
            self._next_seq += 1
            self._handed[seq] = _Handed(handover.pending, len(handover.parts))
            for index, (part, batch) in handover.parts.items():
                self._queues[index].append((seq, part, batch))
            self._changed.notify_all()
            return True

    def _split(self, pending: list[Decoded]) -> dict[int, list[Decoded]]:
        if len(self._queues) == 1:
            return {0: pending}
        parts: dict[int, list[Decoded]] = {}
        for item in pending:
            parts.setdefault(shard_of(item, len(self._queues)), []).append(item)
        return parts

    def take_committed(self) -> list[list[Decoded]]:
        """Batches committed since the last call, in the order they were handed over.

        Writers commit side by side, so batch 7 may be whole before batch 6 is; it is
        given back only after 6. Kafka needs that (a committed offset covers every
        earlier record of its partition); for MQTT it costs at most one batch of delay."""
        taken = []
        with self._changed:
            while (handed := self._handed.get(self._next_out)) and handed.parts_left == 0:
                taken.append(self._handed.pop(self._next_out).pending)
                self._next_out += 1
            if taken:
                self._changed.notify_all()
        if not taken:
            self._raise_if_failed()
        return taken

    def drain(self) -> None:
        """Wait until every batch handed over is committed (or a writer failed)."""
        with self._changed:
            while self._uncommitted() and self.failed is None:
                self._changed.wait()
        self._raise_if_failed()

    def held(self) -> int:
        """Messages handed over and not yet given back (waiting, being written, or
        committed and waiting to be acknowledged)."""
        with self._changed:
            return sum(len(handed.pending) for handed in self._handed.values())

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)

    def _uncommitted(self) -> int:
        return sum(1 for handed in self._handed.values() if handed.parts_left)

    def _has_room(self) -> bool:
        outstanding = self._next_seq - self._next_out
        return self._uncommitted() < self._max_uncommitted and outstanding < self._max_outstanding

    def _raise_if_failed(self) -> None:
        if self.failed is not None:
            raise RuntimeError(f"{self.transport} committer stopped") from self.failed

    # -- writer threads -------------------------------------------------------------------------
    def _run(self, writer: BatchCommit, queue: deque[tuple[int, list[Decoded], Batch]]) -> None:
        try:
            while True:
                with self._changed:
                    while not queue and not self._closing and self.failed is None:
                        self._changed.wait()
                    if not queue or self.failed is not None:
                        return
                    seq, part, batch = queue[0]
                writer.commit(part, batch)
                with self._changed:
                    queue.popleft()
                    self._handed[seq].parts_left -= 1
                    self._changed.notify_all()
        except BaseException as error:  # surfaced to the polling thread
            log.exception("%s writer stopped on error", self.transport)
            with self._changed:
                self.failed = error
                self._changed.notify_all()
            self._stop.set()


class DatabaseWriter:
    """One database connection and what runs in its transactions."""

    def __init__(
        self,
        transport: str,
        connect: Callable[[], psycopg.Connection],
        stop: threading.Event,
        processor: BatchProcessor | None,
    ) -> None:
        self.transport = transport
        self._connect = connect
        self._stop = stop
        # Runs inside each write transaction (detectors, alerts); detectors keep
        # per-batch scratch state, so each writer has its own.
        self._processor = processor
        self._writer: BatchWriter | None = None

    def commit(self, pending: list[Decoded], batch: Batch) -> None:
        started = time.perf_counter()
        result = self._write(pending, batch)
        metrics.COMMIT_SECONDS.labels(self.transport).observe(time.perf_counter() - started)
        self._count(pending, result)

    def _write(self, pending: list[Decoded], batch: Batch) -> WriteResult:
        attempt = 0
        # Once isolating, a retry after losing the database isolates again (the whole
        # batch would fail as before), and the rows the interrupted pass committed stay
        # counted: the retry finds them stored.
        isolating = False
        totals = [0, 0, 0, 0]
        while True:
            try:
                if isolating:
                    return self._write_one_by_one(pending, totals)
                return self._writer_or_connect().write(batch)
            except psycopg.OperationalError as error:
                metrics.WRITE_ERRORS.labels(self.transport, "connection").inc()
                self._drop_writer()
                attempt += 1
                if self._stop.is_set() and attempt > STOP_RETRIES:
                    # Shutting down with the database away: nothing was acknowledged, so
                    # the sources keep these messages; exit instead of retrying forever.
                    raise
                delay = min(0.5 * 2**attempt, 10.0)
                log.warning("database unavailable (%s); retry %d in %.1fs", error, attempt, delay)
                time.sleep(delay)
            except Exception as error:
                if isolating or not isolates(error):
                    raise
                kind = "data" if isinstance(error, _DATA_ERRORS) else "bug"
                metrics.WRITE_ERRORS.labels(self.transport, kind).inc()
                log.warning("batch %s; isolating messages", describe(error))
                self._recover()
                isolating = True

    def _write_one_by_one(self, pending: list[Decoded], totals: list[int]) -> WriteResult:
        for result in write_each(pending, self._writer_or_connect, self._recover):
            for i, value in enumerate(
                (result.measurements, result.camera_events, result.security_events,
                 result.dead_letters)
            ):  # fmt: skip
                totals[i] += value
        return WriteResult(*totals)

    def _writer_or_connect(self) -> BatchWriter:
        if self._writer is None:
            self._writer = BatchWriter(self._connect(), self._processor)
        return self._writer

    def _recover(self) -> None:
        self._writer = usable_writer(self._writer)

    def _drop_writer(self) -> None:
        close_writer(self._writer)
        self._writer = None

    def _count(self, pending: list[Decoded], result: WriteResult) -> None:
        transport = self.transport
        metrics.BATCH_SIZE.labels(transport).observe(len(pending))
        # Counted per batch, not per message: a labelled counter costs a lock and a
        # dictionary lookup, which adds up at 10k messages/s.
        outcomes = Counter((item.dead_letter is not None, item.format) for item in pending)
        for (dead, format_name), n in outcomes.items():
            label = format_name or "unrouted"
            metrics.RECEIVED.labels(transport, label).inc(n)
            (metrics.DEAD_LETTERED if dead else metrics.WRITTEN).labels(transport, label).inc(n)
        metrics.ROWS.labels("measurements").inc(result.measurements)
        metrics.ROWS.labels("camera_events").inc(result.camera_events)
        metrics.ROWS.labels("security_events").inc(result.security_events)
        metrics.ROWS.labels("dead_letters").inc(result.dead_letters)
