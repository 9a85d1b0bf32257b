"""Group commit for HTTP ingest: the items of requests that arrive together share one
transaction, and each request learns its items' fate only after that commit.

One writer thread per API process, with its own database connection and the detector
runner the ingest worker uses (processors.catalog.build_runner), writes through
store.writer.BatchWriter: the same straight COPY or staged INSERT … ON CONFLICT, the
same detectors and alerts in the transaction, the same dead letters. While it commits
one group, the next requests queue up and become the next group, so under load groups
grow (fewer transactions per reading).

A group also waits up to `linger_seconds` after its first request arrived for others to
join it. Without that, one request at a time (Hikvision cameras push one event per
request) meant one transaction each, with its whole fixed cost: the six camera
detectors' state, the commit, most of PostgreSQL's share of a push (docs/performance.md,
cameras). A request waits that long at most; requests that queued while the writer was
busy do not wait again.

Bounded: at most `max_queued_items` items wait; past that `submit` raises Busy and the
caller answers 503 with Retry-After rather than holding requests in memory. A group
holds at most `max_batch_items` items (whole requests; one larger request alone).

Errors: a value the database refuses (DataError, IntegrityError) isolates the group's
items one by one and turns the refused ones into dead letters, as the worker's
committer does; a lost connection is retried a few times, then the group's requests
fail (the API answers 503: nothing of them is known to be stored, and a repeat is safe
because writing is idempotent).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import psycopg

from events.text import clean_text
from ingest.committer import build_batch
from ingest.decode import Decoded, reject
from ingest.http.items import ItemResult, results
from store.writer import BatchProcessor, BatchWriter, WriteResult, render_measurements

log = logging.getLogger(__name__)

_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)
CONNECT_ATTEMPTS = 4
RETRY_AFTER_SECONDS = 1


class Busy(Exception):
    """The queue is full; come back after `retry_after` seconds."""

    retry_after = RETRY_AFTER_SECONDS


class Unavailable(Exception):
    """The database could not be reached for this group; nothing of it is known stored."""


@dataclass(slots=True)
class _Job:
    items: list[Decoded]
    future: Future[list[ItemResult]]
    # The items' measurements as COPY text, rendered on the request's thread so the
    # writer thread (the one serial step of a process) only joins bytes.
    copy: bytes
    queued_at: float


class GroupCommitter:
    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        processor: Callable[[], BatchProcessor | None],
        max_batch_items: int,
        max_queued_items: int,
        linger_seconds: float = 0.0,
    ) -> None:
        self._connect = connect
        self._make_processor = processor
        self._processor: BatchProcessor | None = None
        self._processor_built = False
        self._writer: BatchWriter | None = None
        self._max_batch = max_batch_items
        self._max_queued = max_queued_items
        self._linger = linger_seconds
        self._queue: deque[_Job] = deque()
        self._queued = 0
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="http-ingest-commit", daemon=True)
        self._thread.start()

    # -- request side ---------------------------------------------------------------------
    def submit(self, items: list[Decoded], copy: bytes | None = None) -> Future[list[ItemResult]]:
        """Queue a request's items (`copy`: their measurements_copy(), if the caller
        rendered it on a thread of its own); its future gives their results after the
        commit."""
        future: Future[list[ItemResult]] = Future()
        if copy is None:
            copy = measurements_copy(items)
        with self._changed:
            if self._closing:
                raise Unavailable("shutting down")
            # One request alone is always taken, so a request within max_items never
            # waits forever behind a limit it cannot meet.
            if self._queued and self._queued + len(items) > self._max_queued:
                raise Busy
            self._queue.append(_Job(items, future, copy, time.monotonic()))
            self._queued += len(items)
            self._changed.notify()
        return future

    def queued(self) -> int:
        with self._changed:
            return self._queued

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)
        if self._writer is not None:
            self._writer.conn.close()

    # -- writer thread ----------------------------------------------------------------------
    def _take(self) -> list[_Job]:
        with self._changed:
            while not self._queue and not self._closing:
                self._changed.wait()
            self._linger_for_more()
            jobs: list[_Job] = []
            size = 0
            while self._queue and (not jobs or size + len(self._queue[0].items) <= self._max_batch):
                job = self._queue.popleft()
                self._queued -= len(job.items)
                # A request that gave up (timed out) before its group started is dropped:
                # it was answered 503, so none of it may be written behind its back.
                if job.future.set_running_or_notify_cancel():
                    jobs.append(job)
                    size += len(job.items)
            return jobs

    def _linger_for_more(self) -> None:
        """Under the lock, with a request queued: wait until the group is full or the
        first request has waited `linger_seconds`."""
        if not self._queue:
            return
        deadline = self._queue[0].queued_at + self._linger
        while self._queued < self._max_batch and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.wait(left)

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if not jobs:
                return  # closing, nothing left
            try:
                answers = self._commit(jobs)
            except BaseException as error:  # every waiting request must hear of it
                if not isinstance(error, Unavailable):
                    log.exception("HTTP ingest group failed")
                for job in jobs:
                    job.future.set_exception(error)
                continue
            for job, answer in zip(jobs, answers, strict=True):
                job.future.set_result(answer)

    def _commit(self, jobs: list[_Job]) -> list[list[ItemResult]]:
        pending = [item for job in jobs for item in job.items]
        fresh = self._write(pending, b"".join(job.copy for job in jobs))
        answers = []
        start = 0
        for job in jobs:
            end = start + len(job.items)
            answers.append(results(pending[start:end], fresh))
            start = end
        return answers

    def _write(self, pending: list[Decoded], copy: bytes) -> set[int]:
        """Write the group (`copy`: its measurements rendered, in order); the ids of the
        event objects new to the database. Entries of `pending` the database refuses are
        replaced by their dead letters."""
        batch = build_batch(pending)
        batch.measurements_copy = copy
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                return _fresh_ids(self._writer_or_connect().write(batch))
            except _DATA_ERRORS as error:
                log.warning("HTTP group rejected by the database (%s); isolating items", error)
                return self._write_one_by_one(pending)
            except psycopg.OperationalError as error:
                self._drop_writer()
                log.warning("database unavailable for HTTP ingest (%s), attempt %d", error, attempt)
                if attempt + 1 < CONNECT_ATTEMPTS:
                    time.sleep(0.25 * 2**attempt)
        raise Unavailable("database unavailable")

    def _write_one_by_one(self, pending: list[Decoded]) -> set[int]:
        fresh: set[int] = set()
        for index, item in enumerate(pending):
            try:
                result = self._writer_or_connect().write(build_batch([item]))
            except _DATA_ERRORS as error:
                reason = f"database rejected the message: {clean_text(str(error))}"
                pending[index] = reject(item.message, item.format, reason)
                result = self._writer_or_connect().write(build_batch([pending[index]]))
            fresh |= _fresh_ids(result)
        return fresh

    def _writer_or_connect(self) -> BatchWriter:
        if self._writer is None:
            if not self._processor_built:
                # Built once (rule packs load here, not at API start); it outlives
                # reconnects, as the worker's does.
                self._processor = self._make_processor()
                self._processor_built = True
            self._writer = BatchWriter(self._connect(), self._processor, report_new=True)
        return self._writer

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(psycopg.Error):
                self._writer.conn.close()
        self._writer = None


def measurements_copy(items: list[Decoded]) -> bytes:
    return render_measurements(build_batch(items).measurements)


def _fresh_ids(result: WriteResult) -> set[int]:
    fresh = result.fresh
    if fresh is None:
        return set()
    events = (*fresh.measurements, *fresh.security_events, *fresh.camera_events)
    return {id(e) for e in events}
