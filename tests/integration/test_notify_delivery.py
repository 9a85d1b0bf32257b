"""Notifications on real servers: a signing-checking HTTP receiver, an aiosmtpd SMTP
server, the stack's mosquitto and Kafka-protocol broker, and the outbox in the stack's
PostgreSQL. Every test uses its own alerts, channel names and notification ids, and
deletes its rows afterwards (outbox rows go with their alert)."""

from __future__ import annotations

import email
import json
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer, TopicPartition
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from config.secrets import MQTT_ADMIN_USER, load_secrets
from config.settings import Settings
from processors.alerts.channels import DEFAULT_CHANNELS_FILE, ChannelsConfig, load_channels
from processors.alerts.dispatch import Dispatcher, DispatchReport, dispatch_once
from processors.alerts.notify import DeliveryError, Notification, Notifier, build_notifier
from processors.alerts.notify.webhook import verify_signature
from stack.processes import wait_until
from tests.integration.harness import free_port

pytestmark = pytest.mark.integration

SECRET = "test-webhook-secret-khoá"


# --- a real webhook receiver ------------------------------------------------------------


@dataclass
class Receiver:
    """HTTP endpoint that verifies every signature and records what it accepted.

    fail_first: answer the first N valid requests with 500; status: the answer after that.
    """

    fail_first: int = 0
    status: int = 200
    accepted: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, body: bytes, headers: Any) -> int:
        with self.lock:
            if not verify_signature(SECRET, body, headers.get("X-IOC-Signature")):
                self.bad_signatures += 1
                return self._answer(401)
            document = orjson.loads(body)
            ids = [n["notification_id"] for n in document["notifications"]]
            if headers.get("X-IOC-Notification-Ids") != ",".join(ids):
                return self._answer(400)
            if self.fail_first > 0:
                self.fail_first -= 1
                return self._answer(500)
            if self.status == 200:
                self.accepted.extend(ids)
            return self._answer(self.status)

    def _answer(self, status: int) -> int:
        self.answers.append(status)
        return status


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.handle(body, self.headers)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- alerts and outbox rows in the real database ----------------------------------------


def alert_payload(alert_id: str, fingerprint: str, domain: str, severity: int) -> dict[str, Any]:
    labels = {"station": "KG-RachGia-01"} if domain == "environment" else {"src_ip": "10.0.0.5"}
    return {
        "id": alert_id,
        "fingerprint": fingerprint,
        "rule": f"test_{domain}",
        "domain": domain,
        "status": "firing",
        "severity": severity,
        "severity_label": ["info", "low", "medium", "high", "critical"][severity],
        "labels": labels,
        "title_vi": "Bụi mịn PM2.5 vượt ngưỡng tại Rạch Giá",
        "title_en": "PM2.5 above the limit in Rach Gia",
        "summary_vi": "PM2.5 trung bình 24 giờ 78 µg/m³",
        "summary_en": "24-hour mean PM2.5 78 µg/m³",
        "values": {"pm25": 78.0},
        "technique_ids": [],
        "started_at": "2025-03-07T01:00:00+00:00",
        "updated_at": "2025-03-07T01:05:00+00:00",
        "resolved_at": None,
    }


class Outbox:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.alert_ids: list[uuid.UUID] = []

    def alert(self, domain: str = "environment", severity: int = 3) -> dict[str, Any]:
        alert_id = uuid.uuid4()
        payload = alert_payload(str(alert_id), f"test-{uuid.uuid4().hex}", domain, severity)
        self.conn.execute(
            "INSERT INTO alerts (id, fingerprint, rule, domain, status, severity, peak_severity,"
            " labels, title_vi, title_en, started_at, updated_at)"
            " VALUES (%s, %s, %s, %s, 'firing', %s, %s, %s, %s, %s, %s, %s)",
            (
                alert_id,
                payload["fingerprint"],
                payload["rule"],
                domain,
                severity,
                severity,
                Jsonb(payload["labels"]),
                payload["title_vi"],
                payload["title_en"],
                payload["started_at"],
                payload["updated_at"],
            ),
        )
        self.alert_ids.append(alert_id)
        return payload

    def add(
        self,
        alert: dict[str, Any],
        channel: str,
        n: int = 1,
        *,
        due_at: datetime,
        group_key: str = 'rule="test"',
        status: str = "pending",
    ) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO outbox (notification_id, alert_id, channel, group_key, kind,"
                " payload, due_at, status) VALUES (%s, %s, %s, %s, 'fired', %s, %s, %s)",
                [
                    (
                        i,
                        alert["id"],
                        channel,
                        group_key,
                        Jsonb({"notification_id": i, "kind": "fired", "alert": alert}),
                        due_at,
                        status,
                    )
                    for i in ids
                ],
            )
        return ids

    def rows(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT notification_id::text AS id, status, attempts, due_at, sent_at, last_error"
                " FROM outbox WHERE notification_id = ANY(%s::uuid[])",
                (ids,),
            )
            return {row["id"]: row for row in cur.fetchall()}


@pytest.fixture
def outbox(settings: Settings) -> Iterator[Outbox]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        box = Outbox(conn)
        yield box
        conn.execute("DELETE FROM alerts WHERE id = ANY(%s)", (box.alert_ids,))


@pytest.fixture
def connect(settings: Settings) -> Iterator[Callable[[], psycopg.Connection]]:
    opened: list[psycopg.Connection] = []

    def open_one() -> psycopg.Connection:
        opened.append(psycopg.connect(settings.dsn(), autocommit=True))
        return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def tag() -> str:
    return uuid.uuid4().hex[:8]


def hook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "settings": {"url": url, "secret": SECRET}, **extra}


def channels_config(*channels: dict[str, Any], **top: Any) -> ChannelsConfig:
    return ChannelsConfig.model_validate({"channels": list(channels), **top})


@pytest.fixture
def notifiers(settings: Settings) -> Iterator[Callable[[ChannelsConfig], dict[str, Notifier]]]:
    built: list[Notifier] = []

    def build(config: ChannelsConfig) -> dict[str, Notifier]:
        result = {c.name: build_notifier(c, settings) for c in config.channels}
        built.extend(result.values())
        return result

    yield build
    for notifier in built:
        notifier.close()


# --- the dispatcher on the real outbox --------------------------------------------------


def test_webhook_retries_with_backoff_then_delivers_once(
    outbox: Outbox, receivers, notifiers, connect
) -> None:
    receiver = receivers(fail_first=2)
    name = f"hook-{tag()}"
    config = channels_config(hook(name, receiver.url), backoff_seconds=10, max_attempts=5)
    send = notifiers(config)
    conn = connect()
    t0 = datetime.now(UTC)
    ids = outbox.add(outbox.alert(), name, 3, due_at=t0 - timedelta(seconds=1))

    def run(at: datetime) -> DispatchReport:
        return dispatch_once(conn, config, send, now=at, channels=[name])

    first = run(t0)
    assert (first.claimed, first.groups, first.retried, first.sent) == (3, 1, 3, 0)
    rows = outbox.rows(ids)
    assert {r["status"] for r in rows.values()} == {"pending"}
    assert {r["attempts"] for r in rows.values()} == {1}
    assert {r["due_at"] for r in rows.values()} == {t0 + timedelta(seconds=10)}
    assert all("HTTP 500" in r["last_error"] for r in rows.values())

    assert run(t0 + timedelta(seconds=9)).claimed == 0  # backing off: not due yet

    second = run(t0 + timedelta(seconds=10))
    assert second.retried == 3
    # Exponential: the second wait is twice the first.
    expected_due = t0 + timedelta(seconds=30)
    assert {r["due_at"] for r in outbox.rows(ids).values()} == {expected_due}

    third = run(expected_due)
    assert (third.claimed, third.sent) == (3, 3)
    rows = outbox.rows(ids)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert all(r["sent_at"] is not None and r["last_error"] is None for r in rows.values())
    assert receiver.answers == [500, 500, 200]  # one request per round: one group
    assert receiver.bad_signatures == 0
    assert sorted(receiver.accepted) == sorted(ids)

    assert run(expected_due + timedelta(hours=1)).claimed == 0
    assert Counter(receiver.accepted) == Counter(ids)  # still exactly once


def test_dispatch_twice_sends_due_rows_once_and_never_silenced(
    outbox: Outbox, receivers, notifiers, connect
) -> None:
    receiver = receivers()
    name = f"hook-{tag()}"
    config = channels_config(hook(name, receiver.url))
    send = notifiers(config)
    conn = connect()
    t0 = datetime.now(UTC)
    alert = outbox.alert()
    due = outbox.add(alert, name, 2, due_at=t0 - timedelta(seconds=1))
    later = outbox.add(alert, name, 1, due_at=t0 + timedelta(minutes=5))
    silenced = outbox.add(alert, name, 1, due_at=t0 - timedelta(seconds=1), status="silenced")

    reports = [dispatch_once(conn, config, send, now=t0, channels=[name]) for _ in range(2)]
    assert [r.sent for r in reports] == [2, 0]
    assert Counter(receiver.accepted) == Counter(due)
    rows = outbox.rows(due + later + silenced)
    assert rows[later[0]]["status"] == "pending" and rows[later[0]]["attempts"] == 0
    assert rows[silenced[0]]["status"] == "silenced"

    dispatch_once(conn, config, send, now=t0 + timedelta(minutes=5), channels=[name])
    dispatch_once(conn, config, send, now=t0 + timedelta(days=1), channels=[name])
    assert Counter(receiver.accepted) == Counter(due + later)
    rows = outbox.rows(silenced)
    assert rows[silenced[0]]["status"] == "silenced" and rows[silenced[0]]["sent_at"] is None


def test_one_bad_group_does_not_stop_the_others(
    outbox: Outbox, receivers, notifiers, connect
) -> None:
    good, rejecting, down = receivers(), receivers(status=400), receivers(status=503)
    names = {k: f"{k}-{tag()}" for k in ("good", "rejecting", "down", "ghost")}
    config = channels_config(
        hook(names["good"], good.url),
        hook(names["rejecting"], rejecting.url),
        hook(names["down"], down.url),
        max_attempts=2,
        backoff_seconds=60,
    )
    send = notifiers(config)
    conn = connect()
    t0 = datetime.now(UTC)
    alert = outbox.alert()
    ids = {k: outbox.add(alert, n, 2, due_at=t0) for k, n in names.items()}

    report = dispatch_once(conn, config, send, now=t0, channels=list(names.values()))
    assert (report.groups, report.sent, report.retried, report.failed) == (4, 2, 2, 4)
    assert sorted(good.accepted) == sorted(ids["good"])
    rows = outbox.rows([i for group in ids.values() for i in group])
    assert {rows[i]["status"] for i in ids["good"]} == {"sent"}
    # A 4xx is the receiver refusing the request: no retry.
    assert {rows[i]["status"] for i in ids["rejecting"]} == {"failed"}
    assert all("HTTP 400" in rows[i]["last_error"] for i in ids["rejecting"])
    # Errors name the origin, never the path (webhook paths often hold a token).
    assert all("/alerts" not in rows[i]["last_error"] for i in ids["rejecting"])
    # A channel not in the configuration cannot be sent, ever.
    assert {rows[i]["status"] for i in ids["ghost"]} == {"failed"}
    assert all("unknown channel" in rows[i]["last_error"] for i in ids["ghost"])
    # 503 is retried until max_attempts (2), then failed.
    assert {rows[i]["status"] for i in ids["down"]} == {"pending"}
    again = dispatch_once(
        conn, config, send, now=t0 + timedelta(seconds=60), channels=list(names.values())
    )
    assert (again.claimed, again.failed) == (2, 2)
    rows = outbox.rows(ids["down"])
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("failed", 2)}
    assert rejecting.answers == [400] and down.answers == [503, 503]


class Gate:
    """Holds the first send until released, so the test decides when a claim ends."""

    def __init__(self, inner: Notifier) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, notification: Notification) -> None:
        self.entered.set()
        assert self.release.wait(60)
        self.inner.send(notification)

    def close(self) -> None:
        self.inner.close()


def test_a_second_dispatcher_skips_rows_the_first_holds(
    outbox: Outbox, receivers, notifiers, connect
) -> None:
    receiver = receivers()
    name = f"hook-{tag()}"
    config = channels_config(hook(name, receiver.url))
    t0 = datetime.now(UTC)
    alert = outbox.alert()
    ids = [i for g in range(10) for i in outbox.add(alert, name, 5, due_at=t0, group_key=f"g{g}")]
    gate = Gate(notifiers(config)[name])
    results: list[DispatchReport] = []
    first = threading.Thread(
        target=lambda: results.append(
            dispatch_once(connect(), config, {name: gate}, now=t0, limit=10, channels=[name])
        )
    )
    first.start()
    try:
        # The first read ten rows (two groups) and holds the group it is sending.
        assert gate.entered.wait(30)
        second = dispatch_once(connect(), config, notifiers(config), now=t0, channels=[name])
        while_held = list(receiver.accepted)
    finally:
        gate.release.set()
        first.join(60)
    assert second.claimed == 45
    # Each group is locked only while it is sent: the second took the first's other
    # group, and the first, finding it sent, skipped it instead of sending it again.
    assert results[0].claimed == 5 and results[0].sent == 5
    assert sorted(while_held) == sorted(ids[5:])
    assert Counter(receiver.accepted) == Counter(ids)
    assert {r["attempts"] for r in outbox.rows(ids).values()} == {1}


def test_two_dispatchers_at_once_deliver_each_of_50_once(
    outbox: Outbox, receivers, notifiers, connect
) -> None:
    receiver = receivers()
    name = f"hook-{tag()}"
    config = channels_config(hook(name, receiver.url))
    t0 = datetime.now(UTC)
    alert = outbox.alert()
    ids = [i for g in range(10) for i in outbox.add(alert, name, 5, due_at=t0, group_key=f"g{g}")]
    start = threading.Barrier(2)
    reports: dict[int, list[DispatchReport]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def drain(worker: int, conn: psycopg.Connection, send: dict[str, Notifier]) -> None:
        try:
            start.wait(30)
            while True:
                report = dispatch_once(conn, config, send, now=t0, limit=4, channels=[name])
                reports[worker].append(report)
                if report.claimed == 0:
                    return
        except BaseException as error:  # surfaced below, not lost in the thread
            errors.append(error)

    threads = [
        threading.Thread(target=drain, args=(w, connect(), notifiers(config))) for w in (0, 1)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert Counter(receiver.accepted) == Counter(ids)  # all 50, none twice
    assert sum(r.sent for w in reports.values() for r in w) == 50
    rows = outbox.rows(ids)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("sent", 1)}


def test_dispatcher_service_sends_and_survives_a_broken_channel(
    settings: Settings, outbox: Outbox, receivers, monkeypatch, tmp_path
) -> None:
    monkeypatch.delenv("TEST_UNSET_SECRET", raising=False)
    receiver = receivers()
    good, broken = f"hook-{tag()}", f"broken-{tag()}"
    config = channels_config(
        hook(good, receiver.url),
        {
            "name": broken,
            "type": "webhook",
            "settings": {"url": receiver.url, "secret": {"env": "TEST_UNSET_SECRET"}},
        },
        backoff_seconds=300,
    )
    now = datetime.now(UTC)
    alert = outbox.alert()
    sent_ids = outbox.add(alert, good, 3, due_at=now - timedelta(seconds=1))
    broken_ids = outbox.add(alert, broken, 1, due_at=now - timedelta(seconds=1))
    # A run dir without generated secrets: the broken channel has no secret to fall back on.
    bare = settings.model_copy(update={"run_dir": tmp_path})
    dispatcher = Dispatcher(settings.dsn(), config, app=bare, channels=[good, broken])
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop, 0.05))
    thread.start()
    try:
        assert wait_until(lambda: len(receiver.accepted) == 3, timeout=30)
        assert wait_until(lambda: outbox.rows(broken_ids)[broken_ids[0]]["attempts"] == 1, 30)
        assert dispatcher.notifiers.built == [good]
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert dispatcher.notifiers.built == []  # closed on the way out
    assert sorted(receiver.accepted) == sorted(sent_ids)
    row = outbox.rows(broken_ids)[broken_ids[0]]
    assert row["status"] == "pending"
    assert "cannot start" in row["last_error"]
    assert "TEST_UNSET_SECRET is not set" in row["last_error"]


# --- e-mail through a real SMTP server --------------------------------------------------


class Inbox:
    def __init__(self, reply: str = "250 OK") -> None:
        self.reply = reply
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return self.reply


@pytest.fixture
def smtp(monkeypatch) -> Iterator[Callable[[str], Inbox]]:
    controllers: list[Controller] = []

    def start(reply: str = "250 OK") -> Inbox:
        inbox = Inbox(reply)
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        monkeypatch.setenv("IOC_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("IOC_SMTP_PORT", str(port))
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


def default_channel_notifier(settings: Settings, name: str) -> Notifier:
    channel = load_channels(DEFAULT_CHANNELS_FILE).channel(name)
    assert channel is not None
    return build_notifier(channel, settings)


def notification_of(*payloads: dict[str, Any], channel: str = "test") -> Notification:
    wrapped = [
        {"notification_id": str(uuid.uuid4()), "kind": "fired", "alert": p} for p in payloads
    ]
    return Notification(channel, "k", wrapped, [w["notification_id"] for w in wrapped])


def test_email_vietnamese_first_over_real_smtp(settings: Settings, smtp) -> None:
    inbox = smtp()
    notifier = default_channel_notifier(settings, "duty-email")
    hostile = alert_payload(str(uuid.uuid4()), "fp-2", "environment", 4)
    hostile["title_en"] = "PM10 high\r\nBcc: victim@example.com"
    notification = notification_of(
        alert_payload(str(uuid.uuid4()), "fp-1", "environment", 3), hostile
    )
    notifier.send(notification)
    notifier.close()

    assert len(inbox.envelopes) == 1  # one mail per group
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["truc-ban@localhost"]  # no injected Bcc recipient
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    subject = str(message["Subject"])
    assert subject.startswith("[IOC] 2 thông báo cảnh báo [nghiêm trọng]: test_environment")
    assert subject.endswith("| 2 alert notifications [critical]: test_environment")
    assert str(message["From"]) == "IOC Kiên Giang <ioc-alerts@localhost>"
    assert message.get_content_charset() == "utf-8"
    ids_header = str(message["X-IOC-Notification-Ids"])  # folded: a long line
    assert [i.strip() for i in ids_header.split(",")] == list(notification.notification_ids)
    body = message.get_content()
    vi = body.index("Bụi mịn PM2.5 vượt ngưỡng tại Rạch Giá")
    english = body.index("— English —")
    assert vi < english < body.index("PM2.5 above the limit in Rach Gia")
    assert "[CAO] Cảnh báo mới" in body and "[NGHIÊM TRỌNG] Cảnh báo mới" in body
    assert "Bắt đầu: 08:00:00 07/03/2025 (giờ Việt Nam, UTC+7)" in body
    assert "PM10 high␍␊Bcc: victim@example.com" in body  # shown, defused
    assert message["Bcc"] is None


@pytest.mark.parametrize(
    ("reply", "retryable"), [("451 4.3.0 Try again later", True), ("554 5.7.1 Rejected", False)]
)
def test_email_smtp_refusal_is_classified(
    settings: Settings, smtp, reply: str, retryable: bool
) -> None:
    inbox = smtp(reply)
    notifier = default_channel_notifier(settings, "duty-email")
    with pytest.raises(DeliveryError) as caught:
        notifier.send(notification_of(alert_payload("a", "fp", "security", 3)))
    assert caught.value.retryable is retryable
    assert reply.split()[0] in str(caught.value)
    assert len(inbox.envelopes) == 1


# --- MQTT through the stack's mosquitto -------------------------------------------------


@pytest.fixture
def mqtt_subscriber(settings: Settings) -> Iterator[Callable[[str], queue.Queue[Any]]]:
    clients: list[mqtt.Client] = []

    def subscribe(topic: str) -> queue.Queue[Any]:
        received: queue.Queue[Any] = queue.Queue()
        subscribed = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-alerts-{tag()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        password = load_secrets(settings, create=False).mqtt_admin_password
        client.username_pw_set(MQTT_ADMIN_USER, password)
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = lambda _c, _u, message: received.put(message)
        client.connect(settings.mqtt_host, settings.mqtt_port)
        client.loop_start()
        clients.append(client)
        assert subscribed.wait(15), "subscription not confirmed"
        return received

    yield subscribe
    for client in clients:
        client.disconnect()
        client.loop_stop()


def _collect(source: queue.Queue[Any], wanted: set[str], key: Callable[[Any], str]) -> dict:
    found: dict[str, Any] = {}
    while wanted - found.keys():
        message = source.get(timeout=15)
        if key(message) in wanted:
            found[key(message)] = message
    return found


def test_mqtt_publishes_each_alert_on_its_domain_topic(settings: Settings, mqtt_subscriber):
    received = mqtt_subscriber("ioc/v1/alerts/+")
    notifier = default_channel_notifier(settings, "mqtt")
    environment = alert_payload(str(uuid.uuid4()), "fp-env", "environment", 3)
    security = alert_payload(str(uuid.uuid4()), "fp-sec", "security", 4)
    notification = notification_of(environment, security)
    try:
        notifier.send(notification)
    finally:
        notifier.close()
    found = _collect(
        received,
        set(notification.notification_ids),
        lambda m: json.loads(m.payload).get("notification_id", ""),
    )
    env_id, sec_id = notification.notification_ids
    assert found[env_id].topic == "ioc/v1/alerts/environment"
    assert found[sec_id].topic == "ioc/v1/alerts/security"
    assert orjson.loads(found[env_id].payload) == notification.payloads[0]
    assert ("notification_id", env_id) in found[env_id].properties.UserProperty


def test_mqtt_refused_by_the_acl_is_a_failure_not_a_delivery(settings: Settings) -> None:
    config = channels_config(
        {"name": "wrong", "type": "mqtt", "settings": {"topic_prefix": "ioc/v1/forbidden"}}
    )
    notifier = build_notifier(config.channels[0], settings)
    try:
        with pytest.raises(DeliveryError) as caught:
            notifier.send(notification_of(alert_payload("a", "fp", "environment", 2)))
    finally:
        notifier.close()
    assert "Not authorized" in str(caught.value)
    assert caught.value.retryable is False


# --- Kafka through the stack's broker ---------------------------------------------------


def test_kafka_records_keyed_by_fingerprint(settings: Settings) -> None:
    partition = TopicPartition("ioc.alerts", 0)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    consumer.assign([partition])
    consumer.seek_to_end(partition)
    start = consumer.position(partition)
    alert = alert_payload(str(uuid.uuid4()), f"fp-{tag()}", "security", 3)
    escalated = {**alert, "severity": 4, "severity_label": "critical"}
    notification = notification_of(alert, escalated, channel="soc-kafka")
    notifier = default_channel_notifier(settings, "soc-kafka")
    try:
        notifier.send(notification)
    finally:
        notifier.close()
    records: list[Any] = []
    wanted = set(notification.notification_ids)

    def arrived() -> bool:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(r for r in batch if orjson.loads(r.value)["notification_id"] in wanted)
        return len(records) == 2

    try:
        assert wait_until(arrived, timeout=30, interval=0)
    finally:
        consumer.close()
    assert all(r.offset >= start for r in records)
    assert [orjson.loads(r.value) for r in records] == list(notification.payloads)  # in order
    assert {r.key for r in records} == {alert["fingerprint"].encode()}
    headers = [dict(r.headers)["notification_id"].decode() for r in records]
    assert headers == list(notification.notification_ids)
