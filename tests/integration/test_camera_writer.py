"""Camera events through the real batch writer on both engines: the messages of one
Frigate event (new, updates, end) are one row with the final state however they are
batched, re-delivered or reordered, and the detectors are handed each new moment once."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from events.models import CameraEvent
from stack import postgres
from store.writer import Batch, BatchWriter
from tests.integration.engines import PLAIN, TIMESCALE, plain_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
STATES = ("new", "update", "update", "update", "update", "end")


def frigate_event(event_id: str, camera: str = "kh-camranh-cam01") -> list[CameraEvent]:
    """Six messages of one tracked person walking down the frame; the plate field is set
    to prove the writer never stores it in camera_events."""
    return [
        CameraEvent(
            time=T0,
            event_id=event_id,
            source="frigate",
            camera=camera,
            event_type="object",
            state=state,
            label="person",
            score=0.6 + i * 0.05,
            top_score=0.6 + i * 0.05,
            zones=("cong_cang",) if i >= 2 else (),
            end_time=T0 + timedelta(seconds=5) if state == "end" else None,
            frame_time=T0 + timedelta(seconds=i),
            box=(100.0, 100.0 + 50 * i, 160.0, 300.0 + 50 * i),
            snapshot=f"frigate:{event_id}" if i >= 1 else None,
            has_snapshot=i >= 1,
            plate="51F12345",
        )
        for i, state in enumerate(STATES)
    ]


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def dsn(request, settings) -> Iterator[str]:
    if request.param == TIMESCALE:
        if not postgres.timescale_installed():
            pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
        yield settings.dsn()
        return
    with plain_database(settings, "ioc_camera_writer_plain") as plain:
        yield plain


@pytest.fixture
def writer(dsn: str) -> Iterator[BatchWriter]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE camera_events")
        yield BatchWriter(conn, report_new=True)


def _write(writer: BatchWriter, messages: list[CameraEvent]) -> list[CameraEvent]:
    result = writer.write(Batch(camera_events=list(messages)))
    assert result.fresh is not None
    return list(result.fresh.camera_events)


def _row(writer: BatchWriter, event_id: str) -> list[tuple]:
    return writer.conn.execute(
        "SELECT state, frame_time, score, zones, end_time, snapshot, has_snapshot, plate"
        " FROM camera_events WHERE event_id = %s",
        (event_id,),
    ).fetchall()


def _final(event_id: str) -> tuple:
    return (
        "end", T0 + timedelta(seconds=5), pytest.approx(0.85), ["cong_cang"],
        T0 + timedelta(seconds=5), f"frigate:{event_id}", True, None,
    )  # fmt: skip


def _splits(n: int) -> Iterator[list[int]]:
    """Every way to cut n messages into consecutive batches (as cut points)."""
    for mask in range(2 ** (n - 1)):
        yield [i for i in range(1, n) if mask >> (i - 1) & 1]


def test_every_batch_split_is_one_row_with_the_final_state_and_each_message_once(
    writer,
) -> None:
    for number, cuts in enumerate(_splits(len(STATES))):
        event_id = f"1764000000.{number:06d}-split"
        messages = frigate_event(event_id)
        bounds = [0, *cuts, len(messages)]
        fresh: list[CameraEvent] = []
        for start, end in itertools.pairwise(bounds):
            fresh += _write(writer, messages[start:end])
        assert [id(m) for m in fresh] == [id(m) for m in messages], cuts
        assert _row(writer, event_id) == [_final(event_id)], cuts


def test_redelivery_adds_nothing_and_hands_nothing_again(writer) -> None:
    rng = random.Random(12)
    for number in range(20):
        event_id = f"1764000000.{number:06d}-again"
        messages = frigate_event(event_id)
        fresh: list[CameraEvent] = []
        # Each batch carries one new message and a random handful already delivered
        # (a worker restart re-sends its unacknowledged window).
        for i, message in enumerate(messages):
            resent = rng.sample(messages[:i], k=rng.randint(0, i))
            batch = [*resent, message, *rng.sample(resent, k=len(resent) // 2)]
            rng.shuffle(batch)
            fresh += _write(writer, batch)
        assert [id(m) for m in fresh] == [id(m) for m in messages]
        # The whole event again, twice in one batch: nothing is new.
        assert _write(writer, messages + messages) == []
        assert _row(writer, event_id) == [_final(event_id)]


def test_a_late_older_update_never_overwrites_a_newer_state(writer) -> None:
    event_id = "1764000000.000001-late"
    new, u1, u2, u3, u4, end = frigate_event(event_id)
    assert _write(writer, [new, u3]) == [new, u3]
    assert _write(writer, [u1, u2]) == []  # older than what is stored
    assert _row(writer, event_id)[0][:2] == ("update", u3.frame_time)
    assert [m.frame_time for m in _write(writer, [u2, u4, u1])] == [u4.frame_time]
    # A batch holding the end with updates of later moments: the end closes the event.
    assert _write(writer, [end, u3]) == [end]
    assert _write(writer, [u4, u1]) == []  # ended stays ended
    assert _row(writer, event_id) == [_final(event_id)]


def test_a_batch_hands_each_moment_once_in_frame_order_up_to_the_end(writer) -> None:
    event_id = "1764000000.000002-order"
    messages = frigate_event(event_id)
    new, u1, u2, u3, u4, end = messages
    twin = u2.model_copy(update={"score": 0.99})  # same moment, sent again with a change
    fresh = _write(writer, [u4, end, u2, new, twin, u1, u3])
    assert [id(m) for m in fresh] == [id(m) for m in messages]


def test_an_end_of_the_same_moment_as_the_last_update_still_ends_and_is_handed_on(
    writer,
) -> None:
    event_id = "1764000000.000003-tie"
    new, u1, *_ = frigate_event(event_id)
    end = _end_at(new, u1.frame_time)
    assert _write(writer, [new, u1]) == [new, u1]
    assert _write(writer, [end]) == [end]
    assert _row(writer, event_id)[0][:2] == ("end", u1.frame_time)


def test_events_of_several_cameras_are_ordered_by_moment(writer) -> None:
    a = frigate_event("1764000000.000004-a", camera="kh-camranh-cam01")
    b = [
        m.model_copy(update={"frame_time": m.frame_time + timedelta(milliseconds=500)})
        for m in frigate_event("1764000000.000005-b", camera="kh-camranh-cam02")
    ]
    fresh = _write(writer, b + a)
    assert [m.frame_time for m in fresh] == sorted(m.frame_time for m in a + b)
    assert writer.conn.execute("SELECT count(*) FROM camera_events").fetchone()[0] == 2


def test_a_message_without_a_frame_time_counts_as_its_start(writer) -> None:
    event_id = "1764000000.000006-noframe"
    new, u1, *_ = frigate_event(event_id)
    bare = new.model_copy(update={"frame_time": None})
    assert _write(writer, [bare]) == [bare]
    assert _row(writer, event_id)[0][1] == T0
    assert _write(writer, [bare]) == []
    assert _write(writer, [u1]) == [u1]


def _end_at(event: CameraEvent, frame: datetime | None) -> CameraEvent:
    return event.model_copy(update={"state": "end", "frame_time": frame, "end_time": frame})
