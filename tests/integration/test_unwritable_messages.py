"""A message the writer cannot write for a reason that is no database rejection — an
event whose ECS document holds an integer past 64 bits, which orjson refuses while psycopg
renders the jsonb column (what auditd decoded before 413bee1) — through both committers on
the real database: the worker's (ingest/committer.py) and HTTP ingest's
(ingest/http/group.py). The message becomes a dead letter naming the error, the rest of
its batch is stored, and the committer goes on; the database going away is still retried
and dead-letters nothing, and a dead letter that cannot be written either stops the
worker's committer instead of looping.

The events are built here as a decoder hands them over (the decoders are guarded against
such integers now; tests/fuzz checks that), and written by the real writers and
connections: only the processor, the seam inside the write transaction, is a test's own.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from events.buglog import BugLog
from events.models import SecurityEvent
from ingest import committer as committer_module
from ingest.committer import Committer, DatabaseWriter, idle_again
from ingest.decode import Decoded
from ingest.http.group import Failed, GroupCommitter
from ingest.message import RawMessage
from store.writer import Batch
from tests.integration.harness import refusing_dead_letters

pytestmark = pytest.mark.integration

TOO_BIG = 2**70  # orjson: "Integer exceeds 64-bit range"
REASON = "could not be written: TypeError: Integer exceeds 64-bit range"


class Processor:
    """Counts its calls and records the events handed to it; `kill_on` makes call n
    terminate its own backend (the database going away mid-transaction), `broken` makes
    every call raise (a bug that even a dead letter's transaction meets), `faulty_for`
    makes a call holding one of those event ids run a statement the database refuses."""

    def __init__(
        self, kill_on: int | None = None, broken: bool = False, faulty_for: set[str] = frozenset()
    ) -> None:
        self.calls = 0
        self.kill_on = kill_on
        self.broken = broken
        self.faulty_for = faulty_for
        self.seen: list[str] = []

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None:
        self.calls += 1
        if self.broken:
            raise RuntimeError("detector state unreadable")
        if self.faulty_for & {e.event_id for e in fresh.security_events}:
            # A detector's statement fault that these events' data leads to: PostgreSQL's
            # own UndefinedTable, a psycopg error that is neither data nor connection.
            conn.execute("SELECT * FROM no_such_detector_table")
        if self.calls == self.kill_on:
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        self.seen += [e.event_id for e in fresh.security_events]


class Source:
    """Messages of one test: distinct event ids and Kafka offsets."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.tag = uuid.uuid4().hex[:8]
        self.next = 0
        self.at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def items(self, n: int, bad: tuple[int, ...] = ()) -> list[Decoded]:
        out = []
        for i in range(n):
            k = self.next
            self.next += 1
            payload = f"<86>1 sshd - - Failed password for root from 203.0.113.9 #{k}".encode()
            kafka = self.transport == "kafka"
            message = RawMessage(
                self.transport,
                f"seclog.syslog.{self.tag}" if kafka else "http/syslog",
                payload,
                partition=0 if kafka else None,
                offset=k if kafka else None,
            )
            event = SecurityEvent(
                time=self.at + timedelta(milliseconds=k),
                event_id=f"unw-{self.tag}-{k:04d}",
                dataset="system.auth",
                source_ip="203.0.113.9",
                message=f"Failed password for root #{k}",
                ecs={"process": {"pid": TOO_BIG if i in bad else 4000 + k}},
                raw=payload,
            )
            out.append(Decoded(message, "syslog", [event]))
        return out

    def stored(self, db: psycopg.Connection) -> set[str]:
        rows = db.execute(
            "SELECT event_id FROM security_events WHERE event_id LIKE %s", (f"unw-{self.tag}-%",)
        ).fetchall()
        return {r[0] for r in rows}


def ids(items: list[Decoded]) -> set[str]:
    return {e.event_id for item in items for e in item.events}


def letters(db: psycopg.Connection) -> list[tuple[str, str, str, bytes]]:
    return db.execute(
        "SELECT transport, reason, format, payload FROM dead_letters ORDER BY payload"
    ).fetchall()


def traceback_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]


@pytest.fixture(autouse=True)
def fresh_bug_log(monkeypatch: pytest.MonkeyPatch) -> None:
    # The traceback is logged once a minute per format and exception type; each test
    # expects its own.
    monkeypatch.setattr(
        committer_module, "_bug_log", BugLog(committer_module.log, "test bug in", "dead-lettered")
    )


@pytest.fixture
def connect(settings) -> Iterator[Callable[[], psycopg.Connection]]:  # type: ignore[no-untyped-def]
    opened: list[psycopg.Connection] = []

    def open_one() -> psycopg.Connection:
        opened.append(psycopg.connect(settings.dsn(), application_name="test-unwritable"))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def worker_committer(
    connect: Callable[[], psycopg.Connection], processor: Processor, stop: threading.Event
) -> Committer:
    committer = Committer("kafka", [DatabaseWriter("kafka", connect, stop, processor)], stop)
    committer.start()
    return committer


def commit(committer: Committer, pending: list[Decoded]) -> list[Decoded]:
    """Hand a batch over, wait for its commit and take it back as the polling thread
    would, to acknowledge it."""
    assert committer.offer(committer.prepare(pending), 5)
    committer.drain()
    (taken,) = committer.take_committed()
    return taken


# -- the worker's committer ---------------------------------------------------------------


def test_worker_an_unwritable_message_is_a_dead_letter_and_the_committer_goes_on(
    db, connect, caplog
) -> None:  # type: ignore[no-untyped-def]
    source, processor, stop = Source("kafka"), Processor(), threading.Event()
    committer = worker_committer(connect, processor, stop)
    first = source.items(20, bad=(7,))
    good = ids(first[:7] + first[8:])
    with caplog.at_level(logging.WARNING, logger="ingest.committer"):
        taken = commit(committer, first)

    assert source.stored(db) == good
    assert sorted(processor.seen) == sorted(good)  # the detectors saw each stored event once
    letter = taken[7].dead_letter
    assert letter is not None and letter.reason == REASON
    assert [t.dead_letter for i, t in enumerate(taken) if i != 7] == [None] * 19
    assert letters(db) == [("kafka", REASON, "syslog", first[7].message.payload)]
    (logged,) = traceback_records(caplog)  # the bug's traceback, once
    assert logged.exc_info is not None and logged.exc_info[0] is TypeError

    # Acknowledged with its batch, and the next batch is written by the same committer.
    second = source.items(20)
    commit(committer, second)
    assert source.stored(db) == good | ids(second)
    assert committer.failed is None and not stop.is_set()
    committer.close()


def test_worker_losing_the_database_is_retried_and_dead_letters_nothing(db, connect) -> None:  # type: ignore[no-untyped-def]
    # Call 1 is the whole batch's transaction; the backend dies inside it.
    source, processor, stop = Source("kafka"), Processor(kill_on=1), threading.Event()
    committer = worker_committer(connect, processor, stop)
    batch = source.items(10)
    taken = commit(committer, batch)
    assert source.stored(db) == ids(batch)
    assert all(t.dead_letter is None for t in taken)
    assert letters(db) == []
    assert processor.calls == 2  # the killed attempt, then the retry
    committer.close()


def test_worker_losing_the_database_while_isolating_isolates_again(db, connect) -> None:  # type: ignore[no-untyped-def]
    # The whole batch fails on the bad item's ECS before the processor runs; calls 1, 2, …
    # are the isolated items' transactions, and the backend dies in the third.
    source, processor, stop = Source("kafka"), Processor(kill_on=3), threading.Event()
    committer = worker_committer(connect, processor, stop)
    batch = source.items(8, bad=(5,))
    taken = commit(committer, batch)
    assert source.stored(db) == ids(batch[:5] + batch[6:])
    assert [i for i, t in enumerate(taken) if t.dead_letter is not None] == [5]
    assert letters(db) == [("kafka", REASON, "syslog", batch[5].message.payload)]
    assert committer.failed is None
    committer.close()


def test_worker_a_dead_letter_that_cannot_be_written_either_stops_the_committer(
    db, connect
) -> None:  # type: ignore[no-untyped-def]
    source, processor, stop = Source("kafka"), Processor(broken=True), threading.Event()
    committer = worker_committer(connect, processor, stop)
    assert committer.offer(committer.prepare(source.items(5)), 5)
    with pytest.raises(RuntimeError, match="kafka committer stopped") as caught:
        committer.drain()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert stop.is_set()
    # The batch, the first item alone, then its dead letter: no loop, nothing written,
    # nothing to acknowledge.
    assert processor.calls == 3
    assert source.stored(db) == set() and letters(db) == []
    with pytest.raises(RuntimeError):
        committer.take_committed()
    committer.close()


def test_a_connection_a_failure_left_in_a_transaction_is_rolled_back_or_not_reused(
    connect,
) -> None:  # type: ignore[no-untyped-def]
    conn = connect()
    with pytest.raises(psycopg.errors.DivisionByZero):
        conn.execute("SELECT 1 / 0")
    assert conn.info.transaction_status == TransactionStatus.INERROR
    assert idle_again(conn)
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert conn.execute("SELECT 1").fetchone() == (1,)
    conn.close()
    assert not idle_again(conn)


# -- HTTP ingest's group committer --------------------------------------------------------


def group_committer(
    connect: Callable[[], psycopg.Connection], processor: Processor
) -> GroupCommitter:
    # A linger long enough for the requests a test submits together to share a group.
    return GroupCommitter(
        connect, lambda: processor, max_batch_items=100, max_queued_items=100, linger_seconds=0.3
    )


def test_http_an_unwritable_item_is_rejected_and_the_rest_of_the_group_stored(
    db, connect, caplog
) -> None:  # type: ignore[no-untyped-def]
    source, processor = Source("http"), Processor()
    committer = group_committer(connect, processor)
    first, second = source.items(6, bad=(2,)), source.items(4)
    with caplog.at_level(logging.WARNING, logger="ingest.committer"):
        answers = [committer.submit(first), committer.submit(second)]
        one, two = (answer.result(30) for answer in answers)

    # One group of ten: nine items and one dead letter, each a transaction of its own
    # (two groups would have made 6 + 1).
    assert processor.calls == 10
    assert [r.status for r in one] == ["stored", "stored", "rejected", "stored", "stored", "stored"]
    assert one[2].reason == REASON and one[2].dead_letter_id
    assert [r.status for r in two] == ["stored"] * 4
    assert source.stored(db) == ids(first[:2] + first[3:] + second)
    assert letters(db) == [("http", REASON, "syslog", first[2].message.payload)]
    assert len(traceback_records(caplog)) == 1

    # The committer goes on with the next request.
    third = source.items(3)
    assert [r.status for r in committer.submit(third).result(30)] == ["stored"] * 3
    committer.close()


def test_http_losing_the_database_while_isolating_is_retried_not_a_server_error(
    db, connect
) -> None:  # type: ignore[no-untyped-def]
    source, processor = Source("http"), Processor(kill_on=2)
    committer = group_committer(connect, processor)
    items = source.items(5, bad=(3,))
    answer = committer.submit(items).result(30)
    assert [r.status for r in answer] == ["stored", "stored", "stored", "rejected", "stored"]
    assert answer[3].reason == REASON
    assert source.stored(db) == ids(items[:3] + items[4:])
    assert letters(db) == [("http", REASON, "syslog", items[3].message.payload)]
    committer.close()


def test_http_losing_the_database_is_retried_and_rejects_nothing(db, connect) -> None:  # type: ignore[no-untyped-def]
    source, processor = Source("http"), Processor(kill_on=1)
    committer = group_committer(connect, processor)
    items = source.items(4)
    answer = committer.submit(items).result(30)
    assert [r.status for r in answer] == ["stored"] * 4
    assert processor.calls == 2
    assert letters(db) == []
    committer.close()


@pytest.fixture
def letters_refused(db: psycopg.Connection) -> Iterator[None]:
    """PostgreSQL refuses every dead letter."""
    with refusing_dead_letters(db):
        yield


def test_http_a_dead_letter_that_cannot_be_written_fails_its_request_alone(
    db, connect, letters_refused, caplog
) -> None:  # type: ignore[no-untyped-def]
    source, processor = Source("http"), Processor()
    committer = group_committer(connect, processor)
    first, second = source.items(4, bad=(1,)), source.items(3)
    with caplog.at_level(logging.ERROR, logger="ingest.http.group"):
        answers = [committer.submit(first), committer.submit(second)]
        with pytest.raises(Failed, match="rejected by the database: dead letter refused"):
            answers[0].result(30)
        assert [r.status for r in answers[1].result(30)] == ["stored"] * 3

    # The other request is stored; of the failed one, what committed stays (a repeat is
    # answered duplicate for it), and the message whose letter was refused is not lost:
    # its sender was told to send it again.
    assert ids(second) <= source.stored(db)
    assert ids(first[1:2]) & source.stored(db) == set()
    assert letters(db) == []
    assert any("not stored, answered 503" in r.getMessage() for r in caplog.records)

    third = source.items(2)
    assert [r.status for r in committer.submit(third).result(30)] == ["stored"] * 2
    committer.close()


def test_http_a_statement_fault_fails_the_request_that_meets_it_and_stores_the_rest(
    db, connect, caplog
) -> None:  # type: ignore[no-untyped-def]
    source = Source("http")
    first, second = source.items(3), source.items(3)
    processor = Processor(faulty_for={first[0].events[0].event_id})
    committer = group_committer(connect, processor)
    with caplog.at_level(logging.ERROR, logger="ingest.http.group"):
        answers = [committer.submit(first), committer.submit(second)]
        with pytest.raises(Failed, match="UndefinedTable"):
            answers[0].result(30)
        assert [r.status for r in answers[1].result(30)] == ["stored"] * 3

    assert source.stored(db) == ids(second)  # the failed request's transaction rolled back
    assert letters(db) == []  # a statement fault is no message's fault: no dead letters
    (logged,) = [r for r in caplog.records if "not stored, answered 503" in r.getMessage()]
    assert "no_such_detector_table" in logged.getMessage()

    third = source.items(2)
    assert [r.status for r in committer.submit(third).result(30)] == ["stored"] * 2
    committer.close()
