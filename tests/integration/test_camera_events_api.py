"""Camera events and their snapshots through the API, on the real database: events
stored by the real writer are listed newest first in keyset pages, filtered by camera,
type and time (a bounded range), each with its snapshot reference and a link when one
can be made; stored pictures are served by name only, with their type and caching
headers; roles and bad input answer 4xx problems."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from events.models import CameraEvent
from store.writer import Batch, BatchWriter
from tests.integration import camera_api
from tests.integration.camera_api import as_, assert_problem, client_for, pages

pytestmark = pytest.mark.integration

URL = "/api/v1/camera-events"
FRIGATE = "http://frigate.example:5000"
conn = camera_api.conn
users = camera_api.users
# A JPEG's first bytes and a PNG's signature: enough for a content type check.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 200


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "snapshots"
    directory.mkdir()
    return directory


@pytest.fixture
def api(settings: Settings, store_dir: Path) -> Iterator[TestClient]:
    ours = settings.model_copy(update={"snapshot_dir": store_dir, "frigate_url": FRIGATE + "/"})
    with client_for(ours) as client:
        yield client


def saved(directory: Path, data: bytes, ext: str) -> str:
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    (directory / name).write_bytes(data)
    return name


def event(camera: str, at: datetime, n: int, **fields: Any) -> CameraEvent:
    values: dict[str, Any] = {
        "time": at,
        "event_id": f"{camera}-{n}",
        "source": "hikvision",
        "camera": camera,
        "event_type": "motion",
        "state": "active",
        "frame_time": at,
        **fields,
    }
    return CameraEvent(**values)


def test_events_are_listed_filtered_paged_and_linked(
    api: TestClient,
    users: dict[str, dict[str, str]],
    conn: psycopg.Connection,
    store_dir: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    gate, road = f"t-cam-{tag}-gate", f"t-cam-{tag}-road"
    now = datetime.now(UTC).replace(microsecond=0)
    picture = saved(store_dir, JPEG, "jpg")
    events = [
        event(gate, now - timedelta(minutes=50 - i), i, event_type="motion") for i in range(5)
    ]
    events += [
        event(gate, now - timedelta(minutes=30), 10, event_type="intrusion", label="person",
              zones=("cong_cang",), snapshot=f"isapi:{picture}"),
        event(road, now - timedelta(minutes=20), 11, source="frigate", event_type="object",
              state="new", label="car", plate="51F12345", snapshot=f"frigate:{road}-11",
              has_snapshot=True, attributes={"sub_label": "51F12345"}),
        # Two days ago: outside the default range (a day before now).
        event(road, now - timedelta(days=2), 12, event_type="tamper"),
    ]  # fmt: skip
    BatchWriter(conn).write(Batch(camera_events=events))
    operator = as_(users, "operator")

    def mine(url: str, headers: dict[str, str] = operator) -> list[dict[str, Any]]:
        rows = [row for page in pages(api, headers, url) for row in page]
        return [row for row in rows if row["camera"] in (gate, road)]

    walked = mine(f"{URL}?limit=2")
    assert [r["event_id"] for r in walked] == [
        f"{road}-11", f"{gate}-10", *(f"{gate}-{i}" for i in (4, 3, 2, 1, 0)),
    ]  # fmt: skip
    keys = [(r["time"], r["event_id"]) for r in walked]
    assert keys == sorted(keys, reverse=True)

    intrusion = next(r for r in walked if r["event_type"] == "intrusion")
    assert intrusion["snapshot"] == f"isapi:{picture}"
    assert intrusion["snapshot_url"] == f"/api/v1/snapshots/{picture}"
    assert intrusion["zones"] == ["cong_cang"] and intrusion["label"] == "person"
    frigate = next(r for r in walked if r["source"] == "frigate")
    assert frigate["snapshot_url"] == f"{FRIGATE}/api/events/{road}-11/snapshot.jpg"
    # Plates are personal data kept in plate_reads only: never in a camera event.
    assert "plate" not in frigate and "attributes" not in frigate
    assert "51F12345" not in str(walked)
    assert all(r["snapshot"] is None and r["snapshot_url"] is None for r in walked[2:])

    # The link resolves to the picture.
    picture_answer = api.get(intrusion["snapshot_url"], headers=operator)
    assert picture_answer.status_code == 200 and picture_answer.content == JPEG

    assert [r["event_id"] for r in mine(f"{URL}?camera={road}")] == [f"{road}-11"]
    assert [r["event_id"] for r in mine(f"{URL}?camera={gate}&type=intrusion")] == [f"{gate}-10"]
    week = (now - timedelta(days=7)).isoformat()
    with_old = mine(f"{URL}?camera={road}&since={week.replace('+', '%2B')}")
    assert [r["event_id"] for r in with_old] == [f"{road}-11", f"{road}-12"]
    window = (
        f"since={(now - timedelta(minutes=48)).isoformat().replace('+', '%2B')}"
        f"&until={(now - timedelta(minutes=46)).isoformat().replace('+', '%2B')}"
    )
    assert [r["event_id"] for r in mine(f"{URL}?camera={gate}&{window}")] == [
        f"{gate}-3", f"{gate}-2",
    ]  # fmt: skip

    # The CSIRT reads camera events too (physical intrusions); viewers and integrators not.
    assert len(mine(f"{URL}?camera={gate}", as_(users, "csirt"))) == 6
    assert len(mine(f"{URL}?camera={gate}", as_(users, "admin"))) == 6
    for role in ("viewer", "integrator"):
        assert_problem(api.get(URL, headers=as_(users, role)), 403, "role_forbidden")
    assert_problem(api.get(URL), 401, "token_required")


def test_an_old_frigate_row_gets_its_reference_from_has_snapshot(
    api: TestClient, users: dict[str, dict[str, str]], conn: psycopg.Connection
) -> None:
    camera = f"t-cam-{uuid.uuid4().hex[:6]}-old"
    at = datetime.now(UTC) - timedelta(minutes=5)
    BatchWriter(conn).write(
        Batch(camera_events=[event(camera, at, 1, source="frigate", has_snapshot=True)])
    )
    # As a row written before migration 14: no reference stored.
    conn.execute("UPDATE camera_events SET snapshot = NULL WHERE camera = %s", (camera,))
    (row,) = api.get(f"{URL}?camera={camera}", headers=as_(users, "operator")).json()
    assert row["snapshot"] == f"frigate:{camera}-1"
    assert row["snapshot_url"] == f"{FRIGATE}/api/events/{camera}-1/snapshot.jpg"


def test_event_queries_are_bounded(api: TestClient, users: dict[str, dict[str, str]]) -> None:
    operator = as_(users, "operator")
    now = datetime.now(UTC)

    def at(delta: timedelta) -> str:
        return (now + delta).isoformat().replace("+", "%2B")

    long = f"{URL}?since={at(-timedelta(days=32))}&until={at(timedelta())}"
    problem = assert_problem(api.get(long, headers=operator), 422, "time_range_too_long")
    assert "31" in problem["detail"]
    assert_problem(
        api.get(f"{URL}?since={at(timedelta(days=40))}", headers=operator), 422,
        "time_range_invalid",
    )  # fmt: skip
    backwards = f"{URL}?since={at(timedelta())}&until={at(-timedelta(hours=1))}"
    assert_problem(api.get(backwards, headers=operator), 422, "time_range_invalid")
    month = at(timedelta(minutes=1) - timedelta(days=31))
    assert api.get(f"{URL}?since={month}", headers=operator).status_code == 200
    for query in (
        "since=2026-12-01T00:00:00",  # no offset
        "since=1700000000",  # a number is not an RFC 3339 time
        "until=2300-01-01T00:00:00%2B00:00",
        "type=Motion",
        "type=" + "a" * 65,
        "camera=" + "c" * 129,
        "camera=",
        "limit=0",
        "limit=501",
    ):
        assert_problem(api.get(f"{URL}?{query}", headers=operator), 422, "invalid_request")
    assert_problem(api.get(f"{URL}?cursor=WzFd", headers=operator), 422, "invalid_cursor")


def test_snapshots_are_served_by_name_only_with_type_and_cache_headers(
    api: TestClient, users: dict[str, dict[str, str]], store_dir: Path, tmp_path: Path
) -> None:
    jpg, png = saved(store_dir, JPEG, "jpg"), saved(store_dir, PNG, "png")
    operator = as_(users, "operator")
    url = "/api/v1/snapshots"
    answer = api.get(f"{url}/{jpg}", headers=operator)
    assert answer.status_code == 200 and answer.content == JPEG
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["etag"] == f'"{jpg[:64]}"'
    assert answer.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    as_png = api.get(f"{url}/{png}", headers=as_(users, "csirt"))
    assert as_png.status_code == 200 and as_png.headers["content-type"] == "image/png"
    assert as_png.content == PNG

    again = api.get(f"{url}/{jpg}", headers={**operator, "If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = api.get(f"{url}/{jpg}", headers={**operator, "If-None-Match": '"abc"'})
    assert other.status_code == 200

    missing = f"{'0' * 64}.jpg"
    body = assert_problem(api.get(f"{url}/{missing}", headers=operator), 404, "snapshot_not_found")
    assert missing in body["detail"]

    # A file outside the store, and a link to it under a valid name: never served.
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for you")
    linked = f"{hashlib.sha256(b'link').hexdigest()}.jpg"
    (store_dir / linked).symlink_to(secret)
    assert_problem(api.get(f"{url}/{linked}", headers=operator), 404, "snapshot_not_found")
    for name in (
        jpg.upper(),  # the digest is lower-case hex
        jpg[:-4] + ".jpeg",
        jpg[:-4] + ".gif",
        jpg[1:],
        "%2e%2e",
        "secret.jpg",
        f"{jpg}%00",
    ):
        assert_problem(api.get(f"{url}/{name}", headers=operator), 422, "invalid_request")
    for path in (
        f"{url}/../{jpg}",
        f"{url}/%2e%2e/%2e%2e/{jpg}",
        f"{url}/x/{jpg}",
        f"{url}/..%2Fsecret.jpg",
    ):
        response = api.get(path, headers=operator)
        assert response.status_code in (404, 422) and b"not for you" not in response.content
    for role in ("viewer", "integrator"):
        assert_problem(api.get(f"{url}/{jpg}", headers=as_(users, role)), 403, "role_forbidden")
    assert_problem(api.get(f"{url}/{jpg}"), 401, "token_required")
