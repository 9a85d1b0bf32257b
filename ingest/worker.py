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
from collections.abc import Callable

import psycopg

from ingest import metrics
from ingest.committer import Committer, DatabaseWriter
from ingest.decode import Decoded, decode
from ingest.routes import RoutesConfig, TopicRouter
from ingest.transports.base import Source
from store.writer import BatchProcessor

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.5
SUBMIT_WAIT_SECONDS = 0.05


class SourceWorker:
    def __init__(
        self,
        source: Source,
        router: TopicRouter,
        config: RoutesConfig,
        connect: Callable[[], psycopg.Connection],
        stop: threading.Event,
        make_processor: Callable[[], BatchProcessor | None] = lambda: None,
        writers: int = 1,
    ) -> None:
        self.source = source
        self.router = router
        self.max_messages = config.batching.max_messages
        self.batching = config.batching
        self.max_bytes = config.limits.max_message_bytes
        self._stop = stop
        self._committer = Committer(
            source.transport,
            [
                DatabaseWriter(source.transport, connect, stop, make_processor())
                for _ in range(writers)
            ],
            stop,
        )
        self._pending: list[Decoded] = []
        self._deadline = 0.0
        self._lag_checked = 0.0
        self.failed: BaseException | None = None

    # -- loop -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._committer.start()
            self.source.start(on_revoke=self.flush)
            while not self._stop.is_set():
                self._poll_once()
            self.flush()
        except BaseException as error:  # surfaced by the supervisor thread
            self.failed = error
            log.exception("%s worker stopped on error", self.source.transport)
            self._stop.set()
        finally:
            self._committer.close()
            self.source.close()

    def _poll_once(self) -> None:
        self._ack_committed()
        if self._pending:
            timeout = max(self._deadline - time.monotonic(), 0)
        else:
            timeout = self.batching.max_wait_seconds
        # Never wait long in one poll: the stop flag (SIGTERM) is checked between polls.
        timeout = min(timeout, STOP_CHECK_SECONDS)
        room = self.max_messages - len(self._pending)
        messages = self.source.poll(timeout, room)
        if messages:
            decoded = [decode(m, self.router, self.max_bytes) for m in messages]
            self._move_deadline(decoded)
            self._pending.extend(decoded)
        if self._pending and (
            len(self._pending) >= self.max_messages or time.monotonic() >= self._deadline
        ):
            self._submit()
        metrics.QUEUE_DEPTH.labels(self.source.transport).set(
            len(self._pending) + self._committer.held() + self.source.pending()
        )
        self._report_lag()

    def _move_deadline(self, decoded: list[Decoded]) -> None:
        """The batch closes at the earliest of its messages' windows (per format:
        batching.max_wait_by_format), counted from when each was taken."""
        wait = min(self.batching.wait_for(item.format) for item in decoded)
        deadline = time.monotonic() + wait
        self._deadline = deadline if not self._pending else min(self._deadline, deadline)

    # -- commit then ack ----------------------------------------------------------------
    def _submit(self) -> None:
        """Hand the current batch to the committer; while it has no room, acknowledge
        what it has committed (that is what makes room)."""
        if self._pending:
            handover = self._committer.prepare(self._pending)
            self._pending = []
            while not self._committer.offer(handover, timeout=SUBMIT_WAIT_SECONDS):
                self._ack_committed()

    def _ack_committed(self) -> None:
        for pending in self._committer.take_committed():
            self.source.ack([item.message for item in pending])

    def flush(self) -> None:
        """Commit and acknowledge everything taken so far (on SIGTERM, and on a Kafka
        rebalance before the partitions go to another worker)."""
        self._submit()
        self._committer.drain()
        self._ack_committed()

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
