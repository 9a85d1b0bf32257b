"""The writing half of a worker: commits decoded batches on threads of their own.

A worker that decodes a batch and then waits for PostgreSQL to write it does one thing
at a time: the database idles while Python decodes, Python idles while the database
writes. With the writes on threads of their own (psycopg releases the GIL while libpq
waits), the next batch is received and decoded while earlier ones are committed.

Several writers, each with its own connection, commit batches side by side: one
PostgreSQL backend is one process, so a single connection would keep the database's
share of the work on one core.

Bounded: a few batches at most are handed over and not yet committed, so a slow
database makes `offer` say no, the polling thread stops taking messages, and the
broker holds the rest.

Acknowledging is not done here: a Kafka consumer must be used from one thread, so the
committer hands committed batches back (`take_committed`) and the polling thread
acknowledges them. The no-loss rule is unchanged: nothing is acknowledged before the
transaction holding it has committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Protocol

import psycopg

from events.text import clean_text
from ingest import metrics
from ingest.decode import Decoded, reject
from store.writer import Batch, BatchProcessor, BatchWriter, WriteResult

log = logging.getLogger(__name__)

# Errors that mean "this data can never be written", as opposed to "the database is
# unreachable right now". The first kind is isolated to its message and dead-lettered;
# the second is retried forever without acknowledging anything.
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

STOP_RETRIES = 3


def build_batch(pending: list[Decoded]) -> Batch:
    batch = Batch()
    for item in pending:
        if item.dead_letter is not None:
            batch.dead_letters.append(item.dead_letter)
        else:
            batch.add(item.events)
    return batch


class BatchCommit(Protocol):
    def commit(self, pending: list[Decoded]) -> None:
        """Write and commit one batch (retrying as it sees fit), or raise."""


class Committer:
    def __init__(
        self, transport: str, writers: Sequence[BatchCommit], stop: threading.Event
    ) -> None:
        self.transport = transport
        self._stop = stop
        writers = list(writers)
        # One batch per writer being written and one more waiting, so that a writer
        # never idles between two batches ...
        self._max_uncommitted = len(writers) + 1
        # ... and a cap on batches committed out of order and held back behind a slower
        # one (see take_committed), so memory stays bounded whatever happens.
        self._max_outstanding = 2 * len(writers) + 2
        self._waiting: deque[tuple[int, list[Decoded]]] = deque()
        self._writing: dict[int, list[Decoded]] = {}
        self._done: dict[int, list[Decoded]] = {}
        self._next_seq = 0  # sequence number of the next submitted batch
        self._next_out = 0  # sequence number of the next batch to give back
        self._changed = threading.Condition()
        self._closing = False
        self._threads = [
            threading.Thread(
                target=self._run, args=(w,), name=f"commit-{transport}-{i}", daemon=True
            )
            for i, w in enumerate(writers)
        ]
        self.failed: BaseException | None = None

    # -- polling thread side -------------------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def offer(self, pending: list[Decoded], timeout: float) -> bool:
        """Hand a batch over if there is room within `timeout`; False if not.

        Room means: fewer batches being written or waiting than writers + 1, and fewer
        than `max_outstanding` not yet given back by `take_committed`. The caller
        acknowledges what `take_committed` returns between offers; that is what frees
        room, so it cannot happen inside this call."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.failed is None and not self._has_room():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            self._raise_if_failed()
            self._waiting.append((self._next_seq, pending))
            self._next_seq += 1
            self._changed.notify_all()
            return True

    def take_committed(self) -> list[list[Decoded]]:
        """Batches committed since the last call, in the order they were submitted.

        Writers commit side by side, so batch 7 may commit before batch 6; it is given
        back only after 6. Kafka needs that (a committed offset covers every earlier
        record of its partition); for MQTT it costs at most one batch of delay."""
        taken = []
        with self._changed:
            while self._next_out in self._done:
                taken.append(self._done.pop(self._next_out))
                self._next_out += 1
            if taken:
                self._changed.notify_all()
        if not taken:
            self._raise_if_failed()
        return taken

    def drain(self) -> None:
        """Wait until every submitted batch is committed (or a writer failed)."""
        with self._changed:
            while self._next_out + len(self._done) < self._next_seq and self.failed is None:
                self._changed.wait()
        self._raise_if_failed()

    def held(self) -> int:
        """Messages handed over and not yet given back (waiting, being written, or
        committed and waiting to be acknowledged)."""
        with self._changed:
            batches = [*(p for _, p in self._waiting), *self._writing.values()]
            return sum(map(len, batches)) + sum(map(len, self._done.values()))

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)

    def _has_room(self) -> bool:
        outstanding = self._next_seq - self._next_out
        uncommitted = outstanding - len(self._done)
        return uncommitted < self._max_uncommitted and outstanding < self._max_outstanding

    def _raise_if_failed(self) -> None:
        if self.failed is not None:
            raise RuntimeError(f"{self.transport} committer stopped") from self.failed

    # -- writer threads -------------------------------------------------------------------------
    def _run(self, writer: BatchCommit) -> None:
        try:
            while True:
                with self._changed:
                    while not self._waiting and not self._closing and self.failed is None:
                        self._changed.wait()
                    if not self._waiting or self.failed is not None:
                        return
                    seq, pending = self._waiting.popleft()
                    self._writing[seq] = pending
                writer.commit(pending)
                with self._changed:
                    self._done[seq] = self._writing.pop(seq)
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

    def commit(self, pending: list[Decoded]) -> None:
        started = time.perf_counter()
        result = self._write(pending)
        metrics.COMMIT_SECONDS.labels(self.transport).observe(time.perf_counter() - started)
        self._count(pending, result)

    def _write(self, pending: list[Decoded]) -> WriteResult:
        batch = build_batch(pending)
        attempt = 0
        while True:
            try:
                return self._writer_or_connect().write(batch)
            except _DATA_ERRORS as error:
                metrics.WRITE_ERRORS.labels(self.transport, "data").inc()
                log.warning("batch rejected by the database (%s); isolating messages", error)
                return self._write_one_by_one(pending)
            except psycopg.OperationalError as error:
                metrics.WRITE_ERRORS.labels(self.transport, "connection").inc()
                self._writer = None
                attempt += 1
                if self._stop.is_set() and attempt > STOP_RETRIES:
                    # Shutting down with the database away: nothing was acknowledged, so
                    # the sources keep these messages; exit instead of retrying forever.
                    raise
                delay = min(0.5 * 2**attempt, 10.0)
                log.warning("database unavailable (%s); retry %d in %.1fs", error, attempt, delay)
                time.sleep(delay)

    def _write_one_by_one(self, pending: list[Decoded]) -> WriteResult:
        totals = [0, 0, 0, 0]
        for index, item in enumerate(pending):
            try:
                result = self._writer_or_connect().write(build_batch([item]))
            except _DATA_ERRORS as error:
                reason = f"database rejected the message: {clean_text(str(error))}"
                pending[index] = reject(item.message, item.format, reason)
                result = self._writer_or_connect().write(build_batch([pending[index]]))
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
