"""Real receivers for every notification channel, and the alert service as a process,
for the end-to-end alerting scenarios."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import yaml
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from config.secrets import load_secrets
from config.settings import Settings
from processors.alerts.notify.webhook.signature import verify_signature
from stack.processes import wait_until
from tests.integration.harness import IOC_BIN, free_port

SECRET = "scenario-secret"


@dataclass
class Delivered:
    """Notifications a channel delivered: (notification id, kind, alert id) each."""

    items: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.items.append((payload["notification_id"], payload["kind"], payload["alert"]["id"]))

    def kinds(self, alert_id: str | None = None) -> list[str]:
        with self.lock:
            return [k for _, k, a in self.items if alert_id is None or a == alert_id]

    def ids(self) -> list[str]:
        with self.lock:
            return [n for n, _, _ in self.items]

    def duplicates(self) -> list[str]:
        with self.lock:
            counts = Counter(n for n, _, _ in self.items)
        return [n for n, c in counts.items() if c > 1]


class WebhookSink:
    """Verifies each signature; `hang` holds the next request unanswered until released
    (a delivery in flight when its sender dies), and counts only answered deliveries."""

    def __init__(self) -> None:
        self.delivered = Delivered()
        # Every notification that reached the receiver, answered or not: what a receiver
        # deduplicating on notification ids sees on the wire.
        self.wire = Delivered()
        self.bad_signatures = 0
        self.hang = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify_signature(SECRET, body, self.headers.get("X-IOC-Signature")):
                    sink.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                notifications = orjson.loads(body)["notifications"]
                for payload in notifications:
                    sink.wire.add(payload)
                sink.arrived.set()
                if sink.hang.is_set():
                    sink.hang.clear()
                    sink.release.wait(60)
                    return  # never answered: the sender must not count it delivered
                for payload in notifications:
                    sink.delivered.add(payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    """Mail carries the notification ids in a header (the body is for people)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes
        from email.header import decode_header, make_header

        mail = message_from_bytes(envelope.content)
        header = mail.get("X-IOC-Notification-Ids", "")
        self.ids += [i.strip() for i in header.split(",") if i.strip()]
        self.subjects.append(str(make_header(decode_header(mail.get("Subject", "")))))
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def ids(self) -> list[str]:
        return list(self.mailbox.ids)

    def close(self) -> None:
        self.controller.stop()


class MqttSink:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.delivered = Delivered()
        ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-alerts-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        password = load_secrets(settings, create=False).mqtt_admin_password
        self.client.username_pw_set("ioc-admin", password)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, m: self.delivered.add(orjson.loads(m.payload))
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        assert ready.wait(15), "MQTT subscription not confirmed"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class KafkaSink:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.delivered = Delivered()
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"test-sink-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self.consumer:
                self.delivered.add(orjson.loads(record.value))

    def close(self) -> None:
        self._stop.set()
        self.thread.join(10)
        self.consumer.close()


def channels_file(
    directory: Path, webhook: str, smtp_port: int, kafka_topic: str, renotify: int = 0
) -> Path:
    """Every channel type, no grouping delay, so each change is one notification each."""
    config = {
        "renotify_interval_seconds": renotify,
        "max_attempts": 20,
        "backoff_seconds": 0.5,
        "backoff_max_seconds": 2,
        "channels": [
            {"name": "webhook", "type": "webhook", "min_severity": "info",
             "group_wait_seconds": 0, "settings": {"url": webhook, "secret": SECRET}},
            {"name": "mqtt", "type": "mqtt", "min_severity": "info", "group_wait_seconds": 0,
             "settings": {"topic_prefix": "ioc/v1/alerts"}},
            {"name": "kafka", "type": "kafka", "min_severity": "info", "group_wait_seconds": 0,
             "settings": {"topic": kafka_topic}},
            {"name": "email", "type": "email", "min_severity": "info", "group_wait_seconds": 0,
             "settings": {"host": "127.0.0.1", "port": smtp_port,
                          "sender": "IOC <ioc@localhost>", "to": ["truc-ban@localhost"]}},
        ],
    }  # fmt: skip
    path = directory / f"channels-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class AlertServiceProcess:
    """`ioc alerts run`, as production runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AlertServiceProcess:
        self.port = free_port()
        args = [IOC_BIN, "alerts", "run", "--metrics-port", str(self.port)]
        handle = self.log.open("ab")
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
        if not wait_until(self.ready, timeout=60):
            raise RuntimeError(f"alert service not ready; see {self.log}")
        return self

    def ready(self) -> bool:
        import httpx

        try:
            body = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return False
        return "ioc_alerts_ready 1.0" in body

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def drain(q: queue.Queue[Any]) -> list[Any]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
