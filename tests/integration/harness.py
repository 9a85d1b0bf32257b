"""Helpers for integration tests: real brokers, real database, real worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import yaml
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from psycopg import sql

from config.settings import Settings
from ingest.transports.mqtt import forget_session
from stack.processes import wait_until as wait_for

IOC_BIN = str(Path(sys.executable).parent / "ioc")
EVENT_TABLES = ("measurements", "camera_events", "security_events", "dead_letters", "devices")


def count(conn: psycopg.Connection, table: str) -> int:
    assert table in EVENT_TABLES
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@dataclass(frozen=True)
class TestRoutes:
    """A routes file private to one test: its own MQTT share group, Kafka group and
    topics, so tests never see each other's messages or sessions."""

    path: Path
    share_group: str
    kafka_group: str
    syslog_topic: str
    suricata_topic: str


@contextmanager
def refusing_dead_letters(conn: psycopg.Connection, topic: str | None = None) -> Iterator[None]:
    """While inside, PostgreSQL refuses dead letters (of `topic`, or every one) with a
    data error (SQLSTATE 22023), as it would a value it cannot hold. `conn` autocommits."""
    refused = (
        sql.SQL("true") if topic is None else sql.SQL("NEW.topic = {}").format(sql.Literal(topic))
    )
    conn.execute(
        sql.SQL(
            "CREATE FUNCTION test_refuse_letter() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF {} THEN"
            " RAISE EXCEPTION 'dead letter refused' USING ERRCODE = '22023'; END IF;"
            " RETURN NEW; END $$"
        ).format(refused)
    )
    conn.execute(
        "CREATE TRIGGER test_refuse_letter BEFORE INSERT ON dead_letters"
        " FOR EACH ROW EXECUTE FUNCTION test_refuse_letter()"
    )
    try:
        yield
    finally:
        conn.execute("DROP TRIGGER test_refuse_letter ON dead_letters")
        conn.execute("DROP FUNCTION test_refuse_letter()")


def make_routes(directory: Path, max_messages: int = 2000, max_wait: float = 0.2) -> TestRoutes:
    tag = uuid.uuid4().hex[:8]
    routes = TestRoutes(
        path=directory / f"routes-{tag}.yaml",
        share_group=f"test-{tag}",
        kafka_group=f"test-{tag}",
        syslog_topic=f"seclog.syslog.{tag}",
        suricata_topic=f"seclog.suricata.{tag}",
    )
    config = {
        "mqtt": {
            "share_group": routes.share_group,
            "routes": [
                {"filter": "ioc/v1/+/telemetry", "format": "ioc_telemetry"},
                {"filter": "frigate/events", "format": "frigate"},
            ],
        },
        "kafka": {
            "group_id": routes.kafka_group,
            "routes": [
                {"topic": routes.syslog_topic, "format": "syslog"},
                {"topic": routes.suricata_topic, "format": "suricata"},
            ],
        },
        "limits": {"max_message_bytes": 262144},
        "batching": {"max_messages": max_messages, "max_wait_seconds": max_wait},
    }
    routes.path.write_text(yaml.safe_dump(config))
    return routes


def create_topics(settings: Settings, topics: Iterable[str], partitions: int = 4) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]
        )
    finally:
        admin.close()


def produce(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )  # fmt: skip
    sent = 0
    for topic, key, value in messages:
        producer.send(topic, key=key, value=value)
        sent += 1
    producer.flush(60)
    producer.close()
    return sent


def sshd_failures(topic: str, n: int, host: str = "web") -> list[tuple[str, bytes, bytes]]:
    """n distinct RFC 5424 sshd failure lines for Kafka, keyed by source address as log
    shippers are configured to key them."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    return [
        (
            topic,
            f"203.0.113.{i % 200}".encode(),
            f"<86>1 {(now - timedelta(milliseconds=i)).isoformat()} {host}-{i % 9} sshd {i} - - "
            f"Failed password for root from 203.0.113.{i % 200} port {20000 + i} ssh2".encode(),
        )
        for i in range(n)
    ]


def telemetry(n: int, offset: int = 0) -> list[bytes]:
    """n native telemetry payloads (pm25 and pm10: two rows each) a second apart, from
    `offset` seconds after a base ten hours ago: distinct identities per device."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    return [
        json.dumps(
            {"ts": (base + timedelta(seconds=offset + i)).isoformat(), "pm25": i % 90, "pm10": 20}
        ).encode()
        for i in range(n)
    ]


def mosquitto_pub(
    settings: Settings, username: str, password: str, topic: str, lines: list[bytes]
) -> None:
    """Publish one message per line at QoS 1 with the C client: Python's paho is too slow
    as a QoS 1 publisher to generate test load (machine-facts.md)."""
    # mosquitto_pub -l splits on newlines and stops reading at a NUL byte.
    assert all(b"\n" not in line and b"\0" not in line for line in lines)
    subprocess.run(
        [
            shutil.which("mosquitto_pub") or "mosquitto_pub",
            "-h",
            settings.mqtt_host,
            "-p",
            str(settings.mqtt_port),
            "-u",
            username,
            "-P",
            password,
            "-t",
            topic,
            "-q",
            "1",
            "-l",
            "-i",
            f"test-pub-{uuid.uuid4().hex[:8]}",
        ],
        input=b"\n".join(lines) + b"\n",
        check=True,
        timeout=300,
    )


def forget_mqtt_session(settings: Settings, username: str, password: str, client_id: str) -> None:
    forget_session(settings.mqtt_host, settings.mqtt_port, username, password, client_id)


def restart_mosquitto(settings: Settings) -> None:
    """A clean broker restart: SIGTERM (mosquitto writes its persistence file), start."""
    from stack import mosquitto

    mosquitto.stop(settings)
    mosquitto.start(settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WorkerProcess:
    """An `ioc ingest` process, as production runs it."""

    def __init__(self, routes: TestRoutes, worker_id: str, sources: tuple[str, ...], log: Path):
        self.routes, self.worker_id, self.sources, self.log = routes, worker_id, sources, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> WorkerProcess:
        env = dict(os.environ, IOC_ROUTES_FILE=str(self.routes.path))
        self.metrics_port = free_port()
        args = [IOC_BIN, "ingest", "--worker-id", self.worker_id]
        args += ["--metrics-port", str(self.metrics_port)]
        for source in self.sources:
            args += ["--source", source]
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT)
        # Until the worker has subscribed, the broker has nobody to queue messages for.
        if wait and not wait_for(self.ready, timeout=60):
            raise RuntimeError(f"worker {self.worker_id} not ready; see {self.log}")
        return self

    def ready(self) -> bool:
        try:
            body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return False
        return "ioc_ingest_ready 1.0" in body

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
