"""HTTP ingest on the real stack (issue 13, acceptance 1): a real uvicorn process, the
real database, the shipped detectors. One batch of valid, duplicate and invalid readings
is answered per item after the commit; the valid readings are in the database once, the
invalid ones are dead letters with their reasons, a repeat answers duplicate for all,
and a water level over its alarm line raises the alert through this path."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from config.settings import Settings
from ingest.provisioning import DeviceCredentials, register_device
from store.devices import DeviceSpec
from store.users import create_user, delete_user
from tests.integration.api_server import api_process
from tests.integration.harness import refusing_dead_letters

pytestmark = pytest.mark.integration

MAX_BODY = 256 * 1024
AUTH_FAILURES = 5
PROBLEM = "application/problem+json"
# Xẻo Rô: BĐ I 0.7 m (processors/environment/alarm_levels.yaml), 5 cm margin.
STATION = "kg-xeoro-wl01"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "IOC_API_MAX_BODY_BYTES": str(MAX_BODY),
        "IOC_API_AUTH_FAILURES": f"{AUTH_FAILURES}/minute",
        "IOC_API_TOKEN_REQUESTS": "100000/minute",
    }
    log = tmp_path_factory.mktemp("api") / "api.log"
    with api_process(env, log) as url:
        yield url
    print(log.read_text(errors="replace")[-3000:])


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


def _device(settings: Settings, device_id: str, kind: str = "air_quality") -> DeviceCredentials:
    spec = DeviceSpec(
        id=device_id, type=kind, province="Kiên Giang", lat=10.0458, lon=104.8639,
        expected_interval_s=60,
    )  # fmt: skip
    return register_device(settings, spec)


@pytest.fixture
def device(settings: Settings) -> DeviceCredentials:
    return _device(settings, f"t-http-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def station(settings: Settings, conn: psycopg.Connection) -> DeviceCredentials:
    conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (STATION,))
    conn.execute("DELETE FROM detector_state WHERE key LIKE %s", (f"%|{STATION}|%",))
    conn.execute("DELETE FROM measurements WHERE device_id = %s", (STATION,))
    return _device(settings, STATION, "water_level")


@pytest.fixture
def integrator(conn: psycopg.Connection) -> Iterator[str]:
    user, token = create_user(conn, f"t-http-{uuid.uuid4().hex[:8]}", "integrator")
    yield token
    delete_user(conn, user.name)


@pytest.fixture
def viewer(conn: psycopg.Connection) -> Iterator[str]:
    user, token = create_user(conn, f"t-http-{uuid.uuid4().hex[:8]}", "viewer")
    yield token
    delete_user(conn, user.name)


def post(
    api: str, path: str, token: str | None, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"Content-Type": content_type, "Accept-Language": "en"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{api}/api/v1/ingest/{path}", content=body, headers=headers, timeout=60)


def readings(conn: psycopg.Connection, device_id: str) -> list[tuple[str, float, datetime]]:
    return conn.execute(
        "SELECT metric, value, time FROM measurements WHERE device_id = %s ORDER BY time, metric",
        (device_id,),
    ).fetchall()


def dead_letter(conn: psycopg.Connection, letter_id: str) -> tuple[str, str, str, bytes]:
    row = conn.execute(
        "SELECT transport, topic, reason, payload FROM dead_letters WHERE id = %s", (letter_id,)
    ).fetchone()
    assert row is not None, letter_id
    return row


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    return body


def test_a_batch_of_valid_duplicate_and_invalid_readings_is_answered_per_item(
    api: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    assert device.http_token
    now = datetime.now(UTC).replace(microsecond=0)
    t = [(now - timedelta(minutes=10 - i)).isoformat() for i in range(4)]
    batch = [
        {"ts": t[0], "pm25": 12.5, "temperature": 29.1},  # 0 stored
        {"ts": t[1], "pm25": 13.0},  # 1 stored
        {"ts": t[1], "pm25": 13.0},  # 2 duplicate of 1 in the same batch
        {"ts": t[2], "pm25": "high"},  # 3 not a number
        {"ts": "yesterday", "pm25": 1.0},  # 4 bad time
        {"ts": t[3], "pm25": 14.0, "device_id": "someone-else"},  # 5 another device
        [1, 2],  # 6 not an object
    ]
    first = post(api, "telemetry", device.http_token, json.dumps(batch).encode())
    assert first.status_code == 207, first.text
    answer = first.json()
    statuses = [item["status"] for item in answer["items"]]
    assert statuses == ["stored", "stored", "duplicate"] + ["rejected"] * 4
    assert [item["index"] for item in answer["items"]] == list(range(7))
    assert (answer["received"], answer["stored"], answer["duplicate"], answer["rejected"]) == (
        7, 2, 1, 4,
    )  # fmt: skip
    rejected = answer["items"][3:]
    assert "'pm25'" in rejected[0]["reason"] and "not a number" in rejected[0]["reason"]
    assert "'ts'" in rejected[1]["reason"]
    assert "someone-else" in rejected[2]["reason"] and device.device_id in rejected[2]["reason"]
    assert "not a JSON object" in rejected[3]["reason"]

    # Valid readings once; nothing of the rejected ones, nothing under the other device.
    stored = readings(conn, device.device_id)
    assert [(m, v) for m, v, _ in stored] == [("pm25", 12.5), ("temperature", 29.1), ("pm25", 13.0)]
    assert readings(conn, "someone-else") == []
    for item in rejected:
        transport, topic, reason, payload = dead_letter(conn, item["dead_letter_id"])
        assert (transport, topic) == ("http", f"ioc/v1/{device.device_id}/telemetry")
        assert item["reason"] == reason
        assert payload  # the item's own bytes, to be replayed after a fix
    assert json.loads(dead_letter(conn, rejected[0]["dead_letter_id"])[3])["pm25"] == "high"

    # The same batch again: every valid item is a duplicate, the rejected ones are
    # rejected again onto the same dead letters, and nothing is added.
    letters = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    again = post(api, "telemetry", device.http_token, json.dumps(batch).encode())
    assert again.status_code == 207, again.text
    repeat = again.json()
    assert [item["status"] for item in repeat["items"]] == ["duplicate"] * 3 + ["rejected"] * 4
    assert [i["dead_letter_id"] for i in repeat["items"][3:]] == [
        i["dead_letter_id"] for i in rejected
    ]
    assert readings(conn, device.device_id) == stored
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == letters


def test_senml_by_content_type_with_base_fields_carried_per_record(
    api: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    base = int(datetime.now(UTC).timestamp()) - 600
    pack = [
        {"bn": f"urn:dev:{device.device_id}:", "bt": base, "n": "pm25", "v": 20.0},
        {"n": "pm25", "t": 60, "v": 21.0},
        {"n": "pm25", "t": 120, "vs": "n/a"},  # string values are not measurements
        {"bn": "urn:dev:other-station:", "n": "pm25", "t": 180, "v": 22.0},
        {"n": "temperature", "u": "K", "t": 240, "v": 303.15},
    ]
    response = post(api, "telemetry", device.http_token, json.dumps(pack).encode(),
                    "application/senml+json")  # fmt: skip
    assert response.status_code == 207, response.text
    items = response.json()["items"]
    assert [i["status"] for i in items] == ["stored", "stored", "rejected", "rejected", "rejected"]
    assert "string values" in items[2]["reason"]
    assert "other-station" in items[3]["reason"]
    # Record 5 inherits the other device's base name, so it is refused too.
    assert "other-station" in items[4]["reason"]
    stored = readings(conn, device.device_id)
    assert [(m, v) for m, v, _ in stored] == [("pm25", 20.0), ("pm25", 21.0)]
    assert stored[1][2] - stored[0][2] == timedelta(seconds=60)


def test_a_water_level_over_its_alarm_line_raises_the_alert_through_http(
    api: str, station: DeviceCredentials, conn: psycopg.Connection
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    batch = [
        {"ts": (now - timedelta(minutes=3 - i)).isoformat(), "waterLevel": level}
        for i, level in enumerate([0.50, 0.62, 0.81])
    ]
    response = post(api, "telemetry", station.http_token, json.dumps(batch).encode())
    assert response.status_code == 200, response.text
    assert [i["status"] for i in response.json()["items"]] == ["stored"] * 3
    # The answer came after the commit, and the detectors ran in that transaction.
    alerts = conn.execute(
        "SELECT status FROM alerts WHERE labels->>'device_id' = %s AND rule = 'env.water_level'",
        (STATION,),
    ).fetchall()
    assert alerts == [("firing",)]
    # Posting the same readings again raises nothing new: they are duplicates.
    again = post(api, "telemetry", station.http_token, json.dumps(batch).encode())
    assert [i["status"] for i in again.json()["items"]] == ["duplicate"] * 3
    history = conn.execute(
        "SELECT count(*) FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE a.labels->>'device_id' = %s AND a.rule = 'env.water_level'",
        (STATION,),
    ).fetchone()
    assert history == (1,)


def test_a_malformed_body_is_one_dead_letter_and_a_422(
    api: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    body = b'[{"ts": "2026-12-03T10:00:00+00:00", "pm25": 1.0}, {"ts": '
    response = post(api, "telemetry", device.http_token, body)
    problem = assert_problem(response, 422, "ingest_body_unusable")
    [letter_id] = [w.strip(". ") for w in problem["detail"].split() if len(w.strip(". ")) >= 16]
    transport, _topic, reason, payload = dead_letter(conn, letter_id)
    assert (transport, payload) == ("http", body)
    assert reason.startswith("invalid JSON")
    assert readings(conn, device.device_id) == []
    assert_problem(post(api, "telemetry", device.http_token, b"  "), 422, "ingest_body_empty")
    assert_problem(
        post(api, "telemetry", device.http_token, b"{}", "text/csv"), 415, "ingest_media_type"
    )


def test_a_dead_letter_the_database_refuses_is_a_503_not_a_server_error(
    api: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    """PostgreSQL refusing the body's dead letter (a data error, SQLSTATE 22023) leaves
    nothing to name in a 422: the sender is told to send it again later."""
    with refusing_dead_letters(conn, f"ioc/v1/{device.device_id}/telemetry"):
        response = post(api, "telemetry", device.http_token, b'[{"ts": ')
    problem = assert_problem(response, 503, "ingest_failed")
    assert response.headers["retry-after"] == "60"
    assert "send it again after 60 s" in problem["detail"]
    assert "refused" not in problem["detail"]  # the reason is the log's, not the sender's
    # The committer goes on.
    body = json.dumps({"ts": datetime.now(UTC).isoformat(), "pm25": 3.0}).encode()
    assert post(api, "telemetry", device.http_token, body).status_code == 200


def test_credentials_are_checked_and_guessing_is_limited(
    api: str, device: DeviceCredentials, integrator: str
) -> None:
    body = json.dumps({"ts": datetime.now(UTC).isoformat(), "pm25": 3.0}).encode()
    assert_problem(post(api, "telemetry", None, body), 401, "token_required")
    # An API user's token is not a device's: the device comes from the token.
    assert_problem(post(api, "telemetry", integrator, body), 401, "token_invalid")
    # From an address of its own, so the other tests' requests are not refused.
    transport = httpx.HTTPTransport(local_address="127.0.0.78")
    with httpx.Client(base_url=api, transport=transport, timeout=30) as guesser:
        url = "/api/v1/ingest/telemetry"
        json_body = {"Content-Type": "application/json"}
        for _ in range(AUTH_FAILURES):
            r = guesser.post(url, content=body, headers={**json_body, "Authorization": "Bearer x"})
            assert_problem(r, 401, "token_invalid")
        # Past the limit, the right token is refused too: the answer tells a guesser nothing.
        limited = guesser.post(
            url, content=body, headers={**json_body, "Authorization": f"Bearer {device.http_token}"}
        )
    assert_problem(limited, 429, "auth_rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1


def test_size_and_count_limits(api: str, settings: Settings) -> None:
    device = _device(settings, f"t-http-{uuid.uuid4().hex[:8]}")
    too_big = b"[" + b",".join([b'{"ts": 1767225600, "pm25": 1.0}'] * 9000) + b"]"
    assert len(too_big) > MAX_BODY
    assert_problem(post(api, "telemetry", device.http_token, too_big), 413, "body_too_large")
    now = datetime.now(UTC)
    many = [{"ts": (now - timedelta(seconds=i)).isoformat(), "pm25": 1.0} for i in range(1001)]
    body = json.dumps(many).encode()
    assert len(body) < MAX_BODY
    problem = assert_problem(post(api, "telemetry", device.http_token, body), 413,
                             "ingest_too_many_items")  # fmt: skip
    assert "1001" in problem["detail"] and "1000" in problem["detail"]


def test_a_log_shipper_posts_syslog_lines_to_a_configured_route(
    api: str, integrator: str, viewer: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    tag = uuid.uuid4().hex[:8]
    lines = [
        f"<38>Dec  3 10:00:01 mail-{tag} sshd[4242]: Failed password for root from"
        " 203.0.113.77 port 52100 ssh2",
        "not a syslog line at all",
        f"<38>Dec  3 10:00:02 mail-{tag} sshd[4242]: Accepted password for ops from"
        " 203.0.113.78 port 52101 ssh2",
    ]
    body = "\r\n".join(lines).encode() + b"\n\n"
    response = post(api, "syslog", integrator, body, "text/plain")
    assert response.status_code == 207, response.text
    items = response.json()["items"]
    assert [i["status"] for i in items] == ["stored", "rejected", "stored"]
    assert "not an RFC 3164 or RFC 5424 syslog line" in items[1]["reason"]
    hosts = conn.execute(
        "SELECT count(*) FROM security_events WHERE host_name = %s", (f"mail-{tag}",)
    ).fetchone()
    assert hosts == (2,)
    assert dead_letter(conn, items[1]["dead_letter_id"])[:2] == ("http", "http/syslog")
    again = post(api, "syslog", integrator, body, "text/plain").json()["items"]
    assert [i["status"] for i in again] == ["duplicate", "rejected", "duplicate"]
    # A device token may post to a route that allows devices; its topic names it.
    one = lines[0].replace("10:00:01", "10:00:09").encode()
    by_device = post(api, "syslog", device.http_token, one, "text/plain")
    assert by_device.status_code == 200, by_device.text
    assert_problem(post(api, "syslog", viewer, body, "text/plain"), 403, "ingest_forbidden")
    assert_problem(post(api, "nope", integrator, body, "text/plain"), 404, "ingest_route_not_found")


def test_concurrent_requests_share_groups_and_each_reading_is_stored_by_exactly_one(
    api: str, device: DeviceCredentials, conn: psycopg.Connection
) -> None:
    """Ten clients post the same 50 records at once, and ten others 50 records each of
    their own: whatever groups the requests fall into, each shared record is answered
    'stored' to exactly one of them and 'duplicate' to the rest, and is in the database
    once."""
    now = datetime.now(UTC).replace(microsecond=0)
    shared = [{"ts": (now - timedelta(seconds=i)).isoformat(), "pm25": float(i)} for i in range(50)]
    own = [
        [{"ts": (now - timedelta(minutes=10, seconds=50 * k + i)).isoformat(), "pm10": 1.0}
         for i in range(50)]
        for k in range(10)
    ]  # fmt: skip
    bodies = [json.dumps(shared).encode()] * 10 + [json.dumps(b).encode() for b in own]

    async def send_all() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {device.http_token}",
                   "Content-Type": "application/json"}  # fmt: skip
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            return await asyncio.gather(
                *[http.post("/api/v1/ingest/telemetry", content=b, headers=headers) for b in bodies]
            )

    answers = asyncio.run(send_all())
    assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]
    per_item = [[i["status"] for i in r.json()["items"]] for r in answers[:10]]
    for index in range(50):
        column = sorted(statuses[index] for statuses in per_item)
        assert column == ["duplicate"] * 9 + ["stored"], index
    assert all(r.json()["stored"] == 50 for r in answers[10:])
    assert len(readings(conn, device.device_id)) == 50 + 500
