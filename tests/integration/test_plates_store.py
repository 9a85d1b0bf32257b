"""store/plates.py and store/camera_reads.py on both engines: the same answers from
TimescaleDB's hypertables and plain PostgreSQL's tables (watch list upkeep, plate read
pages by normalised plate, the batched retention delete, camera event pages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from config.settings import Settings
from events.camera_records import PlateRead
from events.models import CameraEvent
from processors.cameras.plates import normalise
from stack import postgres
from store import plates
from store.camera_reads import EventFilter, events_page
from store.cameras import store_plate_reads
from store.writer import Batch, BatchWriter
from tests.integration.engines import PLAIN, TIMESCALE, plain_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
CAMERAS = ("t-store-anpr-a", "t-store-anpr-b")


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def dsn(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    if request.param == TIMESCALE:
        if not postgres.timescale_installed():
            pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
        yield settings.dsn()
        return
    with plain_database(settings, "ioc_plates_store_plain") as plain:
        yield plain


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        forget(conn)
        yield conn
        forget(conn)


def forget(conn: psycopg.Connection) -> None:
    # Reads of these plates by other tests' cameras would land in this test's searches
    # (the suite shares one database): gone too.
    norms = [normalise(p) for p in ("51F-123.45", "30A-999.99")]
    conn.execute(
        "DELETE FROM plate_reads WHERE camera = ANY(%s) OR plate_norm = ANY(%s)",
        (list(CAMERAS), norms),
    )
    conn.execute("DELETE FROM camera_events WHERE camera = ANY(%s)", (list(CAMERAS),))
    conn.execute("DELETE FROM plate_watchlist WHERE plate_norm = ANY(%s)", (norms,))


def cam(i: int) -> str:
    """Odd numbers on the first camera, even on the second."""
    return CAMERAS[0] if i % 2 else CAMERAS[1]


def read(camera: str, minutes: int, plate: str, n: int) -> PlateRead:
    return PlateRead(
        time=T0 + timedelta(minutes=minutes), camera=camera, plate=plate,
        plate_norm=normalise(plate), score=0.9, direction=None, vehicle_type="car",
        event_id=f"{camera}-{n}", snapshot=None, source="hikvision",
    )  # fmt: skip


def test_the_watch_list_is_keyed_by_normalised_plate(conn: psycopg.Connection) -> None:
    entry, created = plates.watch(conn, "51F-123.45", "lý do", "test")
    assert created and entry["plate_norm"] == normalise("51F12345") and entry["active"]
    entry, created = plates.watch(conn, "51f 123.45", "lý do mới", "other", T0)
    assert not created and entry["reason"] == "lý do mới" and not entry["active"]
    assert plates.watched(conn, "51F\n123.45") == entry
    plates.watch(conn, "30A-999.99", "r", "test")
    mine = {normalise("51F12345"), normalise("30A99999")}
    listed = [e["plate_norm"] for e in plates.watch_page(conn, None, None, 1000)]
    assert [n for n in listed if n in mine] == sorted(mine)
    active = {e["plate_norm"] for e in plates.watch_page(conn, True, None, 1000)}
    assert normalise("30A99999") in active and normalise("51F12345") not in active
    after = plates.watch_page(conn, None, normalise("30A99999"), 1000)
    assert all(e["plate_norm"] > normalise("30A99999") for e in after)
    assert plates.unwatch(conn, "51F12345") is not None
    assert plates.unwatch(conn, "51F12345") is None
    with pytest.raises(plates.UnreadablePlate):
        plates.watched(conn, " .- ")


def test_reads_pages_filters_and_the_retention_delete(conn: psycopg.Connection) -> None:
    a, b = CAMERAS
    reads = [read(cam(i), i, ("51F-123.45", "51F12345")[i % 2], i) for i in range(7)]
    reads.append(read(a, 100, "30A-999.99", 99))
    with conn.transaction():
        store_plate_reads(conn, reads)
    where = plates.ReadFilter("51F 123.45")
    first = plates.reads_page(conn, where, None, 3)
    second = plates.reads_page(conn, where, (first[-1]["time"], first[-1]["event_id"]), 10)
    assert [r["event_id"] for r in first + second] == [f"{cam(i)}-{i}" for i in range(6, -1, -1)]
    only_a = plates.reads_page(conn, plates.ReadFilter("51F12345", camera=a), None, 10)
    assert [r["event_id"] for r in only_a] == [f"{a}-5", f"{a}-3", f"{a}-1"]
    window = plates.ReadFilter(
        "51F12345", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)
    )
    assert [r["event_id"] for r in plates.reads_page(conn, window, None, 10)] == [
        f"{a}-3", f"{b}-2",
    ]  # fmt: skip

    assert plates.delete_reads_before(conn, T0 + timedelta(minutes=5), batch_rows=2) >= 5
    left = conn.execute(
        "SELECT event_id FROM plate_reads WHERE camera = ANY(%s) ORDER BY time", (list(CAMERAS),)
    ).fetchall()
    assert [r[0] for r in left] == [f"{a}-5", f"{b}-6", f"{a}-99"]


def test_camera_event_pages(conn: psycopg.Connection) -> None:
    a, b = CAMERAS
    events = [
        CameraEvent(
            time=T0 + timedelta(minutes=i),
            event_id=f"{cam(i + 1)}-{i}",
            source="frigate",
            camera=cam(i + 1),
            event_type=("object", "motion")[i % 2],
            state="new",
            has_snapshot=i == 0,
            frame_time=T0 + timedelta(minutes=i),
        )
        for i in range(6)
    ]
    BatchWriter(conn).write(Batch(camera_events=events))
    span = EventFilter(T0, T0 + timedelta(hours=1))
    rows = [r for r in events_page(conn, span, None, 100) if r["camera"] in CAMERAS]
    assert [r["event_id"] for r in rows] == [e.event_id for e in reversed(events)]
    assert rows[-1]["snapshot"] == f"frigate:{a}-0" and rows[0]["snapshot"] is None
    of_a = EventFilter(T0, T0 + timedelta(hours=1), camera=a)
    page = events_page(conn, of_a, None, 2)
    rest = events_page(conn, of_a, (page[-1]["time"], page[-1]["event_id"]), 10)
    assert [r["event_id"] for r in page + rest] == [f"{a}-4", f"{a}-2", f"{a}-0"]
    typed = EventFilter(T0, T0 + timedelta(minutes=4), camera=b, event_type="motion")
    assert [r["event_id"] for r in events_page(conn, typed, None, 10)] == [f"{b}-3", f"{b}-1"]
