"""Hikvision ISAPI push on the real stack (issue 12, acceptance 2): a real uvicorn
process, the real database, the shipped detectors. Valid XML and a multipart ANPR push
with its pictures are stored (the picture in the snapshot store, its reference on the
event); malformed, truncated, oversized and wrongly typed bodies from an authenticated
camera are refused with 400 / 413 / 415 / 422 and kept as dead letters with their
reasons; wrong or missing credentials are a 401 with a Basic challenge, store nothing,
and count as failed authentications."""

from __future__ import annotations

import base64
import hashlib
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from store.users import create_user, delete_user
from tests.integration.api_server import api_process

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "cameras"
SNAPSHOT_MAX = 64 * 1024
MAX_XML = 262144  # routes.yaml limits.max_message_bytes
AUTH_FAILURES = 6
PROBLEM = "application/problem+json"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 16 + b"\xff\xd9"
BOUNDARY = "MIME_boundary"


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("isapi") / "snapshots"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, snapshot_dir: Path) -> Iterator[str]:
    env = {
        "IOC_API_AUTH_FAILURES": f"{AUTH_FAILURES}/minute",
        "IOC_API_TOKEN_REQUESTS": "100000/minute",
        "IOC_SNAPSHOT_DIR": str(snapshot_dir),
        "IOC_SNAPSHOT_MAX_BYTES": str(SNAPSHOT_MAX),
    }
    log = tmp_path_factory.mktemp("api") / "api.log"
    with api_process(env, log) as url:
        yield url
    print(log.read_text(errors="replace")[-3000:])


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


def _camera(settings: Settings) -> DeviceCredentials:
    spec = DeviceSpec(
        id=f"t-isapi-{uuid.uuid4().hex[:8]}", type="camera", province="Khánh Hòa",
        lat=11.9, lon=109.15, expected_interval_s=300,
    )  # fmt: skip
    creds = register_device(settings, spec)
    assert creds.http_token
    return creds


@pytest.fixture
def camera(settings: Settings) -> DeviceCredentials:
    return _camera(settings)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def push(
    api: str,
    body: bytes,
    content_type: str = "application/xml",
    login: tuple[str, str] | None = None,
    authorization: str | None = None,
    client: str | None = None,
) -> httpx.Response:
    headers = {"Content-Type": content_type, "Accept-Language": "en"}
    if login is not None:
        headers["Authorization"] = basic(*login)
    if authorization is not None:
        headers["Authorization"] = authorization
    if client is not None:  # uvicorn trusts X-Forwarded-For from 127.0.0.1
        headers["X-Forwarded-For"] = client
    return httpx.post(f"{api}/api/v1/ingest/isapi", content=body, headers=headers, timeout=60)


def login_of(creds: DeviceCredentials) -> tuple[str, str]:
    assert creds.http_token
    return (creds.device_id, creds.http_token)


def multipart(parts: list[tuple[str, str, bytes]]) -> bytes:
    out = b""
    for name, content_type, data in parts:
        stem = name.rsplit(".", 1)[0]
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{stem}"; filename="{name}"'
                f"\r\nContent-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def alert(event_type: str, count: int = 1, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        "<channelID>1</channelID><dateTime>2026-11-24T22:00:00+07:00</dateTime>"
        f"<activePostCount>{count}</activePostCount><eventType>{event_type}</eventType>"
        f"<eventState>active</eventState>{extra}</EventNotificationAlert>"
    ).encode()


def events(conn: psycopg.Connection, camera: str) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "SELECT event_id, source, event_type, state, label, zones, plate, snapshot, frame_time"
        " FROM camera_events WHERE camera = %s ORDER BY frame_time, event_type",
        (camera,),
    )
    names = [c.name for c in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def letters(conn: psycopg.Connection, camera: str) -> list[tuple[str, str, str, bytes, int]]:
    return conn.execute(
        "SELECT id, format, reason, payload, payload_size FROM dead_letters"
        " WHERE transport = 'http' AND topic = %s ORDER BY received_at",
        (f"http/isapi/{camera}",),
    ).fetchall()


def refused(
    response: httpx.Response, status: int, code: str, conn: psycopg.Connection, camera: str
) -> tuple[str, bytes]:
    """The problem names the dead letter that holds the refused body with its reason."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    letter_id = problem["detail"].rsplit(" ", 1)[1]  # "… kept as dead letter <id>"
    found = [row for row in letters(conn, camera) if row[0] == letter_id]
    assert len(found) == 1, (problem, letters(conn, camera))
    _, format_name, reason, payload, _ = found[0]
    assert format_name == "isapi"
    assert reason in problem["detail"]
    return reason, payload


# -- stored ---------------------------------------------------------------------------


def test_a_valid_push_is_stored_once_for_the_authenticated_camera(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = (DATA / "isapi_linedetection_hikvision.xml").read_bytes()
    answers = [  # a camera that re-sends the same push
        push(api, body, 'application/xml; charset="UTF-8"', login_of(camera)) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200], answers[-1].text
    assert [(a.json()["stored"], a.json()["duplicate"]) for a in answers] == [(1, 0), (0, 1)]
    (row,) = events(conn, camera.device_id)
    assert (row["source"], row["event_type"], row["state"], row["label"], row["zones"]) == (
        "hikvision", "line_crossing", "active", "person", ["1"],
    )  # fmt: skip
    assert row["snapshot"] is None
    assert letters(conn, camera.device_id) == []


def test_a_multipart_anpr_push_keeps_its_picture_as_a_file_and_a_reference(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection, snapshot_dir: Path
) -> None:
    xml = (DATA / "isapi_anpr.xml").read_bytes()
    crop = JPEG[:500] + b"\xff\xd9"
    body = multipart(
        [
            ("anpr.xml", "application/xml", xml),
            ("licensePlatePicture.jpg", "image/jpeg", crop),
            ("detectionPicture.jpg", "image/jpeg", JPEG),
        ]
    )
    answer = push(api, body, f"multipart/form-data; boundary={BOUNDARY}", login_of(camera))
    assert answer.status_code == 200, answer.text
    (row,) = events(conn, camera.device_id)
    name = f"{hashlib.sha256(JPEG).hexdigest()}.jpg"
    assert (row["event_type"], row["label"], row["snapshot"]) == ("anpr", "car", f"isapi:{name}")
    assert row["plate"] is None  # plates live in plate_reads only (personal data)
    stored = snapshot_dir / name
    assert stored.read_bytes() == JPEG
    assert stat.S_IMODE(stored.stat().st_mode) == 0o640
    assert stat.S_IMODE(snapshot_dir.stat().st_mode) == 0o750
    assert not (snapshot_dir / f"{hashlib.sha256(crop).hexdigest()}.jpg").exists()


def test_multipart_mixed_is_read_too(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = multipart([("MoveDetection.xml", "text/xml", alert("VMD", 41))])
    answer = push(api, body, f"multipart/mixed; boundary={BOUNDARY}", login_of(camera))
    assert answer.status_code == 200, answer.text
    assert [r["event_type"] for r in events(conn, camera.device_id)] == ["motion"]


# -- refused, kept as dead letters ------------------------------------------------------


def test_malformed_xml_is_400_with_its_dead_letter(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = b"<EventNotificationAlert><eventType>VMD</eventType><oops></EventNotificationAlert>"
    response = push(api, body, "text/xml", login_of(camera))
    reason, payload = refused(response, 400, "isapi_malformed", conn, camera.device_id)
    assert reason.startswith("isapi: malformed XML") and payload == body
    assert events(conn, camera.device_id) == []


def test_truncated_xml_and_truncated_multipart_are_400(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    cut = alert("linedetection", 7)[:-40]
    reason, payload = refused(
        push(api, cut, "application/xml", login_of(camera)),
        400, "isapi_malformed", conn, camera.device_id,
    )  # fmt: skip
    assert "malformed XML" in reason and payload == cut
    whole = multipart(
        [("a.xml", "application/xml", alert("VMD", 8)), ("p.jpg", "image/jpeg", JPEG)]
    )
    cut = whole[: len(whole) // 2]
    reason, payload = refused(
        push(api, cut, f"multipart/form-data; boundary={BOUNDARY}", login_of(camera)),
        400, "isapi_malformed", conn, camera.device_id,
    )  # fmt: skip
    assert "truncated multipart body" in reason and payload == cut
    assert events(conn, camera.device_id) == []


def test_an_image_over_the_limit_is_413_and_the_event_kept_as_a_letter(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection, snapshot_dir: Path
) -> None:
    big = JPEG + bytes(SNAPSHOT_MAX)
    xml = alert("fielddetection", 9)
    body = multipart(
        [("a.xml", "application/xml", xml), ("detectionPicture.jpg", "image/jpeg", big)]
    )
    response = push(api, body, f"multipart/form-data; boundary={BOUNDARY}", login_of(camera))
    reason, payload = refused(response, 413, "isapi_too_large", conn, camera.device_id)
    assert "image part 'detectionPicture.jpg' too large" in reason
    assert payload == xml  # the event can be replayed; the picture is not kept
    assert not (snapshot_dir / f"{hashlib.sha256(big).hexdigest()}.jpg").exists()
    assert events(conn, camera.device_id) == []


def test_a_body_over_the_push_limit_is_413_once_read_that_far(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = alert("VMD", 10, "<x>" + "a" * (MAX_XML + 3 * SNAPSHOT_MAX) + "</x>")
    response = push(api, body, "application/xml", login_of(camera))
    reason, payload = refused(response, 413, "isapi_too_large", conn, camera.device_id)
    assert reason.startswith("body larger than")
    assert body.startswith(payload) and len(payload) < len(body)


def test_xml_over_the_message_limit_is_413(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = alert("VMD", 11, "<x>" + "a" * MAX_XML + "</x>")
    reason, _ = refused(
        push(api, body, "application/xml", login_of(camera)),
        413, "isapi_too_large", conn, camera.device_id,
    )  # fmt: skip
    assert "XML body too large" in reason


def test_another_content_type_is_415_with_its_dead_letter(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = b'{"eventType": "VMD"}'
    reason, payload = refused(
        push(api, body, "application/json", login_of(camera)),
        415, "isapi_media_type", conn, camera.device_id,
    )  # fmt: skip
    assert "Content-Type 'application/json'" in reason and payload == body


def test_well_formed_but_unusable_is_422(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = alert("faceSnap", 12)
    reason, payload = refused(
        push(api, body, "application/xml", login_of(camera)),
        422, "isapi_unusable", conn, camera.device_id,
    )  # fmt: skip
    assert "eventType 'faceSnap' is not one the service reads" in reason and payload == body
    reason, _ = refused(
        push(api, b"<Other/>", "application/xml", login_of(camera)),
        422, "isapi_unusable", conn, camera.device_id,
    )  # fmt: skip
    assert "root element is 'Other'" in reason


# -- unauthenticated: refused, nothing stored ---------------------------------------------


def test_wrong_or_missing_credentials_are_401_with_a_challenge_and_store_nothing(
    api: str, settings: Settings, conn: psycopg.Connection
) -> None:
    camera, other = _camera(settings), _camera(settings)
    assert other.http_token
    body = alert("VMD", 13)
    attempts = [
        ({}, "isapi_credentials_required"),
        ({"login": (camera.device_id, "not-the-token")}, "isapi_credentials_invalid"),
        # Another device's valid token does not let it post as this camera.
        ({"login": (camera.device_id, other.http_token)}, "isapi_credentials_invalid"),
        ({"authorization": "Basic !!!"}, "isapi_credentials_invalid"),
        ({"authorization": f"Bearer {camera.http_token}"}, "isapi_credentials_required"),
    ]
    for extra, code in attempts:
        response = push(api, body, "application/xml", client="198.51.100.71", **extra)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == code
        assert response.headers["www-authenticate"].startswith("Basic ")
    for device in (camera, other):
        assert letters(conn, device.device_id) == [] and events(conn, device.device_id) == []


def test_failed_logins_are_rate_limited_per_address(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection
) -> None:
    address = "198.51.100.72"
    codes = [
        push(
            api, alert("VMD", 14), login=(camera.device_id, f"guess-{i}"), client=address
        ).status_code
        for i in range(AUTH_FAILURES + 1)
    ]
    assert codes == [401] * AUTH_FAILURES + [429]
    # Past the limit even the right login is refused from that address, so a guesser
    # cannot tell a right guess; another address is served.
    assert push(api, alert("VMD", 14), login=login_of(camera), client=address).status_code == 429
    ok = push(api, alert("VMD", 14), login=login_of(camera), client="198.51.100.73")
    assert ok.status_code == 200, ok.text


# -- the login a camera is given ----------------------------------------------------------


@pytest.fixture
def admin(conn: psycopg.Connection) -> Iterator[str]:
    user, token = create_user(conn, f"t-isapi-{uuid.uuid4().hex[:8]}", "admin")
    yield token
    delete_user(conn, user.name)


def test_the_device_api_gives_a_camera_its_push_url_and_login_and_it_works(
    api: str, admin: str, conn: psycopg.Connection
) -> None:
    def create(device_id: str, kind: str) -> dict[str, Any]:
        body = {"id": device_id, "type": kind, "province": "Khánh Hòa", "lat": 11.9,
                "lon": 109.15}  # fmt: skip
        answer = httpx.post(
            f"{api}/api/v1/devices", json=body, headers={"Authorization": f"Bearer {admin}"}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["credentials"]

    tag = uuid.uuid4().hex[:8]
    camera = create(f"t-isapi-api-{tag}", "camera")
    # The URL is the configured public address; here the test API's own.
    assert camera["isapi_url"].endswith("/api/v1/ingest/isapi")
    assert camera["http_username"] == f"t-isapi-api-{tag}"
    assert camera["http_password"] == camera["http_token"]
    login = (camera["http_username"], camera["http_password"])
    answer = push(api, alert("shelteralarm", 15), login=login)
    assert answer.status_code == 200, answer.text
    assert [r["event_type"] for r in events(conn, camera["device_id"])] == ["tamper"]
    sensor = create(f"t-isapi-aq-{tag}", "air_quality")
    assert (sensor["isapi_url"], sensor["http_username"], sensor["http_password"]) == (
        None, None, None,
    )  # fmt: skip


def test_a_letter_of_a_push_replays_for_its_camera(
    api: str, camera: DeviceCredentials, conn: psycopg.Connection, settings: Settings
) -> None:
    from ingest.replay import replay

    xml = alert("regionEntrance", 16)
    body = multipart([("a.xml", "text/xml", xml), ("p.jpg", "image/jpeg", JPEG * 20)])
    too_large = push(api, body, f"multipart/form-data; boundary={BOUNDARY}", login_of(camera))
    malformed = push(api, b"<EventNotificationAlert>", "text/xml", login_of(camera))
    assert (too_large.status_code, malformed.status_code) == (413, 400)
    ids = [row[0] for row in letters(conn, camera.device_id)]
    report = replay(settings, ids, actor="test", selection={"ids": ids})
    # The event of the too-large push is stored (without its picture), for the camera
    # that had authenticated; the broken body still fails.
    assert (report.stored, report.still_failing) == (1, 1)
    (row,) = events(conn, camera.device_id)
    assert (row["event_type"], row["snapshot"]) == ("region_entrance", None)


# -- remembered logins (api/login_cache.py) -------------------------------------------------


def _answer_within(api: str, body: bytes, login: tuple[str, str], status: int) -> int:
    """The status a push gets once it is `status`, or the last one after 2 s. A change is
    announced by a notification the API hears a moment after the commit."""
    deadline = time.monotonic() + 2
    while True:
        got = push(api, body, login=login).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def test_a_remembered_login_stops_when_revoked_or_its_device_is_disabled(
    api: str, admin: str, settings: Settings, conn: psycopg.Connection
) -> None:
    creds = _camera(settings)
    login = login_of(creds)
    deadline = time.monotonic() + 10  # the API remembers logins only while it listens
    while httpx.get(f"{api}/readyz").json().get("alert_feed") != "listening":
        assert time.monotonic() < deadline, "the API's feed never listened"
        time.sleep(0.05)
    assert push(api, alert("VMD"), login=login).status_code == 200

    # A change with the trigger switched off (only the tables' owner can) is not heard:
    # the login is answered from memory, which shows the API remembers it at all.
    with conn.transaction():
        conn.execute("ALTER TABLE devices DISABLE TRIGGER logins_changed")
        conn.execute("UPDATE devices SET disabled_at = now() WHERE id = %s", (creds.device_id,))
        conn.execute("ALTER TABLE devices ENABLE TRIGGER logins_changed")
    assert push(api, alert("VMD", 2), login=login).status_code == 200

    # Any ordinary statement is heard, whoever runs it: here an operator's SQL.
    conn.execute("UPDATE devices SET disabled_at = NULL WHERE id = %s", (creds.device_id,))
    conn.execute("UPDATE devices SET disabled_at = now() WHERE id = %s", (creds.device_id,))
    assert _answer_within(api, alert("VMD", 3), login, 401) == 401
    conn.execute("UPDATE devices SET disabled_at = NULL WHERE id = %s", (creds.device_id,))
    assert _answer_within(api, alert("VMD", 4), login, 200) == 200

    revoked = httpx.post(
        f"{api}/api/v1/devices/{creds.device_id}/credentials/revoke",
        json={"kind": "http"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1, revoked.text
    assert _answer_within(api, alert("VMD", 5), login, 401) == 401
