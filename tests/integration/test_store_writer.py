"""The batch writer on the real database: new batches go straight into their tables,
anything re-delivered takes the idempotent staged path, and either way each event is
stored once and handed to the processor once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from events.models import Measurement, SecurityEvent
from store.writer import STAGED_AFTER_CONFLICT, Batch, BatchWriter

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


class Recorder:
    """A processor that remembers what it was handed, per write."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[Measurement], list[SecurityEvent]]] = []

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None:
        self.seen.append((list(fresh.measurements), list(fresh.security_events)))


def _readings(start: int, count: int, device: str = "kg-aq-01") -> list[Measurement]:
    return [
        Measurement(time=T0 + timedelta(seconds=i), device_id=device, metric=metric, value=i)
        for i in range(start, start + count)
        for metric in ("pm25", "pm10")
    ]


def _alerts(start: int, count: int) -> list[SecurityEvent]:
    return [
        SecurityEvent(
            time=T0 + timedelta(seconds=i), event_id=f"eve-{i:05d}", dataset="suricata.eve",
            source_ip="203.0.113.7", message=f"ET SCAN {i}", raw=b"{}",
        )
        for i in range(start, start + count)
    ]  # fmt: skip


def _batch(measurements: list[Measurement], security: Sequence[SecurityEvent] = ()) -> Batch:
    batch = Batch(measurements=list(measurements), security_events=list(security))
    batch.render()
    return batch


def _stored(db: psycopg.Connection) -> tuple[int, int]:
    return (
        db.execute("SELECT count(*) FROM measurements").fetchone()[0],
        db.execute("SELECT count(*) FROM security_events").fetchone()[0],
    )


@pytest.fixture
def writer(db: psycopg.Connection, settings) -> Iterator[tuple[BatchWriter, Recorder]]:
    recorder = Recorder()
    conn = psycopg.connect(settings.dsn(), autocommit=True)
    yield BatchWriter(conn, recorder), recorder
    conn.close()


def test_new_batch_is_written_whole_and_processed_once(db, writer) -> None:
    batch_writer, recorder = writer
    result = batch_writer.write(_batch(_readings(0, 100), _alerts(0, 10)))
    assert (result.measurements, result.security_events) == (200, 10)
    assert _stored(db) == (200, 10)
    assert [len(m) for m, _ in recorder.seen] == [200]
    assert [len(s) for _, s in recorder.seen] == [10]


def test_redelivered_batch_adds_nothing_and_is_not_processed_again(db, writer) -> None:
    batch_writer, recorder = writer
    batch = _batch(_readings(0, 100), _alerts(0, 10))
    batch_writer.write(batch)
    again = batch_writer.write(batch)
    assert (again.measurements, again.security_events) == (0, 0)
    assert _stored(db) == (200, 10)
    assert recorder.seen[1] == ([], [])


def test_partly_redelivered_batch_writes_only_the_new_part(db, writer) -> None:
    batch_writer, recorder = writer
    batch_writer.write(_batch(_readings(0, 50), _alerts(0, 5)))
    overlapping = _batch(_readings(25, 50), _alerts(3, 5))
    result = batch_writer.write(overlapping)
    assert (result.measurements, result.security_events) == (50, 3)
    assert _stored(db) == (150, 8)
    fresh_measurements, fresh_alerts = recorder.seen[1]
    assert {m.time for m in fresh_measurements} == {
        T0 + timedelta(seconds=i) for i in range(50, 75)
    }
    assert [e.event_id for e in fresh_alerts] == ["eve-00005", "eve-00006", "eve-00007"]


def test_the_same_event_twice_in_one_batch_is_stored_and_processed_once(db, writer) -> None:
    batch_writer, recorder = writer
    readings = _readings(0, 10)
    alerts = _alerts(0, 3)
    result = batch_writer.write(_batch(readings + readings[:4], alerts + alerts[:1]))
    assert (result.measurements, result.security_events) == (20, 3)
    assert _stored(db) == (20, 3)
    assert (len(recorder.seen[0][0]), len(recorder.seen[0][1])) == (20, 3)


def test_new_batches_after_a_redelivery_are_all_written(db, writer) -> None:
    """The batches after a conflict go the staged way for a while, then straight again:
    both must write every new row and hand each to the processor."""
    batch_writer, recorder = writer
    first = _batch(_readings(0, 10))
    batch_writer.write(first)
    batch_writer.write(first)
    rounds = STAGED_AFTER_CONFLICT + 3
    for n in range(rounds):
        result = batch_writer.write(_batch(_readings(10 + 10 * n, 10), _alerts(n, 1)))
        assert (result.measurements, result.security_events) == (20, 1)
    assert _stored(db) == (20 * (rounds + 1), rounds)
    assert all(len(m) == 20 and len(s) == 1 for m, s in recorder.seen[2:])


def test_a_failed_write_leaves_nothing_behind(db, writer) -> None:
    """An error after the direct COPY (here: a processor failing) rolls the whole batch
    back, so its re-delivery is written in full."""
    batch_writer, recorder = writer

    def fail(conn: psycopg.Connection, fresh: Batch) -> None:
        raise RuntimeError("detector failed")

    batch_writer.processor = type("Failing", (), {"process": staticmethod(fail)})()
    batch = _batch(_readings(0, 10), _alerts(0, 2))
    with pytest.raises(RuntimeError):
        batch_writer.write(batch)
    assert _stored(db) == (0, 0)
    batch_writer.processor = recorder
    result = batch_writer.write(batch)
    assert (result.measurements, result.security_events) == (20, 2)
    assert _stored(db) == (20, 2)
