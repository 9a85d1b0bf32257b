"""Watch-listed plate alerts (domain plates) are personal data: operators and admins see
and handle them; the viewer (the video wall), the CSIRT and integrators never meet one
through any API path — list, detail, history, actions, the live stream, the overview,
silences, STIX — and the shipped notification channels send them nowhere.

The alert is raised as in production: the record sink's signal for a watch-list hit
through the alert manager routed by the shipped deploy/alerts/channels.yaml.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from dashboards import wall
from events.alerts import Domain, Severity, Signal, SignalState
from events.camera_records import PlateRead
from processors.alerts import lifecycle
from processors.alerts.channels import DEFAULT_CHANNELS_FILE, load_channels
from processors.alerts.manager import AlertManager
from processors.cameras.records import CameraRecordSink
from store.cameras import WatchEntry
from store.migrations.m0009_dashboard_reads import READER_ROLE
from store.users import create_user, delete_user
from tests.integration.engines import PLAIN, TIMESCALE, plain_database

pytestmark = pytest.mark.integration

ROLES = ("admin", "operator", "csirt", "viewer", "integrator")
BLIND = ("viewer", "csirt", "integrator")
SIGHTED = ("operator", "admin")
PLATE = "79F1-234.56"
WAIT = 30.0  # upper bound for waits that normally end at once; never asserted on


@dataclass(frozen=True)
class Raised:
    plates: str  # the watch-list hit's alert id
    camera: str  # an ordinary camera alert raised beside it
    health: str  # and a device health alert, which every role sees
    notified: dict[str, int]  # alert id → outbox rows the shipped channels made


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as connection:
        yield connection


@pytest.fixture
def users(conn: psycopg.Connection) -> Iterator[dict[str, str]]:
    """role → token."""
    tag = uuid.uuid4().hex[:8]
    made = {role: create_user(conn, f"t-plates-{tag}-{role}", role) for role in ROLES}
    yield {role: token for role, (_, token) in made.items()}
    names = [user.name for user, _ in made.values()]
    conn.execute("DELETE FROM silences WHERE created_by = ANY(%s)", (names,))
    for name in names:
        delete_user(conn, name)


def _hit(camera: str, event_id: str) -> Signal:
    now = datetime.now(UTC)
    read = PlateRead(
        time=now, camera=camera, plate=PLATE, plate_norm="79F123456", score=0.91,
        direction="in", vehicle_type="motorcycle", event_id=event_id, snapshot=None,
        source="hikvision",
    )  # fmt: skip
    entry = WatchEntry("79F123456", PLATE, "xe bị báo mất cắp", "t-plates", now, None)
    return CameraRecordSink.load().signal(read, entry)


def _raise(conn: psycopg.Connection) -> tuple[Raised, str]:
    """A plate hit, a camera alert and a health alert through the alert manager routed
    by the shipped channels; the camera id they name, to clean up by."""
    tag = uuid.uuid4().hex[:8]
    camera = f"t-plates-cam-{tag}"
    hit = _hit(camera, f"t-plates-{tag}")
    intrusion = Signal(
        rule="camera.intrusion", domain=Domain.CAMERA, labels={"camera": camera, "zone": "cong"},
        state=SignalState.FIRING, severity=Severity.HIGH, at=datetime.now(UTC),
        title_vi="Xâm nhập vùng cấm", title_en="Intrusion",
    )  # fmt: skip
    offline = Signal(
        rule="health.offline", domain=Domain.HEALTH, labels={"device_id": camera},
        state=SignalState.FIRING, severity=Severity.MEDIUM, at=datetime.now(UTC),
        title_vi="Thiết bị mất kết nối", title_en="Device offline",
    )  # fmt: skip
    manager = AlertManager(load_channels(DEFAULT_CHANNELS_FILE))
    with conn.transaction():
        changes = manager.apply(conn, [hit, intrusion, offline])
    made = {c.fingerprint: c.alert_id for c in changes}
    notified = {c.alert_id: c.notified for c in changes}
    ids = [made[hit.fingerprint], made[intrusion.fingerprint], made[offline.fingerprint]]
    return Raised(*ids, notified), camera


def _forget(conn: psycopg.Connection, camera: str) -> None:
    conn.execute(
        "DELETE FROM alerts WHERE labels->>'camera' = %s OR labels->>'device_id' = %s",
        (camera, camera),
    )


@pytest.fixture
def raised(conn: psycopg.Connection) -> Iterator[Raised]:
    alerts, camera = _raise(conn)
    yield alerts
    _forget(conn, camera)


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _listed(client: TestClient, token: str, **params: str) -> set[str]:
    response = client.get(
        "/api/v1/alerts", params={"limit": "500", **params}, headers=headers(token)
    )
    assert response.status_code == 200, response.text
    return {a["id"] for a in response.json()}


def test_the_hit_is_a_plates_alert_that_names_the_plate_and_no_shipped_channel_sends(
    conn: psycopg.Connection, raised: Raised
) -> None:
    row = conn.execute(
        "SELECT domain, title_vi, alert_values->>'plate' FROM alerts WHERE id = %s",
        (raised.plates,),
    ).fetchone()
    assert row is not None
    assert row[0] == "plates"
    assert "79F1-234.56" in row[1] and row[2] == PLATE  # why it must stay out of sight
    # The MQTT broadcast and the webhook take every other domain: the camera alert
    # beside it went out, the plate hit nowhere.
    assert raised.notified[raised.plates] == 0
    channels = conn.execute(
        "SELECT alert_id::text, channel FROM outbox WHERE alert_id = ANY(%s::uuid[])",
        ([raised.plates, raised.camera],),
    ).fetchall()
    assert {c for a, c in channels if a == raised.camera} >= {"mqtt", "webhook"}
    assert [c for a, c in channels if a == raised.plates] == []


def test_list_detail_history_and_actions_hide_it_from_viewer_csirt_and_integrator(
    client: TestClient, users: dict[str, str], raised: Raised
) -> None:
    for role in BLIND:
        token = users[role]
        assert raised.plates not in _listed(client, token), role
        assert _listed(client, token, domain="plates") == set(), role
        for path in ("", "/history"):
            hidden = client.get(f"/api/v1/alerts/{raised.plates}{path}", headers=headers(token))
            absent = client.get(f"/api/v1/alerts/{uuid.uuid4()}{path}", headers=headers(token))
            assert hidden.status_code == absent.status_code == 404, (role, path)
            assert PLATE not in hidden.text
        for action in ("ack", "resolve"):
            refused = client.post(
                f"/api/v1/alerts/{raised.plates}/{action}", headers=headers(token)
            )
            assert refused.status_code == 404, (role, action)
    # The viewer still sees the ordinary camera alert of the same camera.
    assert raised.camera in _listed(client, users["viewer"])


def test_the_csirt_cannot_reach_it_through_stix_either(
    client: TestClient, users: dict[str, str], raised: Raised
) -> None:
    hidden = client.get(
        "/api/v1/exports/stix", params={"alert_id": raised.plates}, headers=headers(users["csirt"])
    )
    absent = client.get(
        "/api/v1/exports/stix", params={"alert_id": str(uuid.uuid4())},
        headers=headers(users["csirt"]),
    )  # fmt: skip
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["code"] == absent.json()["code"]


def test_operator_and_admin_see_and_handle_it(
    client: TestClient, users: dict[str, str], raised: Raised
) -> None:
    for role in SIGHTED:
        assert raised.plates in _listed(client, users[role], domain="plates"), role
        detail = client.get(f"/api/v1/alerts/{raised.plates}", headers=headers(users[role]))
        assert detail.status_code == 200, role
        assert detail.json()["domain"] == "plates"
        assert detail.json()["values"]["plate"] == PLATE
    me = client.get("/api/v1/me", headers=headers(users["operator"])).json()
    assert "plates" in me["visible_domains"] and "plates" in me["acting_domains"]
    acked = client.post(f"/api/v1/alerts/{raised.plates}/ack", headers=headers(users["operator"]))
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"


def test_me_names_the_domain_only_to_those_who_see_it(
    client: TestClient, users: dict[str, str]
) -> None:
    for role in BLIND:
        me = client.get("/api/v1/me", headers=headers(users[role])).json()
        assert "plates" not in me["visible_domains"] + me["acting_domains"], role


def test_overview_counts_it_only_for_operator_and_admin(
    client: TestClient, users: dict[str, str], raised: Raised
) -> None:
    def tiles(role: str) -> dict[str, dict[str, Any]]:
        response = client.get("/api/v1/overview", headers=headers(users[role]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert PLATE not in response.text
        return {t["domain"]: t for t in body["alerts_by_domain"]}

    for role in BLIND:
        assert "plates" not in tiles(role), role
    for role in SIGHTED:
        assert tiles(role)["plates"]["high"] >= 1, role


def test_a_plates_silence_is_the_operators_business(
    client: TestClient, users: dict[str, str]
) -> None:
    start = datetime.now(UTC)
    body = {
        "matchers": [{"name": "domain", "value": "plates"}],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "reason": "bảo trì camera ANPR",
    }
    for role in BLIND:
        refused = client.post("/api/v1/silences", json=body, headers=headers(users[role]))
        assert refused.status_code == 403, role
    created = client.post("/api/v1/silences", json=body, headers=headers(users["operator"]))
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]
    for role in BLIND:
        listed = client.get("/api/v1/silences", headers=headers(users[role])).json()
        assert silence_id not in {s["id"] for s in listed}, role
    listed = client.get("/api/v1/silences", headers=headers(users["admin"])).json()
    assert silence_id in {s["id"] for s in listed}


# -- the dashboards' database login -------------------------------------------------------


def _as_reader(conn: psycopg.Connection, query: str, *args: object) -> list[tuple[Any, ...]]:
    conn.execute(f"SET ROLE {READER_ROLE}")
    try:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]
    finally:
        conn.execute("RESET ROLE")


def _reader_is_denied_plates(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        alerts, camera = _raise(conn)
        try:
            with conn.transaction():
                lifecycle.add_note(conn, alerts.plates, "t-plates", f"đã báo CSGT: {PLATE}")
            ids = [alerts.plates, alerts.camera, alerts.health]
            query = "SELECT id::text FROM alerts WHERE id = ANY(%s::uuid[])"
            assert {r[0] for r in _as_reader(conn, query, ids)} == {alerts.camera, alerts.health}
            assert {r[0] for r in conn.execute(query, (ids,))} == set(ids)  # the app: all
            history = (
                "SELECT alert_id::text, note FROM alert_history WHERE alert_id = ANY(%s::uuid[])"
            )
            seen = _as_reader(conn, history, ids)
            assert {a for a, _ in seen} == {alerts.camera, alerts.health}
            assert all(PLATE not in note for _, note in seen)
            assert len(conn.execute(history, (ids,)).fetchall()) == len(seen) + 2  # fired, note
            # The wall's tiles as shipped: the reader counts the same camera alerts as the
            # application, and, asked for plate alerts, none.
            camera_tile = _as_reader(conn, wall.open_alerts_sql("camera"))
            assert camera_tile == conn.execute(wall.open_alerts_sql("camera")).fetchall()
            assert sum(conn.execute(wall.open_alerts_sql("plates")).fetchone() or ()) >= 1
            assert sum(_as_reader(conn, wall.open_alerts_sql("plates"))[0]) == 0
            # A whole-table read, as an editor's query in Grafana would do.
            every = _as_reader(conn, "SELECT domain, title_vi, alert_values::text FROM alerts")
            assert all(d != "plates" and PLATE not in f"{t}{v}" for d, t, v in every)
        finally:
            _forget(conn, camera)


@pytest.mark.parametrize("engine", [TIMESCALE, PLAIN])
def test_the_dashboard_reader_never_reads_a_plate_alert_or_its_history(
    settings: Settings, engine: str
) -> None:
    if engine == TIMESCALE:
        _reader_is_denied_plates(settings.dsn())
        return
    with plain_database(settings, "ioc_test_plate_rls") as dsn:
        _reader_is_denied_plates(dsn)


# -- live stream ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    instance = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not instance.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(WAIT)


class Stream:
    """The alert ids a Server-Sent Events stream delivers, read in a thread."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(WAIT, read=None))
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        try:
            with self._client.stream("GET", url, params={"access_token": token}) as response:
                name = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        self.events.put((name, line[5:].strip()))
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close()

    def next(self, name: str) -> str:
        while True:
            got, data = self.events.get(timeout=WAIT)
            if got == name:
                return data

    def alerts_until(self, last: str) -> list[str]:
        seen: list[str] = []
        while last not in seen:
            seen.append(json.loads(self.next("alert"))["id"])
        return seen

    def close(self) -> None:
        self._client.close()
        self._thread.join(WAIT)


def test_the_live_stream_carries_it_to_operators_only(
    server: str, settings: Settings, users: dict[str, str], raised: Raised
) -> None:
    url = f"{server}/api/v1/alerts/stream"
    streams = {role: Stream(url, users[role]) for role in (*BLIND, "operator")}
    try:
        for role, stream in streams.items():
            assert f'"role":"{role}"' in stream.next("ready")
        # Two commits, the plate hit first: changes reach a stream in commit order.
        for alert_id in (raised.plates, raised.health):
            with psycopg.connect(settings.dsn(), autocommit=True) as other, other.transaction():
                lifecycle.acknowledge(other, alert_id, "t-plates-stream", "")
        operator_seen = streams["operator"].alerts_until(raised.health)
        assert operator_seen.index(raised.plates) < operator_seen.index(raised.health)
        # Every role sees the health change: had a stream been sent the plate change,
        # it would be here, before it.
        for role in BLIND:
            assert raised.plates not in streams[role].alerts_until(raised.health), role
    finally:
        for stream in streams.values():
            stream.close()
