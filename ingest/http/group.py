"""Group commit for HTTP ingest: the items of requests that arrive together share one
transaction, and each request learns its items' fate only after that commit.

One writer thread per API process, with its own database connection and the detector
runner the ingest worker uses (processors.catalog.build_runner), writes through
store.writer.BatchWriter: the same straight COPY or staged INSERT … ON CONFLICT, the
same detectors and alerts in the transaction, the same dead letters. While it commits
one group, the next requests queue up and become the next group, so under load groups
grow (fewer transactions per reading).

A group also waits up to `linger_seconds` after its first request arrived for others to
join it (`linger_by_format`: longer for formats sent one event a request, such as
Hikvision's pushes). Without that, one request at a time meant one transaction each,
with its whole fixed cost: the six camera detectors' state, the plate and crossing
statements, the commit, most of PostgreSQL's share of a push (docs/performance.md,
cameras). A group closes at the earliest deadline of the requests waiting, so none
waits longer than its own linger; requests that queued while the writer was busy do not
wait again.

Bounded: at most `max_queued_items` items wait; past that `submit` raises Busy and the
caller answers 503 with Retry-After rather than holding requests in memory. A group
holds at most `max_batch_items` items (whole requests; one larger request alone).

Errors: a value the database refuses (DataError, IntegrityError), or an exception that
is no database error at all (a bug meeting one item's data, such as an ECS document
orjson cannot write), isolates the group's items one by one and turns the ones that
still fail into dead letters, as the worker's committer does
(ingest.committer.write_each): those items are answered "rejected", the rest of the
group is stored, and no request gets a server error for them. A lost connection, during
either pass, is retried a few times, then the group's requests fail (the API answers
503: nothing of them is known to be stored, and a repeat is safe because writing is
idempotent).

Anything else that fails a group — a psycopg error no single item causes (a statement
or schema fault, which isolating item by item would turn into a dead letter per item),
or a dead letter that cannot be written either — stops the worker's committer, but here
it must not cost the other requests of the group: each request is then written alone
(isolating its items as above), and a request that still fails gets `Failed` with the
reason logged (the API answers 503 with Retry-After; repeating is safe, as above).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

import psycopg

from ingest.committer import (
    build_batch,
    close_writer,
    describe,
    isolates,
    usable_writer,
    write_each,
)
from ingest.decode import Decoded
from ingest.http.items import ItemResult, results
from store.writer import BatchProcessor, BatchWriter, WriteResult, render_measurements

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 4
RETRY_AFTER_SECONDS = 1
# A failure that needs someone to fix the server: asking for repeats every second would
# only repeat it.
FAILED_RETRY_SECONDS = 60


class Busy(Exception):
    """The queue is full; come back after `retry_after` seconds."""

    retry_after = RETRY_AFTER_SECONDS


class Unavailable(Exception):
    """The database could not be reached for this group; nothing of it is known stored."""


class Failed(Exception):
    """This request could not be written for a reason no retry soon will change (a
    statement fault, a dead letter the database refuses); nothing of it is known stored.
    The reason is in the log, not here: it may name the schema."""

    retry_after = FAILED_RETRY_SECONDS


@dataclass(slots=True)
class _Job:
    items: list[Decoded]
    future: Future[list[ItemResult]]
    # The items' measurements as COPY text, rendered on the request's thread so the
    # writer thread (the one serial step of a process) only joins bytes.
    copy: bytes
    # When the group holding this request closes at the latest (monotonic seconds).
    deadline: float


class GroupCommitter:
    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        processor: Callable[[], BatchProcessor | None],
        max_batch_items: int,
        max_queued_items: int,
        linger_seconds: float = 0.0,
        linger_by_format: Mapping[str, float] | None = None,
    ) -> None:
        self._connect = connect
        self._make_processor = processor
        self._processor: BatchProcessor | None = None
        self._processor_built = False
        self._writer: BatchWriter | None = None
        self._max_batch = max_batch_items
        self._max_queued = max_queued_items
        self._linger = linger_seconds
        self._linger_by_format = dict(linger_by_format or {})
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
            self._queue.append(_Job(items, future, copy, time.monotonic() + self._linger_of(items)))
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

    def _linger_of(self, items: list[Decoded]) -> float:
        """A request's linger: the shortest of its items' formats'."""
        return min(
            (self._linger_by_format.get(item.format or "", self._linger) for item in items),
            default=self._linger,
        )

    def _linger_for_more(self) -> None:
        """Under the lock, with a request queued: wait until the group is full or a
        waiting request's linger is over."""
        while self._queue and self._queued < self._max_batch and not self._closing:
            left = min(job.deadline for job in self._queue) - time.monotonic()
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
                    job.future.set_exception(_failure(error))
                continue
            for job, answer in zip(jobs, answers, strict=True):
                if isinstance(answer, BaseException):
                    job.future.set_exception(answer)
                else:
                    job.future.set_result(answer)

    def _commit(self, jobs: list[_Job]) -> list[list[ItemResult] | Exception]:
        pending = [item for job in jobs for item in job.items]
        # Shared by both passes: an item a failed group pass committed stays "stored"
        # when its request is written again alone.
        fresh: set[int] = set()
        try:
            self._write(pending, b"".join(job.copy for job in jobs), fresh)
        except Unavailable:
            raise
        except Exception as error:
            if len(jobs) == 1:
                self._recover()
                return [self._failed(pending, error)]
            log.warning(
                "HTTP group of %d requests failed (%s); writing each request alone",
                len(jobs), describe(error),
            )  # fmt: skip
            self._recover()
            return self._commit_each(jobs, pending, fresh)
        return [results(items, fresh) for items in _per_job(jobs, pending)]

    def _commit_each(
        self, jobs: list[_Job], pending: list[Decoded], fresh: set[int]
    ) -> list[list[ItemResult] | Exception]:
        """After the group failed for a reason that `isolates` does not cover: each
        request in transactions of its own, so one request's failure is its own."""
        answers: list[list[ItemResult] | Exception] = []
        for items in _per_job(jobs, pending):
            if answers and isinstance(answers[-1], Unavailable):
                # The database is away: the rest would each wait out the retries again.
                answers.append(answers[-1])
                continue
            try:
                # Rendered again: the failed pass may have made some items dead letters.
                self._write(items, measurements_copy(items), fresh)
            except Unavailable as error:
                answers.append(error)
            except Exception as error:
                self._recover()
                answers.append(self._failed(items, error))
            else:
                answers.append(results(items, fresh))
        return answers

    def _failed(self, items: list[Decoded], error: Exception) -> Failed:
        """A request that cannot be written: logged with the reason (and the traceback,
        to find the statement or bug), answered 503."""
        log.error(
            "HTTP ingest request of %d items on %s not stored, answered 503: %s",
            len(items), items[0].message.topic if items else "-", describe(error),
            exc_info=error,
        )  # fmt: skip
        return Failed(describe(error))

    def _write(self, pending: list[Decoded], copy: bytes, fresh: set[int]) -> None:
        """Write the group (`copy`: its measurements rendered, in order), adding to
        `fresh` the ids of the event objects new to the database. Entries of `pending`
        the database refuses are replaced by their dead letters."""
        batch = build_batch(pending)
        batch.measurements_copy = copy
        attempt = 0
        # Once isolating, a retry after losing the database isolates again (the whole
        # group would fail as before), and the items the interrupted pass committed stay
        # "stored": the retry finds them there already.
        isolating = False
        while True:
            try:
                if isolating:
                    self._write_one_by_one(pending, fresh)
                else:
                    fresh |= _fresh_ids(self._writer_or_connect().write(batch))
                return
            except psycopg.OperationalError as error:
                self._drop_writer()
                log.warning("database unavailable for HTTP ingest (%s), attempt %d", error, attempt)
                attempt += 1
                if attempt >= CONNECT_ATTEMPTS:
                    raise Unavailable("database unavailable") from error
                time.sleep(0.25 * 2 ** (attempt - 1))
            except Exception as error:
                if isolating or not isolates(error):
                    raise
                log.warning("HTTP group %s; isolating items", describe(error))
                self._recover()
                isolating = True

    def _write_one_by_one(self, pending: list[Decoded], fresh: set[int]) -> None:
        for result in write_each(pending, self._writer_or_connect, self._recover):
            fresh |= _fresh_ids(result)

    def _writer_or_connect(self) -> BatchWriter:
        if self._writer is None:
            if not self._processor_built:
                # Built once (rule packs load here, not at API start); it outlives
                # reconnects, as the worker's does.
                self._processor = self._make_processor()
                self._processor_built = True
            self._writer = BatchWriter(self._connect(), self._processor, report_new=True)
        return self._writer

    def _recover(self) -> None:
        self._writer = usable_writer(self._writer)

    def _drop_writer(self) -> None:
        close_writer(self._writer)
        self._writer = None


def _per_job(jobs: list[_Job], pending: list[Decoded]) -> list[list[Decoded]]:
    """`pending` (the group's items, some replaced by their dead letters) cut back into
    its requests."""
    parts = []
    start = 0
    for job in jobs:
        parts.append(pending[start : start + len(job.items)])
        start += len(job.items)
    return parts


def _failure(error: BaseException) -> BaseException:
    """What a request hears of its group's unexpected failure: Unavailable as it is, any
    other error as Failed (the API's 503), never a bare exception (a 500)."""
    if isinstance(error, (Unavailable, Failed)) or not isinstance(error, Exception):
        return error
    return Failed(describe(error))


def measurements_copy(items: list[Decoded]) -> bytes:
    return render_measurements(build_batch(items).measurements)


def _fresh_ids(result: WriteResult) -> set[int]:
    fresh = result.fresh
    if fresh is None:
        return set()
    events = (*fresh.measurements, *fresh.security_events, *fresh.camera_events)
    return {id(e) for e in events}
