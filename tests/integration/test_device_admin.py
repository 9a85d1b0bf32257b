"""Devices managed through the API on the real stack (issue 13, acceptance 2's first
half): a device created through the API publishes with its credentials through the real
mosquitto; after a rotation its old password is refused without a broker restart; a
rotation with a grace period keeps both logins until it ends and the alert service's
job then drops the old one; revoking and disabling lock it out; role checks; filters and
pages; bulk creation all or nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from config.secrets import MQTT_ADMIN_USER, load_secrets
from config.settings import Settings
from processors.jobs.credentials import CredentialExpiryJob
from stack import mosquitto
from stack.processes import wait_until
from store.device_credentials import http_login
from store.users import create_user, delete_user

pytestmark = pytest.mark.integration

ROLES = ("admin", "operator", "viewer", "integrator", "csirt")
WAIT = 15.0  # upper bound for things that normally happen at once; never asserted on


def device_for_http_token(conn: psycopg.Connection, token: str) -> str | None:
    """The device a live HTTP token logs in as, or None."""
    login = http_login(conn, token)
    return None if login is None else login.device_id


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def tag(conn: psycopg.Connection) -> Iterator[str]:
    """A prefix for this test's device ids; its devices are deleted afterwards."""
    prefix = f"adm-{uuid.uuid4().hex[:8]}"
    yield prefix
    conn.execute("DELETE FROM devices WHERE id LIKE %s", (prefix + "%",))


@pytest.fixture
def users(conn: psycopg.Connection) -> Iterator[dict[str, dict[str, str]]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    for role in ROLES:
        _user, token = create_user(conn, f"t-dev-{tag}-{role}", role)
        made[role] = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    yield made
    for role in ROLES:
        delete_user(conn, f"t-dev-{tag}-{role}")


def body(device_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": device_id,
        "type": "water_level",
        "province": "Kiên Giang",
        "lat": 9.864,
        "lon": 105.113,
        "name": "Trạm Xẻo Rô",
        **extra,
    }


def login(settings: Settings, user: str, password: str) -> bool:
    return mosquitto.try_login(settings.mqtt_host, settings.mqtt_port, user, password)[0]


class Watcher:
    """The admin account subscribed to every device topic: what the broker delivered."""

    def __init__(self, settings: Settings) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"w-{uuid.uuid4().hex[:8]}"
        )
        self.client.username_pw_set(MQTT_ADMIN_USER, load_secrets(settings).mqtt_admin_password)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.seen.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe("ioc/v1/+/telemetry", qos=1)
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        assert subscribed.wait(WAIT)

    def payloads(self, topic: str) -> set[bytes]:
        return {p for t, p in list(self.seen) if t == topic}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watcher(settings: Settings) -> Iterator[Watcher]:
    w = Watcher(settings)
    yield w
    w.close()


def publish_once(settings: Settings, user: str, password: str, topic: str, payload: bytes) -> int:
    """The PUBACK's reason (MQTT 5: 0 accepted, 135 not authorized) of one QoS 1 publish."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    codes: list[int] = []
    done = threading.Event()
    client.on_publish = lambda c, u, mid, rc, p: (codes.append(rc.value), done.set())
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        assert connected.wait(WAIT), f"{user} could not log in"
        client.publish(topic, payload, qos=1)
        assert done.wait(WAIT), "no PUBACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_created_device_publishes_and_rotation_refuses_the_old_password(
    settings, client, users, tag, watcher
):
    broker = mosquitto.pid(settings)
    answer = client.post("/api/v1/devices", json=body(f"{tag}-wl"), headers=users["integrator"])
    assert answer.status_code == 201, answer.text
    created = answer.json()
    creds = created["credentials"]
    assert created["device"]["state"] == "unknown"
    assert creds["mqtt_username"] == f"{tag}-wl" and creds["broker_reloaded"] is True
    assert creds["topic"] == f"ioc/v1/{tag}-wl/telemetry" and creds["http_token"]

    reading = b'{"ts": "2026-12-03T10:00:00Z", "waterLevel": 1.2}'
    assert (
        publish_once(
            settings, creds["mqtt_username"], creds["mqtt_password"], creds["topic"], reading
        )
        == 0
    )
    assert wait_until(lambda: reading in watcher.payloads(creds["topic"]), WAIT)

    rotated = client.post(
        f"/api/v1/devices/{tag}-wl/credentials/rotate",
        json={"kind": "mqtt"},
        headers=users["admin"],
    ).json()
    assert rotated["mqtt_username"] == creds["mqtt_username"]  # same login, new password
    assert rotated["http_token"] is None and rotated["previous_expires_at"] is None
    assert wait_until(
        lambda: not login(settings, creds["mqtt_username"], creds["mqtt_password"]), WAIT
    )
    assert login(settings, rotated["mqtt_username"], rotated["mqtt_password"])
    assert mosquitto.pid(settings) == broker, "the broker was restarted"
    # The HTTP token was not part of this rotation: it still names the device.
    with psycopg.connect(settings.dsn()) as c:
        assert device_for_http_token(c, creds["http_token"]) == f"{tag}-wl"


def test_grace_rotation_keeps_both_logins_until_it_ends(
    settings, client, users, tag, conn, watcher
):
    creds = client.post("/api/v1/devices", json=body(f"{tag}-g"), headers=users["admin"]).json()[
        "credentials"
    ]
    rotated = client.post(
        f"/api/v1/devices/{tag}-g/credentials/rotate",
        json={"kind": "both", "grace_seconds": 4},
        headers=users["integrator"],
    ).json()
    assert rotated["mqtt_username"] == f"{tag}-g~1"
    ends = datetime.fromisoformat(rotated["previous_expires_at"])
    topic = creds["topic"]
    # Both logins publish to the device's own topic (the new one through its ACL block)…
    assert (
        publish_once(settings, creds["mqtt_username"], creds["mqtt_password"], topic, b"old") == 0
    )
    assert (
        publish_once(settings, rotated["mqtt_username"], rotated["mqtt_password"], topic, b"new")
        == 0
    )
    assert wait_until(lambda: {b"old", b"new"} <= watcher.payloads(topic), WAIT)
    # …and the new one nowhere else.
    assert (
        publish_once(
            settings,
            rotated["mqtt_username"],
            rotated["mqtt_password"],
            f"ioc/v1/{tag}-other/telemetry",
            b"x",
        )
        == 135
    )
    assert device_for_http_token(conn, creds["http_token"]) == f"{tag}-g"
    assert datetime.now(UTC) < ends, "the grace period ended before the checks (slow machine)"

    job = CredentialExpiryJob(settings)
    job(conn, datetime.now(UTC))  # its first run syncs once
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.5)
    assert device_for_http_token(conn, creds["http_token"]) is None  # checked per request
    assert login(settings, creds["mqtt_username"], creds["mqtt_password"]), (
        "the broker dropped the old login before anything told it to"
    )
    assert job(conn, datetime.now(UTC)) >= 1
    assert wait_until(
        lambda: not login(settings, creds["mqtt_username"], creds["mqtt_password"]), WAIT
    )
    assert login(settings, rotated["mqtt_username"], rotated["mqtt_password"])
    assert device_for_http_token(conn, rotated["http_token"]) == f"{tag}-g"
    assert job(conn, datetime.now(UTC)) == 0  # nothing new ended: no sync

    # A rotation without grace afterwards keeps the current login name.
    again = client.post(
        f"/api/v1/devices/{tag}-g/credentials/rotate", json={}, headers=users["admin"]
    ).json()
    assert again["mqtt_username"] == f"{tag}-g~1"
    assert wait_until(
        lambda: not login(settings, rotated["mqtt_username"], rotated["mqtt_password"]), WAIT
    )
    assert login(settings, again["mqtt_username"], again["mqtt_password"])
    history = client.get(f"/api/v1/devices/{tag}-g/credentials", headers=users["integrator"]).json()
    assert [h["live"] for h in history if h["kind"] == "mqtt"] == [True, False, False]
    assert all("secret" not in str(h.keys()) and "hash" not in str(h.keys()) for h in history)


def test_rotation_loses_nothing_in_flight(settings, client, users, tag, watcher):
    """A device with a persistent session publishing QoS 1 is cut off by the rotation's
    reload; it reconnects with its new password and re-sends what was not acknowledged."""
    creds = client.post("/api/v1/devices", json=body(f"{tag}-f"), headers=users["admin"]).json()[
        "credentials"
    ]
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{tag}-f", clean_session=False)
    device.username_pw_set(creds["mqtt_username"], creds["mqtt_password"])
    device.reconnect_delay_set(0.2, 1)
    drops: list[str] = []
    acked: set[int] = set()
    device.on_disconnect = lambda c, u, f, rc, p: drops.append(str(rc))
    device.on_publish = lambda c, u, mid, rc, p: acked.add(mid)
    device.connect(settings.mqtt_host, settings.mqtt_port)
    device.loop_start()
    count = 600
    # A message published while the session is cut is queued by the client (QoS 1).
    sent = [device.publish(creds["topic"], f"m{i}".encode(), qos=1) for i in range(count // 2)]
    rotated = client.post(
        f"/api/v1/devices/{tag}-f/credentials/rotate", json={"kind": "mqtt"}, headers=users["admin"]
    ).json()
    sent += [
        device.publish(creds["topic"], f"m{i}".encode(), qos=1) for i in range(count // 2, count)
    ]
    try:
        assert wait_until(lambda: bool(drops), WAIT), "the broker kept the old password's session"
        # Messages the broker had not acknowledged when it cut the session: the point.
        unacknowledged = {info.mid for info in sent} - acked
        assert unacknowledged, "nothing was in flight at the cut: the test proves nothing"
        device.username_pw_set(rotated["mqtt_username"], rotated["mqtt_password"])
        mids = {info.mid for info in sent}
        assert wait_until(lambda: mids <= acked, WAIT), f"{len(mids - acked)} never acknowledged"
        expected = {f"m{i}".encode() for i in range(count)}
        assert wait_until(lambda: expected <= watcher.payloads(creds["topic"]), WAIT), (
            f"missing {len(expected - watcher.payloads(creds['topic']))} of {count}"
        )
    finally:
        device.disconnect()
        device.loop_stop()


def test_revoke_and_disable_lock_the_device_out(settings, client, users, tag, conn):
    made = client.post("/api/v1/devices", json=body(f"{tag}-r"), headers=users["admin"]).json()
    creds = made["credentials"]
    user, password = creds["mqtt_username"], creds["mqtt_password"]

    # A connected session is closed when the device is disabled.
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{tag}-r")
    device.username_pw_set(user, password)
    device.reconnect_delay_set(0.2, 1)
    drops: list[str] = []
    device.on_disconnect = lambda c, u, f, rc, p: drops.append(str(rc))
    device.connect(settings.mqtt_host, settings.mqtt_port)
    device.loop_start()
    try:
        assert wait_until(device.is_connected, WAIT)
        off = client.post(f"/api/v1/devices/{tag}-r/disable", headers=users["integrator"])
        assert off.status_code == 200 and off.json()["state"] == "disabled"
        assert off.json()["disabled_at"] is not None
        assert wait_until(lambda: bool(drops), WAIT)
        time.sleep(1.5)  # its reconnects are refused
        assert not device.is_connected()
    finally:
        device.disconnect()
        device.loop_stop()
    assert not login(settings, user, password)
    assert device_for_http_token(conn, creds["http_token"]) is None
    listed = client.get(
        "/api/v1/devices",
        params={"state": "disabled", "type": "water_level"},
        headers=users["viewer"],
    ).json()
    assert f"{tag}-r" in [d["id"] for d in listed]

    on = client.post(f"/api/v1/devices/{tag}-r/enable", headers=users["integrator"])
    assert on.status_code == 200 and on.json()["disabled_at"] is None
    assert wait_until(lambda: login(settings, user, password), WAIT)
    assert device_for_http_token(conn, creds["http_token"]) == f"{tag}-r"

    revoked = client.post(
        f"/api/v1/devices/{tag}-r/credentials/revoke",
        json={"kind": "mqtt"},
        headers=users["integrator"],
    ).json()
    assert revoked["revoked"] == 1
    assert wait_until(lambda: not login(settings, user, password), WAIT)
    assert device_for_http_token(conn, creds["http_token"]) == f"{tag}-r"  # only mqtt revoked
    client.post(
        f"/api/v1/devices/{tag}-r/credentials/revoke",
        json={"kind": "http"},
        headers=users["integrator"],
    )
    assert device_for_http_token(conn, creds["http_token"]) is None

    fresh = client.post(
        f"/api/v1/devices/{tag}-r/credentials/rotate", json={}, headers=users["integrator"]
    ).json()
    assert fresh["mqtt_username"] == f"{tag}-r"
    assert wait_until(lambda: login(settings, fresh["mqtt_username"], fresh["mqtt_password"]), WAIT)

    gone = client.delete(f"/api/v1/devices/{tag}-r", headers=users["admin"])
    assert gone.status_code == 204
    assert wait_until(
        lambda: not login(settings, fresh["mqtt_username"], fresh["mqtt_password"]), WAIT
    )
    assert client.get(f"/api/v1/devices/{tag}-r", headers=users["viewer"]).status_code == 404


def test_roles(client, users, tag):
    for role in ("viewer", "operator", "csirt"):
        h = users[role]
        assert client.post("/api/v1/devices", json=body(f"{tag}-x"), headers=h).status_code == 403
        assert client.patch(f"/api/v1/devices/{tag}-x", json={}, headers=h).status_code == 403
        assert client.delete(f"/api/v1/devices/{tag}-x", headers=h).status_code == 403
        for path in ("credentials/rotate", "credentials/revoke"):
            assert (
                client.post(f"/api/v1/devices/{tag}-x/{path}", json={}, headers=h).status_code
                == 403
            )
        assert (
            client.post(
                "/api/v1/devices/bulk", json={"devices": [body(f"{tag}-y")]}, headers=h
            ).status_code
            == 403
        )
    refused = client.post("/api/v1/devices", json=body(f"{tag}-x"), headers=users["viewer"])
    assert refused.json()["detail"] == "role viewer may not do this (needs admin or integrator)"
    assert client.post("/api/v1/devices", json=body(f"{tag}-x")).status_code == 401
    made = client.post("/api/v1/devices", json=body(f"{tag}-x"), headers=users["integrator"])
    assert made.status_code == 201
    for role in ROLES:  # reads are every role's, and never show a secret
        shown = client.get(f"/api/v1/devices/{tag}-x", headers=users[role])
        assert shown.status_code == 200
        assert made.json()["credentials"]["mqtt_password"] not in shown.text
        assert "password" not in shown.text and "token" not in shown.text


def test_bad_input_answers_a_problem(client, users, tag):
    h = users["integrator"]
    for bad, field in (
        ({"id": "a/b"}, "id"),
        ({"province": "Atlantis"}, "province"),
        ({"lat": 105.1, "lon": 9.8}, "lat"),
        ({"id": "ioc-ingest"}, "id"),
    ):
        answer = client.post("/api/v1/devices", json={**body(f"{tag}-b"), **bad}, headers=h)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in [e["loc"][-1] for e in answer.json()["errors"]]
    assert client.post("/api/v1/devices", json=body(f"{tag}-b"), headers=h).status_code == 201
    again = client.post("/api/v1/devices", json=body(f"{tag}-b"), headers=h)
    assert again.status_code == 409 and again.json()["code"] == "device_exists"
    vi = client.post(
        "/api/v1/devices", json=body(f"{tag}-b"), headers={"Authorization": h["Authorization"]}
    )
    assert vi.json()["detail"].startswith(f"Thiết bị {tag}-b đã được đăng ký")
    null = client.patch(f"/api/v1/devices/{tag}-b", json={"province": None}, headers=h)
    assert null.status_code == 422 and "province cannot be null" in null.json()["detail"]
    assert (
        client.patch(f"/api/v1/devices/{tag}-none", json={"name": "x"}, headers=h).status_code
        == 404
    )
    long_grace = client.post(
        f"/api/v1/devices/{tag}-b/credentials/rotate", json={"grace_seconds": 8 * 86400}, headers=h
    )
    assert long_grace.status_code == 422
    assert (
        client.post(
            f"/api/v1/devices/{tag}-none/credentials/rotate", json={}, headers=h
        ).status_code
        == 404
    )
    changed = client.patch(
        f"/api/v1/devices/{tag}-b",
        json={"name": None, "metadata": {"gauge": "BĐ III"}, "lat": 9.9},
        headers=h,
    ).json()
    assert changed["name"] is None and changed["metadata"] == {"gauge": "BĐ III"}
    assert changed["lat"] == 9.9
    assert client.get("/api/v1/devices", params={"state": "sleepy"}, headers=h).status_code == 422


def test_filters_and_pages(client, users, tag, conn):
    kind = f"t{uuid.uuid4().hex[:8]}"  # a type no other test uses
    h = users["admin"]
    for i, province in enumerate(["An Giang", "An Giang", "Cần Thơ", "Khánh Hòa", "An Giang"]):
        spec = body(f"{tag}-p{i}", type=kind, province=province)
        assert client.post("/api/v1/devices", json=spec, headers=h).status_code == 201
    now = datetime.now(UTC)
    seen = {f"{tag}-p0": now, f"{tag}-p1": now - timedelta(minutes=10), f"{tag}-p2": now}
    for device_id, at in seen.items():
        conn.execute(
            "INSERT INTO device_last_seen (device_id, last_seen) VALUES (%s, %s)"
            " ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen",
            (device_id, at),
        )
    client.post(f"/api/v1/devices/{tag}-p4/disable", headers=h)

    def ids(**params: Any) -> list[str]:
        answer = client.get(
            "/api/v1/devices", params={"type": kind, **params}, headers=users["viewer"]
        )
        assert answer.status_code == 200, answer.text
        return [d["id"] for d in answer.json()]

    assert ids() == [f"{tag}-p{i}" for i in range(5)]
    assert ids(province="An Giang") == [f"{tag}-p0", f"{tag}-p1", f"{tag}-p4"]
    assert ids(state="ok") == [f"{tag}-p0", f"{tag}-p2"]
    assert ids(state="late") == [f"{tag}-p1"]  # 10 min silent, 60 s expected
    assert ids(state="unknown") == [f"{tag}-p3"]
    assert ids(state="disabled") == [f"{tag}-p4"]
    cut = (now - timedelta(minutes=1)).isoformat()
    assert ids(last_seen_before=cut) == [f"{tag}-p1"]
    assert ids(last_seen_after=cut) == [f"{tag}-p0", f"{tag}-p2"]

    pages, url = [], f"/api/v1/devices?type={kind}&limit=2"
    while url:
        answer = client.get(url, headers=users["viewer"])
        pages.append([d["id"] for d in answer.json()])
        link = answer.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else ""
    assert pages == [[f"{tag}-p0", f"{tag}-p1"], [f"{tag}-p2", f"{tag}-p3"], [f"{tag}-p4"]]
    bad = client.get("/api/v1/devices", params={"cursor": "!!"}, headers=users["viewer"])
    assert bad.status_code == 422


def test_bulk_is_all_or_nothing(settings, client, users, tag, conn):
    h = users["integrator"]
    rows = [body(f"{tag}-k{i}") for i in range(3)]
    made = client.post("/api/v1/devices/bulk", json={"devices": rows}, headers=h)
    assert made.status_code == 201, made.text
    issued = made.json()["credentials"]
    assert made.json()["created"] == 3 and len({c["mqtt_password"] for c in issued}) == 3
    assert all(login(settings, c["mqtt_username"], c["mqtt_password"]) for c in issued)

    taken = client.post(
        "/api/v1/devices/bulk", json={"devices": [body(f"{tag}-k9"), body(f"{tag}-k1")]}, headers=h
    )
    assert taken.status_code == 409 and f"{tag}-k1" in taken.json()["detail"]
    repeated = client.post(
        "/api/v1/devices/bulk", json={"devices": [body(f"{tag}-k8"), body(f"{tag}-k8")]}, headers=h
    )
    assert repeated.status_code == 422 and repeated.json()["code"] == "duplicate_device_ids"
    invalid = client.post(
        "/api/v1/devices/bulk",
        json={"devices": [body(f"{tag}-k7"), body(f"{tag}-k6", lat=0)]},
        headers=h,
    )
    assert invalid.status_code == 422
    assert ["body", "devices", 1, "lat"] in [e["loc"] for e in invalid.json()["errors"]]
    too_many = client.post(
        "/api/v1/devices/bulk",
        json={"devices": [body(f"{tag}-m{i}") for i in range(501)]},
        headers=h,
    )
    assert too_many.status_code == 422
    left = conn.execute("SELECT count(*) FROM devices WHERE id LIKE %s", (f"{tag}-%",)).fetchone()
    assert left == (3,), "a refused batch created devices"


def test_cli_import_writes_secrets_once(settings, tag, tmp_path, conn):
    import os
    import stat

    from typer.testing import CliRunner

    from cli.main import app

    path = tmp_path / "fleet.csv"
    path.write_text(
        "id,type,province,lat,lon,name,metadata\n"
        f'{tag}-c1,camera,Khánh Hòa,11.92,109.16,Cảng Cam Ranh,"{{""frigate"": ""cr""}}"\n'
        f"{tag}-c2,air_quality,Khánh Hòa,12.24,109.19,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "secrets.json"
    result = CliRunner().invoke(app, ["devices", "import", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    import json

    issued = json.loads(out.read_text())
    assert [c["device_id"] for c in issued] == [f"{tag}-c1", f"{tag}-c2"]
    assert all(login(settings, c["mqtt_username"], c["mqtt_password"]) for c in issued)
    meta = conn.execute("SELECT metadata FROM devices WHERE id = %s", (f"{tag}-c1",)).fetchone()
    assert meta == ({"frigate": "cr"},)

    again = CliRunner().invoke(
        app, ["devices", "import", str(path), "--out", str(tmp_path / "2.json")]
    )
    assert again.exit_code == 2
    assert f"fleet.csv:2: id: {tag}-c1 is already registered" in again.output
    assert not (tmp_path / "2.json").exists()


def test_cli_commands(settings, tag, conn):
    import json

    from typer.testing import CliRunner

    from cli.main import app

    def ioc(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, ["devices", *args])
        assert result.exit_code == code, result.output
        return result.output

    added = json.loads(
        ioc(
            "add",
            "--id",
            f"{tag}-cli",
            "--type",
            "camera",
            "--province",
            "Khánh Hòa",
            "--lat",
            "11.92",
            "--lon",
            "109.16",
            "--metadata",
            '{"frigate_camera": "cr"}',
        )
    )
    assert set(added) == {
        "device_id", "mqtt_username", "mqtt_password", "topic", "http_token",
        "isapi_url", "http_username", "http_password",
    }  # fmt: skip
    # A camera's answer adds its Hikvision ISAPI push: URL and HTTP Basic login.
    assert added["isapi_url"] == settings.api_base_url + "/api/v1/ingest/isapi"
    assert (added["http_username"], added["http_password"]) == (f"{tag}-cli", added["http_token"])
    assert login(settings, added["mqtt_username"], added["mqtt_password"])
    bad = ioc(
        "add",
        "--id",
        f"{tag}-bad",
        "--type",
        "camera",
        "--province",
        "Nowhere",
        "--lat",
        "11.92",
        "--lon",
        "109.16",
        code=2,
    )
    assert "province: unknown province" in bad

    rotated = json.loads(ioc("rotate", f"{tag}-cli", "--kind", "mqtt", "--grace", "600"))
    assert rotated["mqtt_username"] == f"{tag}-cli~1" and rotated["previous_expires_at"]
    assert login(settings, added["mqtt_username"], added["mqtt_password"])  # in its grace
    assert login(settings, rotated["mqtt_username"], rotated["mqtt_password"])
    assert "2 secret(s) revoked" in ioc("revoke", f"{tag}-cli", "--kind", "mqtt")
    assert wait_until(
        lambda: not login(settings, rotated["mqtt_username"], rotated["mqtt_password"]), WAIT
    )

    ioc("update", f"{tag}-cli", "--name", "Cảng Cam Ranh")
    ioc("disable", f"{tag}-cli")
    listed = [json.loads(line) for line in ioc("list", "--state", "disabled").splitlines()]
    assert f"{tag}-cli" in [d["id"] for d in listed]
    shown = json.loads(ioc("show", f"{tag}-cli"))
    assert shown["name"] == "Cảng Cam Ranh" and shown["state"] == "disabled"
    assert {c["username"] for c in shown["credentials"] if c["kind"] == "mqtt"} == {
        f"{tag}-cli",
        f"{tag}-cli~1",
    }
    assert "password" not in json.dumps(shown) and "hash" not in json.dumps(shown)
    ioc("enable", f"{tag}-cli")
    ioc("delete", f"{tag}-cli", "--yes")
    ioc("show", f"{tag}-cli", code=1)
