"""From a Hikvision push to what an operator reads, on a real uvicorn process: a
multipart ANPR push (POST /api/v1/ingest/isapi) is listed by GET /api/v1/camera-events
with a snapshot link that serves the very picture the camera sent, and its plate is
found by GET /api/v1/plates in another spelling, with the same link."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from store.users import create_user, delete_user
from tests.integration.api_server import api_process

pytestmark = pytest.mark.integration

ANPR = Path(__file__).resolve().parents[1] / "data" / "cameras" / "isapi_anpr.xml"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
BOUNDARY = "MIME_boundary"
# The push's own dateTime is 2026-11-24T07:48:03.847+07:00.
SINCE = "2026-11-24T00:00:00%2B07:00"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "IOC_SNAPSHOT_DIR": str(tmp_path_factory.mktemp("push") / "snapshots"),
        "IOC_API_TOKEN_REQUESTS": "100000/minute",
    }
    with api_process(env, tmp_path_factory.mktemp("api") / "api.log") as url:
        yield url


@pytest.fixture(scope="module")
def operator(settings: Settings) -> Iterator[dict[str, str]]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        user, token = create_user(conn, f"t-push-{uuid.uuid4().hex[:8]}", "operator")
        yield {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        delete_user(conn, user.name)


@pytest.fixture(scope="module")
def pushed(api: str, settings: Settings) -> DeviceCredentials:
    """A registered camera that has sent one multipart ANPR push with a picture."""
    camera = register_device(
        settings,
        DeviceSpec(
            id=f"t-push-{uuid.uuid4().hex[:8]}",
            type="camera",
            province="Khánh Hòa",
            lat=11.9,
            lon=109.15,
            expected_interval_s=300,
        ),
    )
    assert camera.http_token
    parts = [
        ("anpr.xml", "application/xml", ANPR.read_bytes()),
        ("detectionPicture.jpg", "image/jpeg", JPEG),
    ]
    body = (
        b"".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name.split(".")[0]}";'
            f' filename="{name}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
            + data
            + b"\r\n"
            for name, kind, data in parts
        )
        + f"--{BOUNDARY}--\r\n".encode()
    )
    login = base64.b64encode(f"{camera.device_id}:{camera.http_token}".encode()).decode()
    answer = httpx.post(
        f"{api}/api/v1/ingest/isapi",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Authorization": f"Basic {login}",
        },
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return camera


def test_the_event_links_to_the_picture_the_camera_sent(
    api: str, operator: dict[str, str], pushed: DeviceCredentials
) -> None:
    listed = httpx.get(
        f"{api}/api/v1/camera-events?camera={pushed.device_id}&since={SINCE}",
        headers=operator,
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    (event,) = listed.json()
    assert event["event_type"] == "anpr" and event["snapshot"].startswith("isapi:")
    assert event["snapshot_url"] == f"/api/v1/snapshots/{event['snapshot'][6:]}"
    picture = httpx.get(f"{api}{event['snapshot_url']}", headers=operator, timeout=30)
    assert picture.status_code == 200 and picture.content == JPEG
    assert picture.headers["content-type"] == "image/jpeg"


def test_its_plate_is_found_in_another_spelling_with_the_same_link(
    api: str, operator: dict[str, str], pushed: DeviceCredentials
) -> None:
    # The camera read 79A12345; an operator types the plate as it is written.
    found = httpx.get(
        f"{api}/api/v1/plates?plate=79A-123.45&camera={pushed.device_id}",
        headers=operator,
        timeout=30,
    )
    assert found.status_code == 200, found.text
    (read,) = found.json()
    assert read["plate"] == "79A12345" and read["direction"] == "forward"
    assert read["score"] == pytest.approx(0.98)
    assert read["snapshot_url"] and read["snapshot_url"].startswith("/api/v1/snapshots/")
