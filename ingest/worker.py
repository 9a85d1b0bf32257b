"""The worker loop: poll a source, decode, batch, commit, then acknowledge.

Order matters and is the whole no-loss argument: a message is acknowledged to its
source only after the transaction holding its rows (or its dead letter) has committed.
A crash anywhere before that means the source sends it again, and the store's
ON CONFLICT rules make the second copy a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg

from events.text import clean_text
from ingest import metrics
from ingest.decode import Decoded, decode, reject
from ingest.routes import RoutesConfig, TopicRouter
from ingest.transports.base import Source
from store.writer import Batch, BatchProcessor, BatchWriter, WriteResult

log = logging.getLogger(__name__)

# Errors that mean "this data can never be written", as opposed to "the database is
# unreachable right now". The first kind is isolated to its message and dead-lettered;
# the second is retried forever without acknowledging anything.
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

STOP_CHECK_SECONDS = 0.5
STOP_RETRIES = 3


def build_batch(pending: list[Decoded]) -> Batch:
    batch = Batch()
    for item in pending:
        if item.dead_letter is not None:
            batch.dead_letters.append(item.dead_letter)
        else:
            batch.add(item.events)
    return batch


class SourceWorker:
    def __init__(
        self,
        source: Source,
        router: TopicRouter,
        config: RoutesConfig,
        connect: Callable[[], psycopg.Connection],
        stop: threading.Event,
        processor: BatchProcessor | None = None,
    ) -> None:
        self.source = source
        self.router = router
        self.max_messages = config.batching.max_messages
        self.max_wait = config.batching.max_wait_seconds
        self.max_bytes = config.limits.max_message_bytes
        self._connect = connect
        self._stop = stop
        # Runs inside each write transaction (detectors, alerts); one per worker thread,
        # since detectors keep per-batch scratch state.
        self._processor = processor
        self._pending: list[Decoded] = []
        self._deadline = 0.0
        self._writer: BatchWriter | None = None
        self._lag_checked = 0.0
        self.failed: BaseException | None = None

    # -- loop -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.source.start(on_revoke=self.flush)
            while not self._stop.is_set():
                self._poll_once()
            self.flush()
        except BaseException as error:  # surfaced by the supervisor thread
            self.failed = error
            log.exception("%s worker stopped on error", self.source.transport)
            self._stop.set()
        finally:
            self.source.close()

    def _poll_once(self) -> None:
        timeout = self.max_wait if not self._pending else max(self._deadline - time.monotonic(), 0)
        # Never wait long in one poll: the stop flag (SIGTERM) is checked between polls.
        timeout = min(timeout, STOP_CHECK_SECONDS)
        room = self.max_messages - len(self._pending)
        messages = self.source.poll(timeout, room)
        if messages and not self._pending:
            self._deadline = time.monotonic() + self.max_wait
        self._pending.extend(decode(m, self.router, self.max_bytes) for m in messages)
        if self._pending and (
            len(self._pending) >= self.max_messages or time.monotonic() >= self._deadline
        ):
            self.flush()
        metrics.QUEUE_DEPTH.labels(self.source.transport).set(
            len(self._pending) + self.source.pending()
        )
        self._report_lag()

    # -- commit then ack ----------------------------------------------------------------
    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        started = time.perf_counter()
        result = self._write(pending)
        metrics.COMMIT_SECONDS.labels(self.source.transport).observe(time.perf_counter() - started)
        self.source.ack([item.message for item in pending])
        self._count(pending, result)

    def _write(self, pending: list[Decoded]) -> WriteResult:
        batch = build_batch(pending)
        attempt = 0
        while True:
            try:
                result = self._writer_or_connect().write(batch)
                break
            except _DATA_ERRORS as error:
                metrics.WRITE_ERRORS.labels(self.source.transport, "data").inc()
                log.warning("batch rejected by the database (%s); isolating messages", error)
                return self._write_one_by_one(pending)
            except psycopg.OperationalError as error:
                metrics.WRITE_ERRORS.labels(self.source.transport, "connection").inc()
                self._writer = None
                attempt += 1
                if self._stop.is_set() and attempt > STOP_RETRIES:
                    # Shutting down with the database away: nothing was acknowledged, so
                    # the sources keep these messages; exit instead of retrying forever.
                    raise
                delay = min(0.5 * 2**attempt, 10.0)
                log.warning("database unavailable (%s); retry %d in %.1fs", error, attempt, delay)
                time.sleep(delay)
        return result

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
        transport = self.source.transport
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

    def _report_lag(self) -> None:
        lag = getattr(self.source, "lag", None)
        now = time.monotonic()
        if lag is None or now - self._lag_checked < 5:
            return
        self._lag_checked = now
        try:
            for (topic, partition), value in lag().items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(value)
        except Exception as error:  # lag is advisory; never stop ingest for it
            log.debug("consumer lag unavailable: %s", error)

    def healthy(self) -> bool:
        return self.failed is None and self.source.healthy()
