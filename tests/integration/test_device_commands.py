"""Device control end to end on the real stack: the API queues, the command service
(control/) publishes through mosquitto, simulated devices (simulators/commands.py) obey
and answer, and the answers move the commands on; offline devices, expiry, refusals and
the broker's ACL for command topics."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from rich.console import Console

from api.app import create_app
from api.routers import commands as commands_router
from config.secrets import MQTT_ADMIN_USER, MQTT_COMMANDS_USER, load_secrets
from config.settings import Settings
from control.catalog import load_catalog
from control.service import CommandService
from ingest.provisioning import DeviceCredentials, register_device
from simulators.commands import CommandClient, DeviceControl
from simulators.fleet import Fleet, load_fleet
from simulators.runner import RunOptions, Simulation
from store.devices import DeviceSpec
from store.users import create_user, delete_user
from tests.integration.harness import TestRoutes, WorkerProcess

pytestmark = pytest.mark.integration

WAIT = 30.0  # upper bound for waits that normally end within a second or two


def wait_for(check: Callable[[], Any], timeout: float = WAIT, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


class Service:
    """The command service as `ioc alerts run` runs it: a thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop = threading.Event()
        runner = CommandService(self._settings).run
        self._thread = threading.Thread(target=runner, args=(self._stop,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive()


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[Service]:
    """One for the whole module: its MQTT session has one fixed client id."""
    running = Service(settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def users(settings: Settings) -> Iterator[dict[str, dict[str, str]]]:
    tag = uuid.uuid4().hex[:8]
    made = {}
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        for role in ("admin", "operator", "viewer", "integrator", "csirt"):
            user, token = create_user(conn, f"t-cmd-{tag}-{role}", role)
            made[role] = {"name": user.name, "token": token}
        yield made
        for user in made.values():
            delete_user(conn, user["name"])


def bearer(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}", "Accept-Language": "en"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


class Watcher:
    """ioc-admin subscribed to every command, acknowledgement and telemetry topic."""

    def __init__(self, settings: Settings) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"t-watch-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        password = load_secrets(settings, create=False).mqtt_admin_password
        self._client.username_pw_set(MQTT_ADMIN_USER, password)
        self._client.on_connect = lambda c, *_: c.subscribe(
            [("ioc/v1/+/commands", 1), ("ioc/v1/+/commands/ack", 1), ("ioc/v1/+/telemetry", 0)]
        )
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message
        self._client.connect(settings.mqtt_host, settings.mqtt_port)
        self._client.loop_start()
        assert self._ready.wait(10), "admin watcher not subscribed"

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), message.topic, bytes(message.payload)))

    def on(self, topic: str, since: float = 0.0) -> list[bytes]:
        with self._lock:
            return [p for t, top, p in self.messages if top == topic and t >= since]

    def commands(self) -> list[dict[str, Any]]:
        with self._lock:
            return [orjson.loads(p) for _, top, p in self.messages if top.endswith("/commands")]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def watcher(settings: Settings) -> Iterator[Watcher]:
    made = Watcher(settings)
    yield made
    made.close()


def small_fleet(tag: str) -> Fleet:
    """Two water-level stations of the shipped fleet under fresh ids."""
    fleet = load_fleet()
    stations = [d for d in fleet.devices if d.type == "water_level"][:2]
    devices = tuple(dataclasses.replace(d, id=f"t-cmd-{tag}-wl{i}") for i, d in enumerate(stations))
    return Fleet(devices=devices, cameras=(), stream_shares=fleet.stream_shares)


@pytest.fixture
def simulation(settings: Settings) -> Iterator[Simulation]:
    """`ioc simulate` for two stations, 4 messages a second (each station 2/s)."""
    fleet = small_fleet(uuid.uuid4().hex[:6])
    options = RunOptions(rate=4.0, duration=0, streams=("sensors",), seed=7)
    sim = Simulation(settings, options, Console(file=io.StringIO()), fleet=fleet)
    stop = threading.Event()
    thread = threading.Thread(target=sim.run, args=(stop,), daemon=True)
    thread.start()
    assert wait_for(lambda: sim.commands is not None and sim.stats.snapshot()["sensors"].acked > 4)
    yield sim
    stop.set()
    thread.join(30)


def reading(payload: bytes, name: str) -> Any:
    """A metric's value in a native JSON or SenML telemetry payload."""
    body = orjson.loads(payload)
    if isinstance(body, dict):
        return body.get(name)
    return next((r.get("v") for r in body if r.get("n") == name), None)


def send(client: TestClient, user: dict[str, str], device_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/devices/{device_id}/commands", json=body, headers=bearer(user))


def finished(client: TestClient, user: dict[str, str], command_id: str) -> Callable[[], Any]:
    def check() -> Any:
        shown = client.get(f"/api/v1/commands/{command_id}", headers=bearer(user)).json()
        return shown if shown["state"] not in ("queued", "sent") else None

    return check


def detail(client: TestClient, user: dict[str, str], command_id: str) -> dict[str, Any]:
    return client.get(f"/api/v1/commands/{command_id}", headers=bearer(user)).json()


# --- a command reaches a simulated device and comes back acknowledged --------------------


def test_relay_command_acknowledged_by_simulated_device(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    simulation: Simulation,
    watcher: Watcher,
    routes: TestRoutes,
    workers: Callable[..., WorkerProcess],
) -> None:
    workers(routes, "commands", "mqtt")  # to see the relay's state stored as a reading
    device = simulation.commands.clients[0].device_id  # type: ignore[union-attr]
    answer = send(client, users["operator"], device, command="relay",
                  params={"channel": 2, "state": "on"})  # fmt: skip
    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert queued["state"] == "queued" and queued["requested_by"] == users["operator"]["name"]

    done = wait_for(finished(client, users["operator"], queued["id"]))
    assert done and done["state"] == "acknowledged", done
    assert done["result"] == {"channel": 2, "state": "on"}
    assert done["sent_at"] <= done["finished_at"]
    states = [(h["state"], h["actor"]) for h in done["history"]]
    assert states == [
        ("queued", users["operator"]["name"]),
        ("sent", "ioc-commands"),
        ("acknowledged", device),
    ]
    # What went over the broker: the contract's payload, on the device's own topic.
    sent = [c for c in watcher.commands() if c["id"] == queued["id"]]
    assert sent == [
        {"id": queued["id"], "command": "relay", "params": {"channel": 2, "state": "on"},
         "expires_at": datetime.fromisoformat(queued["expires_at"]).isoformat()}
    ]  # fmt: skip
    # The device now reports the relay with its readings.
    topic = f"ioc/v1/{device}/telemetry"
    reports = wait_for(lambda: [p for p in watcher.on(topic) if reading(p, "relay2State") == 1.0])
    assert reports, watcher.on(topic)[-3:]
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        stored = wait_for(
            lambda: conn.execute(
                "SELECT value FROM measurements WHERE device_id = %s AND metric = 'relay2State'"
                " ORDER BY time DESC LIMIT 1",
                (device,),
            ).fetchone()
        )
    assert stored == (1.0,)


def test_set_interval_changes_the_simulated_rate(
    service: Service,
    client: TestClient,
    users: dict[str, dict[str, str]],
    simulation: Simulation,
    watcher: Watcher,
) -> None:
    slowed, other = (c.device_id for c in simulation.commands.clients)  # type: ignore[union-attr]
    start = time.monotonic()
    time.sleep(3)
    before = len(watcher.on(f"ioc/v1/{slowed}/telemetry", start))
    assert before >= 4, before  # 2 a second

    answer = send(client, users["admin"], slowed, command="set_interval", params={"seconds": 10})
    assert answer.status_code == 202, answer.text
    done = wait_for(finished(client, users["admin"], answer.json()["id"]))
    assert done["state"] == "acknowledged" and done["result"] == {"interval_s": 10}, done

    acked = time.monotonic()
    time.sleep(12)
    slow = len(watcher.on(f"ioc/v1/{slowed}/telemetry", acked))
    others = len(watcher.on(f"ioc/v1/{other}/telemetry", acked))
    # Every 10 s now (a reading may be in flight at the change); the other station keeps
    # its 2 a second.
    assert slow <= 2, slow
    assert others >= 18, others


# --- offline devices --------------------------------------------------------------------


@pytest.fixture
def offline_device(settings: Settings) -> Iterator[DeviceCredentials]:
    """A station whose command client subscribed once (so the broker keeps its session)
    and then went offline."""
    creds = register_device(
        settings,
        DeviceSpec(id=f"t-cmd-{uuid.uuid4().hex[:6]}-off", type="salinity",
                   province="Cần Thơ", lat=9.78, lon=105.47, expected_interval_s=60),
    )  # fmt: skip
    device = CommandClient(settings.mqtt_host, settings.mqtt_port, creds, DeviceControl(60))
    device.start()
    assert device.subscribed.wait(10)
    device.close()
    yield creds


def test_command_to_offline_device_expires_on_time_and_is_never_delivered(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
    watcher: Watcher,
) -> None:
    device_id = offline_device.device_id
    answer = send(client, users["operator"], device_id, command="set_interval",
                  params={"seconds": 30}, expires_in_seconds=5)  # fmt: skip
    assert answer.status_code == 202
    command_id = answer.json()["id"]
    expires_at = datetime.fromisoformat(answer.json()["expires_at"])
    # The broker took it for the device's session: sent, not delivered.
    assert wait_for(lambda: detail(client, users["operator"], command_id)["state"] == "sent", 5)

    done = wait_for(finished(client, users["operator"], command_id), timeout=10)
    assert done["state"] == "expired", done
    finished_at = datetime.fromisoformat(done["finished_at"])
    assert expires_at <= finished_at
    assert (finished_at - expires_at).total_seconds() < 2.0  # the service looks twice a second
    assert [h["state"] for h in done["history"]] == ["queued", "sent", "expired"]
    assert done["history"][-1]["actor"] == "ioc-commands"

    # Back online after the expiry: the broker dropped the command (MQTT 5 message expiry).
    control = DeviceControl(60)
    device = CommandClient(settings.mqtt_host, settings.mqtt_port, offline_device, control)
    device.start()
    try:
        assert device.subscribed.wait(10)
        time.sleep(2)
        assert not device.received, "an expired command was delivered"
        # A late answer is recorded and changes nothing.
        late = orjson.dumps({"id": command_id, "ok": True, "result": {"interval_s": 30}})
        device._client.publish(f"ioc/v1/{device_id}/commands/ack", late, qos=1)
        shown = wait_for(
            lambda: (
                (d := detail(client, users["operator"], command_id))
                and len(d["history"]) == 4
                and d
            )
        )
        assert shown["state"] == "expired"
        assert shown["history"][-1]["state"] == "expired"
        assert shown["history"][-1]["actor"] == device_id
        assert shown["history"][-1]["detail"]["late"] is True
    finally:
        device.close()


def test_command_queued_while_offline_is_delivered_on_reconnect(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
) -> None:
    device_id = offline_device.device_id
    answer = send(client, users["admin"], device_id, command="relay",
                  params={"channel": 1, "state": "off"}, expires_in_seconds=120)  # fmt: skip
    command_id = answer.json()["id"]
    assert wait_for(lambda: detail(client, users["admin"], command_id)["state"] == "sent", 5)
    time.sleep(1)
    assert detail(client, users["admin"], command_id)["state"] == "sent"  # nobody to answer

    control = DeviceControl(60)
    device = CommandClient(settings.mqtt_host, settings.mqtt_port, offline_device, control)
    device.start()
    try:
        done = wait_for(finished(client, users["admin"], command_id))
        assert done["state"] == "acknowledged", done
        assert control.relays(device_id) == {1: "off"}
        assert device.received == [command_id]
    finally:
        device.close()


def test_commands_of_a_device_disabled_meanwhile_fail_and_stay_undelivered(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
) -> None:
    device_id = offline_device.device_id
    answer = send(client, users["admin"], device_id, command="relay",
                  params={"channel": 2, "state": "on"}, expires_in_seconds=120)  # fmt: skip
    command_id = answer.json()["id"]
    assert wait_for(lambda: detail(client, users["admin"], command_id)["state"] == "sent", 5)

    off = client.post(f"/api/v1/devices/{device_id}/disable", headers=bearer(users["admin"]))
    assert off.status_code == 200, off.text
    done = wait_for(finished(client, users["admin"], command_id), timeout=5)
    assert done["state"] == "failed", done
    assert done["history"][-1]["detail"] == {"reason": "device disabled or deleted"}
    # Refused for a disabled device, so nothing new can queue behind it.
    again = send(client, users["admin"], device_id, command="relay",
                 params={"channel": 2, "state": "off"}, expires_in_seconds=120)  # fmt: skip
    assert again.status_code == 404, again.text


def test_an_answer_sent_while_the_service_is_down_waits_at_the_broker(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
) -> None:
    """The service's session is persistent: an acknowledgement published while it is
    stopped is delivered to it when it is back, and applied."""
    device_id = offline_device.device_id
    control = DeviceControl(60)
    device = CommandClient(settings.mqtt_host, settings.mqtt_port, offline_device, control)
    device.start()
    try:
        assert device.subscribed.wait(10)
        # A reboot is answered once the device is back: 3 s + the delay.
        answer = send(client, users["operator"], device_id, command="reboot",
                      params={"delay_seconds": 3})  # fmt: skip
        command_id = answer.json()["id"]
        assert wait_for(lambda: detail(client, users["operator"], command_id)["state"] == "sent")
        service.stop()
        stopped = datetime.now(UTC)
        assert wait_for(lambda: device.received == [command_id], 5)
        time.sleep(7)  # the device answers meanwhile
        assert detail(client, users["operator"], command_id)["state"] == "sent"
    finally:
        service.start()
        device.close()
    done = wait_for(finished(client, users["operator"], command_id))
    assert done["state"] == "acknowledged", done
    assert done["result"] == {"rebooted": True, "down_s": 6.0}
    assert datetime.fromisoformat(done["finished_at"]) > stopped


# --- refusals never reach the broker ----------------------------------------------------


def test_refused_commands_never_reach_the_broker(
    service: Service,
    settings: Settings,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
    watcher: Watcher,
) -> None:
    device_id = offline_device.device_id  # a salinity station
    operator = users["operator"]
    refusals = [
        (send(client, operator, device_id, command="self_destruct"), 422, "command_unknown"),
        (send(client, operator, device_id, command="set_interval", params={"seconds": 5}),
         422, "command_params_invalid"),
        (send(client, operator, device_id, command="set_interval",
              params={"seconds": 60, "extra": 1}), 422, "command_params_invalid"),
        (send(client, operator, device_id, command="relay", params={"channel": 1}),
         422, "command_params_invalid"),
        (send(client, operator, device_id, command="set_interval", params={"seconds": 60},
              expires_in_seconds=86401), 422, "command_expiry_too_long"),
        (send(client, operator, device_id, command="set_interval", params="60"),
         422, "invalid_request"),
        (send(client, users["viewer"], device_id, command="reboot"), 403, "role_forbidden"),
        (send(client, users["integrator"], device_id, command="reboot"), 403, "role_forbidden"),
        (send(client, users["csirt"], device_id, command="reboot"), 403, "role_forbidden"),
        (send(client, operator, "t-cmd-no-such-device", command="reboot"), 404,
         "device_not_found"),
    ]  # fmt: skip
    for answer, status, code in refusals:
        assert answer.status_code == status, answer.text
        assert answer.json()["code"] == code, answer.text

    bad = send(client, operator, device_id, command="set_interval", params={"seconds": 5})
    assert bad.json()["errors"] == [
        {"loc": ["body", "params", "seconds"], "msg": "must satisfy minimum: 10",
         "type": "minimum"}
    ]  # fmt: skip
    # A camera takes none of the commands: the refusal says which are allowed (none).
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        camera = f"t-cmd-cam-{uuid.uuid4().hex[:6]}"
        conn.execute(
            "INSERT INTO devices (id, type, province, lat, lon, expected_interval_s)"
            " VALUES (%s, 'camera', 'Khánh Hòa', 12.2, 109.2, 60)",
            (camera,),
        )
        wrong_type = send(client, operator, camera, command="relay",
                          params={"channel": 1, "state": "on"})  # fmt: skip
        assert wrong_type.status_code == 422 and wrong_type.json()["code"] == "command_not_allowed"
        # A disabled device is not there for commands.
        conn.execute("UPDATE devices SET disabled_at = now() WHERE id = %s", (camera,))
        disabled = send(client, users["admin"], camera, command="reboot")
        assert disabled.status_code == 404
        stored = conn.execute(
            "SELECT count(*) FROM device_commands WHERE device_id = ANY(%s)",
            ([device_id, camera, "t-cmd-no-such-device"],),
        ).fetchone()
    assert stored == (0,)

    # The control: an accepted command is seen on the broker, and it is the only one.
    accepted = send(client, operator, device_id, command="reboot", params={"delay_seconds": 1})
    assert accepted.status_code == 202
    assert wait_for(lambda: watcher.commands())
    time.sleep(1)
    assert [c["id"] for c in watcher.commands()] == [accepted.json()["id"]]


# --- the broker keeps each device to its own command topics -----------------------------


def _v5_client(settings: Settings, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"t-acl-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(username, password)
    return client


def test_a_device_gets_only_its_own_commands_and_answers_only_for_itself(
    settings: Settings, devices: Callable[[int, str], list[DeviceCredentials]]
) -> None:
    """mosquitto 2.0 grants every SUBSCRIBE; the read lines of the ACL decide what is
    delivered. So a device subscribed to everything still receives only its own."""
    mine, theirs = devices(2, "water_level")
    received: list[str] = []
    published: dict[int, Any] = {}
    subscribed = threading.Event()
    device = _v5_client(settings, mine.username or "", mine.password or "")
    device.on_message = lambda c, u, message: received.append(message.topic)
    device.on_subscribe = lambda *_: subscribed.set()
    device.on_publish = lambda c, u, mid, code, props: published.__setitem__(mid, code)
    device.connect(settings.mqtt_host, settings.mqtt_port)
    device.loop_start()
    commands = _v5_client(settings, MQTT_COMMANDS_USER,
                          load_secrets(settings, create=False).mqtt_commands_password)  # fmt: skip
    commands.connect(settings.mqtt_host, settings.mqtt_port)
    commands.loop_start()
    try:
        topics = [f"ioc/v1/{theirs.device_id}/commands", "ioc/v1/+/commands", "#"]
        device.subscribe([(topic, 1) for topic in topics])
        assert subscribed.wait(10)
        for target in (theirs, mine):
            commands.publish(f"ioc/v1/{target.device_id}/commands", b"{}", qos=1).wait_for_publish(
                10
            )
        forged = device.publish(f"ioc/v1/{theirs.device_id}/commands/ack", b"{}", qos=1).mid
        own = device.publish(f"ioc/v1/{mine.device_id}/commands/ack", b"{}", qos=1).mid
        assert wait_for(lambda: forged in published and own in published, 10)
        time.sleep(1)
    finally:
        for client in (device, commands):
            client.disconnect()
            client.loop_stop()
    # Its own command, once per matching subscription ('+' and '#'); never theirs.
    assert received == [f"ioc/v1/{mine.device_id}/commands"] * 2
    assert published[forged].is_failure  # "Not authorized"
    assert not published[own].is_failure


# --- reading commands --------------------------------------------------------------------


def test_list_pages_and_who_may_read(
    service: Service,
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
) -> None:
    device_id = offline_device.device_id
    made = [
        send(client, users["admin"], device_id, command="set_interval",
             params={"seconds": 60 + i}).json()["id"]
        for i in range(3)
    ]  # fmt: skip
    url = f"/api/v1/devices/{device_id}/commands"
    first = client.get(url, params={"limit": 2}, headers=bearer(users["integrator"]))
    assert first.status_code == 200
    assert [c["id"] for c in first.json()] == made[::-1][:2]
    link = first.headers["link"]
    next_url = link[link.index("<") + 1 : link.index(">")]
    second = client.get(next_url, headers=bearer(users["integrator"]))
    assert [c["id"] for c in second.json()] == made[:1]
    assert "link" not in second.headers

    assert client.get(url, headers=bearer(users["viewer"])).status_code == 403
    missing = client.get(f"/api/v1/commands/{uuid.uuid4()}", headers=bearer(users["operator"]))
    assert missing.status_code == 404 and missing.json()["code"] == "command_not_found"


def test_a_broken_catalog_refuses_every_command_with_503(
    client: TestClient,
    users: dict[str, dict[str, str]],
    offline_device: DeviceCredentials,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    broken = tmp_path / "commands.yaml"
    broken.write_text("commands:\n  reboot: {}\n", encoding="utf-8")
    monkeypatch.setattr(commands_router, "default_catalog", lambda: load_catalog(broken))
    answer = send(client, users["admin"], offline_device.device_id, command="reboot")
    assert answer.status_code == 503 and answer.json()["code"] == "commands_unavailable"
