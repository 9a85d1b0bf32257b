"""Plate search through the API, on the real database: reads stored as the pipeline
stores them (store.cameras.store_plate_reads) are found by any spelling of the plate
(`51F-123.45`, `51F12345`, a two-row read), filtered by camera and time, paged newest
first, each with its snapshot link; plates are personal data, so only operators and
admins search; bad input is a 4xx problem; the retention delete takes old reads only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from events.camera_records import PlateRead
from events.models import CameraEvent
from processors.cameras.plates import normalise
from processors.catalog import build_runner
from store.cameras import store_plate_reads
from store.plates import delete_reads_before
from store.writer import Batch, BatchWriter
from tests.integration import camera_api
from tests.integration.camera_api import as_, assert_problem, client_for, pages

pytestmark = pytest.mark.integration

URL = "/api/v1/plates"
conn = camera_api.conn
users = camera_api.users
PICTURE = f"{'ab' * 32}.jpg"


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    # No Frigate server configured: a frigate: reference has no link.
    ours = settings.model_copy(update={"snapshot_dir": tmp_path, "frigate_url": None})
    with client_for(ours) as client:
        yield client


def read(camera: str, at: datetime, plate: str, n: int, **fields: Any) -> PlateRead:
    values: dict[str, Any] = {
        "score": 0.9,
        "direction": "forward",
        "vehicle_type": "car",
        "snapshot": None,
        "source": "hikvision",
        **fields,
    }
    return PlateRead(
        time=at, camera=camera, plate=plate, plate_norm=normalise(plate),
        event_id=f"{camera}-{n}", **values,
    )  # fmt: skip


@pytest.fixture
def cameras(conn: psycopg.Connection) -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:6]
    pair = (f"t-anpr-{tag}-a", f"t-anpr-{tag}-b")
    # Other tests' cameras read these plates too (the suite shares one database), and
    # this test's searches are by plate: their reads go first.
    searched = [normalise(p) for p in ("51F-123.45", "59-F1 234.56")]
    conn.execute("DELETE FROM plate_reads WHERE plate_norm = ANY(%s)", (searched,))
    yield pair
    conn.execute("DELETE FROM plate_reads WHERE camera = ANY(%s)", (list(pair),))


def q(at: datetime) -> str:
    return quote(at.isoformat(), safe="")


def test_any_spelling_finds_the_same_reads_with_filters_pages_and_links(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    cameras: tuple[str, str],
) -> None:
    a, b = cameras
    now = datetime.now(UTC).replace(microsecond=0)
    reads = [
        read(a, now - timedelta(minutes=40), "51F-123.45", 1, snapshot=f"isapi:{PICTURE}"),
        read(b, now - timedelta(minutes=30), "51F12345", 2, source="frigate",
             snapshot=f"frigate:{b}-2", direction=None),
        # A two-row plate read with its rows joined by a line break, O for 0 and I for 1.
        read(a, now - timedelta(minutes=20), "51F\nI23.45", 3),
        read(b, now - timedelta(minutes=10), "51f 123.45", 4, score=0.6),
        # Other plates: never found by this search.
        read(a, now - timedelta(minutes=15), "51F-123.46", 5),
        read(b, now - timedelta(minutes=5), "59-F1 234.56", 6),
    ]  # fmt: skip
    with conn.transaction():
        store_plate_reads(conn, reads)
    operator = as_(users, "operator")
    expected = [f"{b}-4", f"{a}-3", f"{b}-2", f"{a}-1"]

    for spelling in ("51F-123.45", "51F12345", "51F 123.45", "51F\n123.45", "51f-I23.4S"):
        walked = [r for page in pages(api, operator, f"{URL}?plate={quote(spelling)}&limit=3")
                  for r in page]  # fmt: skip
        assert [r["event_id"] for r in walked] == expected, spelling
    found = api.get(f"{URL}?plate=51F12345", headers=operator).json()
    assert len(pages(api, operator, f"{URL}?plate=51F12345&limit=1")) == 4
    assert {r["plate_norm"] for r in found} == {normalise("51F-123.45")}
    assert [r["plate"] for r in found] == ["51f 123.45", "51F\nI23.45", "51F12345", "51F-123.45"]
    oldest = found[-1]
    assert oldest["camera"] == a and oldest["score"] == pytest.approx(0.9)
    assert oldest["direction"] == "forward" and oldest["vehicle_type"] == "car"
    assert oldest["snapshot"] == f"isapi:{PICTURE}"
    assert oldest["snapshot_url"] == f"/api/v1/snapshots/{PICTURE}"
    assert found[2]["snapshot"] == f"frigate:{b}-2" and found[2]["snapshot_url"] is None

    def ids(query: str) -> list[str]:
        answer = api.get(f"{URL}?plate=51F-123.45&{query}", headers=operator)
        assert answer.status_code == 200, answer.text
        return [r["event_id"] for r in answer.json()]

    assert ids(f"camera={a}") == [f"{a}-3", f"{a}-1"]
    assert ids(f"since={q(now - timedelta(minutes=30))}") == [f"{b}-4", f"{a}-3", f"{b}-2"]
    assert ids(f"until={q(now - timedelta(minutes=30))}") == [f"{a}-1"]
    window = f"since={q(now - timedelta(minutes=35))}&until={q(now - timedelta(minutes=15))}"
    assert ids(f"camera={b}&{window}") == [f"{b}-2"]
    assert ids("camera=nobody") == []
    assert [r["event_id"] for r in api.get(f"{URL}?plate=59F123456", headers=operator).json()] == [
        f"{b}-6"
    ]
    assert len(pages(api, as_(users, "admin"), f"{URL}?plate=51F12345")[0]) == 4


def test_only_operators_and_admins_search_plates(
    api: TestClient, users: dict[str, dict[str, str]]
) -> None:
    for role in ("viewer", "integrator", "csirt"):
        problem = assert_problem(
            api.get(f"{URL}?plate=51F12345", headers=as_(users, role)), 403, "role_forbidden"
        )
        assert "admin or operator" in problem["detail"]
    assert_problem(api.get(f"{URL}?plate=51F12345"), 401, "token_required")


def test_plate_queries_are_bounded(api: TestClient, users: dict[str, dict[str, str]]) -> None:
    operator = as_(users, "operator")
    now = datetime.now(UTC)
    for query in (
        "",  # the plate is required: no browsing everyone's reads
        "plate=",
        f"plate={'5' * 33}",
        "plate=51F12345&since=2026-12-01T00:00:00",
        "plate=51F12345&until=1700000000",
        f"plate=51F12345&camera={'c' * 129}",
        "plate=51F12345&limit=501",
        "plate=51F%00",
    ):
        assert_problem(api.get(f"{URL}?{query}", headers=operator), 422, "invalid_request")
    assert_problem(api.get(f"{URL}?plate=.-.", headers=operator), 422, "plate_unreadable")
    backwards = f"{URL}?plate=51F12345&since={q(now)}&until={q(now - timedelta(hours=1))}"
    assert_problem(api.get(backwards, headers=operator), 422, "time_range_invalid")
    assert_problem(
        api.get(f"{URL}?plate=51F12345&cursor=bm9wZQ", headers=operator), 422, "invalid_cursor"
    )
    vi = api.get(f"{URL}?plate=.-.", headers=as_(users, "operator", lang="vi")).json()
    assert vi["detail"] == "Biển số không có ký tự chữ hoặc số nào để so khớp"


def test_the_retention_delete_takes_only_old_reads(
    conn: psycopg.Connection, cameras: tuple[str, str]
) -> None:
    a, _ = cameras
    now = datetime.now(UTC)
    old = [read(a, now - timedelta(days=40, minutes=i), "30A-999.99", i) for i in range(7)]
    young = [read(a, now - timedelta(days=29, minutes=i), "30A-999.99", 100 + i) for i in range(3)]
    with conn.transaction():
        store_plate_reads(conn, old + young)
    cutoff = now - timedelta(days=30)
    # Small batches: the loop, not one statement, takes them all.
    before = conn.execute("SELECT count(*) FROM plate_reads WHERE time < %s", (cutoff,)).fetchone()
    assert before is not None and before[0] >= 7
    assert delete_reads_before(conn, cutoff, batch_rows=3) == before[0]
    left = conn.execute(
        "SELECT event_id FROM plate_reads WHERE camera = %s ORDER BY event_id", (a,)
    ).fetchall()
    assert [r[0] for r in left] == sorted(r.event_id for r in young)


def test_a_read_through_the_real_pipeline_is_found_and_hits_the_list_the_api_keeps(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    cameras: tuple[str, str],
    settings: Settings,
) -> None:
    """An ANPR event written by the batch writer with the real detectors (as the ingest
    worker writes it): its two-row plate becomes a read the search finds in another
    spelling, and the watch-list entry the API added raises one alert for the pass."""
    camera, _ = cameras
    operator = as_(users, "operator")
    watched = api.post(
        "/api/v1/watchlist", headers=operator, json={"plate": "65C1-234.56", "reason": "thử"}
    )
    assert watched.status_code in (200, 201), watched.text
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    anpr = CameraEvent(
        time=at, event_id=f"{camera}-anpr-1", source="hikvision", camera=camera,
        event_type="anpr", state="active", label="motorcycle", plate="65-C1\n234.56",
        plate_score=0.87, direction="forward", frame_time=at, snapshot=f"isapi:{PICTURE}",
    )  # fmt: skip
    try:
        writer = BatchWriter(conn, build_runner(settings))
        writer.write(Batch(camera_events=[anpr]))
        writer.write(Batch(camera_events=[anpr]))  # re-delivered: the same pass
        (found,) = api.get(f"{URL}?plate=65C123456", headers=operator).json()
        assert found["plate"] == "65-C1\n234.56" and found["camera"] == camera
        assert found["plate_norm"] == normalise("65C1-234.56")
        assert found["score"] == pytest.approx(0.87) and found["vehicle_type"] == "motorcycle"
        assert found["snapshot_url"] == f"/api/v1/snapshots/{PICTURE}"
        alerts = conn.execute(
            "SELECT count(*) FROM alerts WHERE rule = 'camera.plate_watch'"
            " AND labels->>'camera' = %s",
            (camera,),
        ).fetchone()
        assert alerts == (1,)
    finally:
        conn.execute("DELETE FROM plate_watchlist WHERE plate_norm = %s", (normalise("65C123456"),))
