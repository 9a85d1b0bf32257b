"""The committer's ordering, backpressure and failure rules, with writers that stand in
for the database (the real DatabaseWriter runs in tests/integration/test_ingest_*)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from ingest.committer import Committer, isolates, shard_of
from ingest.decode import Decoded
from ingest.message import RawMessage
from store.writer import Batch


def topic_for(writer: int, writers: int = 2) -> str:
    """A topic that shard_of sends to this writer."""
    return next(
        topic
        for i in range(100)
        if shard_of(
            Decoded(RawMessage("mqtt", topic := f"ioc/v1/d{i}/telemetry", b""), "x", []), writers
        )
        == writer
    )


def batch(n: int, topic: str = "t") -> list[Decoded]:
    return [Decoded(RawMessage("mqtt", topic, str(n).encode()), "x", [])]


def label(pending: list[Decoded]) -> int:
    return int(pending[0].message.payload)


class GatedWriter:
    """Commits a batch only when the test opens its gate."""

    def __init__(self) -> None:
        self.gates: dict[int, threading.Event] = {}
        self.started: list[int] = []
        self.lock = threading.Lock()
        self.all_open = False

    def gate(self, n: int) -> threading.Event:
        with self.lock:
            gate = self.gates.setdefault(n, threading.Event())
            if self.all_open:
                gate.set()
            return gate

    def open_all(self) -> None:
        with self.lock:
            self.all_open = True
            for gate in self.gates.values():
                gate.set()

    def commit(self, pending: list[Decoded], batch: Batch) -> None:
        n = label(pending)
        with self.lock:
            self.started.append(n)
        if not self.gate(n).wait(5):
            raise TimeoutError(f"batch {n} never released")


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def take(committer: Committer, n: int) -> list[list[Decoded]]:
    """Take committed batches until n have come back."""
    taken: list[list[Decoded]] = []
    wait_for(lambda: taken.extend(committer.take_committed()) or len(taken) >= n)
    return taken


@pytest.fixture
def gated() -> tuple[Committer, GatedWriter]:
    writer = GatedWriter()
    committer = Committer("mqtt", [writer, writer], threading.Event())
    committer.start()
    yield committer, writer
    writer.open_all()
    committer.close()


def test_a_batch_committed_early_waits_for_the_one_before_it(gated) -> None:  # type: ignore[no-untyped-def]
    committer, writer = gated
    assert committer.offer(committer.prepare(batch(0, topic_for(0))), 1)
    assert committer.offer(committer.prepare(batch(1, topic_for(1))), 1)
    wait_for(lambda: sorted(writer.started) == [0, 1])
    writer.gate(1).set()  # batch 1 commits first
    time.sleep(0.05)
    assert committer.take_committed() == []  # held back: 0 is not committed yet
    assert committer.held() == 2  # both still the committer's
    writer.gate(0).set()
    assert [label(b) for b in take(committer, 2)] == [0, 1]
    assert committer.held() == 0


def test_offer_says_no_while_writers_and_the_waiting_slot_are_full(gated) -> None:  # type: ignore[no-untyped-def]
    committer, writer = gated
    for n in range(3):  # two being written, one waiting
        assert committer.offer(committer.prepare(batch(n)), 1)
    assert not committer.offer(committer.prepare(batch(3)), 0.05)
    writer.gate(0).set()
    assert committer.offer(committer.prepare(batch(3)), 1)


def test_batches_held_back_behind_a_slow_one_are_capped(gated) -> None:  # type: ignore[no-untyped-def]
    committer, writer = gated
    assert committer.offer(
        committer.prepare(batch(0, topic_for(0))), 1
    )  # stays uncommitted throughout
    n = 1
    while committer.offer(committer.prepare(batch(n, topic_for(1))), 0.2):
        writer.gate(n).set()
        n += 1
        assert n < 50, "offer never refused: nothing bounds held-back batches"
    # 2 x writers + 2 outstanding in all: batch 0 plus five committed behind it.
    assert n == 6
    writer.gate(0).set()
    assert [label(b) for b in take(committer, 6)] == list(range(6))


def test_drain_waits_for_every_batch() -> None:
    committed: list[int] = []

    class SlowWriter:
        def commit(self, pending: list[Decoded], batch: Batch) -> None:
            time.sleep(0.05)
            committed.append(label(pending))

    committer = Committer("kafka", [SlowWriter(), SlowWriter()], threading.Event())
    committer.start()
    for n in range(3):
        assert committer.offer(committer.prepare(batch(n)), 1)
    committer.drain()
    assert sorted(committed) == [0, 1, 2]
    assert [label(b) for b in committer.take_committed()] == [0, 1, 2]
    committer.close()


def test_a_failed_writer_stops_the_worker_and_surfaces_its_error() -> None:
    class BrokenWriter:
        def commit(self, pending: list[Decoded], batch: Batch) -> None:
            raise OSError("disk on fire")

    stop = threading.Event()
    committer = Committer("mqtt", [BrokenWriter()], stop)
    committer.start()
    assert committer.offer(committer.prepare(batch(0)), 1)
    with pytest.raises(RuntimeError, match="committer stopped") as caught:
        committer.drain()
    assert isinstance(caught.value.__cause__, OSError)
    assert stop.is_set()
    with pytest.raises(RuntimeError):  # nothing to acknowledge, and it says why
        committer.take_committed()
    committer.close()


def test_a_topic_is_always_written_by_the_same_writer_in_order() -> None:
    """Two writers never hold one station's rows in two open transactions."""
    seen: dict[str, list[tuple[int, int]]] = {}  # topic -> [(writer, batch)]
    lock = threading.Lock()

    class RecordingWriter:
        def __init__(self, index: int) -> None:
            self.index = index

        def commit(self, pending: list[Decoded], batch: Batch) -> None:
            time.sleep(0.002)
            with lock:
                for item in pending:
                    seen.setdefault(item.message.topic, []).append(
                        (self.index, int(item.message.payload))
                    )

    committer = Committer("mqtt", [RecordingWriter(0), RecordingWriter(1)], threading.Event())
    committer.start()
    topics = [f"ioc/v1/d{i}/telemetry" for i in range(12)]
    for n in range(20):
        pending = [Decoded(RawMessage("mqtt", t, str(n).encode()), "x", []) for t in topics]
        handover = committer.prepare(pending)
        while not committer.offer(handover, 0.1):
            committer.take_committed()
    committer.drain()
    committer.close()
    assert set(seen) == set(topics)
    for topic, writes in seen.items():
        assert len({w for w, _ in writes}) == 1, f"{topic} went to both writers"
        assert [n for _, n in writes] == list(range(20)), f"{topic} written out of order"
    assert {w for writes in seen.values() for w, _ in writes} == {0, 1}, "one writer idle"


@pytest.mark.parametrize(
    ("error", "isolated"),
    [
        (psycopg.errors.NumericValueOutOfRange("value out of range"), True),  # DataError
        (psycopg.errors.UniqueViolation("duplicate key"), True),  # IntegrityError
        (TypeError("Integer exceeds 64-bit range"), True),  # a bug meeting one message
        (RecursionError("maximum recursion depth exceeded"), True),
        (psycopg.OperationalError("connection lost"), False),  # retried, never dead letters
        (psycopg.errors.AdminShutdown("terminating connection"), False),
        (psycopg.errors.UndefinedTable("relation does not exist"), False),  # no message's fault
        (psycopg.errors.InFailedSqlTransaction("current transaction is aborted"), False),
        (KeyboardInterrupt(), False),
    ],
)
def test_which_failed_writes_are_isolated_message_by_message(
    error: BaseException, isolated: bool
) -> None:
    assert isolates(error) is isolated
